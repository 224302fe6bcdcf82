//! Exceptions of a rule that can never fire, and pairs that provably both apply.
//!
//! Conditions are read as disjunctions of conjunctions of simple facts about the claim's
//! fields and the year-to-date accumulators (`admissions >= 2`, `claim.level == level1`,
//! `claim.group in {...}`, `claim.referred`). Facts about anything else are opaque: an exception
//! is reported as never firing only when its known facts contradict each other, and two
//! exceptions as conflicting only when a claim satisfying both can be built from known facts
//! alone. Each field and accumulator is taken as free to vary independently of the others, and
//! amounts in steps of a fen, counts and days in steps of one.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::date::Date;
use crate::diagnostic::{Code, FileId, Problem};
use crate::ir::{self, BinOp, Const, ExprKind, FoldKind, Type};

use crate::check::Checker;

/// The most conjunctions a condition may expand to before it is treated as opaque.
const MAX_TERMS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Var {
    Field(usize),
    Acc(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Fact {
    Num {
        lo: Option<(Decimal, bool)>,
        hi: Option<(Decimal, bool)>,
        not: Vec<Decimal>,
        step: Decimal,
    },
    Enum {
        allowed: Vec<bool>,
    },
    Bool(bool),
}

#[derive(Debug, Clone, Default)]
struct Conj {
    facts: BTreeMap<Var, Fact>,
    contradiction: bool,
    opaque: bool,
}

impl Checker<'_> {
    /// Whether no claim satisfies a condition, as far as its known facts tell.
    pub(crate) fn provably_never(&self, condition: &ir::Expr) -> bool {
        self.dnf(condition).iter().all(|c| c.contradiction)
    }

    /// Report exceptions that never fire and pairs that both apply to some claim. An `else when`
    /// arm's condition is guarded by those above it, so it conflicts with none of them; the
    /// `shadowed` arms (warned about already) are not reported again.
    pub(crate) fn check_exceptions(
        &mut self,
        file: FileId,
        rule: &str,
        exceptions: &[ir::RuleException],
        shadowed: &[bool],
    ) {
        let forms: Vec<Vec<Conj>> = exceptions.iter().map(|e| self.dnf(&e.when)).collect();
        let mut never = shadowed.to_vec();
        never.resize(exceptions.len(), false);
        for (i, (e, form)) in exceptions.iter().zip(&forms).enumerate() {
            if never.get(i) == Some(&true) {
                continue;
            }
            if form.iter().all(|c| c.contradiction) {
                if let Some(n) = never.get_mut(i) {
                    *n = true;
                }
                self.report(
                    Problem::error(
                        Code::RuleNeverFires,
                        file,
                        e.span,
                        format!("this exception of `{rule}` can never apply"),
                    )
                    .label("no claim satisfies this condition")
                    .help("check the comparison operators and bounds; amounts and counts are never negative"),
                );
            }
        }
        for i in 0..exceptions.len() {
            for j in i + 1..exceptions.len() {
                if never.get(i) == Some(&true) || never.get(j) == Some(&true) {
                    continue;
                }
                let (Some(a), Some(b)) = (forms.get(i), forms.get(j)) else { continue };
                let witness =
                    a.iter().flat_map(|x| b.iter().map(move |y| (x, y))).find_map(|(x, y)| {
                        if x.opaque || y.opaque {
                            return None;
                        }
                        let both = and(x.clone(), y);
                        (!both.contradiction).then(|| self.witness(&both))
                    });
                let (Some(witness), Some(ei), Some(ej)) =
                    (witness, exceptions.get(i), exceptions.get(j))
                else {
                    continue;
                };
                self.report(
                    Problem::error(
                        Code::RuleConflict,
                        file,
                        ej.span,
                        format!("two exceptions of `{rule}` both apply {witness}"),
                    )
                    .label("this exception")
                    .with(ei.span, "and this one")
                    .help(format!(
                        "make the conditions exclusive, for example `when {} and not ({})`",
                        ej.text, ei.text
                    )),
                );
            }
        }
    }

    fn dnf(&self, e: &ir::Expr) -> Vec<Conj> {
        match &e.kind {
            ExprKind::Binary(BinOp::And, a, b) => {
                let (x, y) = (self.dnf(a), self.dnf(b));
                if x.len() * y.len() > MAX_TERMS {
                    return vec![Conj { opaque: true, ..Conj::default() }];
                }
                x.iter().flat_map(|c| y.iter().map(move |d| and(c.clone(), d))).collect()
            }
            ExprKind::Binary(BinOp::Or, a, b) => {
                let mut x = self.dnf(a);
                x.extend(self.dnf(b));
                if x.len() > MAX_TERMS {
                    return vec![Conj { opaque: true, ..Conj::default() }];
                }
                x
            }
            ExprKind::Const(Const::Bool(b)) => vec![Conj { contradiction: !b, ..Conj::default() }],
            _ => vec![self.atom(e, false).unwrap_or(Conj { opaque: true, ..Conj::default() })],
        }
    }

    fn var_of(&self, e: &ir::Expr) -> Option<(Var, Type)> {
        match e.kind {
            ExprKind::Field(i) => Some((Var::Field(i), e.ty)),
            ExprKind::Acc(a) => Some((Var::Acc(a), e.ty)),
            _ => None,
        }
    }

    fn atom(&self, e: &ir::Expr, negated: bool) -> Option<Conj> {
        match &e.kind {
            ExprKind::Not(x) => self.atom(x, !negated),
            ExprKind::Field(_) | ExprKind::Acc(_) if e.ty == Type::Bool => {
                let (var, _) = self.var_of(e)?;
                Some(self.with_domain(var, Fact::Bool(!negated)))
            }
            ExprKind::In(x, variants) => {
                let (var, ty) = self.var_of(x)?;
                let Type::Enum(id) = ty else { return None };
                let n = self.enums.get(id)?.variants.len();
                let allowed = (0..n).map(|v| variants.contains(&(v as u32)) != negated).collect();
                Some(self.with_domain(var, Fact::Enum { allowed }))
            }
            ExprKind::Binary(op, l, r) => {
                let (var, ty, value, op) =
                    match (self.var_of(l), constant(r), self.var_of(r), constant(l)) {
                        (Some((v, t)), Some(c), _, _) => (v, t, c, *op),
                        (_, _, Some((v, t)), Some(c)) => (v, t, c, flip(*op)?),
                        _ => return None,
                    };
                let op = if negated { negate(op)? } else { op };
                let fact = match value {
                    Const::Enum(v) => {
                        let Type::Enum(id) = ty else { return None };
                        let n = self.enums.get(id)?.variants.len();
                        let allowed = (0..n)
                            .map(|i| match op {
                                BinOp::Eq => i as u32 == v,
                                BinOp::Ne => i as u32 != v,
                                _ => true,
                            })
                            .collect();
                        if !matches!(op, BinOp::Eq | BinOp::Ne) {
                            return None;
                        }
                        Fact::Enum { allowed }
                    }
                    Const::Bool(b) => match op {
                        BinOp::Eq => Fact::Bool(b),
                        BinOp::Ne => Fact::Bool(!b),
                        _ => return None,
                    },
                    c => {
                        let d = number(&c)?;
                        let step = step(ty)?;
                        let (mut lo, mut hi, mut not) = (None, None, Vec::new());
                        match op {
                            BinOp::Eq => {
                                lo = Some((d, true));
                                hi = Some((d, true));
                            }
                            BinOp::Ne => not.push(d),
                            BinOp::Lt => hi = Some((d, false)),
                            BinOp::Le => hi = Some((d, true)),
                            BinOp::Gt => lo = Some((d, false)),
                            BinOp::Ge => lo = Some((d, true)),
                            _ => return None,
                        }
                        Fact::Num { lo, hi, not, step }
                    }
                };
                Some(self.with_domain(var, fact))
            }
            _ => None,
        }
    }

    /// A conjunction of one fact with what is known of the variable's domain.
    fn with_domain(&self, var: Var, fact: Fact) -> Conj {
        let mut c = Conj::default();
        let non_negative = match var {
            Var::Field(i) => self
                .input
                .as_ref()
                .and_then(|(r, _)| self.records.get(*r))
                .and_then(|r| r.fields.get(i))
                .is_some_and(|f| f.ty == Type::Money),
            Var::Acc(a) => self
                .accs
                .get(a)
                .and_then(|x| x.def.as_ref())
                .is_some_and(|x| x.fold == FoldKind::Count),
        };
        if let (true, Fact::Num { step, .. }) = (non_negative, &fact) {
            c = add(
                c,
                var,
                Fact::Num {
                    lo: Some((Decimal::ZERO, true)),
                    hi: None,
                    not: Vec::new(),
                    step: *step,
                },
            );
        }
        add(c, var, fact)
    }

    fn witness(&self, c: &Conj) -> String {
        let parts: Vec<String> = c
            .facts
            .iter()
            .filter_map(|(var, fact)| {
                let (name, ty) = self.var_name(*var)?;
                let value = match fact {
                    Fact::Bool(b) => b.to_string(),
                    Fact::Enum { allowed } => {
                        let Type::Enum(id) = ty else { return None };
                        let i = allowed.iter().position(|a| *a)?;
                        format!("`{}`", self.enums.get(id)?.variants.get(i)?)
                    }
                    Fact::Num { lo, hi, not, step } => {
                        let v = pick(*lo, *hi, not, *step)?;
                        match ty {
                            Type::Date => i32::try_from(v.mantissa()).ok().map(Date)?.to_string(),
                            Type::Rate => format!("{}%", (v * Decimal::ONE_HUNDRED).normalize()),
                            _ => v.normalize().to_string(),
                        }
                    }
                };
                Some(format!("`{name}` is {value}"))
            })
            .collect();
        if parts.is_empty() {
            "to every claim".to_string()
        } else {
            format!("when {}", parts.join(" and "))
        }
    }

    fn var_name(&self, var: Var) -> Option<(String, Type)> {
        match var {
            Var::Field(i) => {
                let (r, name) = self.input.as_ref()?;
                let f = self.records.get(*r)?.fields.get(i)?;
                Some((format!("{name}.{}", f.name), f.ty))
            }
            Var::Acc(a) => {
                let acc = self.accs.get(a)?.def.as_ref()?;
                Some((acc.name.clone(), acc.ty))
            }
        }
    }
}

fn constant(e: &ir::Expr) -> Option<Const> {
    match &e.kind {
        ExprKind::Const(c) => Some(c.clone()),
        ExprKind::Neg(x) => match constant(x)? {
            Const::Money(d) => Some(Const::Money(-d)),
            Const::Rate(d) => Some(Const::Rate(-d)),
            Const::Int(i) => Some(Const::Int(i.checked_neg()?)),
            _ => None,
        },
        _ => None,
    }
}

fn number(c: &Const) -> Option<Decimal> {
    match c {
        Const::Money(d) | Const::Rate(d) => Some(*d),
        Const::Int(i) => Some(Decimal::from(*i)),
        Const::Date(d) => Some(Decimal::from(d.0)),
        _ => None,
    }
}

fn step(ty: Type) -> Option<Decimal> {
    match ty {
        Type::Money => Some(Decimal::new(1, 2)),
        Type::Rate => Some(Decimal::new(1, 6)),
        Type::Int | Type::Date => Some(Decimal::ONE),
        _ => None,
    }
}

fn flip(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        BinOp::Eq | BinOp::Ne => op,
        _ => return None,
    })
}

fn negate(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        BinOp::Eq => BinOp::Ne,
        BinOp::Ne => BinOp::Eq,
        _ => return None,
    })
}

fn and(mut a: Conj, b: &Conj) -> Conj {
    a.opaque |= b.opaque;
    a.contradiction |= b.contradiction;
    for (var, fact) in &b.facts {
        a = add(a, *var, fact.clone());
    }
    a
}

fn add(mut c: Conj, var: Var, fact: Fact) -> Conj {
    let merged = match (c.facts.remove(&var), fact) {
        (None, f) => Some(f),
        (Some(Fact::Bool(x)), Fact::Bool(y)) => (x == y).then_some(Fact::Bool(x)),
        (Some(Fact::Enum { allowed: x }), Fact::Enum { allowed: y }) => {
            Some(Fact::Enum { allowed: x.iter().zip(&y).map(|(a, b)| *a && *b).collect() })
        }
        (
            Some(Fact::Num { lo: l1, hi: h1, not: mut n1, step }),
            Fact::Num { lo: l2, hi: h2, not: n2, .. },
        ) => {
            n1.extend(n2);
            Some(Fact::Num { lo: tighter(l1, l2, true), hi: tighter(h1, h2, false), not: n1, step })
        }
        _ => None,
    };
    match merged {
        Some(f) => {
            if !satisfiable(&f) {
                c.contradiction = true;
            }
            c.facts.insert(var, f);
        }
        None => c.contradiction = true,
    }
    c
}

fn tighter(
    a: Option<(Decimal, bool)>,
    b: Option<(Decimal, bool)>,
    lower: bool,
) -> Option<(Decimal, bool)> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) => {
            if x.0 == y.0 {
                Some((x.0, x.1 && y.1))
            } else if (x.0 > y.0) == lower {
                Some(x)
            } else {
                Some(y)
            }
        }
    }
}

fn satisfiable(f: &Fact) -> bool {
    match f {
        Fact::Bool(_) => true,
        Fact::Enum { allowed } => allowed.iter().any(|a| *a),
        Fact::Num { lo, hi, not, step } => pick(*lo, *hi, not, *step).is_some(),
    }
}

/// A value on the grid of `step` within the bounds and not excluded, if any.
fn pick(
    lo: Option<(Decimal, bool)>,
    hi: Option<(Decimal, bool)>,
    not: &[Decimal],
    step: Decimal,
) -> Option<Decimal> {
    let first = match lo {
        Some((l, incl)) => {
            let k = (l / step).ceil() * step;
            if k == l && !incl { k + step } else { k }
        }
        None => match hi {
            Some((h, _)) => ((h / step).floor() - Decimal::from(not.len() + 1)) * step,
            None => Decimal::ZERO,
        },
    };
    let last = hi.map(|(h, incl)| {
        let k = (h / step).floor() * step;
        if k == h && !incl { k - step } else { k }
    });
    let mut candidate = first;
    for _ in 0..=not.len() {
        if last.is_some_and(|l| candidate > l) {
            return None;
        }
        if !not.contains(&candidate) {
            return Some(candidate);
        }
        candidate += step;
    }
    None
}
