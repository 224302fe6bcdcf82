//! The syntax tree of one policy file, every node with its span.

use rust_decimal::Decimal;

use crate::date::{Date, DateUnit};
pub use crate::ir::Window;
use crate::span::Span;

pub mod period;

/// One parsed `.settle` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Module {
    /// The items in source order.
    pub items: Vec<Item>,
    /// Items that did not parse (reported already), so that checks do not report them again.
    pub broken: Vec<Broken>,
}

/// An item that failed to parse: its first word and the name after it, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broken {
    /// The item's keyword, such as `rule`.
    pub keyword: String,
    /// The word after it, usually the item's name.
    pub name: Option<String>,
    /// Where the broken item stands.
    pub span: Span,
}

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// A quoted string, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The string's value.
    pub value: String,
    /// Where it stands, quotes included.
    pub span: Span,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `policy dezhou.employee "title"`
    Policy { name: Ident, title: Option<Text>, span: Span },
    /// `extends "base.settle"`
    Extends { path: Text, span: Span },
    /// `year starts 01-01`
    YearStart { month: u32, day: u32, span: Span },
    /// `dated by claim.admitted`
    DatedBy { field: Expr, span: Span },
    /// `rounding half_even`
    Rounding { mode: Ident, span: Span },
    /// `enum Level { primary "基层", level1 }`
    Enum(EnumDecl),
    /// `record Item { ... }`
    Record(RecordDecl),
    /// `input claim { ... }`
    Input(RecordDecl),
    /// `override input claim { ... }`: fields added to a base's input
    InputAdd(RecordDecl),
    /// `yearly admissions = count() where ...`
    Yearly(YearlyDecl),
    /// `param deductible: money by Level ...`
    Param(ParamDecl),
    /// `override param ratio from 2024-01-01 ...`: values added to a base's parameter
    ParamAdd(ParamAddDecl),
    /// `let policy_range = ...`
    Let(LetDecl),
    /// `rule deductible_due: money default ... when ... -> ...`
    Rule(RuleDecl),
    /// `stage basic (pay: money) { ... }`
    Stage(StageDecl),
    /// `balance claim.total = basic.pay + patient.out_of_pocket`
    Balance { total: Expr, parts: Expr, span: Span },
    /// `test "..." { claim a { ... } expect ... }`
    Test(TestDecl),
    /// `period ...`, `case ...` or `table ...`: period settlement
    Period(period::PeriodItem),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Policy { span, .. }
            | Item::Extends { span, .. }
            | Item::YearStart { span, .. }
            | Item::DatedBy { span, .. }
            | Item::Rounding { span, .. }
            | Item::Balance { span, .. } => *span,
            Item::Enum(d) => d.span,
            Item::Record(d) | Item::Input(d) | Item::InputAdd(d) => d.span,
            Item::Yearly(d) => d.span,
            Item::Param(d) => d.span,
            Item::ParamAdd(d) => d.span,
            Item::Let(d) => d.span,
            Item::Rule(d) => d.span,
            Item::Stage(d) => d.span,
            Item::Test(d) => d.span,
            Item::Period(d) => d.span(),
        }
    }
}

/// An enumeration.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDecl {
    /// Its name.
    pub name: Ident,
    /// Its variants, each with an optional display label.
    pub variants: Vec<(Ident, Option<Text>)>,
    /// The whole declaration.
    pub span: Span,
}

/// A record type (also the input claim).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDecl {
    /// Its name.
    pub name: Ident,
    /// Its fields.
    pub fields: Vec<FieldDecl>,
    /// The whole declaration.
    pub span: Span,
}

/// `name: type "description"`
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    /// The field's name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeExpr,
    /// An optional description.
    pub doc: Option<Text>,
}

/// A type as written.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// `money`, `Level`, ...
    Named(Ident),
    /// `list of Item`
    List(Ident, Span),
}

impl TypeExpr {
    /// Where the type is written.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(id) => id.span,
            TypeExpr::List(_, span) => *span,
        }
    }
}

/// `yearly name = fold(expr) where cond`
#[derive(Debug, Clone, PartialEq)]
pub struct YearlyDecl {
    /// The accumulator's name.
    pub name: Ident,
    /// Which earlier claims it folds: `yearly` or `lifetime`.
    pub window: Window,
    /// `by claim.household`: a group total, keyed by that claim field.
    pub group: Option<Expr>,
    /// The length of a `rolling` or `episode` window as written.
    pub length: Option<WindowLength>,
    /// An optional type annotation.
    pub ty: Option<TypeExpr>,
    /// The fold, a call such as `sum(basic.pay)`.
    pub fold: Expr,
    /// Which earlier claims count.
    pub filter: Option<Expr>,
    /// The whole declaration.
    pub span: Span,
}

/// `rolling 12 months`, `episode 60 days after claim.discharged` as written.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowLength {
    /// The number, when it is a whole number that fits 32 bits.
    pub count: Option<u32>,
    /// Where the number stands.
    pub count_span: Span,
    /// The unit as written (`days`, `months`, ...).
    pub unit: Ident,
    /// The field after `after`, as written (`claim.discharged`).
    pub end: Option<Ident>,
}

/// A parameter: a value, an enum-keyed table or a segmented scale, possibly effective-dated.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    /// Whether it overrides a base policy's parameter.
    pub overrides: bool,
    /// Its name.
    pub name: Ident,
    /// Its declared type.
    pub ty: ParamType,
    /// Sources cited for the parameter as a whole.
    pub sources: Vec<Text>,
    /// Its values: one undated, or one per effective date.
    pub versions: Vec<Version>,
    /// The whole declaration.
    pub span: Span,
}

/// `override param ratio from 2024-01-01 { ... }`: dated values added to the parameter of the
/// same name in a base policy, which keeps its type, sources and own values.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamAddDecl {
    /// The base's parameter.
    pub name: Ident,
    /// The values added, each with its date.
    pub versions: Vec<Version>,
    /// The whole declaration.
    pub span: Span,
}

/// A parameter's declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    /// `scale`: money brackets with rates; `scale by Scheme`: one scale per variant of an enum.
    Scale { span: Span, by: Option<Ident> },
    /// A value type, keyed by zero or more enums.
    Value { ty: TypeExpr, keys: Vec<Ident> },
}

/// The value of a parameter from a date on (`from` is `None` for an undated parameter).
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// When this value takes effect, with its span.
    pub from: Option<(Date, Span)>,
    /// Whether the date is marked `assumed` (`from 2021-07-01 assumed ...`): the source does
    /// not say when this value takes effect.
    pub from_assumed: bool,
    /// The value.
    pub value: Value,
    /// Sources cited for this value.
    pub sources: Vec<Text>,
    /// The whole `from` line.
    pub span: Span,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A literal.
    Scalar(Scalar),
    /// `{ level1: 450, level2: 550 }`, possibly nested.
    Table { entries: Vec<TableEntry>, span: Span },
    /// `{ 0 .. 100_000: 60%, 100_000 ..: 70% }`
    Scale { brackets: Vec<Bracket>, span: Span },
}

impl Value {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            Value::Scalar(s) => s.span,
            Value::Table { span, .. } | Value::Scale { span, .. } => *span,
        }
    }
}

/// A literal value, perhaps marked `assumed` (not given by the source).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The literal.
    pub lit: Literal,
    /// Whether the author marked it as an assumption.
    pub assumed: bool,
    /// Where it is written.
    pub span: Span,
}

/// A table entry; `key` is `None` for the wildcard `_`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableEntry {
    /// The enum variant, or `None` for `_`.
    pub key: Option<Ident>,
    /// Where the key is written.
    pub key_span: Span,
    /// The value for this key.
    pub value: Value,
}

/// A bracket of a segmented scale: `lower .. upper: rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bracket {
    /// Lower bound, inclusive.
    pub lower: Bound,
    /// Upper bound, exclusive; `None` when open-ended.
    pub upper: Option<Bound>,
    /// The bracket's ratio.
    pub rate: Scalar,
    /// The whole bracket.
    pub span: Span,
}

/// A bound of a bracket: an amount, or a money parameter's value in force.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// `100_000`
    Amount(Decimal, Span),
    /// `basic_cap`
    Param(Ident),
}

impl Bound {
    /// Where the bound is written.
    pub fn span(&self) -> Span {
        match self {
            Bound::Amount(_, span) => *span,
            Bound::Param(name) => name.span,
        }
    }
}

/// `let name: type = expr`
#[derive(Debug, Clone, PartialEq)]
pub struct LetDecl {
    /// Whether it overrides a base policy's `let`.
    pub overrides: bool,
    /// Its name.
    pub name: Ident,
    /// An optional type annotation.
    pub ty: Option<TypeExpr>,
    /// Its value.
    pub value: Expr,
    /// The whole declaration.
    pub span: Span,
}

/// A rule: a default and exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    /// Whether it overrides a base policy's rule.
    pub overrides: bool,
    /// Its name.
    pub name: Ident,
    /// Its declared type.
    pub ty: TypeExpr,
    /// Sources cited for the rule as a whole.
    pub sources: Vec<Text>,
    /// The value when no exception applies.
    pub default: Arm,
    /// The exceptions.
    pub exceptions: Vec<Exception>,
    /// The whole declaration.
    pub span: Span,
}

/// `default expr source "..."`
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// The value.
    pub value: Expr,
    /// Sources cited for it.
    pub sources: Vec<Text>,
    /// The whole arm.
    pub span: Span,
}

/// `when cond -> value source "..."`
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    /// Written `else when`: it applies only when no exception above it applies.
    pub ordered: bool,
    /// When it applies.
    pub when: Expr,
    /// Its value and sources.
    pub arm: Arm,
}

/// A payer stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDecl {
    /// Whether it overrides a base policy's stage.
    pub overrides: bool,
    /// Its name.
    pub name: Ident,
    /// An optional title (`"基本医疗保险"`).
    pub title: Option<Text>,
    /// `before critical`: the stage it runs before (a new stage's place among a base's).
    pub before: Option<Ident>,
    /// Declared outputs.
    pub outputs: Vec<(Ident, TypeExpr)>,
    /// Local `let`s and output assignments, in order.
    pub body: Vec<StageStmt>,
    /// Sources cited.
    pub sources: Vec<Text>,
    /// The whole declaration.
    pub span: Span,
}

/// A statement in a stage body.
#[derive(Debug, Clone, PartialEq)]
pub enum StageStmt {
    /// `let name = expr`
    Let(LetDecl),
    /// `output = expr`
    Assign { name: Ident, value: Expr, span: Span },
}

/// `test "name" { claim a { ... } expect ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    /// The test's name.
    pub name: Text,
    /// Claims, in the order written.
    pub claims: Vec<TestClaim>,
    /// Expectations.
    pub expects: Vec<Expr>,
    /// The whole test.
    pub span: Span,
}

/// `claim a { field: value, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestClaim {
    /// The input record's name (`claim`).
    pub record: Ident,
    /// The label that names this claim in expectations; also its id unless `id` is given.
    pub label: Ident,
    /// Field values.
    pub fields: Vec<FieldInit>,
    /// The whole claim.
    pub span: Span,
}

/// `field: value` in a test claim.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInit {
    /// The field.
    pub name: Ident,
    /// Its value.
    pub value: FieldValue,
}

/// A test claim's field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A literal or enum variant.
    Expr(Expr),
    /// `[ { ... }, { ... } ]` for a list of records.
    List(Vec<(Vec<FieldInit>, Span)>, Span),
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `450`, `12_000.50`; `decimals` tells whether a point was written.
    Number { value: Decimal, decimals: bool },
    /// `85%`, stored as `0.85`.
    Percent(Decimal),
    /// `2023-05-01`
    Date(Date),
    /// `"text"`
    Text(String),
    /// `true` or `false`
    Bool(bool),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Lit(Literal),
    /// A name.
    Name(Ident),
    /// `expr.name`
    Member(Box<Expr>, Ident),
    /// `table[key, ...]`
    Index(Box<Expr>, Vec<Expr>),
    /// `f(args)`
    Call(Ident, Vec<Expr>),
    /// `f(body for var in list where cond)`
    Fold { func: Ident, body: Box<Expr>, var: Ident, list: Box<Expr>, filter: Option<Box<Expr>> },
    /// `if c then a else b`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `-x`, `not x`
    Unary(UnaryOp, Box<Expr>),
    /// `a + b`, ...
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `{a, b}` (right of `in`)
    Set(Vec<Expr>),
    /// `(expr)`
    Paren(Box<Expr>),
    /// `3 days`, `n months`: a length of time (after `date +` or `date -`).
    Duration(Box<Expr>, DateUnit),
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `not`
    Not,
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
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
    /// `and`
    And,
    /// `or`
    Or,
    /// `in`
    In,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::In => "in",
        }
    }

    /// Whether the operator compares its operands.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}
