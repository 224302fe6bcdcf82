//! The interpreter's fast form: a policy's execution plan ([`settle_compiler::plan`]) turned,
//! once, into a tree of closures over 64-bit scaled integers (money in fen, rates in
//! millionths, counts, truth values as 0/1, days, enum variants by index), the representation
//! the compiled code uses.
//!
//! Walking the IR for every claim spends its time matching on expression kinds and moving
//! decimal values; the plan has decided every operation, bound and rounding, and the closures
//! run it straight through for each claim, with the plan's kernel
//! ([`settle_compiler::kernel::muldiv`]) for products and quotients. The compiled code
//! translates the same plan, so the two differ only in how they run it. What the plan leaves to
//! the engine's fallback (folds over a claim's lists, comparisons of text), the closures leave
//! to it too; a policy the plan refuses (values of text, list or record type) the engine
//! settles by walking the IR.

use settle_compiler::kernel::{ArithError, MILLION, MONEY_LIMIT_FEN, calendar, muldiv, round_to};
use settle_compiler::plan::{
    Arith, Balance, Bracket, Fold, FoldOp, Key, Node, Plan, Unary, Versions,
};
use settle_compiler::{CompileError, Fallback, Fault, FaultKind, Frame};
use settle_lang::ir::{Policy, Rounding};

/// A fault was met; what it was is in [`Regs::fault`].
#[derive(Debug, Clone, Copy)]
struct Stop;

type R = Result<i64, Stop>;

/// What the closures read and write while settling one claim.
struct Regs<'a> {
    fields: &'a [i64],
    accs: &'a [i64],
    values: &'a mut [i64],
    /// The index of each parameter's version in force, found when first read.
    versions: &'a mut [Option<usize>],
    date: i64,
    /// The value being computed, for faults.
    at: usize,
    fault: Fault,
    fallback: &'a dyn Fallback,
}

impl Regs<'_> {
    #[cold]
    fn fail(&mut self, kind: FaultKind, a: i64, b: i64) -> Stop {
        self.fault = Fault { kind, at: self.at, a, b };
        Stop
    }

    #[inline]
    fn bound(&mut self, x: i64, limit: i64) -> R {
        if x > limit || x < -limit { Err(self.fail(FaultKind::Overflow, 0, 0)) } else { Ok(x) }
    }

    fn arith(&mut self, e: ArithError) -> Stop {
        match e {
            ArithError::Overflow => self.fail(FaultKind::Overflow, 0, 0),
            ArithError::DivisionByZero => self.fail(FaultKind::DivisionByZero, 0, 0),
        }
    }
}

type Op = Box<dyn Fn(&mut Regs<'_>) -> R + Send + Sync>;

/// The version in force of each parameter, and the cells they read.
struct Params {
    versions: Vec<Versions>,
    data: Vec<i64>,
}

impl Params {
    /// The version of parameter `p` in force on the claim's date, or a fault.
    #[inline]
    fn version<'p>(
        &'p self,
        p: usize,
        r: &mut Regs<'_>,
    ) -> Result<&'p settle_compiler::plan::Version, Stop> {
        let versions = self.versions.get(p);
        let chosen = match r.versions.get(p).copied().flatten() {
            Some(i) => Some(i),
            None => {
                let i = versions.and_then(|v| v.in_force(r.date));
                if let (Some(i), Some(slot)) = (i, r.versions.get_mut(p)) {
                    *slot = Some(i);
                }
                i
            }
        };
        match chosen.and_then(|i| versions?.list.get(i)) {
            Some(v) => Ok(v),
            None => Err(r.fail(FaultKind::NotInForce, p as i64, r.date)),
        }
    }

    fn cell(&self, p: usize, cell: usize, r: &mut Regs<'_>) -> R {
        let v = self.version(p, r)?;
        match v.cells.checked_add(cell).and_then(|c| self.data.get(c)) {
            Some(&x) => Ok(x),
            None => Err(r.fail(FaultKind::Internal, p as i64, cell as i64)),
        }
    }
}

/// A policy's plan as closures, settling claims held in a [`Frame`] exactly as
/// [`settle_compiler::Compiled`] does.
pub struct Closures {
    fields: usize,
    dated_field: usize,
    values: usize,
    params: std::sync::Arc<Params>,
    /// Each value in the plan's order, with its closure.
    order: Vec<(usize, Op)>,
    /// The balance's total and shares.
    balance: Option<(Op, Vec<usize>)>,
    folds: Vec<(Option<Op>, Option<Op>, FoldOp)>,
    fallbacks: Vec<settle_lang::ir::Expr>,
}

impl std::fmt::Debug for Closures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closures")
            .field("values", &self.values)
            .field("accs", &self.folds.len())
            .finish_non_exhaustive()
    }
}

impl Closures {
    /// Turn a checked policy's plan into closures; refused for what the plan refuses.
    pub fn new(policy: &Policy) -> Result<Self, CompileError> {
        let plan = Plan::new(policy)?;
        let Plan {
            fields,
            values,
            dated_field,
            mode,
            data,
            params,
            order,
            balance,
            folds,
            fallbacks,
            ..
        } = plan;
        let params = std::sync::Arc::new(Params { versions: params, data });
        let lower = Lower { params: &params, mode };
        let order = order.iter().map(|(v, node)| (*v, lower.node(node))).collect();
        let balance = balance.map(|Balance { total, parts }| (lower.node(&total), parts));
        let folds = folds
            .iter()
            .map(|Fold { filter, value, op }| {
                (filter.as_ref().map(|f| lower.node(f)), value.as_ref().map(|v| lower.node(v)), *op)
            })
            .collect();
        Ok(Closures { fields, dated_field, values, params, order, balance, folds, fallbacks })
    }

    /// Buffers of the right sizes for this policy.
    pub fn frame(&self) -> Frame {
        Frame::sized(self.fields, self.values, self.folds.len())
    }

    /// The expressions left to the [`Fallback`], by index.
    pub fn fallbacks(&self) -> &[settle_lang::ir::Expr] {
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
        let accs = self.folds.len();
        if fields.len() != self.fields || !frame.fits(self.values, accs) {
            return Err(Fault { kind: FaultKind::Internal, at: self.values, a: 0, b: 0 });
        }
        let mut versions = [None; 16];
        let mut wide;
        let versions: &mut [Option<usize>] = match versions.get_mut(..self.params.versions.len()) {
            Some(v) => v,
            None => {
                wide = vec![None; self.params.versions.len()];
                &mut wide
            }
        };
        let Frame { accs: before, seen, values, next_accs, next_seen, .. } = frame;
        let mut r = Regs {
            fields,
            accs: before,
            values,
            versions,
            date: fields.get(self.dated_field).copied().unwrap_or(0),
            at: 0,
            fault: Fault { kind: FaultKind::Internal, at: 0, a: 0, b: 0 },
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
                        kind: FaultKind::NegativeShare,
                        at: r.at,
                        a: part as i64,
                        b: share,
                    });
                }
                // Shares are money within its bound: their sum cannot leave 64 bits.
                sum = r.bound(sum.wrapping_add(share), MONEY_LIMIT_FEN).map_err(|_| r.fault)?;
            }
            if sum != total {
                return Err(Fault { kind: FaultKind::Unbalanced, at: r.at, a: total, b: sum });
            }
        }
        for (i, (filter, value, op)) in self.folds.iter().enumerate() {
            r.at = self.values + i;
            let current = r.accs.get(i).copied().unwrap_or(0);
            let was_seen = seen.get(i).copied().unwrap_or(0);
            let keep = match filter {
                Some(f) => f(&mut r).map_err(|_| r.fault)?,
                None => 1,
            };
            let (next, now_seen) = if keep != 0 {
                let v = match value {
                    Some(e) => e(&mut r).map_err(|_| r.fault)?,
                    None => 1,
                };
                let next = match *op {
                    FoldOp::Add(Some(l)) => {
                        r.bound(current.wrapping_add(v), l).map_err(|_| r.fault)?
                    }
                    FoldOp::Add(None) => current
                        .checked_add(v)
                        .ok_or_else(|| r.fail(FaultKind::Overflow, 0, 0))
                        .map_err(|_| r.fault)?,
                    FoldOp::Min => {
                        if was_seen == 0 || v < current {
                            v
                        } else {
                            current
                        }
                    }
                    FoldOp::Max => {
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

/// Turns plan nodes into closures.
struct Lower<'a> {
    params: &'a std::sync::Arc<Params>,
    mode: Rounding,
}

/// A closure of two operands.
fn binary(x: Op, y: Op, f: impl Fn(&mut Regs<'_>, i64, i64) -> R + Send + Sync + 'static) -> Op {
    Box::new(move |r| {
        let a = x(r)?;
        let b = y(r)?;
        f(r, a, b)
    })
}

/// A closure of two operands whose result is checked against `bound`.
fn bounded(
    x: Op,
    y: Op,
    bound: Option<i64>,
    f: impl Fn(&mut Regs<'_>, i64, i64) -> R + Send + Sync + 'static,
) -> Op {
    match bound {
        Some(l) => binary(x, y, move |r, a, b| {
            let v = f(r, a, b)?;
            r.bound(v, l)
        }),
        None => binary(x, y, f),
    }
}

fn overflow(r: &mut Regs<'_>, v: Option<i64>) -> R {
    v.ok_or_else(|| r.fail(FaultKind::Overflow, 0, 0))
}

impl Lower<'_> {
    fn node(&self, node: &Node) -> Op {
        let mode = self.mode;
        match node {
            &Node::Const(v) => Box::new(move |_| Ok(v)),
            &Node::Field(i) => Box::new(move |r| Ok(r.fields.get(i).copied().unwrap_or(0))),
            &Node::Value(v) => Box::new(move |r| Ok(r.values.get(v).copied().unwrap_or(0))),
            &Node::Acc(a) => Box::new(move |r| Ok(r.accs.get(a).copied().unwrap_or(0))),
            &Node::Param(p) => {
                let params = self.params.clone();
                match self.params.versions.get(p).map(|v| (v.first, v.list.as_slice())) {
                    Some((None, [only])) => {
                        let v = params.data.get(only.cells).copied().unwrap_or(0);
                        Box::new(move |_| Ok(v))
                    }
                    _ => Box::new(move |r| params.cell(p, 0, r)),
                }
            }
            Node::Table { param, keys } => {
                let param = *param;
                let keys: Vec<(Op, i64, i64)> = keys
                    .iter()
                    .map(|Key { node, size, stride }| (self.node(node), *size, *stride))
                    .collect();
                let params = self.params.clone();
                Box::new(move |r| {
                    let mut cell: i64 = 0;
                    for (key, size, stride) in &keys {
                        let k = key(r)?;
                        // A key outside its enum is a fault, never a read outside the table.
                        if !(0..*size).contains(&k) {
                            return Err(r.fail(FaultKind::OutOfRange, k, param as i64));
                        }
                        cell += k * stride;
                    }
                    params.cell(param, cell as usize, r)
                })
            }
            Node::Segmented { param, amount } => {
                let param = *param;
                let amount = self.node(amount);
                let params = self.params.clone();
                Box::new(move |r| {
                    let amount = amount(r)?;
                    let brackets: &[Bracket] = &params.version(param, r)?.brackets;
                    let mut total: i64 = 0;
                    for b in brackets {
                        if amount <= b.lower {
                            break;
                        }
                        let top = b.upper.map_or(amount, |u| amount.min(u));
                        let part = overflow(r, top.checked_sub(b.lower))?;
                        let part = r.bound(part, MONEY_LIMIT_FEN)?;
                        let paid = muldiv(part, b.rate, MILLION, mode).map_err(|e| r.arith(e))?;
                        let paid = r.bound(paid, MONEY_LIMIT_FEN)?;
                        let sum = overflow(r, total.checked_add(paid))?;
                        total = r.bound(sum, MONEY_LIMIT_FEN)?;
                    }
                    Ok(total)
                })
            }
            Node::RateAt { param, amount } => {
                let param = *param;
                let amount = self.node(amount);
                let params = self.params.clone();
                Box::new(move |r| {
                    let amount = amount(r)?;
                    let brackets: &[Bracket] = &params.version(param, r)?.brackets;
                    Ok(brackets
                        .iter()
                        .find(|b| b.upper.is_none_or(|u| amount < u))
                        .map_or(0, |b| b.rate))
                })
            }
            &Node::Unary(op, ref x) => {
                let x = self.node(x);
                match op {
                    Unary::Neg { checked: true } => Box::new(move |r| {
                        let v = x(r)?;
                        overflow(r, v.checked_neg())
                    }),
                    Unary::Abs { checked: true } => Box::new(move |r| {
                        let v = x(r)?;
                        overflow(r, v.checked_abs())
                    }),
                    Unary::Neg { checked: false } => Box::new(move |r| Ok(x(r)?.wrapping_neg())),
                    Unary::Abs { checked: false } => Box::new(move |r| Ok(x(r)?.wrapping_abs())),
                    Unary::Not => Box::new(move |r| Ok(i64::from(x(r)? == 0))),
                }
            }
            &Node::Arith { op, ref x, ref y, bound } => {
                let (x, y) = (self.node(x), self.node(y));
                match op {
                    // Within the bound, the operands' sum cannot leave 64 bits: only the bound
                    // is checked.
                    Arith::Add if bound.is_some() => {
                        bounded(x, y, bound, |_, a, b| Ok(a.wrapping_add(b)))
                    }
                    Arith::Sub if bound.is_some() => {
                        bounded(x, y, bound, |_, a, b| Ok(a.wrapping_sub(b)))
                    }
                    Arith::Add => binary(x, y, |r, a, b| overflow(r, a.checked_add(b))),
                    Arith::Sub => binary(x, y, |r, a, b| overflow(r, a.checked_sub(b))),
                    Arith::Mul => bounded(x, y, bound, |r, a, b| overflow(r, a.checked_mul(b))),
                    Arith::MulScaled => bounded(x, y, bound, move |r, a, b| {
                        muldiv(a, b, MILLION, mode).map_err(|e| r.arith(e))
                    }),
                    Arith::DivRound => bounded(x, y, bound, move |r, a, b| {
                        muldiv(a, 1, b, mode).map_err(|e| r.arith(e))
                    }),
                    Arith::DivScaled => bounded(x, y, bound, move |r, a, b| {
                        muldiv(a, MILLION, b, mode).map_err(|e| r.arith(e))
                    }),
                }
            }
            &Node::Proportion { ref x, ref a, ref b, bound } => {
                let (x, a, b) = (self.node(x), self.node(a), self.node(b));
                Box::new(move |r| {
                    let (x, a, b) = (x(r)?, a(r)?, b(r)?);
                    let v = muldiv(x, a, b, mode).map_err(|e| r.arith(e))?;
                    r.bound(v, bound)
                })
            }
            &Node::Compare(c, ref x, ref y) => {
                binary(self.node(x), self.node(y), move |_, a, b| Ok(i64::from(c.holds(a, b))))
            }
            // Conditions short-circuit: the right side is not computed when the left decides.
            Node::And(x, y) => {
                let (x, y) = (self.node(x), self.node(y));
                Box::new(move |r| Ok(i64::from(x(r)? != 0 && y(r)? != 0)))
            }
            Node::Or(x, y) => {
                let (x, y) = (self.node(x), self.node(y));
                Box::new(move |r| Ok(i64::from(x(r)? != 0 || y(r)? != 0)))
            }
            Node::If(c, a, b) => {
                let (c, a, b) = (self.node(c), self.node(a), self.node(b));
                Box::new(move |r| if c(r)? != 0 { a(r) } else { b(r) })
            }
            &Node::Extreme { min, ref xs } => {
                let mut ops: Vec<Op> = xs.iter().map(|x| self.node(x)).collect();
                match (ops.len(), ops.pop(), ops.pop()) {
                    (2, Some(b), Some(a)) if min => binary(a, b, |_, x, y| Ok(x.min(y))),
                    (2, Some(b), Some(a)) => binary(a, b, |_, x, y| Ok(x.max(y))),
                    (_, last, before) => {
                        ops.extend(before);
                        ops.extend(last);
                        Box::new(move |r| {
                            let mut best: Option<i64> = None;
                            for op in &ops {
                                let v = op(r)?;
                                best = Some(match best {
                                    None => v,
                                    Some(b) if min => b.min(v),
                                    Some(b) => b.max(v),
                                });
                            }
                            best.ok_or_else(|| r.fail(FaultKind::Internal, 0, 0))
                        })
                    }
                }
            }
            Node::In(x, set) => {
                let x = self.node(x);
                match set.words.as_slice() {
                    &[word] => Box::new(move |r| {
                        let v = x(r)?;
                        Ok(i64::from((0..64).contains(&v) && (word >> v) & 1 == 1))
                    }),
                    _ => {
                        let set = set.clone();
                        Box::new(move |r| Ok(i64::from(set.contains(x(r)?))))
                    }
                }
            }
            Node::Rule { whens, values, default } => {
                let whens: Vec<Op> = whens.iter().map(|n| self.node(n)).collect();
                let values: Vec<Op> = values.iter().map(|n| self.node(n)).collect();
                let default = self.node(default);
                Box::new(move |r| {
                    // Every condition in order; a second one that holds is a conflict.
                    let mut applied: Option<usize> = None;
                    for (i, when) in whens.iter().enumerate() {
                        if when(r)? != 0 {
                            if let Some(first) = applied {
                                return Err(r.fail(FaultKind::Conflict, first as i64, i as i64));
                            }
                            applied = Some(i);
                        }
                    }
                    match applied.map(|i| values.get(i)) {
                        Some(Some(value)) => value(r),
                        Some(None) => Err(r.fail(FaultKind::Internal, 0, 0)),
                        None => default(r),
                    }
                })
            }
            &Node::Fallback(id) => Box::new(move |r| match r.fallback.eval(id, r.values, r.accs) {
                Ok(v) => Ok(v),
                Err(f) => Err(r.fail(f.kind, f.a, f.b)),
            }),
            &Node::Calendar { op, ref x, ref y } => {
                binary(self.node(x), self.node(y), move |r, a, b| {
                    calendar(op, a, b).map_err(|e| r.arith(e))
                })
            }
            &Node::Round { ref x, unit, mode } => {
                let x = self.node(x);
                Box::new(move |r| {
                    let v = x(r)?;
                    round_to(v, unit, mode).map_err(|e| r.arith(e))
                })
            }
        }
    }
}
