//! The interpreter: evaluates a policy's IR for one claim.
//!
//! A claim is evaluated against its input fields, the member's year-to-date accumulators
//! (values before this claim) and the parameter values in force on its date. Values are
//! computed in the IR's `order`; each reads only values before it.

use std::fmt;

use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::{
    self, BinOp, Body, ClaimPart, Expr, ExprKind, FoldKind, ParamKind, ParamValue, Policy,
    Rounding, Type,
};

use crate::value::{self as arith, ArithError, Value};

/// Why a value could not be computed. Small and cheap to pass around: names are looked up in
/// the policy only when the fault is described ([`Fault::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Overflow or division by zero.
    Arith(ArithError),
    /// No value of a parameter is in force on the claim's date.
    NotInForce {
        /// The parameter.
        param: ir::ParamId,
        /// The claim's date.
        date: Date,
    },
    /// Two exceptions of a rule apply.
    Conflict {
        /// The rule.
        rule: ir::ValueId,
        /// The first exception that applies.
        first: usize,
        /// The second.
        second: usize,
    },
    /// A test expectation read a claim that was not settled.
    Unsettled(usize),
    /// A test expectation read a row of a period's table that the period does not have.
    NoRow {
        /// The table, an index into the period's tables.
        table: usize,
    },
    /// A key of a table read is no variant of its enum.
    OutOfRange {
        /// The table.
        param: ir::ParamId,
        /// The key.
        key: i64,
    },
    /// A defect of the settling code, never a claim's fault.
    Internal,
}

impl From<ArithError> for Fault {
    fn from(e: ArithError) -> Self {
        Fault::Arith(e)
    }
}

impl Fault {
    /// The fault in words, with the policy's names.
    pub fn describe(&self, policy: &Policy) -> String {
        match *self {
            Fault::Arith(e) => e.to_string(),
            Fault::NotInForce { param, date } => {
                let p = policy.params.get(param);
                let name = p.map_or("", |p| p.name.as_str());
                match p.and_then(|p| p.versions.first()).and_then(|v| v.from) {
                    Some(first) => format!(
                        "no value of `{name}` is in force on {date} (its first takes effect {first})"
                    ),
                    None => format!("no value of `{name}` is in force on {date}"),
                }
            }
            Fault::Conflict { rule, first, second } => {
                let text = |i: usize| match policy.values.get(rule).map(|v| &v.body) {
                    Some(Body::Rule { exceptions, .. }) => {
                        exceptions.get(i).map(|e| e.text.clone()).unwrap_or_default()
                    }
                    _ => String::new(),
                };
                format!("two exceptions apply: `when {}` and `when {}`", text(first), text(second))
            }
            Fault::Unsettled(claim) => format!("claim #{claim} of the test was not settled"),
            Fault::NoRow { table } => {
                let name = policy.period.tables.get(table).map_or("", |t| t.name.as_str());
                format!("the period has no row of `{name}` for the key read")
            }
            Fault::OutOfRange { param, key } => {
                let name = policy.params.get(param).map_or("", |p| p.name.as_str());
                format!("the key #{key} of `{name}` is no variant of its enum")
            }
            Fault::Internal => "an internal error of the settling code (a defect)".to_string(),
        }
    }
}

/// A fault while computing a named value, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// The value being computed (`basic.pay`, `deductible_due`, an accumulator, `balance`).
    pub value: String,
    /// What went wrong.
    pub message: String,
}

impl EvalError {
    /// Describe `fault` met while computing `value`.
    pub fn new(policy: &Policy, value: &str, fault: Fault) -> Self {
        EvalError { value: value.to_string(), message: fault.describe(policy) }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "computing `{}`: {}", self.value, self.message)
    }
}

/// What a trace records of one claim's evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Parameter cells read: parameter, version index, cell index (0 for scalars and scales).
    pub params: Vec<(ir::ParamId, usize, usize)>,
    /// For each rule value, the exception that applied (`None`: the default).
    pub rules: Vec<(ir::ValueId, Option<usize>)>,
    /// Brackets of scales reached: parameter, version index, bracket index (every bracket an
    /// amount reaches into for a segmented scale; the one whose rate is read otherwise).
    pub brackets: Vec<(ir::ParamId, usize, usize)>,
    /// What each `rolling` or `episode` accumulator spans for the claim, by accumulator id.
    pub windows: Vec<(usize, String)>,
}

/// Facts about the policy computed once: table strides.
#[derive(Debug, Clone)]
pub struct Prepared {
    strides: Vec<Vec<usize>>,
}

impl Prepared {
    /// Prepare a policy for evaluation.
    pub fn new(policy: &Policy) -> Self {
        let strides = policy
            .params
            .iter()
            .map(|p| match &p.kind {
                ParamKind::Table { keys, .. } => {
                    let sizes: Vec<usize> = keys
                        .iter()
                        .map(|k| policy.enums.get(*k).map_or(1, |e| e.variants.len()))
                        .collect();
                    let mut strides = vec![1; sizes.len()];
                    for i in (0..sizes.len().saturating_sub(1)).rev() {
                        let next = strides.get(i + 1).copied().unwrap_or(1)
                            * sizes.get(i + 1).copied().unwrap_or(1);
                        if let Some(s) = strides.get_mut(i) {
                            *s = next;
                        }
                    }
                    strides
                }
                _ => Vec::new(),
            })
            .collect();
        Prepared { strides }
    }
}

/// The version of each parameter in force on `date`: `Err` names the first parameter with none.
pub fn versions_in_force(policy: &Policy, date: Date, out: &mut Vec<Option<usize>>) {
    out.clear();
    out.extend(policy.params.iter().map(|p| {
        let count = p.versions.partition_point(|v| v.from.is_none_or(|from| from <= date));
        count.checked_sub(1)
    }));
}

/// A settled test claim: its input fields, its values, its accumulators before it.
pub type TestClaimValues = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Everything one claim's evaluation reads.
pub struct Cx<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Precomputed facts.
    pub prepared: &'a Prepared,
    /// The claim's input fields.
    pub fields: &'a [Value],
    /// The accumulators' values before this claim.
    pub accs: &'a [Value],
    /// The parameter versions in force.
    pub versions: &'a [Option<usize>],
    /// The claim's date.
    pub date: Date,
    /// Values computed so far, by value id.
    pub values: Vec<Value>,
    /// Variables bound by folds.
    pub locals: Vec<Value>,
    /// What the evaluation read, when tracing.
    pub trace: Option<Trace>,
    /// In a test: each claim's fields, values and accumulators; `None` for an unsettled claim.
    pub claims: &'a [Option<TestClaimValues>],
    /// In period settlement: the aggregates, period values, case values and columns known so
    /// far; `None` while a claim is settled, whose values never read them.
    pub period: Option<&'a dyn PeriodReads>,
}

/// What period settlement's expressions read beyond a claim ([`crate::period`]).
pub trait PeriodReads: Sync {
    /// The value of `read`, with its key already computed for an aggregate kept by a key.
    fn read(&self, read: &ir::period::PeriodRead, key: Option<&Value>) -> Result<Value, Fault>;
}

impl fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx").field("date", &self.date).finish_non_exhaustive()
    }
}

type R<T> = Result<T, Fault>;

impl<'a> Cx<'a> {
    fn rounding(&self) -> Rounding {
        self.policy.rounding
    }

    /// Compute every value of the claim, in order.
    pub fn run(&mut self) -> Result<(), EvalError> {
        let placeholder = Value::Bool(false);
        self.values.clear();
        self.values.resize(self.policy.values.len(), placeholder);
        for &v in &self.policy.order {
            let Some(def) = self.policy.values.get(v) else { continue };
            let value = self
                .body(v, &def.body)
                .map_err(|fault| EvalError::new(self.policy, &def.name, fault))?;
            if let Some(slot) = self.values.get_mut(v) {
                *slot = value;
            }
        }
        Ok(())
    }

    fn body(&mut self, v: ir::ValueId, body: &Body) -> R<Value> {
        match body {
            Body::Expr(e) => self.eval(e),
            Body::Rule { default, exceptions } => {
                let mut applied: Option<usize> = None;
                for (i, e) in exceptions.iter().enumerate() {
                    if self.truth(&e.when)? {
                        if let Some(first) = applied {
                            return Err(Fault::Conflict { rule: v, first, second: i });
                        }
                        applied = Some(i);
                    }
                }
                if let Some(trace) = &mut self.trace {
                    trace.rules.push((v, applied));
                }
                match applied.and_then(|a| exceptions.get(a)) {
                    Some(e) => self.eval(&e.value),
                    None => self.eval(default),
                }
            }
        }
    }

    /// Evaluate a condition.
    pub fn truth(&mut self, e: &Expr) -> R<bool> {
        match self.eval(e)? {
            Value::Bool(b) => Ok(b),
            _ => Ok(false),
        }
    }

    fn money(&mut self, e: &Expr) -> R<Decimal> {
        self.eval(e)?.decimal().ok_or(Fault::Internal)
    }

    /// Evaluate an expression.
    pub fn eval(&mut self, e: &Expr) -> R<Value> {
        Ok(match &e.kind {
            ExprKind::Const(c) => Value::from_const(c),
            ExprKind::Field(i) => self.fields.get(*i).cloned().ok_or(Fault::Internal)?,
            ExprKind::RecordField(base, i) => match self.eval(base)? {
                Value::Record(fields) => fields.get(*i).cloned().ok_or(Fault::Internal)?,
                _ => return Err(Fault::Internal),
            },
            ExprKind::Value(v) => self.values.get(*v).cloned().ok_or(Fault::Internal)?,
            ExprKind::Acc(a) => self.accs.get(*a).cloned().ok_or(Fault::Internal)?,
            ExprKind::Local(depth) => self.locals.get(*depth).cloned().ok_or(Fault::Internal)?,
            ExprKind::Param(p) => {
                let (version, value) = self.version(*p)?;
                if let Some(trace) = &mut self.trace {
                    trace.params.push((*p, version, 0));
                }
                match &value.value {
                    ParamValue::Scalar(c) => Value::from_const(c),
                    _ => return Err(Fault::Internal),
                }
            }
            ExprKind::Table(p, keys) => {
                let mut cell = 0usize;
                for (i, key) in keys.iter().enumerate() {
                    let k = match self.eval(key)? {
                        Value::Enum(k) => k as usize,
                        _ => return Err(Fault::Internal),
                    };
                    let size = match key.ty {
                        Type::Enum(e) => self.policy.enums.get(e).map_or(0, |d| d.variants.len()),
                        _ => 0,
                    };
                    if k >= size {
                        return Err(Fault::OutOfRange { param: *p, key: k as i64 });
                    }
                    let stride =
                        self.prepared.strides.get(*p).and_then(|s| s.get(i)).copied().unwrap_or(1);
                    cell += k * stride;
                }
                let (version, value) = self.version(*p)?;
                if let Some(trace) = &mut self.trace {
                    trace.params.push((*p, version, cell));
                }
                match &value.value {
                    ParamValue::Table(cells) => {
                        cells.get(cell).map(Value::from_const).ok_or(Fault::Internal)?
                    }
                    _ => return Err(Fault::Internal),
                }
            }
            ExprKind::Segmented(p, amount) => {
                let amount = self.money(amount)?;
                let (version, brackets) = self.scale(*p)?;
                let mut total = Decimal::ZERO;
                let mode = self.policy.rounding;
                for (k, b) in brackets.iter().enumerate() {
                    if amount <= b.lower {
                        break;
                    }
                    if let Some(trace) = &mut self.trace {
                        trace.brackets.push((*p, version, k));
                    }
                    let top = b.upper.map_or(amount, |u| amount.min(u));
                    let part = arith::money_add(top, b.lower, true)?;
                    let paid = arith::money_times_rate(part, b.rate, mode)?;
                    total = arith::money_add(total, paid, false)?;
                }
                Value::Money(total)
            }
            ExprKind::RateAt(p, amount) => {
                let amount = self.money(amount)?;
                let (version, brackets) = self.scale(*p)?;
                let found = brackets.iter().position(|b| b.upper.is_none_or(|u| amount < u));
                if let (Some(trace), Some(k)) = (&mut self.trace, found) {
                    trace.brackets.push((*p, version, k));
                }
                Value::Rate(found.and_then(|k| brackets.get(k)).map_or(Decimal::ZERO, |b| b.rate))
            }
            ExprKind::Neg(x) => match self.eval(x)? {
                Value::Money(d) => Value::Money(arith::money_add(Decimal::ZERO, d, true)?),
                Value::Rate(d) => Value::Rate(arith::rate_add(Decimal::ZERO, d, true)?),
                Value::Int(i) => Value::Int(i.checked_neg().ok_or(ArithError::Overflow)?),
                other => other,
            },
            ExprKind::Not(x) => Value::Bool(!self.truth(x)?),
            ExprKind::Abs(x) => match self.eval(x)? {
                Value::Money(d) => Value::Money(d.abs()),
                Value::Rate(d) => Value::Rate(d.abs()),
                Value::Int(i) => Value::Int(i.checked_abs().ok_or(ArithError::Overflow)?),
                other => other,
            },
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b)?,
            ExprKind::Proportion(x, a, b) => {
                let x = self.money(x)?;
                let (a, b) = match (self.eval(a)?, self.eval(b)?) {
                    (Value::Money(a), Value::Money(b)) => (arith::fen(a), arith::fen(b)),
                    (Value::Rate(a), Value::Rate(b)) => {
                        (arith::millionths(a), arith::millionths(b))
                    }
                    (Value::Int(a), Value::Int(b)) => (i128::from(a), i128::from(b)),
                    _ => return Err(Fault::Internal),
                };
                Value::Money(arith::money_proportion(x, a, b, self.rounding())?)
            }
            ExprKind::Shift(d, n, unit) => match (self.eval(d)?, self.eval(n)?) {
                (Value::Date(d), Value::Int(n)) => {
                    Value::Date(d.shift(n, *unit).ok_or(ArithError::Overflow)?)
                }
                _ => return Err(Fault::Internal),
            },
            ExprKind::DatePart(part, d) => match self.eval(d)? {
                Value::Date(d) => Value::Int(d.part(*part)),
                _ => return Err(Fault::Internal),
            },
            ExprKind::YearsBetween(a, b) => match (self.eval(a)?, self.eval(b)?) {
                (Value::Date(a), Value::Date(b)) => Value::Int(a.years_between(b)),
                _ => return Err(Fault::Internal),
            },
            ExprKind::Round { value, unit, mode } => match self.eval(value)? {
                Value::Money(m) => Value::Money(arith::money_round_to(m, *unit, *mode)?),
                _ => return Err(Fault::Internal),
            },
            ExprKind::If(c, a, b) => {
                if self.truth(c)? {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            ExprKind::Min(xs) | ExprKind::Max(xs) => {
                let want_min = matches!(e.kind, ExprKind::Min(_));
                let mut best: Option<Value> = None;
                for x in xs {
                    let v = self.eval(x)?;
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let less = less_than(&v, &b);
                            if less == want_min { v } else { b }
                        }
                    });
                }
                best.ok_or(Fault::Internal)?
            }
            ExprKind::In(x, variants) => match self.eval(x)? {
                Value::Enum(v) => Value::Bool(variants.contains(&v)),
                _ => return Err(Fault::Internal),
            },
            ExprKind::Fold { kind, list, body, filter } => {
                let Value::List(items) = self.eval(list)? else { return Err(Fault::Internal) };
                let mut acc = zero(e.ty);
                let mut seen = false;
                for item in items.iter() {
                    self.locals.push(item.clone());
                    let keep = match filter {
                        Some(f) => self.truth(f),
                        None => Ok(true),
                    };
                    let contribution = match keep {
                        Ok(true) => self.eval(body).map(Some),
                        Ok(false) => Ok(None),
                        Err(fault) => Err(fault),
                    };
                    self.locals.pop();
                    if let Some(v) = contribution? {
                        acc = fold(*kind, acc, v, seen)?;
                        seen = true;
                    }
                }
                acc
            }
            ExprKind::Quantifier { all, list, body } => {
                let Value::List(items) = self.eval(list)? else { return Err(Fault::Internal) };
                let mut result = *all;
                for item in items.iter() {
                    self.locals.push(item.clone());
                    let t = self.truth(body);
                    self.locals.pop();
                    if t? != *all {
                        result = !*all;
                        break;
                    }
                }
                Value::Bool(result)
            }
            ExprKind::Period(read) => {
                let key = match read.key() {
                    Some(k) => Some(self.eval(k)?),
                    None => None,
                };
                self.period.ok_or(Fault::Internal)?.read(read, key.as_ref())?
            }
            ExprKind::ClaimValue(claim, part) => {
                let Some(Some((fields, values, accs))) = self.claims.get(*claim) else {
                    return Err(Fault::Unsettled(*claim));
                };
                match part {
                    ClaimPart::Field(i) => fields.get(*i).cloned(),
                    ClaimPart::Value(v) => values.get(*v).cloned(),
                    ClaimPart::Acc(a) => accs.get(*a).cloned(),
                }
                .ok_or(Fault::Internal)?
            }
        })
    }

    /// A scale parameter's version in force, recorded in the trace: its index and brackets.
    fn scale(&mut self, p: ir::ParamId) -> R<(usize, &'a [ir::ScaleBracket])> {
        let (version, value) = self.version(p)?;
        if let Some(trace) = &mut self.trace {
            trace.params.push((p, version, 0));
        }
        match &value.value {
            ParamValue::Scale(brackets) => Ok((version, brackets)),
            _ => Err(Fault::Internal),
        }
    }

    fn version(&self, p: ir::ParamId) -> R<(usize, &'a ir::ParamVersion)> {
        let policy: &'a Policy = self.policy;
        let param = policy.params.get(p);
        match (self.versions.get(p).copied().flatten(), param) {
            (Some(i), Some(param)) => match param.versions.get(i) {
                Some(v) => Ok((i, v)),
                None => Err(self.not_in_force(p)),
            },
            _ => Err(self.not_in_force(p)),
        }
    }

    fn not_in_force(&self, p: ir::ParamId) -> Fault {
        Fault::NotInForce { param: p, date: self.date }
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> R<Value> {
        match op {
            BinOp::And => return Ok(Value::Bool(self.truth(a)? && self.truth(b)?)),
            BinOp::Or => return Ok(Value::Bool(self.truth(a)? || self.truth(b)?)),
            _ => {}
        }
        let x = self.eval(a)?;
        let y = self.eval(b)?;
        let mode = self.rounding();
        use Value::{Int, Money, Rate};
        Ok(match (op, &x, &y) {
            (BinOp::Eq, ..) => Value::Bool(x == y || same_amount(&x, &y)),
            (BinOp::Ne, ..) => Value::Bool(!(x == y || same_amount(&x, &y))),
            (BinOp::Lt, ..) => Value::Bool(less_than(&x, &y)),
            (BinOp::Le, ..) => Value::Bool(!less_than(&y, &x)),
            (BinOp::Gt, ..) => Value::Bool(less_than(&y, &x)),
            (BinOp::Ge, ..) => Value::Bool(!less_than(&x, &y)),
            (BinOp::Add, Money(p), Money(q)) => Money(arith::money_add(*p, *q, false)?),
            (BinOp::Sub, Money(p), Money(q)) => Money(arith::money_add(*p, *q, true)?),
            (BinOp::Add, Rate(p), Rate(q)) => Rate(arith::rate_add(*p, *q, false)?),
            (BinOp::Sub, Rate(p), Rate(q)) => Rate(arith::rate_add(*p, *q, true)?),
            (BinOp::Add, Int(p), Int(q)) => Int(p.checked_add(*q).ok_or(ArithError::Overflow)?),
            (BinOp::Sub, Int(p), Int(q)) => Int(p.checked_sub(*q).ok_or(ArithError::Overflow)?),
            (BinOp::Sub, Value::Date(p), Value::Date(q)) => Int(i64::from(p.0) - i64::from(q.0)),
            (BinOp::Mul, Money(m), Rate(r)) | (BinOp::Mul, Rate(r), Money(m)) => {
                Money(arith::money_times_rate(*m, *r, mode)?)
            }
            (BinOp::Mul, Money(m), Int(i)) | (BinOp::Mul, Int(i), Money(m)) => {
                Money(arith::money_times_int(*m, *i)?)
            }
            (BinOp::Mul, Rate(p), Rate(q)) => Rate(arith::rate_times_rate(*p, *q, mode)?),
            (BinOp::Mul, Rate(r), Int(i)) | (BinOp::Mul, Int(i), Rate(r)) => {
                Rate(arith::rate_times_int(*r, *i)?)
            }
            (BinOp::Mul, Int(p), Int(q)) => Int(p.checked_mul(*q).ok_or(ArithError::Overflow)?),
            (BinOp::Div, Money(p), Money(q)) => Rate(arith::money_over_money(*p, *q, mode)?),
            (BinOp::Div, Money(m), Int(i)) => Money(arith::money_over_int(*m, *i, mode)?),
            (BinOp::Div, Money(m), Rate(r)) => Money(arith::money_over_rate(*m, *r, mode)?),
            (BinOp::Div, Rate(p), Rate(q)) => Rate(arith::rate_over_rate(*p, *q, mode)?),
            (BinOp::Div, Rate(r), Int(i)) => Rate(arith::rate_over_int(*r, *i, mode)?),
            (BinOp::Div, Int(p), Int(q)) => Rate(arith::int_over_int(*p, *q, mode)?),
            _ => return Err(Fault::Internal),
        })
    }
}

/// Whether two amounts are equal though written with different scales (`8820` and `8820.00`).
fn same_amount(x: &Value, y: &Value) -> bool {
    matches!((x, y), (Value::Money(a), Value::Money(b)) | (Value::Rate(a), Value::Rate(b)) if a == b)
}

/// The order of amounts, counts, dates and text.
pub fn less_than(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Money(a), Value::Money(b)) | (Value::Rate(a), Value::Rate(b)) => a < b,
        (Value::Int(a), Value::Int(b)) => a < b,
        (Value::Date(a), Value::Date(b)) => a < b,
        (Value::Text(a), Value::Text(b)) => a < b,
        (Value::Enum(a), Value::Enum(b)) => a < b,
        _ => false,
    }
}

/// The zero of a type: what a `sum` over nothing, and `min`/`max` before any value, give.
pub fn zero(ty: Type) -> Value {
    match ty {
        Type::Money => Value::Money(Decimal::ZERO),
        Type::Rate => Value::Rate(Decimal::ZERO),
        _ => Value::Int(0),
    }
}

/// Add one value to a fold.
pub fn fold(kind: FoldKind, acc: Value, v: Value, seen: bool) -> R<Value> {
    Ok(match kind {
        FoldKind::Count => match acc {
            Value::Int(n) => Value::Int(n.checked_add(1).ok_or(ArithError::Overflow)?),
            other => other,
        },
        FoldKind::Sum => match (acc, v) {
            (Value::Money(a), Value::Money(b)) => Value::Money(arith::money_add(a, b, false)?),
            (Value::Rate(a), Value::Rate(b)) => Value::Rate(arith::rate_add(a, b, false)?),
            (Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_add(b).ok_or(ArithError::Overflow)?)
            }
            (acc, _) => acc,
        },
        FoldKind::Min => {
            if !seen || less_than(&v, &acc) {
                v
            } else {
                acc
            }
        }
        FoldKind::Max => {
            if !seen || less_than(&acc, &v) {
                v
            } else {
                acc
            }
        }
    })
}
