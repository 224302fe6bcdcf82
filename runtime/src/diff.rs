//! The impact of a rule change: two policies settle one corpus; what moved, by how much, for
//! whom. All sums are exact decimals, and the per-claim changes add up to the change of the
//! totals, to the fen.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use settle_lang::ir::{Policy, Type};

use crate::engine::{Engine, Outcome};
use crate::field::format_value;
use crate::io::Row;
use crate::io::Who;
use crate::value::Value;

/// The impact report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Impact {
    /// The base policy's name.
    pub base: String,
    /// The reform's name.
    pub reform: String,
    /// Claims in the corpus.
    pub claims: usize,
    /// Claims whose settlement changed (a share, or whether it settles at all).
    pub affected: usize,
    /// Claims that do not settle under the base, and under the reform.
    pub errors: (usize, usize),
    /// Each share of the balance: its totals under both policies and the change.
    pub shares: Vec<ShareChange>,
    /// The change of the funds (every share but the last, the patient's), in total.
    pub fund_change: String,
    /// The changes by the variants of each enum field of the input.
    pub by_field: Vec<FieldBreakdown>,
    /// The claims that moved most (by the change of the funds' payments), largest first.
    pub movers: Vec<Mover>,
    /// The change of the funds' payments per affected claim, for a histogram.
    pub changes: Vec<String>,
    /// Whether the per-claim changes add up to the change of the totals (always, or a defect).
    pub reconciled: bool,
}

/// One share's totals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShareChange {
    /// The share (`basic.pay`).
    pub name: String,
    /// Its total under the base.
    pub base: String,
    /// Its total under the reform.
    pub reform: String,
    /// The change.
    pub change: String,
}

/// The changes for the variants of one enum field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldBreakdown {
    /// The input field (`level`).
    pub field: String,
    /// One row per variant present in the corpus.
    pub rows: Vec<VariantChange>,
}

/// The change for the claims with one variant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VariantChange {
    /// The variant.
    pub variant: String,
    /// Claims with it.
    pub claims: usize,
    /// Of which changed.
    pub affected: usize,
    /// The change of each share, in the order of [`Impact::shares`].
    pub changes: Vec<String>,
}

/// A claim that moved.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mover {
    /// Its id.
    pub id: String,
    /// Its member.
    pub member: String,
    /// The line it came from.
    pub line: usize,
    /// The change of the funds' payments.
    pub fund_change: String,
    /// Each share before and after: `(name, base, reform)`.
    pub shares: Vec<(String, String, String)>,
}

/// For one variant: claims, claims affected, and the change of each share.
type Tally = (usize, usize, Vec<Decimal>);

/// The shares of a settled claim, by the base's share names; `None` when it did not settle.
fn shares(policy: &Policy, outcome: Option<&Outcome>, names: &[String]) -> Option<Vec<Decimal>> {
    let settled = outcome?.as_ref().ok()?;
    names
        .iter()
        .map(|n| {
            let v = policy.values.iter().position(|d| d.name == *n)?;
            settled.value(policy, v).as_ref().and_then(Value::decimal)
        })
        .collect()
}

/// The share names of a policy's balance.
pub fn share_names(policy: &Policy) -> Vec<String> {
    policy
        .balance
        .iter()
        .flat_map(|b| b.parts.iter())
        .filter_map(|p| policy.values.get(*p).map(|d| d.name.clone()))
        .collect()
}

fn money(d: Decimal) -> String {
    format!("{d:.2}")
}

/// Compare two policies' settlements of the same corpus. `base_rows` and `reform_rows` are the
/// corpus as each policy read it (record for record), with their outcomes.
pub fn impact(
    base: &Engine,
    reform: &Engine,
    base_rows: &[Row],
    base_outcomes: &[Option<Outcome>],
    reform_outcomes: &[Option<Outcome>],
    movers: usize,
) -> Impact {
    let (bp, rp) = (base.policy(), reform.policy());
    let names = share_names(bp);
    let claim = |i: usize| match base_rows.get(i) {
        Some(Row::Claim(c)) => Some(c),
        _ => None,
    };
    let corpus = Corpus {
        claims: base_rows.len(),
        before: &|i| shares(bp, base_outcomes.get(i).and_then(Option::as_ref), &names),
        after: &|i| shares(rp, reform_outcomes.get(i).and_then(Option::as_ref), &names),
        variant: &|i, f| match claim(i)?.fields.get(f) {
            Some(Value::Enum(v)) => Some(*v),
            _ => None,
        },
        who: &|i| {
            let c = claim(i)?;
            Some(Who {
                id: format_value(bp, Type::Text, c.fields.get(bp.id_field)?),
                member: format_value(bp, Type::Text, c.fields.get(bp.member_field)?),
                line: c.line,
            })
        },
    };
    impact_of(bp, rp, &corpus, movers)
}

/// Compare two policies' settlements of one corpus by the batch fast path: the base's shares
/// with its table (`before`), the reform's (`after`), read from the same file.
pub fn impact_of_shares(
    base: &Engine,
    reform: &Engine,
    before: &crate::batch::Shares,
    after: &crate::batch::Shares,
    movers: usize,
) -> Impact {
    let corpus = Corpus {
        claims: before.len(),
        before: &|i| before.shares(i),
        after: &|i| after.shares(i),
        variant: &|i, f| before.variant(i, f),
        who: &|i| before.who(base.policy(), i),
    };
    impact_of(base.policy(), reform.policy(), &corpus, movers)
}

/// What an impact report reads of a corpus settled under both policies, claim by claim (by
/// record index): the base's shares (by the base's share names) before and after, `None` where
/// the claim did not settle; the variant of an enum field of the input (by field index) and who
/// the claim is, `None` for a record that is no claim.
pub struct Corpus<'a> {
    /// Records in the corpus.
    pub claims: usize,
    /// The shares under the base.
    pub before: &'a (dyn Fn(usize) -> Option<Vec<Decimal>> + Sync),
    /// The shares under the reform.
    pub after: &'a (dyn Fn(usize) -> Option<Vec<Decimal>> + Sync),
    /// The variant of an enum field.
    pub variant: &'a (dyn Fn(usize, usize) -> Option<u32> + Sync),
    /// Who the claim is.
    pub who: &'a (dyn Fn(usize) -> Option<Who> + Sync),
}

impl std::fmt::Debug for Corpus<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corpus").field("claims", &self.claims).finish_non_exhaustive()
    }
}

/// What a stretch of the corpus adds up to, claim by claim in order.
#[derive(Debug, Clone)]
struct Sums {
    /// Each share's total under the base and under the reform, over claims settled by both.
    totals: Vec<(Decimal, Decimal)>,
    /// The change of the funds, claim by claim.
    per_claim_fund: Decimal,
    affected: usize,
    errors: (usize, usize),
    /// (change of the funds, record) of each claim that moved, and that change written.
    moved: Vec<(Decimal, usize)>,
    changes: Vec<String>,
    /// For each enum field of the input: variant -> (claims, affected, change per share).
    breakdown: Vec<BTreeMap<u32, Tally>>,
}

impl Sums {
    fn new(shares: usize, enums: usize) -> Sums {
        Sums {
            totals: vec![(Decimal::ZERO, Decimal::ZERO); shares],
            per_claim_fund: Decimal::ZERO,
            affected: 0,
            errors: (0, 0),
            moved: Vec::new(),
            changes: Vec::new(),
            breakdown: vec![BTreeMap::new(); enums],
        }
    }

    /// Add claim `i`; the funds are every share but the last (`last` shares).
    fn add(&mut self, corpus: &Corpus<'_>, enum_fields: &[usize], last: usize, i: usize) {
        let shares = self.totals.len();
        let before = (corpus.before)(i);
        let after = (corpus.after)(i);
        self.errors.0 += usize::from(before.is_none());
        self.errors.1 += usize::from(after.is_none());
        let delta: Vec<Decimal> = match (&before, &after) {
            (Some(b), Some(a)) => a.iter().zip(b).map(|(x, y)| x - y).collect(),
            _ => vec![Decimal::ZERO; shares],
        };
        if let (Some(b), Some(a)) = (&before, &after) {
            for ((t, x), y) in self.totals.iter_mut().zip(b).zip(a) {
                t.0 += x;
                t.1 += y;
            }
        }
        let changed = before != after;
        self.affected += usize::from(changed);
        let fund: Decimal = delta.iter().take(last).sum();
        self.per_claim_fund += fund;
        if changed {
            self.moved.push((fund, i));
            self.changes.push(money(fund));
        }
        for (slot, f) in self.breakdown.iter_mut().zip(enum_fields) {
            let Some(v) = (corpus.variant)(i, *f) else { continue };
            let entry = slot.entry(v).or_insert_with(|| (0, 0, vec![Decimal::ZERO; shares]));
            entry.0 += 1;
            entry.1 += usize::from(changed);
            for (t, d) in entry.2.iter_mut().zip(&delta) {
                *t += d;
            }
        }
    }

    /// These sums followed by those of the next stretch.
    fn then(mut self, next: Sums) -> Sums {
        for (t, n) in self.totals.iter_mut().zip(next.totals) {
            t.0 += n.0;
            t.1 += n.1;
        }
        self.per_claim_fund += next.per_claim_fund;
        self.affected += next.affected;
        self.errors = (self.errors.0 + next.errors.0, self.errors.1 + next.errors.1);
        self.moved.extend(next.moved);
        self.changes.extend(next.changes);
        for (mine, theirs) in self.breakdown.iter_mut().zip(next.breakdown) {
            for (v, (claims, affected, changes)) in theirs {
                let shares = changes.len();
                let entry = mine.entry(v).or_insert_with(|| (0, 0, vec![Decimal::ZERO; shares]));
                entry.0 += claims;
                entry.1 += affected;
                for (t, d) in entry.2.iter_mut().zip(changes) {
                    *t += d;
                }
            }
        }
        self
    }
}

/// Claims a parallel stretch of an impact report adds up.
const CLAIMS_PER_STRETCH: usize = 1 << 16;

/// Compare two policies' settlements of one corpus: stretches of claims added up in parallel,
/// their sums joined in order (exact decimals: the same figures in any grouping).
pub fn impact_of(bp: &Policy, rp: &Policy, corpus: &Corpus<'_>, movers: usize) -> Impact {
    impact_in(bp, rp, corpus, movers, CLAIMS_PER_STRETCH)
}

/// [`impact_of`] in stretches of `stretch` claims.
fn impact_in(
    bp: &Policy,
    rp: &Policy,
    corpus: &Corpus<'_>,
    movers: usize,
    stretch: usize,
) -> Impact {
    use rayon::prelude::*;
    let stretch = stretch.max(1);
    let names = share_names(bp);
    let last = names.len().saturating_sub(1);
    let enum_fields: Vec<(usize, String, usize)> = bp
        .input_record()
        .map(|r| {
            r.fields
                .iter()
                .enumerate()
                .filter_map(|(i, f)| match f.ty {
                    Type::Enum(e) => Some((i, f.name.clone(), e)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let fields: Vec<usize> = enum_fields.iter().map(|(f, _, _)| *f).collect();
    let stretches: Vec<Sums> = (0..corpus.claims.div_ceil(stretch))
        .into_par_iter()
        .map(|k| {
            let mut sums = Sums::new(names.len(), fields.len());
            let end = ((k + 1) * stretch).min(corpus.claims);
            for i in k * stretch..end {
                sums.add(corpus, &fields, last, i);
            }
            sums
        })
        .collect();
    let Sums { totals, per_claim_fund, affected, errors, mut moved, changes, breakdown } =
        stretches.into_iter().fold(Sums::new(names.len(), fields.len()), Sums::then);
    let fund_change: Decimal = totals.iter().take(last).map(|(b, a)| a - b).sum();
    moved.sort_by(|a, b| b.0.abs().cmp(&a.0.abs()).then(a.1.cmp(&b.1)));
    let movers = moved
        .iter()
        .take(movers)
        .filter_map(|&(fund, i)| {
            let who = (corpus.who)(i)?;
            let (before, after) = ((corpus.before)(i), (corpus.after)(i));
            let show = |s: &Option<Vec<Decimal>>, k: usize| {
                s.as_ref().and_then(|v| v.get(k)).map_or_else(|| "error".to_string(), |d| money(*d))
            };
            Some(Mover {
                id: who.id,
                member: who.member,
                line: who.line,
                fund_change: money(fund),
                shares: names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| (n.clone(), show(&before, k), show(&after, k)))
                    .collect(),
            })
        })
        .collect();
    let by_field = enum_fields
        .iter()
        .zip(breakdown)
        .map(|((_, name, e), rows)| FieldBreakdown {
            field: name.clone(),
            rows: rows
                .into_iter()
                .map(|(v, (claims, affected, deltas))| VariantChange {
                    variant: bp
                        .enums
                        .get(*e)
                        .and_then(|d| d.variants.get(v as usize))
                        .cloned()
                        .unwrap_or_default(),
                    claims,
                    affected,
                    changes: deltas.into_iter().map(money).collect(),
                })
                .collect(),
        })
        .collect();
    Impact {
        base: bp.name.clone(),
        reform: rp.name.clone(),
        claims: corpus.claims,
        affected,
        errors,
        shares: names
            .iter()
            .zip(&totals)
            .map(|(n, (b, a))| ShareChange {
                name: n.clone(),
                base: money(*b),
                reform: money(*a),
                change: money(a - b),
            })
            .collect(),
        fund_change: money(fund_change),
        by_field,
        movers,
        changes,
        reconciled: per_claim_fund == fund_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_the_same_whatever_the_stretches() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/dezhou/employee_inpatient.settle");
        let text = std::fs::read_to_string(path).expect("policy");
        let policy = crate::load_str("employee_inpatient.settle", &text).expect("checks");
        let level = policy
            .input_record()
            .and_then(|r| r.fields.iter().position(|f| f.name == "level"))
            .expect("a level field");
        let shares = share_names(&policy).len();
        let amount =
            |i: usize, k: usize| Decimal::new(((i * 7919 + k * 104_729) % 100_003) as i64, 2);
        let corpus = Corpus {
            claims: 1_000,
            before: &|i| (i % 17 != 0).then(|| (0..shares).map(|k| amount(i, k)).collect()),
            after: &|i| {
                (i % 19 != 0).then(|| {
                    (0..shares).map(|k| amount(i, k) + Decimal::new((i % 3) as i64, 2)).collect()
                })
            },
            variant: &|i, f| (f == level && i % 23 != 0).then_some((i % 3) as u32),
            who: &|i| {
                (i % 23 != 0).then(|| Who {
                    id: format!("c{i}"),
                    member: format!("m{}", i % 50),
                    line: i + 2,
                })
            },
        };
        let whole = impact_in(&policy, &policy, &corpus, 10, 1_000);
        assert!(whole.affected > 0 && whole.errors.0 > 0 && whole.errors.1 > 0);
        assert!(whole.reconciled);
        for stretch in [1, 7, 64, 999] {
            assert_eq!(impact_in(&policy, &policy, &corpus, 10, stretch), whole, "{stretch}");
        }
    }
}
