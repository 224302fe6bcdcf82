//! The execution plan: a policy's IR lowered once into what the scaled backends run, with every
//! decision made here and nowhere else.
//!
//! The IR leaves the meaning of an operator to its operands' types (`money * rate` rounds to
//! the fen, `int * int` is checked in 64 bits); the plan names the operation. It also decides
//! the bound each result is checked against ([`crate::kernel::limit`]), how a set of enum
//! variants is tested (a bitset of 64-bit words over the enum, so any enum size works), each
//! table's strides and the range check on its keys, where each parameter version's cells lie
//! and which version is in force on a day, how each accumulator folds a claim in, and the
//! balance. The interpreter's closures run a plan; the Cranelift translator translates one.
//! The reference interpreter does not read it: it is the independent oracle both are tested
//! against.

use settle_lang::ir::{
    BinOp, Body, Const, Expr, ExprKind, FoldKind, ParamKind, ParamValue, Policy, Rounding, Type,
};

use crate::CompileError;
use crate::kernel::{Calendar, limit, money_fen, rate_millionths};

/// A policy lowered for the scaled backends.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many input fields a claim has.
    pub fields: usize,
    /// How many values the policy computes.
    pub values: usize,
    /// How many accumulators it keeps.
    pub accs: usize,
    /// The field holding the date that decides the parameters in force.
    pub dated_field: usize,
    /// How products and quotients are rounded.
    pub mode: Rounding,
    /// The constant cells: every parameter version's cells, then the words of every set of
    /// more than one word.
    pub data: Vec<i64>,
    /// Each parameter's versions.
    pub params: Vec<Versions>,
    /// Each value in the IR's order of evaluation, with its computation.
    pub order: Vec<(usize, Node)>,
    /// The balance: every share non-negative, their sum the total.
    pub balance: Option<Balance>,
    /// Each accumulator's fold, by accumulator id.
    pub folds: Vec<Fold>,
    /// The expressions left to the engine's fallback, by index.
    pub fallbacks: Vec<Expr>,
}

/// A parameter's versions and the rule choosing the one in force on a day: none before the
/// first version's date (when it has one), else the last version whose date is on or before
/// the day.
#[derive(Debug, Clone)]
pub struct Versions {
    /// Before this day no version is in force; `None`: one always is.
    pub first: Option<i64>,
    /// Each version in date order.
    pub list: Vec<Version>,
}

/// One version of a parameter; its cells in [`Plan::data`] are a scalar's value, a table's
/// cells in row-major order of its keys, or a scale's brackets as (lower, upper or `i64::MAX`,
/// rate).
#[derive(Debug, Clone)]
pub struct Version {
    /// The day it takes effect (`i64::MIN` when undated).
    pub from: i64,
    /// Where its cells start in [`Plan::data`].
    pub cells: usize,
    /// A scale's brackets (empty for other parameters).
    pub brackets: Vec<Bracket>,
}

/// One bracket of a segmented scale, in fen and millionths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bracket {
    /// Inclusive lower bound.
    pub lower: i64,
    /// Exclusive upper bound; `None` when open.
    pub upper: Option<i64>,
    /// The rate.
    pub rate: i64,
}

impl Versions {
    /// The index of the version in force on `day`, or `None` when none is.
    pub fn in_force(&self, day: i64) -> Option<usize> {
        if self.first.is_some_and(|first| day < first) {
            return None;
        }
        let mut chosen = None;
        for (i, v) in self.list.iter().enumerate() {
            if chosen.is_none() || day >= v.from {
                chosen = Some(i);
            }
        }
        chosen
    }
}

/// A computation producing one 64-bit scaled integer.
#[derive(Debug, Clone)]
pub enum Node {
    /// A constant.
    Const(i64),
    /// An input field of the claim.
    Field(usize),
    /// A value computed earlier.
    Value(usize),
    /// An accumulator before the claim.
    Acc(usize),
    /// The scalar parameter's value in force.
    Param(usize),
    /// A table's cell for its keys, each checked to be one of its enum's variants.
    Table {
        /// The parameter.
        param: usize,
        /// The keys, outermost first.
        keys: Vec<Key>,
    },
    /// The amount a scale pays on an amount.
    Segmented {
        /// The parameter.
        param: usize,
        /// The amount.
        amount: Box<Node>,
    },
    /// The rate of the bracket an amount falls in.
    RateAt {
        /// The parameter.
        param: usize,
        /// The amount.
        amount: Box<Node>,
    },
    /// An operation on one operand.
    Unary(Unary, Box<Node>),
    /// An arithmetic operation, its result checked against `bound` when there is one.
    Arith {
        /// Which.
        op: Arith,
        /// The operands.
        x: Box<Node>,
        /// The second operand.
        y: Box<Node>,
        /// The bound of the result's magnitude.
        bound: Option<i64>,
    },
    /// `round(x * a / b)`, the proportion of an amount: the product kept whole (128 bits when
    /// it leaves 64) and rounded once by the kernel's [`muldiv`](crate::kernel::muldiv), then
    /// checked against the money bound. A zero `b` is a division by zero.
    Proportion {
        /// The amount, in fen.
        x: Box<Node>,
        /// The multiplier: fen, millionths or a count.
        a: Box<Node>,
        /// The divisor, in the multiplier's unit.
        b: Box<Node>,
        /// The bound of the result's magnitude.
        bound: i64,
    },
    /// A signed comparison: 1 or 0.
    Compare(Compare, Box<Node>, Box<Node>),
    /// `x and y`: `y` only computed when `x` holds.
    And(Box<Node>, Box<Node>),
    /// `x or y`: `y` only computed when `x` does not hold.
    Or(Box<Node>, Box<Node>),
    /// `if c then a else b`: only the branch taken is computed.
    If(Box<Node>, Box<Node>, Box<Node>),
    /// The smallest (`min`) or largest of at least one operand.
    Extreme {
        /// Smallest or largest.
        min: bool,
        /// The operands, in order.
        xs: Vec<Node>,
    },
    /// Whether a variant is in a set.
    In(Box<Node>, Set),
    /// A rule: every condition in order (a second that holds is a conflict), then the value of
    /// the exception that applies, else the default.
    Rule {
        /// The exceptions' conditions.
        whens: Vec<Node>,
        /// The exceptions' values, one for each condition.
        values: Vec<Node>,
        /// The default.
        default: Box<Node>,
    },
    /// An expression left to the engine's fallback, by index into [`Plan::fallbacks`].
    Fallback(usize),
    /// A calendar operation ([`crate::kernel::calendar`]): `x` a day, `y` a number of days or
    /// months, a second day, or 0; an overflow when a date leaves the calendar.
    Calendar {
        /// Which.
        op: Calendar,
        /// The date.
        x: Box<Node>,
        /// The length of time or second date.
        y: Box<Node>,
    },
    /// Money rounded to a multiple of `unit` fen by `mode` ([`crate::kernel::round_to`]).
    Round {
        /// The amount.
        x: Box<Node>,
        /// The unit in fen (positive).
        unit: i64,
        /// The rounding mode written, else the policy's.
        mode: Rounding,
    },
}

/// A table key: its computation, its enum's number of variants, and its stride.
#[derive(Debug, Clone)]
pub struct Key {
    /// The variant.
    pub node: Node,
    /// How many variants its enum has: a key outside `0..size` is a fault.
    pub size: i64,
    /// Cells between two consecutive variants of this key.
    pub stride: i64,
}

/// Operations on one operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// `-x`: of a count, an overflow when it does not fit (`checked`); of money or a rate,
    /// within its bound like its operand.
    Neg {
        /// Whether the result may not fit.
        checked: bool,
    },
    /// `abs(x)`, checked as `Neg` is.
    Abs {
        /// Whether the result may not fit.
        checked: bool,
    },
    /// `not x`: 1 for 0, else 0.
    Not,
}

/// Arithmetic, the operation chosen by the operands' types.
///
/// INVARIANT: every money or rate operand is within its bound (a claim's fields by the
/// engine's check before it settles, computed values by their own bound checks, accumulators by
/// their folds, constants by the checker), so the sum or difference of two cannot leave 64 bits:
/// with a bound, `Add` and `Sub` check only the bound; counts, which have none, are checked for
/// leaving 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `x + y`: checked against the bound, or for an overflow beyond 64 bits without one.
    Add,
    /// `x - y`, checked as `Add` is.
    Sub,
    /// `x * y` with no scale to remove (an amount times a count, counts), an overflow beyond
    /// 64 bits.
    Mul,
    /// `round(x * y / 10^6)`: money times a rate, a rate times a rate.
    MulScaled,
    /// `round(x / y)`: money or a rate over a count.
    DivRound,
    /// `round(x * 10^6 / y)`: a quotient that is a rate (money over money, rate over rate,
    /// count over count) or money over a rate.
    DivScaled,
}

/// Signed comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
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
}

impl Compare {
    /// Compare two values.
    pub fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Compare::Eq => a == b,
            Compare::Ne => a != b,
            Compare::Lt => a < b,
            Compare::Le => a <= b,
            Compare::Gt => a > b,
            Compare::Ge => a >= b,
        }
    }
}

/// A set of enum variants as a bitset of 64-bit words covering the enum: variant `v` is in the
/// set when bit `v % 64` of word `v / 64` is set. A value outside the words is in no set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The words; at least one.
    pub words: Vec<u64>,
    /// Where the words are in [`Plan::data`] when there are more than one.
    pub at: usize,
}

impl Set {
    /// Whether variant `v` is in the set.
    #[inline]
    pub fn contains(&self, v: i64) -> bool {
        u64::try_from(v).ok().and_then(|v| {
            self.words.get(usize::try_from(v / 64).ok()?).map(|w| (w >> (v % 64)) & 1)
        }) == Some(1)
    }
}

/// The balance: the total, and the values that must add up to it: each share not negative,
/// their sum (money within its bound, so checked only against the bound) the total.
#[derive(Debug, Clone)]
pub struct Balance {
    /// The total.
    pub total: Node,
    /// The shares, by value id.
    pub parts: Vec<usize>,
}

/// How a claim is folded into an accumulator.
#[derive(Debug, Clone)]
pub struct Fold {
    /// Which claims count (`None`: all).
    pub filter: Option<Node>,
    /// What a claim contributes (`None`: 1).
    pub value: Option<Node>,
    /// How.
    pub op: FoldOp,
}

/// How a contribution joins an accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldOp {
    /// Added, checked as [`Arith::Add`] is: against the bound, or for an overflow beyond 64
    /// bits without one.
    Add(Option<i64>),
    /// The smallest so far (the first contribution when none yet).
    Min,
    /// The largest so far.
    Max,
}

fn unsupported(what: &str) -> CompileError {
    CompileError::Unsupported(what.into())
}

/// Whether the code leaves `e` to the engine's fallback: folds and quantifiers over a claim's
/// lists, and comparisons of text.
pub fn needs_fallback(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Fold { .. } | ExprKind::Quantifier { .. } => true,
        ExprKind::Binary(_, a, b) => a.ty == Type::Text || b.ty == Type::Text,
        _ => false,
    }
}

/// Whether the scaled backends compute values of type `ty` themselves.
pub fn scalar(ty: Type) -> Result<(), CompileError> {
    match ty {
        Type::Money | Type::Rate | Type::Int | Type::Bool | Type::Date | Type::Enum(_) => Ok(()),
        Type::Text => Err(unsupported("computations on text")),
        Type::Record(_) | Type::List(_) => Err(unsupported("lists and records")),
    }
}

/// A constant's 64-bit representation.
pub fn constant(c: &Const) -> Result<i64, CompileError> {
    let out = match c {
        Const::Money(d) => money_fen(*d),
        Const::Rate(d) => rate_millionths(*d),
        Const::Int(i) => Some(*i),
        Const::Bool(b) => Some(i64::from(*b)),
        Const::Date(d) => Some(i64::from(d.0)),
        Const::Enum(e) => Some(i64::from(*e)),
        Const::Text(_) => return Err(unsupported("text constants")),
        Const::Record(_) | Const::List(_) => return Err(unsupported("lists and records")),
    };
    out.ok_or_else(|| unsupported("a constant beyond 64 bits"))
}

impl Plan {
    /// Lower a checked policy; refused when a value, accumulator or balance total is not a
    /// number, truth value, date or enum variant.
    pub fn new(policy: &Policy) -> Result<Plan, CompileError> {
        let mut lower = Lower { policy, data: Vec::new(), fallbacks: Vec::new() };
        let params = lower.params()?;
        let mut order = Vec::with_capacity(policy.order.len());
        for &v in &policy.order {
            let def = policy.values.get(v).ok_or_else(|| unsupported("a missing value"))?;
            scalar(def.ty)?;
            order.push((v, lower.body(&def.body)?));
        }
        let balance = match &policy.balance {
            Some(b) => Some(Balance { total: lower.expr(&b.total)?, parts: b.parts.clone() }),
            None => None,
        };
        let mut folds = Vec::with_capacity(policy.accumulators.len());
        for a in &policy.accumulators {
            scalar(a.ty)?;
            let filter = a.filter.as_ref().map(|f| lower.expr(f)).transpose()?;
            let value = match (&a.value, a.fold) {
                (_, FoldKind::Count) | (None, _) => None,
                (Some(e), _) => Some(lower.expr(e)?),
            };
            let op = match a.fold {
                FoldKind::Count | FoldKind::Sum => FoldOp::Add(limit(a.ty)),
                FoldKind::Min => FoldOp::Min,
                FoldKind::Max => FoldOp::Max,
            };
            folds.push(Fold { filter, value, op });
        }
        Ok(Plan {
            fields: policy.input_record().map_or(0, |r| r.fields.len()),
            values: policy.values.len(),
            accs: policy.accumulators.len(),
            dated_field: policy.dated_field,
            mode: policy.rounding,
            data: lower.data,
            params,
            order,
            balance,
            folds,
            fallbacks: lower.fallbacks,
        })
    }
}

/// Lowers a policy's IR.
struct Lower<'a> {
    policy: &'a Policy,
    data: Vec<i64>,
    fallbacks: Vec<Expr>,
}

impl Lower<'_> {
    /// Every parameter's versions, their cells laid out one version after another: a scalar is
    /// one cell, a table its cells in row-major order of its keys; a scale keeps its brackets.
    fn params(&mut self) -> Result<Vec<Versions>, CompileError> {
        let mut out = Vec::with_capacity(self.policy.params.len());
        for p in &self.policy.params {
            let mut list = Vec::with_capacity(p.versions.len());
            for v in &p.versions {
                let cells = self.data.len();
                let mut brackets = Vec::new();
                match (&p.kind, &v.value) {
                    (ParamKind::Scalar(_), ParamValue::Scalar(c)) => self.data.push(constant(c)?),
                    (ParamKind::Table { keys, .. }, ParamValue::Table(cs)) => {
                        // INVARIANT: a version holds a cell for every combination of its keys'
                        // variants, so a read with every key in range stays within it.
                        let combinations = keys.iter().try_fold(1usize, |n, k| {
                            n.checked_mul(self.policy.enums.get(*k)?.variants.len())
                        });
                        if combinations != Some(cs.len()) {
                            return Err(CompileError::Codegen(format!(
                                "table `{}` has {} cells for {combinations:?} combinations",
                                p.name,
                                cs.len()
                            )));
                        }
                        for c in cs {
                            self.data.push(constant(c)?);
                        }
                    }
                    (ParamKind::Scale, ParamValue::Scale(bs)) => {
                        let fen =
                            |d| money_fen(d).ok_or_else(|| unsupported("a bound beyond 64 bits"));
                        for b in bs {
                            let bracket = Bracket {
                                lower: fen(b.lower)?,
                                upper: b.upper.map(fen).transpose()?,
                                rate: rate_millionths(b.rate)
                                    .ok_or_else(|| unsupported("a rate beyond 64 bits"))?,
                            };
                            // Three cells a bracket, so that each version has a place of
                            // its own in the data block: the code tells versions apart by it.
                            let upper = bracket.upper.unwrap_or(i64::MAX);
                            self.data.extend([bracket.lower, upper, bracket.rate]);
                            brackets.push(bracket);
                        }
                    }
                    _ => {
                        return Err(CompileError::Codegen(format!(
                            "parameter `{}` has a value of another shape",
                            p.name
                        )));
                    }
                }
                list.push(Version {
                    from: v.from.map_or(i64::MIN, |d| i64::from(d.0)),
                    cells,
                    brackets,
                });
            }
            let first = p.versions.first().and_then(|v| v.from).map(|d| i64::from(d.0));
            out.push(Versions { first, list });
        }
        Ok(out)
    }

    fn body(&mut self, body: &Body) -> Result<Node, CompileError> {
        match body {
            Body::Expr(e) => self.expr(e),
            Body::Rule { default, exceptions } => {
                let mut whens = Vec::with_capacity(exceptions.len());
                let mut values = Vec::with_capacity(exceptions.len());
                for x in exceptions {
                    whens.push(self.expr(&x.when)?);
                    values.push(self.expr(&x.value)?);
                }
                Ok(Node::Rule { whens, values, default: Box::new(self.expr(default)?) })
            }
        }
    }

    fn boxed(&mut self, e: &Expr) -> Result<Box<Node>, CompileError> {
        self.expr(e).map(Box::new)
    }

    fn expr(&mut self, e: &Expr) -> Result<Node, CompileError> {
        if needs_fallback(e) {
            self.fallbacks.push(e.clone());
            return Ok(Node::Fallback(self.fallbacks.len() - 1));
        }
        scalar(e.ty)?;
        let checked = match e.ty {
            Type::Int => Ok(true),
            Type::Money | Type::Rate => Ok(false),
            _ => Err(unsupported("arithmetic on a value that is no number")),
        };
        Ok(match &e.kind {
            ExprKind::Const(c) => Node::Const(constant(c)?),
            &ExprKind::Field(i) => Node::Field(i),
            &ExprKind::Value(v) => Node::Value(v),
            &ExprKind::Acc(a) => Node::Acc(a),
            &ExprKind::Param(p) => Node::Param(p),
            ExprKind::Table(p, keys) => {
                let key_enums = match self.policy.params.get(*p).map(|x| &x.kind) {
                    Some(ParamKind::Table { keys, .. }) => keys.clone(),
                    _ => return Err(unsupported("a table read of a parameter that is no table")),
                };
                let sizes: Vec<i64> = key_enums
                    .iter()
                    .map(|k| self.policy.enums.get(*k).map_or(0, |e| e.variants.len() as i64))
                    .collect();
                let mut ks = Vec::with_capacity(keys.len());
                for (i, (key, &size)) in keys.iter().zip(&sizes).enumerate() {
                    let stride = sizes.iter().skip(i + 1).product();
                    ks.push(Key { node: self.expr(key)?, size, stride });
                }
                Node::Table { param: *p, keys: ks }
            }
            ExprKind::Segmented(p, amount) => {
                Node::Segmented { param: *p, amount: self.boxed(amount)? }
            }
            ExprKind::RateAt(p, amount) => Node::RateAt { param: *p, amount: self.boxed(amount)? },
            ExprKind::Neg(x) => Node::Unary(Unary::Neg { checked: checked? }, self.boxed(x)?),
            ExprKind::Abs(x) => Node::Unary(Unary::Abs { checked: checked? }, self.boxed(x)?),
            ExprKind::Not(x) => Node::Unary(Unary::Not, self.boxed(x)?),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.ty)?,
            ExprKind::If(c, a, b) => Node::If(self.boxed(c)?, self.boxed(a)?, self.boxed(b)?),
            ExprKind::Proportion(x, a, b) => Node::Proportion {
                x: self.boxed(x)?,
                a: self.boxed(a)?,
                b: self.boxed(b)?,
                bound: limit(e.ty).ok_or_else(|| unsupported("a proportion that is no amount"))?,
            },
            ExprKind::Min(xs) | ExprKind::Max(xs) => {
                let min = matches!(e.kind, ExprKind::Min(_));
                let xs = xs.iter().map(|x| self.expr(x)).collect::<Result<Vec<_>, _>>()?;
                if xs.is_empty() {
                    return Err(unsupported("`min` or `max` of nothing"));
                }
                Node::Extreme { min, xs }
            }
            ExprKind::In(x, variants) => {
                let size = match x.ty {
                    Type::Enum(en) => self.policy.enums.get(en).map_or(0, |d| d.variants.len()),
                    _ => 0,
                };
                let top = variants.iter().map(|&v| v as usize + 1).max().unwrap_or(0);
                let mut words = vec![0u64; size.max(top).div_ceil(64).max(1)];
                for &v in variants {
                    if let Some(w) = words.get_mut(v as usize / 64) {
                        *w |= 1 << (v % 64);
                    }
                }
                // A set of more than one word is read from the data block by the compiled code.
                let at = self.data.len();
                if words.len() > 1 {
                    self.data.extend(words.iter().map(|&w| w as i64));
                }
                Node::In(self.boxed(x)?, Set { words, at })
            }
            ExprKind::Shift(d, n, unit) => {
                Node::Calendar { op: Calendar::Shift(*unit), x: self.boxed(d)?, y: self.boxed(n)? }
            }
            ExprKind::DatePart(part, d) => Node::Calendar {
                op: Calendar::Part(*part),
                x: self.boxed(d)?,
                y: Box::new(Node::Const(0)),
            },
            ExprKind::YearsBetween(a, b) => {
                Node::Calendar { op: Calendar::YearsBetween, x: self.boxed(a)?, y: self.boxed(b)? }
            }
            ExprKind::Round { value, unit, mode } => {
                if *unit <= 0 {
                    return Err(CompileError::Codegen(format!("a rounding unit of {unit} fen")));
                }
                Node::Round { x: self.boxed(value)?, unit: *unit, mode: *mode }
            }
            ExprKind::Fold { .. }
            | ExprKind::Quantifier { .. }
            | ExprKind::Local(_)
            | ExprKind::RecordField(..)
            | ExprKind::ClaimValue(..) => return Err(unsupported("folds over lists")),
            ExprKind::Period(_) => {
                return Err(unsupported("a value of period settlement in a claim's values"));
            }
        })
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, ty: Type) -> Result<Node, CompileError> {
        use Type::{Int, Money, Rate};
        let (x, y) = (self.boxed(a)?, self.boxed(b)?);
        let compare = match op {
            BinOp::And => return Ok(Node::And(x, y)),
            BinOp::Or => return Ok(Node::Or(x, y)),
            BinOp::Eq => Some(Compare::Eq),
            BinOp::Ne => Some(Compare::Ne),
            BinOp::Lt => Some(Compare::Lt),
            BinOp::Le => Some(Compare::Le),
            BinOp::Gt => Some(Compare::Gt),
            BinOp::Ge => Some(Compare::Ge),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => None,
        };
        if let Some(c) = compare {
            return Ok(Node::Compare(c, x, y));
        }
        let arith = match (op, a.ty, b.ty) {
            (BinOp::Add, Money, Money) | (BinOp::Add, Rate, Rate) | (BinOp::Add, Int, Int) => {
                Arith::Add
            }
            (BinOp::Sub, Money, Money)
            | (BinOp::Sub, Rate, Rate)
            | (BinOp::Sub, Int, Int)
            | (BinOp::Sub, Type::Date, Type::Date) => Arith::Sub,
            (BinOp::Mul, Money, Rate) | (BinOp::Mul, Rate, Money) | (BinOp::Mul, Rate, Rate) => {
                Arith::MulScaled
            }
            (BinOp::Mul, Money | Rate, Int) | (BinOp::Mul, Int, Money | Rate | Int) => Arith::Mul,
            (BinOp::Div, Money | Rate, Int) => Arith::DivRound,
            (BinOp::Div, Money, Money | Rate)
            | (BinOp::Div, Rate, Rate)
            | (BinOp::Div, Int, Int) => Arith::DivScaled,
            (op, l, r) => {
                return Err(CompileError::Codegen(format!(
                    "no lowering for {op:?} on {l:?} and {r:?}"
                )));
            }
        };
        Ok(Node::Arith { op: arith, x, y, bound: limit(ty) })
    }
}
