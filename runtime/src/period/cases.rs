//! The cases as the period's passes read them, prepared once before the first pass: each case's
//! claim values and accumulators that the period's expressions read, and the parameter versions
//! in force on its date. A pass then reads a case without rebuilding its settlement.
//!
//! The period's expressions are renumbered once ([`Kept::renumber`]): a read of claim value `v`
//! or accumulator `a` becomes a read of its place among the case's kept values, so that the
//! reference interpreter is handed exactly what was kept; a read of anything else finds no
//! value and is an internal error, never a value made up.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::period::{ColumnKind, Period};
use settle_lang::ir::{Expr, ExprKind, Policy};

use crate::engine::{Claim, Outcome};
use crate::interp::versions_in_force;
use crate::value::Value;

/// The claim values and accumulators the period's expressions read, each by its id in the
/// policy, keyed to its place among a case's kept values.
pub(super) struct Kept {
    values: BTreeMap<usize, usize>,
    accs: BTreeMap<usize, usize>,
}

impl Kept {
    /// What `period`'s expressions read of a claim's settlement, and `period` with those reads
    /// renumbered to their places among a case's kept values.
    pub(super) fn renumber(period: &Period) -> (Kept, Period) {
        let mut period = period.clone();
        let mut values = BTreeMap::new();
        let mut accs = BTreeMap::new();
        each_expr(&mut period, &mut |e| match e.kind {
            ExprKind::Value(v) => {
                values.insert(v, 0);
            }
            ExprKind::Acc(a) => {
                accs.insert(a, 0);
            }
            _ => {}
        });
        for (place, slot) in values.values_mut().enumerate() {
            *slot = place;
        }
        for (place, slot) in accs.values_mut().enumerate() {
            *slot = place;
        }
        let kept = Kept { values, accs };
        each_expr(&mut period, &mut |e| match &mut e.kind {
            ExprKind::Value(v) => {
                if let Some(place) = kept.values.get(v) {
                    *v = *place;
                }
            }
            ExprKind::Acc(a) => {
                if let Some(place) = kept.accs.get(a) {
                    *a = *place;
                }
            }
            _ => {}
        });
        (kept, period)
    }

    fn width(&self) -> usize {
        self.values.len() + self.accs.len()
    }
}

/// One case: a claim that settled.
pub(super) struct Case<'a> {
    /// The claim's line.
    pub line: usize,
    /// The claim: its fields.
    pub claim: &'a Claim,
    /// The date deciding its parameters.
    pub date: Date,
    /// Its parameter versions, an index into [`Cases::versions`].
    versions: usize,
}

/// Every case of the period in input order, with what the passes read of each.
pub(super) struct Cases<'a> {
    /// The cases.
    pub cases: Vec<Case<'a>>,
    /// Each case's kept values then its kept accumulators, `width` per case.
    kept: Vec<Value>,
    width: usize,
    values: usize,
    /// The parameter versions in force on each date some case has.
    versions: Vec<Vec<Option<usize>>>,
}

impl<'a> Cases<'a> {
    /// The settled claims of `claims` (those whose outcome is a settlement), in input order, with
    /// the values `kept` names read from their settlements once; `None` when a settlement lacks
    /// one (a defect).
    pub(super) fn new<C: Borrow<Claim> + Sync>(
        policy: &Policy,
        date_of: impl Fn(&Claim) -> Date + Sync,
        claims: &'a [C],
        outcomes: &[Outcome],
        kept: &Kept,
    ) -> Option<Cases<'a>> {
        let settled: Vec<(Case<'a>, &crate::engine::Settlement)> = claims
            .par_iter()
            .zip(outcomes.par_iter())
            .filter_map(|(claim, outcome)| {
                let claim = claim.borrow();
                let settlement = outcome.as_ref().ok()?;
                let case = Case { line: claim.line, claim, date: date_of(claim), versions: 0 };
                Some((case, settlement))
            })
            .collect();
        let values: Vec<Value> = settled
            .par_iter()
            .flat_map_iter(|(_, settlement)| {
                let values = kept.values.keys().map(|v| settlement.value(policy, *v));
                values.chain(kept.accs.keys().map(|a| settlement.accumulator(policy, *a)))
            })
            .collect::<Option<Vec<Value>>>()?;
        let mut cases: Vec<Case<'a>> = settled.into_iter().map(|(case, _)| case).collect();
        let mut dates: Vec<Date> = cases.iter().map(|c| c.date).collect();
        dates.par_sort_unstable();
        dates.dedup();
        let versions = dates
            .iter()
            .map(|date| {
                let mut versions = Vec::new();
                versions_in_force(policy, *date, &mut versions);
                versions
            })
            .collect();
        cases.par_iter_mut().for_each(|case| {
            // Every case's date is among `dates`.
            case.versions = dates.partition_point(|d| *d < case.date);
        });
        Some(Cases {
            cases,
            kept: values,
            width: kept.width(),
            values: kept.values.len(),
            versions,
        })
    }

    /// Case `i`'s kept claim values, its kept accumulators and its parameter versions.
    pub(super) fn reads(&self, i: usize) -> Option<CaseReads<'_>> {
        let case = self.cases.get(i)?;
        let start = i.checked_mul(self.width)?;
        let own = self.kept.get(start..start.checked_add(self.width)?)?;
        let (values, accs) = own.split_at_checked(self.values)?;
        Some(CaseReads { values, accs, versions: self.versions.get(case.versions)? })
    }
}

/// What a pass reads of one case beyond its fields.
pub(super) struct CaseReads<'a> {
    /// Its kept claim values, in the places [`Kept`] gave them.
    pub values: &'a [Value],
    /// Its kept accumulators before it, likewise.
    pub accs: &'a [Value],
    /// The parameter versions in force on its date.
    pub versions: &'a [Option<usize>],
}

/// Call `f` on every expression of `period`, inside and out.
fn each_expr(period: &mut Period, f: &mut dyn FnMut(&mut Expr)) {
    for agg in &mut period.aggregates {
        for e in agg.folding.body.iter_mut().chain(agg.folding.filter.iter_mut()) {
            walk(e, f);
        }
    }
    for named in period.values.iter_mut().chain(period.cases.iter_mut()) {
        walk(&mut named.expr, f);
    }
    for table in &mut period.tables {
        for column in &mut table.columns {
            match &mut column.kind {
                ColumnKind::Fold(folding) => {
                    for e in folding.body.iter_mut().chain(folding.filter.iter_mut()) {
                        walk(e, f);
                    }
                }
                ColumnKind::Share { amount, .. } => walk(amount, f),
                ColumnKind::Expr(e) => walk(e, f),
            }
        }
    }
}

/// Call `f` on `e` and every expression inside it (as [`Expr::walk`], but free to change them).
fn walk(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    f(e);
    e.for_each_child_mut(&mut |child| walk(child, f));
}
