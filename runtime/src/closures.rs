//! The interpreter's fast form: a policy's IR turned, once, into a tree of closures over 64-bit
//! scaled integers (money in fen, rates in millionths, counts, truth values as 0/1, days, enum
//! variants by index), the representation the compiled code uses.
//!
//! Walking the IR for every claim spends its time matching on expression kinds and moving
//! decimal values; the closures decide all of that once, when the policy is loaded, and each
//! claim then runs straight through them. The arithmetic is the exact kernel of
//! [`crate::value`]: products and quotients computed in 128 bits and rounded once by the
//! policy's mode ([`crate::value::divide`]), the same bounds, the same faults in the same order
//! as the tree-walking interpreter ([`crate::interp`]) and the JIT. What the JIT leaves to its
//! fallback (folds over a claim's lists, comparisons of text), the closures leave to the same
//! fallback, and a policy the JIT cannot take at all (values of text, list or record type) is
//! refused here too: the engine then walks the IR.

use settle_compiler::{CompileError, Fallback, Fault, Frame, constant, fault};
use settle_lang::ir::{
    BinOp, Body, Expr, ExprKind, FoldKind, ParamKind, ParamValue, Policy, Rounding, Type,
};

use crate::value::{ArithError, MONEY_LIMIT_FEN, RATE_LIMIT_MILLIONTHS, divide, divide64};

/// The largest money magnitude, in fen.
const MONEY_LIMIT: i64 = MONEY_LIMIT_FEN as i64;
/// The largest rate magnitude, in millionths.
const RATE_LIMIT: i64 = RATE_LIMIT_MILLIONTHS as i64;
const MILLION: i64 = 1_000_000;

/// A fault was met; what it was is in [`Regs::fault`].
#[derive(Debug, Clone, Copy)]
struct Stop;

type R = Result<i64, Stop>;

/// What the closures read and write while settling one claim.
struct Regs<'a> {
    fields: &'a [i64],
    accs: &'a [i64],
    values: &'a mut [i64],
    date: i64,
    /// The value being computed, for faults.
    at: usize,
    fault: Fault,
    fallback: &'a dyn Fallback,
}

impl Regs<'_> {
    #[cold]
    fn fail(&mut self, kind: i64, a: i64, b: i64) -> Stop {
        self.fault = Fault { kind, at: self.at, a, b };
        Stop
    }

    fn bound(&mut self, x: i64, limit: i64) -> R {
        if x > limit || x < -limit { Err(self.fail(fault::OVERFLOW, 0, 0)) } else { Ok(x) }
    }
}

type Op = Box<dyn Fn(&mut Regs<'_>) -> R + Send + Sync>;

/// The versions of a parameter, and the choice of the one in force on a claim's date.
struct Versions<T> {
    param: usize,
    /// The first version's effective date: before it, no value is in force.
    first: Option<i64>,
    /// Each version's effective date (`i64::MIN` when undated) and value, in date order.
    list: Vec<(i64, T)>,
}

impl<T> Versions<T> {
    fn pick(&self, r: &mut Regs<'_>) -> Result<&T, Stop> {
        if let Some(first) = self.first
            && r.date < first
        {
            return Err(r.fail(fault::NOT_IN_FORCE, self.param as i64, r.date));
        }
        let mut chosen = None;
        for (from, value) in &self.list {
            if chosen.is_none() || r.date >= *from {
                chosen = Some(value);
            }
        }
        chosen.ok_or_else(|| r.fail(fault::NOT_IN_FORCE, self.param as i64, r.date))
    }
}

/// A scale's brackets in fen and millionths: lower bound, upper bound (`i64::MAX` when open),
/// rate.
type Brackets = Vec<(i64, i64, i64)>;

/// One accumulator: its filter, the value it folds, how.
struct AccOp {
    filter: Option<Op>,
    value: Option<Op>,
    fold: FoldKind,
    ty: Type,
}

/// A policy turned into closures, settling claims held in a [`Frame`] exactly as
/// [`settle_compiler::Compiled`] does.
pub struct Closures {
    fields: usize,
    dated_field: usize,
    values: usize,
    /// Each value in the IR's order, with its closure.
    order: Vec<(usize, Op)>,
    /// The balance's total and shares.
    balance: Option<(Op, Vec<usize>)>,
    accs: Vec<AccOp>,
    fallbacks: Vec<Expr>,
}

impl std::fmt::Debug for Closures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closures")
            .field("values", &self.values)
            .field("accs", &self.accs.len())
            .finish_non_exhaustive()
    }
}

impl Closures {
    /// Turn a checked policy into closures; refused for what the JIT refuses.
    pub fn new(policy: &Policy) -> Result<Self, CompileError> {
        settle_compiler::supported(policy)?;
        let mut lower = Lower { policy, mode: policy.rounding, fallbacks: Vec::new() };
        let mut order = Vec::with_capacity(policy.order.len());
        for &v in &policy.order {
            let Some(def) = policy.values.get(v) else { continue };
            order.push((v, lower.body(&def.body)?));
        }
        let balance = match &policy.balance {
            Some(b) => Some((lower.expr(&b.total)?, b.parts.clone())),
            None => None,
        };
        let mut accs = Vec::with_capacity(policy.accumulators.len());
        for a in &policy.accumulators {
            let filter = a.filter.as_ref().map(|f| lower.expr(f)).transpose()?;
            let value = match (&a.value, a.fold) {
                (_, FoldKind::Count) | (None, _) => None,
                (Some(e), _) => Some(lower.expr(e)?),
            };
            accs.push(AccOp { filter, value, fold: a.fold, ty: a.ty });
        }
        let fields = policy.input_record().map_or(0, |r| r.fields.len());
        Ok(Closures {
            fields,
            dated_field: policy.dated_field,
            values: policy.values.len(),
            order,
            balance,
            accs,
            fallbacks: lower.fallbacks,
        })
    }

    /// Buffers of the right sizes for this policy.
    pub fn frame(&self) -> Frame {
        Frame::sized(self.fields, self.values, self.accs.len())
    }

    /// The expressions left to the [`Fallback`], by index.
    pub fn fallbacks(&self) -> &[Expr] {
        &self.fallbacks
    }

    /// Settle the claim held in `frame`: every value, the balance, the accumulators after it.
    pub fn settle(&self, frame: &mut Frame, fallback: &dyn Fallback) -> Result<(), Fault> {
        frame.with_own_fields(|fields, frame| self.settle_fields(fields, frame, fallback))
    }

    /// [`Closures::settle`] with the claim's fields read from `fields` instead of the frame's.
    pub fn settle_fields(
        &self,
        fields: &[i64],
        frame: &mut Frame,
        fallback: &dyn Fallback,
    ) -> Result<(), Fault> {
        let accs = self.accs.len();
        if fields.len() != self.fields || !frame.fits(self.values, accs) {
            return Err(Fault { kind: fault::OVERFLOW, at: self.values, a: 0, b: 0 });
        }
        let Frame { accs: before, seen, values, next_accs, next_seen, .. } = frame;
        let mut r = Regs {
            fields,
            accs: before,
            values,
            date: fields.get(self.dated_field).copied().unwrap_or(0),
            at: 0,
            fault: Fault { kind: 0, at: 0, a: 0, b: 0 },
            fallback,
        };
        for (v, op) in &self.order {
            r.at = *v;
            let x = op(&mut r).map_err(|_| r.fault)?;
            if let Some(slot) = r.values.get_mut(*v) {
                *slot = x;
            }
        }
        if let Some((total, parts)) = &self.balance {
            r.at = self.values + accs;
            let total = total(&mut r).map_err(|_| r.fault)?;
            let mut sum: i64 = 0;
            for &part in parts {
                let share = r.values.get(part).copied().unwrap_or(0);
                if share < 0 {
                    return Err(Fault {
                        kind: fault::NEGATIVE_SHARE,
                        at: r.at,
                        a: part as i64,
                        b: share,
                    });
                }
                sum = r.bound(sum.wrapping_add(share), MONEY_LIMIT).map_err(|_| r.fault)?;
            }
            if sum != total {
                return Err(Fault { kind: fault::UNBALANCED, at: r.at, a: total, b: sum });
            }
        }
        for (i, acc) in self.accs.iter().enumerate() {
            r.at = self.values + i;
            let current = r.accs.get(i).copied().unwrap_or(0);
            let was_seen = seen.get(i).copied().unwrap_or(0);
            let keep = match &acc.filter {
                Some(f) => f(&mut r).map_err(|_| r.fault)?,
                None => 1,
            };
            let (next, now_seen) = if keep != 0 {
                let v = match &acc.value {
                    Some(e) => e(&mut r).map_err(|_| r.fault)?,
                    None => 1,
                };
                let next = match acc.fold {
                    FoldKind::Count | FoldKind::Sum if acc.ty == Type::Int => current
                        .checked_add(v)
                        .ok_or_else(|| r.fail(fault::OVERFLOW, 0, 0))
                        .map_err(|_| r.fault)?,
                    FoldKind::Count | FoldKind::Sum => match limit(acc.ty) {
                        Some(l) => r.bound(current.wrapping_add(v), l).map_err(|_| r.fault)?,
                        None => current.wrapping_add(v),
                    },
                    FoldKind::Min => {
                        if was_seen == 0 || v < current {
                            v
                        } else {
                            current
                        }
                    }
                    FoldKind::Max => {
                        if was_seen == 0 || current < v {
                            v
                        } else {
                            current
                        }
                    }
                };
                (next, 1)
            } else {
                (current, was_seen)
            };
            if let (Some(a), Some(s)) = (next_accs.get_mut(i), next_seen.get_mut(i)) {
                *a = next;
                *s = now_seen;
            }
        }
        Ok(())
    }
}

/// The bound of a type's magnitude, for money and rates.
fn limit(ty: Type) -> Option<i64> {
    match ty {
        Type::Money => Some(MONEY_LIMIT),
        Type::Rate => Some(RATE_LIMIT),
        _ => None,
    }
}

/// `round(x * y / d)` by `mode`, in 64 bits when the product fits and 128 otherwise; an
/// overflow when the result does not fit in 64 bits.
fn muldiv(r: &mut Regs<'_>, x: i64, y: i64, d: i64, mode: Rounding) -> R {
    let narrow = x.checked_mul(y).and_then(|n| divide64(n, d, mode));
    let result = match narrow {
        Some(q) => q,
        None => divide(i128::from(x) * i128::from(y), i128::from(d), mode)
            .and_then(|q| i64::try_from(q).map_err(|_| ArithError::Overflow)),
    };
    match result {
        Ok(q) => Ok(q),
        Err(ArithError::DivisionByZero) => Err(r.fail(fault::DIVISION_BY_ZERO, 0, 0)),
        Err(ArithError::Overflow) => Err(r.fail(fault::OVERFLOW, 0, 0)),
    }
}

/// Builds the closures.
struct Lower<'a> {
    policy: &'a Policy,
    mode: Rounding,
    fallbacks: Vec<Expr>,
}

fn unsupported(what: &str) -> CompileError {
    CompileError::Unsupported(what.into())
}

/// A closure of two operands.
fn binary(x: Op, y: Op, f: impl Fn(&mut Regs<'_>, i64, i64) -> R + Send + Sync + 'static) -> Op {
    Box::new(move |r| {
        let a = x(r)?;
        let b = y(r)?;
        f(r, a, b)
    })
}

/// A closure of two operands whose result is bounded as `ty` is.
fn bounded(
    x: Op,
    y: Op,
    ty: Type,
    f: impl Fn(&mut Regs<'_>, i64, i64) -> R + Send + Sync + 'static,
) -> Op {
    match limit(ty) {
        Some(l) => binary(x, y, move |r, a, b| {
            let v = f(r, a, b)?;
            r.bound(v, l)
        }),
        None => binary(x, y, f),
    }
}

impl Lower<'_> {
    fn body(&mut self, body: &Body) -> Result<Op, CompileError> {
        match body {
            Body::Expr(e) => self.expr(e),
            Body::Rule { default, exceptions } => {
                let mut whens = Vec::with_capacity(exceptions.len());
                let mut values = Vec::with_capacity(exceptions.len());
                for x in exceptions {
                    whens.push(self.expr(&x.when)?);
                    values.push(self.expr(&x.value)?);
                }
                let default = self.expr(default)?;
                Ok(Box::new(move |r| {
                    // Every condition in order; a second one that holds is a conflict.
                    let mut applied: Option<usize> = None;
                    for (i, when) in whens.iter().enumerate() {
                        if when(r)? != 0 {
                            if let Some(first) = applied {
                                return Err(r.fail(fault::CONFLICT, first as i64, i as i64));
                            }
                            applied = Some(i);
                        }
                    }
                    match applied.and_then(|i| values.get(i)) {
                        Some(value) => value(r),
                        None => default(r),
                    }
                }))
            }
        }
    }

    fn versions<T>(
        &self,
        p: usize,
        mut value: impl FnMut(&ParamValue) -> Result<T, CompileError>,
    ) -> Result<Versions<T>, CompileError> {
        let param = self.policy.params.get(p).ok_or_else(|| unsupported("a missing parameter"))?;
        let mut list = Vec::with_capacity(param.versions.len());
        for v in &param.versions {
            list.push((v.from.map_or(i64::MIN, |d| i64::from(d.0)), value(&v.value)?));
        }
        let first = param.versions.first().and_then(|v| v.from).map(|d| i64::from(d.0));
        Ok(Versions { param: p, first, list })
    }

    fn brackets(&self, p: usize) -> Result<Versions<Brackets>, CompileError> {
        self.versions(p, |value| {
            let ParamValue::Scale(brackets) = value else {
                return Err(unsupported("a scale of another shape"));
            };
            let fen = |d| {
                settle_compiler::money_fen(d).ok_or_else(|| unsupported("a bound beyond 64 bits"))
            };
            brackets
                .iter()
                .map(|b| {
                    let upper = match b.upper {
                        Some(u) => fen(u)?,
                        None => i64::MAX,
                    };
                    let rate = settle_compiler::rate_millionths(b.rate)
                        .ok_or_else(|| unsupported("a rate beyond 64 bits"))?;
                    Ok((fen(b.lower)?, upper, rate))
                })
                .collect()
        })
    }

    fn expr(&mut self, e: &Expr) -> Result<Op, CompileError> {
        if settle_compiler::needs_fallback(e) {
            let id = self.fallbacks.len();
            self.fallbacks.push(e.clone());
            return Ok(Box::new(move |r| match r.fallback.eval(id, r.values, r.accs) {
                Ok(v) => Ok(v),
                Err(f) => Err(r.fail(f.kind.max(1), f.a, f.b)),
            }));
        }
        let ty = e.ty;
        Ok(match &e.kind {
            ExprKind::Const(c) => {
                let v = constant(c)?;
                Box::new(move |_| Ok(v))
            }
            &ExprKind::Field(i) => Box::new(move |r| Ok(r.fields.get(i).copied().unwrap_or(0))),
            &ExprKind::Value(v) => Box::new(move |r| Ok(r.values.get(v).copied().unwrap_or(0))),
            &ExprKind::Acc(a) => Box::new(move |r| Ok(r.accs.get(a).copied().unwrap_or(0))),
            &ExprKind::Param(p) => {
                let versions = self.versions(p, |value| match value {
                    ParamValue::Scalar(c) => constant(c),
                    _ => Err(unsupported("a parameter of another shape")),
                })?;
                if versions.first.is_none() && versions.list.len() == 1 {
                    let v = versions.list.first().map_or(0, |(_, v)| *v);
                    Box::new(move |_| Ok(v))
                } else {
                    Box::new(move |r| versions.pick(r).copied())
                }
            }
            ExprKind::Table(p, keys) => {
                let p = *p;
                let key_enums = match self.policy.params.get(p).map(|x| &x.kind) {
                    Some(ParamKind::Table { keys, .. }) => keys.clone(),
                    _ => return Err(unsupported("a table read of a parameter that is no table")),
                };
                let sizes: Vec<i64> = key_enums
                    .iter()
                    .map(|k| self.policy.enums.get(*k).map_or(1, |e| e.variants.len() as i64))
                    .collect();
                let mut ks = Vec::with_capacity(keys.len());
                for (i, key) in keys.iter().enumerate() {
                    let stride: i64 = sizes.iter().skip(i + 1).product();
                    ks.push((self.expr(key)?, stride));
                }
                let versions = self.versions(p, |value| match value {
                    ParamValue::Table(cells) => cells.iter().map(constant).collect(),
                    _ => Err(unsupported("a table of another shape")),
                })?;
                Box::new(move |r| {
                    let mut cell: i64 = 0;
                    for (key, stride) in &ks {
                        cell = cell.wrapping_add(key(r)?.wrapping_mul(*stride));
                    }
                    let cells: &Vec<i64> = versions.pick(r)?;
                    Ok(usize::try_from(cell).ok().and_then(|c| cells.get(c)).copied().unwrap_or(0))
                })
            }
            ExprKind::Segmented(p, amount) => {
                let amount = self.expr(amount)?;
                let versions = self.brackets(*p)?;
                let mode = self.mode;
                Box::new(move |r| {
                    let amount = amount(r)?;
                    let brackets = versions.pick(r)?;
                    let mut total: i64 = 0;
                    for &(lower, upper, rate) in brackets {
                        if amount <= lower {
                            break;
                        }
                        let top = if upper == i64::MAX { amount } else { amount.min(upper) };
                        let part = r.bound(top.wrapping_sub(lower), MONEY_LIMIT)?;
                        let paid = muldiv(r, part, rate, MILLION, mode)?;
                        let paid = r.bound(paid, MONEY_LIMIT)?;
                        total = r.bound(total.wrapping_add(paid), MONEY_LIMIT)?;
                    }
                    Ok(total)
                })
            }
            ExprKind::RateAt(p, amount) => {
                let amount = self.expr(amount)?;
                let versions = self.brackets(*p)?;
                Box::new(move |r| {
                    let amount = amount(r)?;
                    let brackets = versions.pick(r)?;
                    let rate = brackets
                        .iter()
                        .find(|&&(_, upper, _)| upper == i64::MAX || amount < upper)
                        .map_or(0, |b| b.2);
                    Ok(rate)
                })
            }
            ExprKind::Neg(x) => self.sign(x, ty, i64::checked_neg, i64::wrapping_neg)?,
            ExprKind::Not(x) => {
                let x = self.expr(x)?;
                Box::new(move |r| Ok(i64::from(x(r)? == 0)))
            }
            ExprKind::Abs(x) => self.sign(x, ty, i64::checked_abs, i64::wrapping_abs)?,
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, ty)?,
            ExprKind::If(c, a, b) => {
                let (c, a, b) = (self.expr(c)?, self.expr(a)?, self.expr(b)?);
                Box::new(move |r| if c(r)? != 0 { a(r) } else { b(r) })
            }
            ExprKind::Min(xs) | ExprKind::Max(xs) => {
                let min = matches!(e.kind, ExprKind::Min(_));
                let mut ops: Vec<Op> = Vec::with_capacity(xs.len());
                for x in xs {
                    ops.push(self.expr(x)?);
                }
                match (ops.len(), min) {
                    (2, true) => {
                        let b = ops.pop();
                        let a = ops.pop();
                        match (a, b) {
                            (Some(a), Some(b)) => binary(a, b, |_, x, y| Ok(x.min(y))),
                            _ => Box::new(|_| Ok(0)),
                        }
                    }
                    (2, false) => {
                        let b = ops.pop();
                        let a = ops.pop();
                        match (a, b) {
                            (Some(a), Some(b)) => binary(a, b, |_, x, y| Ok(x.max(y))),
                            _ => Box::new(|_| Ok(0)),
                        }
                    }
                    _ => Box::new(move |r| {
                        let mut best: Option<i64> = None;
                        for op in &ops {
                            let v = op(r)?;
                            best = Some(match best {
                                None => v,
                                Some(b) if min => b.min(v),
                                Some(b) => b.max(v),
                            });
                        }
                        Ok(best.unwrap_or(0))
                    }),
                }
            }
            ExprKind::In(x, variants) => {
                let x = self.expr(x)?;
                let variants: Vec<i64> = variants.iter().map(|&v| i64::from(v)).collect();
                if variants.iter().all(|&v| v < 64) {
                    let mask = variants.iter().fold(0u64, |m, &i| m | (1u64 << i));
                    Box::new(move |r| {
                        let v = x(r)?;
                        Ok(i64::from((0..64).contains(&v) && (mask >> v) & 1 == 1))
                    })
                } else {
                    Box::new(move |r| {
                        let v = x(r)?;
                        Ok(i64::from(variants.contains(&v)))
                    })
                }
            }
            ExprKind::Fold { .. }
            | ExprKind::Quantifier { .. }
            | ExprKind::Local(_)
            | ExprKind::RecordField(..)
            | ExprKind::ClaimValue(..) => return Err(unsupported("folds over lists")),
        })
    }

    /// Negation or absolute value of `x`: checked for counts (an overflow is a fault), wrapping
    /// for scaled values, as the compiled code computes them.
    fn sign(
        &mut self,
        x: &Expr,
        ty: Type,
        checked: fn(i64) -> Option<i64>,
        wrapping: fn(i64) -> i64,
    ) -> Result<Op, CompileError> {
        let x = self.expr(x)?;
        Ok(if ty == Type::Int {
            Box::new(move |r| {
                let v = x(r)?;
                checked(v).ok_or_else(|| r.fail(fault::OVERFLOW, 0, 0))
            })
        } else {
            Box::new(move |r| Ok(wrapping(x(r)?)))
        })
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, ty: Type) -> Result<Op, CompileError> {
        use Type::{Int, Money, Rate};
        let (l, rt) = (a.ty, b.ty);
        let x = self.expr(a)?;
        let y = self.expr(b)?;
        let mode = self.mode;
        Ok(match (op, l, rt) {
            // Conditions short-circuit: the right side is not computed when the left decides.
            (BinOp::And, ..) => Box::new(move |r| Ok(i64::from(x(r)? != 0 && y(r)? != 0))),
            (BinOp::Or, ..) => Box::new(move |r| Ok(i64::from(x(r)? != 0 || y(r)? != 0))),
            (BinOp::Eq, ..) => binary(x, y, |_, a, b| Ok(i64::from(a == b))),
            (BinOp::Ne, ..) => binary(x, y, |_, a, b| Ok(i64::from(a != b))),
            (BinOp::Lt, ..) => binary(x, y, |_, a, b| Ok(i64::from(a < b))),
            (BinOp::Le, ..) => binary(x, y, |_, a, b| Ok(i64::from(a <= b))),
            (BinOp::Gt, ..) => binary(x, y, |_, a, b| Ok(i64::from(a > b))),
            (BinOp::Ge, ..) => binary(x, y, |_, a, b| Ok(i64::from(a >= b))),
            (BinOp::Add, Int, Int) => binary(x, y, |r, a, b| {
                a.checked_add(b).ok_or_else(|| r.fail(fault::OVERFLOW, 0, 0))
            }),
            (BinOp::Sub, Int, Int) => binary(x, y, |r, a, b| {
                a.checked_sub(b).ok_or_else(|| r.fail(fault::OVERFLOW, 0, 0))
            }),
            (BinOp::Add, ..) => bounded(x, y, ty, |_, a, b| Ok(a.wrapping_add(b))),
            (BinOp::Sub, ..) => bounded(x, y, ty, |_, a, b| Ok(a.wrapping_sub(b))),
            (BinOp::Mul, Money, Rate) | (BinOp::Mul, Rate, Money) | (BinOp::Mul, Rate, Rate) => {
                bounded(x, y, ty, move |r, a, b| muldiv(r, a, b, MILLION, mode))
            }
            (BinOp::Mul, ..) => bounded(x, y, ty, |r, a, b| {
                a.checked_mul(b).ok_or_else(|| r.fail(fault::OVERFLOW, 0, 0))
            }),
            (BinOp::Div, Money, Int) | (BinOp::Div, Rate, Int) => {
                bounded(x, y, ty, move |r, a, b| muldiv(r, a, 1, b, mode))
            }
            (BinOp::Div, ..) => bounded(x, y, ty, move |r, a, b| muldiv(r, a, MILLION, b, mode)),
        })
    }
}
