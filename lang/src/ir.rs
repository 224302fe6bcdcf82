//! The typed IR that both backends run.
//!
//! A checked policy becomes one [`Policy`]: its input record, its effective-dated parameters,
//! its year-to-date accumulators, and every computed value (`let`s, rules, stage locals and
//! stage outputs) as a typed expression tree, listed in an order in which each value only reads
//! values before it (`Policy::order`). Names are resolved to indices; units are resolved to
//! types, so a backend never infers anything: it matches on the operator and its operands'
//! types.

use std::sync::Arc;

use rust_decimal::Decimal;

pub use crate::date::{DatePart, DateUnit};

use crate::date::Date;
use crate::span::Span;

pub mod period;

/// An index into [`Policy::enums`].
pub type EnumId = usize;
/// An index into [`Policy::records`].
pub type RecordId = usize;
/// An index into [`Policy::params`].
pub type ParamId = usize;
/// An index into [`Policy::accumulators`].
pub type AccId = usize;
/// An index into [`Policy::values`].
pub type ValueId = usize;
/// An index into [`Policy::stages`].
pub type StageId = usize;

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// Yuan, exact to the fen.
    Money,
    /// A ratio, such as `85%` (stored as `0.85`).
    Rate,
    /// A whole number.
    Int,
    /// `true` or `false`.
    Bool,
    /// A calendar day.
    Date,
    /// A string.
    Text,
    /// A variant of an enum.
    Enum(EnumId),
    /// A record.
    Record(RecordId),
    /// A list of records.
    List(RecordId),
}

impl Type {
    /// The type as a policy writes it: `money`, an enum's or a record's name, `list of Item`.
    pub fn name(self, enums: &[EnumDef], records: &[RecordDef]) -> String {
        let record = |r: RecordId| records.get(r).map_or("?", |d| d.name.as_str());
        match self {
            Type::Money => "money".into(),
            Type::Rate => "rate".into(),
            Type::Int => "int".into(),
            Type::Bool => "bool".into(),
            Type::Date => "date".into(),
            Type::Text => "text".into(),
            Type::Enum(e) => enums.get(e).map_or("?", |d| d.name.as_str()).into(),
            Type::Record(r) => record(r).into(),
            Type::List(r) => format!("list of {}", record(r)),
        }
    }
}

/// How money products and quotients are rounded to the fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Half away from zero: 0.005 -> 0.01, -0.005 -> -0.01 (the default).
    #[default]
    HalfUp,
    /// Half to even (banker's rounding): 0.005 -> 0.00, 0.015 -> 0.02.
    HalfEven,
    /// Toward zero: 0.009 -> 0.00.
    Down,
    /// Away from zero: 0.001 -> 0.01.
    Up,
}

impl Rounding {
    /// The mode's name as written after `rounding`.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
            Rounding::Down => "down",
            Rounding::Up => "up",
        }
    }

    /// Every mode.
    pub const ALL: [Rounding; 4] =
        [Rounding::HalfUp, Rounding::HalfEven, Rounding::Down, Rounding::Up];
}

/// A constant value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Const {
    /// Yuan.
    Money(Decimal),
    /// A ratio.
    Rate(Decimal),
    /// A whole number.
    Int(i64),
    /// A truth value.
    Bool(bool),
    /// A day.
    Date(Date),
    /// A string.
    Text(Arc<str>),
    /// An enum variant's index.
    Enum(u32),
    /// A record's field values (in test claims).
    Record(Vec<Const>),
    /// A list's items (in test claims).
    List(Vec<Const>),
}

/// A whole checked policy, ready to run.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy's dotted name.
    pub name: String,
    /// An optional title.
    pub title: Option<String>,
    /// Month and day on which the medical year starts.
    pub year_start: (u32, u32),
    /// How money is rounded.
    pub rounding: Rounding,
    /// Enumerations.
    pub enums: Vec<EnumDef>,
    /// Record types; `input` is one of them.
    pub records: Vec<RecordDef>,
    /// The claim record.
    pub input: RecordId,
    /// The claim's id field (`text`).
    pub id_field: usize,
    /// The member's id field (`text`).
    pub member_field: usize,
    /// The date field that decides the medical year and the parameters in force.
    pub dated_field: usize,
    /// Parameters.
    pub params: Vec<Param>,
    /// Year-to-date accumulators.
    pub accumulators: Vec<Accumulator>,
    /// Computed values.
    pub values: Vec<ValueDef>,
    /// The values in an order where each reads only values before it.
    pub order: Vec<ValueId>,
    /// Payer stages in order.
    pub stages: Vec<Stage>,
    /// What must add up for every claim.
    pub balance: Option<Balance>,
    /// Period settlement: aggregates over every case, values of the period and of each case,
    /// the tables written per key; empty for a policy without them.
    pub period: period::Period,
    /// In-file tests.
    pub tests: Vec<Test>,
}

impl Policy {
    /// The claim record's definition.
    pub fn input_record(&self) -> Option<&RecordDef> {
        self.records.get(self.input)
    }

    /// The input field keying the policy's group totals, when it has any: the checker lets
    /// every group total of a policy key by one field.
    pub fn group_field(&self) -> Option<usize> {
        self.accumulators.iter().find_map(|a| a.group)
    }
}

/// An enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumDef {
    /// Its name.
    pub name: String,
    /// Variant names, by index.
    pub variants: Vec<String>,
    /// Optional display labels, by index.
    pub labels: Vec<Option<String>>,
}

/// A record type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDef {
    /// Its name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<FieldDef>,
}

/// A field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// Its name (also the CSV column or JSON key of input fields).
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// A parameter with its dated values.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// What kind of value it holds.
    pub kind: ParamKind,
    /// Values in order of effective date; an undated value has `from: None` and stands alone.
    pub versions: Vec<ParamVersion>,
    /// Sources cited for the parameter as a whole.
    pub sources: Vec<String>,
    /// Where it is declared.
    pub span: Span,
}

/// The shape of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamKind {
    /// One value.
    Scalar(Type),
    /// A value per combination of enum variants.
    Table {
        /// The key enums, outermost first.
        keys: Vec<EnumId>,
        /// The type of each cell.
        value: Type,
    },
    /// Money brackets with rates.
    Scale,
    /// A scale per variant of an enum (`scale by Scheme`). Each variant's scale is a parameter
    /// of its own, named `name[variant]`; this parameter has no versions: a use such as
    /// `segmented(copay[claim.scheme], amount)` is lowered to a choice among those scales.
    ScaleBy {
        /// The key enum.
        key: EnumId,
        /// The scale of each variant, in the enum's order.
        scales: Vec<ParamId>,
    },
}

/// A parameter's value from a date on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamVersion {
    /// When it takes effect; `None` for an undated parameter.
    pub from: Option<Date>,
    /// Whether that date is marked `assumed`: the source does not say when the value starts.
    pub from_assumed: bool,
    /// The value.
    pub value: ParamValue,
    /// Which parts of the value are marked `assumed` (not given by the source): one flag for a
    /// scalar, one per cell of a table, one per bracket of a scale.
    pub assumed: Vec<bool>,
    /// Sources cited for this value.
    pub sources: Vec<String>,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A single constant.
    Scalar(Const),
    /// Cells in row-major order of the key enums' variants.
    Table(Vec<Const>),
    /// Brackets, contiguous from 0.
    Scale(Vec<ScaleBracket>),
}

/// One bracket of a segmented scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleBracket {
    /// Inclusive lower bound, in yuan.
    pub lower: Decimal,
    /// Exclusive upper bound; `None` when open-ended.
    pub upper: Option<Decimal>,
    /// The ratio applied to the part of an amount in this bracket.
    pub rate: Decimal,
}

/// How an accumulator folds earlier claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldKind {
    /// Number of claims.
    Count,
    /// Sum of a value.
    Sum,
    /// Smallest value (zero before any claim).
    Min,
    /// Largest value (zero before any claim).
    Max,
}

/// Which earlier claims of the member an accumulator folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Window {
    /// `yearly`: the claims of the same medical year; back to zero when the year turns.
    #[default]
    Year,
    /// `lifetime`: every earlier claim of the member; never reset.
    Lifetime,
    /// `monthly`: the claims of the same calendar month.
    Month,
    /// `quarterly`: the claims of the same calendar quarter (January to March, ...).
    Quarter,
    /// `rolling N days|months`: the claims dated less than `length` days, or calendar months,
    /// before the claim's date, across medical years.
    Rolling {
        /// How many days or calendar months, at least 1.
        length: u32,
        /// Days or calendar months.
        unit: DateUnit,
    },
    /// `episode N days [after claim.field]`: the claims since the episode began; it ends when a
    /// claim is dated `gap` days or more after the last qualifying claim (its `dated by` date,
    /// or the date field `end` of the input).
    Episode {
        /// The gap, in days, that ends the episode; at least 1.
        gap: u32,
        /// The input field whose date ends a qualifying claim (`None`: its `dated by` date).
        end: Option<usize>,
    },
}

impl Window {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            Window::Year => "yearly",
            Window::Lifetime => "lifetime",
            Window::Month => "monthly",
            Window::Quarter => "quarterly",
            Window::Rolling { .. } => "rolling",
            Window::Episode { .. } => "episode",
        }
    }

    /// The window as declared: `yearly`, `rolling 12 months`, `episode 60 days` (without the
    /// field an episode ends on).
    pub fn declared(self) -> String {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match self {
            Window::Rolling { length, unit: DateUnit::Days } => {
                format!("rolling {length} day{}", plural(length))
            }
            Window::Rolling { length, unit: DateUnit::Months } => {
                format!("rolling {length} month{}", plural(length))
            }
            Window::Episode { gap, .. } => format!("episode {gap} day{}", plural(gap)),
            other => other.keyword().to_string(),
        }
    }

    /// Whether the engine keeps the member's earlier claims for it (a rolling look-back or an
    /// episode), rather than one running total.
    pub fn keeps_history(self) -> bool {
        matches!(self, Window::Rolling { .. } | Window::Episode { .. })
    }

    /// The first day of the calendar month or quarter holding `date`; `None` for the medical
    /// year (whose start the policy's `year starts` decides) and a lifetime.
    pub fn period_start(self, date: Date) -> Option<Date> {
        let quarter = match self {
            Window::Month => false,
            Window::Quarter => true,
            Window::Year | Window::Lifetime | Window::Rolling { .. } | Window::Episode { .. } => {
                return None;
            }
        };
        let (year, month, _) = date.ymd();
        let month = if quarter { (month - 1) / 3 * 3 + 1 } else { month };
        Date::from_ymd(year, month, 1)
    }
}

/// An accumulator over a member's earlier claims: of the medical year, or of a lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    /// Its name.
    pub name: String,
    /// Which earlier claims it folds.
    pub window: Window,
    /// Its type.
    pub ty: Type,
    /// The fold.
    pub fold: FoldKind,
    /// The value each settled claim contributes (absent for `count`).
    pub value: Option<Expr>,
    /// Which claims count.
    pub filter: Option<Expr>,
    /// For a group total (`monthly by claim.household ...`), the input field (a `text`) whose
    /// value keys the group: the total folds the earlier claims of every member with that
    /// value. `None`: the member's own total.
    pub group: Option<usize>,
    /// Where it is declared.
    pub span: Span,
}

/// What a computed value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A top-level `let`.
    Let,
    /// A rule.
    Rule,
    /// A `let` inside a stage.
    StageLocal(StageId),
    /// A stage output.
    Output(StageId),
}

/// A computed value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueDef {
    /// Its name (`basic.pay` for outputs, `basic.eligible` for stage locals).
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// What it is.
    pub kind: ValueKind,
    /// How it is computed.
    pub body: Body,
    /// Sources cited.
    pub sources: Vec<String>,
    /// Where it is defined.
    pub span: Span,
}

/// How a value is computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// An expression.
    Expr(Expr),
    /// A rule: the default unless exactly one exception applies; two is an error.
    Rule {
        /// The default value.
        default: Expr,
        /// The exceptions.
        exceptions: Vec<RuleException>,
    },
}

/// An exception of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleException {
    /// When it applies.
    pub when: Expr,
    /// Its value.
    pub value: Expr,
    /// The condition as written, to name it in errors and traces.
    pub text: String,
    /// Sources cited.
    pub sources: Vec<String>,
    /// Where it is written.
    pub span: Span,
}

/// A payer stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: Option<String>,
    /// Its outputs.
    pub outputs: Vec<ValueId>,
    /// Its local `let`s.
    pub locals: Vec<ValueId>,
    /// Sources cited.
    pub sources: Vec<String>,
}

/// `balance total = part + part + ...`: for every claim the parts add up to the total, and none
/// is negative.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// The total.
    pub total: Expr,
    /// The parts: money stage outputs.
    pub parts: Vec<ValueId>,
}

/// An in-file test.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// Its name.
    pub name: String,
    /// Its claims in the order written.
    pub claims: Vec<TestClaim>,
    /// Its expectations.
    pub expects: Vec<Expect>,
    /// Where it is written.
    pub span: Span,
}

/// A claim of a test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestClaim {
    /// Its label.
    pub label: String,
    /// A value for every input field.
    pub fields: Vec<Const>,
    /// Where it is written.
    pub span: Span,
}

/// An expectation of a test: a boolean expression over the test's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The condition.
    pub expr: Expr,
    /// The expectation as written.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// What a test expectation reads from one of its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPart {
    /// An input field.
    Field(usize),
    /// A computed value.
    Value(ValueId),
    /// An accumulator's value before the claim.
    Acc(AccId),
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// The type of its result.
    pub ty: Type,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Const(Const),
    /// An input field of the claim.
    Field(usize),
    /// A field of a record value (a list item).
    RecordField(Box<Expr>, usize),
    /// A computed value.
    Value(ValueId),
    /// An accumulator's value before this claim.
    Acc(AccId),
    /// A scalar parameter in force on the claim's date.
    Param(ParamId),
    /// A table parameter's cell for these keys.
    Table(ParamId, Vec<Expr>),
    /// The amount paid on `amount` by a segmented scale: each bracket's part at its rate.
    Segmented(ParamId, Box<Expr>),
    /// The rate of the bracket `amount` falls in.
    RateAt(ParamId, Box<Expr>),
    /// The variable bound by the enclosing fold, by nesting depth from the outside (0 first).
    Local(usize),
    /// `-x`
    Neg(Box<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// A binary operation; its meaning follows from the operands' types.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x * a / b`, a proportion of the amount `x`: the product and the quotient computed
    /// exactly and rounded once, to the fen. `x` is `money`; `a` and `b` have one unit
    /// (`money`, `rate` or `int`), so that `a / b` is a pure ratio.
    Proportion(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `if c then a else b`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Smallest of the operands.
    Min(Vec<Expr>),
    /// Largest of the operands.
    Max(Vec<Expr>),
    /// Absolute value.
    Abs(Box<Expr>),
    /// Whether an enum value is one of these variants.
    In(Box<Expr>, Vec<u32>),
    /// A fold over a list: `sum(body for x in list where filter)`.
    Fold {
        /// Which fold.
        kind: FoldKind,
        /// The list.
        list: Box<Expr>,
        /// The value of each item (a constant 1 for `count`).
        body: Box<Expr>,
        /// Which items count.
        filter: Option<Box<Expr>>,
    },
    /// `any(cond for x in list)` / `all(...)`.
    Quantifier {
        /// `true` for `all`, `false` for `any`.
        all: bool,
        /// The list.
        list: Box<Expr>,
        /// The condition on each item.
        body: Box<Expr>,
    },
    /// In a test expectation: a value of one of the test's claims.
    ClaimValue(usize, ClaimPart),
    /// `date + n days`, `date - n months`: the date moved by a whole number of days or
    /// calendar months (the amount already negated for `-`); beyond 0001-01-01 to 9999-12-31
    /// is an overflow.
    Shift(Box<Expr>, Box<Expr>, DateUnit),
    /// `year(d)`, `month(d)`, `day(d)`: an `int`.
    DatePart(DatePart, Box<Expr>),
    /// `years_between(from, to)`: whole years, an `int` ([`Date::years_between`]).
    YearsBetween(Box<Expr>, Box<Expr>),
    /// `round(x, unit)`: money rounded to a multiple of `unit` fen by `mode`.
    Round {
        /// The amount.
        value: Box<Expr>,
        /// The unit in fen: 1 (`fen`), 10 (`jiao`), 100 (`yuan`), 1,000 (`10`), ...
        unit: i64,
        /// The rounding mode: the one written, else the policy's.
        mode: Rounding,
    },
    /// A value of period settlement: an aggregate, a period value, a case value or a column.
    /// Only period settlement's own expressions and test expectations hold it; a claim's values
    /// never do.
    Period(period::PeriodRead),
}

/// Binary operators. Arithmetic keeps units: money results are rounded to the fen by the
/// policy's rounding mode; rate results are kept to six decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`, short-circuit
    And,
    /// `or`, short-circuit
    Or,
}

impl Expr {
    /// Call `f` on this expression and every expression inside it.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        self.for_each_child(&mut |child| child.walk(f));
    }

    /// Call `f` on each expression directly inside this one, in source order.
    pub fn for_each_child(&self, f: &mut dyn FnMut(&Expr)) {
        match &self.kind {
            ExprKind::Const(_)
            | ExprKind::Field(_)
            | ExprKind::Value(_)
            | ExprKind::Acc(_)
            | ExprKind::Param(_)
            | ExprKind::Local(_)
            | ExprKind::ClaimValue(..) => {}
            ExprKind::Period(read) => {
                if let Some(key) = read.key() {
                    f(key);
                }
            }
            ExprKind::RecordField(e, _)
            | ExprKind::Segmented(_, e)
            | ExprKind::RateAt(_, e)
            | ExprKind::Neg(e)
            | ExprKind::Not(e)
            | ExprKind::Abs(e)
            | ExprKind::In(e, _)
            | ExprKind::DatePart(_, e)
            | ExprKind::Round { value: e, .. } => f(e),
            ExprKind::Table(_, es) | ExprKind::Min(es) | ExprKind::Max(es) => es.iter().for_each(f),
            ExprKind::Binary(_, a, b) | ExprKind::Shift(a, b, _) | ExprKind::YearsBetween(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::If(c, a, b) | ExprKind::Proportion(c, a, b) => {
                f(c);
                f(a);
                f(b);
            }
            ExprKind::Fold { list, body, filter, .. } => {
                f(list);
                f(body);
                if let Some(filter) = filter {
                    f(filter);
                }
            }
            ExprKind::Quantifier { list, body, .. } => {
                f(list);
                f(body);
            }
        }
    }

    /// Call `f` on each expression directly inside this one, in source order, free to change it
    /// (the same children as [`Expr::for_each_child`]).
    pub fn for_each_child_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match &mut self.kind {
            ExprKind::Const(_)
            | ExprKind::Field(_)
            | ExprKind::Value(_)
            | ExprKind::Acc(_)
            | ExprKind::Param(_)
            | ExprKind::Local(_)
            | ExprKind::ClaimValue(..) => {}
            ExprKind::Period(read) => {
                if let Some(key) = read.key_mut() {
                    f(key);
                }
            }
            ExprKind::RecordField(e, _)
            | ExprKind::Segmented(_, e)
            | ExprKind::RateAt(_, e)
            | ExprKind::Neg(e)
            | ExprKind::Not(e)
            | ExprKind::Abs(e)
            | ExprKind::In(e, _)
            | ExprKind::DatePart(_, e)
            | ExprKind::Round { value: e, .. } => f(e),
            ExprKind::Table(_, es) | ExprKind::Min(es) | ExprKind::Max(es) => {
                es.iter_mut().for_each(f)
            }
            ExprKind::Binary(_, a, b) | ExprKind::Shift(a, b, _) | ExprKind::YearsBetween(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::If(c, a, b) | ExprKind::Proportion(c, a, b) => {
                f(c);
                f(a);
                f(b);
            }
            ExprKind::Fold { list, body, filter, .. } => {
                f(list);
                f(body);
                if let Some(filter) = filter {
                    f(filter);
                }
            }
            ExprKind::Quantifier { list, body, .. } => {
                f(list);
                f(body);
            }
        }
    }
}

impl Body {
    /// Call `f` on every expression of the body.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        match self {
            Body::Expr(e) => e.walk(f),
            Body::Rule { default, exceptions } => {
                default.walk(f);
                for e in exceptions {
                    e.when.walk(f);
                    e.value.walk(f);
                }
            }
        }
    }

    /// The values this body reads directly.
    pub fn reads(&self) -> Vec<ValueId> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let ExprKind::Value(v) = e.kind {
                out.push(v);
            }
        });
        out.sort_unstable();
        out.dedup();
        out
    }
}
