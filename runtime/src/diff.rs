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
    /// The base's title, as its `policy` line gives it.
    pub base_title: Option<String>,
    /// The reform's title.
    pub reform_title: Option<String>,
    /// Claims in the corpus.
    pub claims: usize,
    /// Claims whose settlement changed (a share, or whether it settles at all).
    pub affected: usize,
    /// Claims that do not settle under the base, and under the reform.
    pub errors: (usize, usize),
    /// Claims settled under both policies: the totals below are over these.
    pub settled_both: usize,
    /// Claims settled under the base only, and under the reform only.
    pub settled_one_side: (usize, usize),
    /// What the funds pay for the claims settled under one side only: under the base for
    /// those settled by the base only, under the reform for those settled by the reform only.
    pub one_side_funds: (String, String),
    /// The first claims settled under one side only, in input order.
    pub one_sided: Vec<OneSided>,
    /// Every share of either balance, by name: its totals under each policy that has it (over
    /// the claims settled under both) and the change.
    pub shares: Vec<ShareChange>,
    /// The change of the funds (every payer of each side: its balance's shares but the last,
    /// the patient's), over the claims settled under both.
    pub fund_change: String,
    /// The changes by the variants of each enum field of the input.
    pub by_field: Vec<FieldBreakdown>,
    /// The claims that moved most (by the change of the funds' payments), largest first.
    pub movers: Vec<Mover>,
    /// The change of the funds' payments of every claim that moved and settles under both, in
    /// input order, with the claim it is of: for a histogram, and to join with other data.
    pub changes: Vec<Change>,
    /// The per-claim changes of the funds added up: computed claim by claim, independently of
    /// [`Impact::fund_change`] (from the shares' totals).
    pub per_claim_fund_change: String,
    /// Whether the per-claim changes add up to the change of the totals (always, or a defect).
    pub reconciled: bool,
    /// For policies with period settlement: the hospitals' (and case groups') payments under
    /// each, table by table (`settle diff` fills it; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<crate::period::compare::TableChange>,
}

/// The change of the funds' payments for one claim.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// The claim's id.
    pub id: String,
    /// The line it came from.
    pub line: usize,
    /// The change of the funds' payments.
    pub funds: String,
}

/// A claim that settles under one policy only.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OneSided {
    /// Its id.
    pub id: String,
    /// Its member.
    pub member: String,
    /// The line it came from.
    pub line: usize,
    /// `base` or `reform`: where it settles.
    pub settles_under: &'static str,
    /// What the funds pay for it there.
    pub funds: String,
}

/// One share's totals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShareChange {
    /// The share (`basic.pay`).
    pub name: String,
    /// Whether it is a payer's (a fund's) rather than the patient's, on the sides that have it.
    pub fund: bool,
    /// Its total under the base; `None` when the base's balance has no such share.
    pub base: Option<String>,
    /// Its total under the reform; `None` when the reform's balance has no such share.
    pub reform: Option<String>,
    /// The change (a share a side lacks counts as 0 there).
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
    /// The change of each share, in the order of [`Impact::shares`], over its claims settled
    /// under both policies.
    pub changes: Vec<String>,
}

/// The rule trail of claim `id`: its member's claims (`rows` as each policy read them, in any
/// order) settled under both policies, and every computed value of the claim that differs, by
/// name, leaving out the shares of the balances (the report shows those): the base's values in
/// its order, then those only the reform has.
pub fn trail(
    base: &Engine,
    reform: &Engine,
    base_rows: &[Row],
    reform_rows: &[Row],
    id: &str,
) -> Vec<(String, String, String)> {
    let settled = |engine: &Engine, rows: &[Row]| -> Option<Vec<(String, String)>> {
        let policy = engine.policy();
        let claims = crate::io::claims_of(rows);
        let at = claims.iter().position(|c| &*engine.id_of(c) == id)?;
        let outcomes = engine.settle_batch(&claims);
        let settlement = outcomes.get(at)?.as_ref().ok()?;
        let shares = share_names(policy);
        Some(
            policy
                .values
                .iter()
                .enumerate()
                .filter(|(_, d)| !shares.contains(&d.name))
                .filter_map(|(v, d)| {
                    let value = settlement.value(policy, v)?;
                    Some((d.name.clone(), format_value(policy, d.ty, &value)))
                })
                .collect(),
        )
    };
    let (Some(before), Some(after)) = (settled(base, base_rows), settled(reform, reform_rows))
    else {
        return Vec::new();
    };
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    let absent = || "-".to_string();
    let mut out: Vec<(String, String, String)> = before
        .iter()
        .filter_map(|(name, b)| {
            let a = find(&after, name).unwrap_or_else(absent);
            (a != *b).then(|| (name.clone(), b.clone(), a))
        })
        .collect();
    out.extend(
        after
            .iter()
            .filter(|(name, _)| find(&before, name).is_none())
            .map(|(name, a)| (name.clone(), absent(), a.clone())),
    );
    out
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
    /// Each share before and after: `(name, base, reform)`, `-` where a side has no such share.
    pub shares: Vec<(String, String, String)>,
    /// The rule trail: every other computed value of the claim (`let`s, rules, stage values)
    /// that differs, `(name, base, reform)`, `-` where a policy has no such value; empty until
    /// [`trail`] fills it.
    pub trail: Vec<(String, String, String)>,
}

/// For one variant: claims, claims affected, and the change of each share.
type Tally = (usize, usize, Vec<Decimal>);

/// The shares of a settled claim, by `names`; `None` when it did not settle.
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
    let (base_names, reform_names) = (share_names(bp), share_names(rp));
    let claim = |i: usize| match base_rows.get(i) {
        Some(Row::Claim(c)) => Some(c),
        _ => None,
    };
    let corpus = Corpus {
        claims: base_rows.len(),
        before: &|i| shares(bp, base_outcomes.get(i).and_then(Option::as_ref), &base_names),
        after: &|i| shares(rp, reform_outcomes.get(i).and_then(Option::as_ref), &reform_names),
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
/// (by [`share_names`] of the base) with its table (`before`), the reform's (by the reform's
/// names, `after`), read from the same file.
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
/// record index): the shares under the base (by the base's [`share_names`]) and under the
/// reform (by the reform's), `None` where the claim did not settle; the variant of an enum field of the input (by field index) and who
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

/// A share of the report: a name in either balance and where it is in each.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// Its place among the base's shares, and the reform's.
    base: Option<usize>,
    reform: Option<usize>,
}

/// The shares of both balances by name: the base's payers, then payers only the reform has,
/// then the patient's shares (the last of each balance).
fn columns(base: &[String], reform: &[String]) -> Vec<Column> {
    let column = |name: &String| Column {
        name: name.clone(),
        base: base.iter().position(|n| n == name),
        reform: reform.iter().position(|n| n == name),
    };
    let (base_payers, reform_payers) = (payers(base), payers(reform));
    let mut out: Vec<Column> = Vec::new();
    let names = base.iter().take(base_payers).chain(reform.iter().take(reform_payers));
    for name in names.chain(base.iter().skip(base_payers)).chain(reform.iter().skip(reform_payers))
    {
        if !out.iter().any(|c| c.name == *name) {
            out.push(column(name));
        }
    }
    out
}

/// How many of a balance's shares are payers': all but the last, the patient's.
fn payers(names: &[String]) -> usize {
    names.len().saturating_sub(1)
}

/// What the payers of one side pay for a claim.
fn funds(shares: &[Decimal]) -> Decimal {
    shares.iter().take(shares.len().saturating_sub(1)).sum()
}

/// The first claims settled under one side only that a report lists.
const ONE_SIDED_LISTED: usize = 20;

/// What a stretch of the corpus adds up to, claim by claim in order.
#[derive(Debug, Clone)]
struct Sums {
    /// Each column's total under the base and under the reform, over claims settled by both.
    totals: Vec<(Decimal, Decimal)>,
    /// The change of the funds, claim by claim.
    per_claim_fund: Decimal,
    affected: usize,
    errors: (usize, usize),
    both: usize,
    /// Claims settled under one side only, and what the funds pay for them there.
    one_side: (usize, usize),
    one_side_funds: (Decimal, Decimal),
    /// The first of them: (record, settles under the base, funds).
    one_sided: Vec<(usize, bool, Decimal)>,
    /// (change of the funds, record) of each claim that moved, in input order.
    moved: Vec<(Decimal, usize)>,
    /// For each enum field of the input: variant -> (claims, affected, change per column).
    breakdown: Vec<BTreeMap<u32, Tally>>,
}

impl Sums {
    fn new(columns: usize, enums: usize) -> Sums {
        Sums {
            totals: vec![(Decimal::ZERO, Decimal::ZERO); columns],
            per_claim_fund: Decimal::ZERO,
            affected: 0,
            errors: (0, 0),
            both: 0,
            one_side: (0, 0),
            one_side_funds: (Decimal::ZERO, Decimal::ZERO),
            one_sided: Vec::new(),
            moved: Vec::new(),
            breakdown: vec![BTreeMap::new(); enums],
        }
    }

    /// Add claim `i`.
    fn add(&mut self, corpus: &Corpus<'_>, columns: &[Column], enum_fields: &[usize], i: usize) {
        let before = (corpus.before)(i);
        let after = (corpus.after)(i);
        self.errors.0 += usize::from(before.is_none());
        self.errors.1 += usize::from(after.is_none());
        let at = |shares: &[Decimal], k: Option<usize>| {
            k.and_then(|k| shares.get(k)).copied().unwrap_or(Decimal::ZERO)
        };
        let (delta, fund, changed) = match (&before, &after) {
            (Some(b), Some(a)) => {
                self.both += 1;
                let mut delta = Vec::with_capacity(columns.len());
                for (t, c) in self.totals.iter_mut().zip(columns) {
                    let (x, y) = (at(b, c.base), at(a, c.reform));
                    t.0 += x;
                    t.1 += y;
                    delta.push(y - x);
                }
                let changed = delta.iter().any(|d| !d.is_zero());
                (delta, funds(a) - funds(b), changed)
            }
            (Some(b), None) => {
                self.one_side.0 += 1;
                self.one_side_funds.0 += funds(b);
                self.note_one_sided(i, true, funds(b));
                (vec![Decimal::ZERO; columns.len()], Decimal::ZERO, true)
            }
            (None, Some(a)) => {
                self.one_side.1 += 1;
                self.one_side_funds.1 += funds(a);
                self.note_one_sided(i, false, funds(a));
                (vec![Decimal::ZERO; columns.len()], Decimal::ZERO, true)
            }
            (None, None) => (vec![Decimal::ZERO; columns.len()], Decimal::ZERO, false),
        };
        self.affected += usize::from(changed);
        self.per_claim_fund += fund;
        if changed && before.is_some() && after.is_some() {
            self.moved.push((fund, i));
        }
        for (slot, f) in self.breakdown.iter_mut().zip(enum_fields) {
            let Some(v) = (corpus.variant)(i, *f) else { continue };
            let entry = slot.entry(v).or_insert_with(|| (0, 0, vec![Decimal::ZERO; columns.len()]));
            entry.0 += 1;
            entry.1 += usize::from(changed);
            for (t, d) in entry.2.iter_mut().zip(&delta) {
                *t += d;
            }
        }
    }

    fn note_one_sided(&mut self, i: usize, base: bool, funds: Decimal) {
        if self.one_sided.len() < ONE_SIDED_LISTED {
            self.one_sided.push((i, base, funds));
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
        self.both += next.both;
        self.one_side = (self.one_side.0 + next.one_side.0, self.one_side.1 + next.one_side.1);
        self.one_side_funds = (
            self.one_side_funds.0 + next.one_side_funds.0,
            self.one_side_funds.1 + next.one_side_funds.1,
        );
        let room = ONE_SIDED_LISTED.saturating_sub(self.one_sided.len());
        self.one_sided.extend(next.one_sided.into_iter().take(room));
        self.moved.extend(next.moved);
        for (mine, theirs) in self.breakdown.iter_mut().zip(next.breakdown) {
            for (v, (claims, affected, changes)) in theirs {
                let columns = changes.len();
                let entry = mine.entry(v).or_insert_with(|| (0, 0, vec![Decimal::ZERO; columns]));
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
    let (base_names, reform_names) = (share_names(bp), share_names(rp));
    let columns = columns(&base_names, &reform_names);
    // A column is a fund's on a side where it is one of that side's payers.
    let payer = |k: Option<usize>, names: &[String]| k.is_some_and(|k| k < payers(names));
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
            let mut sums = Sums::new(columns.len(), fields.len());
            let end = ((k + 1) * stretch).min(corpus.claims);
            for i in k * stretch..end {
                sums.add(corpus, &columns, &fields, i);
            }
            sums
        })
        .collect();
    let Sums {
        totals,
        per_claim_fund,
        affected,
        errors,
        both,
        one_side,
        one_side_funds,
        one_sided,
        mut moved,
        breakdown,
    } = stretches.into_iter().fold(Sums::new(columns.len(), fields.len()), Sums::then);
    // From the totals, independently of the per-claim sum: each side's payers' totals.
    let fund_change: Decimal = columns
        .iter()
        .zip(&totals)
        .map(|(c, (b, a))| {
            let after = if payer(c.reform, &reform_names) { *a } else { Decimal::ZERO };
            let before = if payer(c.base, &base_names) { *b } else { Decimal::ZERO };
            after - before
        })
        .sum();
    let changes = moved
        .par_iter()
        .map(|&(fund, i)| {
            let who = (corpus.who)(i);
            Change {
                id: who.as_ref().map_or_else(String::new, |w| w.id.clone()),
                line: who.map_or(0, |w| w.line),
                funds: money(fund),
            }
        })
        .collect();
    moved.sort_by(|a, b| b.0.abs().cmp(&a.0.abs()).then(a.1.cmp(&b.1)));
    let movers = moved
        .iter()
        .take(movers)
        .filter_map(|&(fund, i)| {
            let who = (corpus.who)(i)?;
            let (before, after) = ((corpus.before)(i), (corpus.after)(i));
            let show = |s: &Option<Vec<Decimal>>, k: Option<usize>| match (s, k) {
                (_, None) => "-".to_string(),
                (Some(v), Some(k)) => v.get(k).map_or_else(|| "-".to_string(), |d| money(*d)),
                (None, Some(_)) => "error".to_string(),
            };
            Some(Mover {
                id: who.id,
                member: who.member,
                line: who.line,
                fund_change: money(fund),
                shares: columns
                    .iter()
                    .map(|c| (c.name.clone(), show(&before, c.base), show(&after, c.reform)))
                    .collect(),
                trail: Vec::new(),
            })
        })
        .collect();
    let one_sided = one_sided
        .into_iter()
        .filter_map(|(i, base, funds)| {
            let who = (corpus.who)(i)?;
            Some(OneSided {
                id: who.id,
                member: who.member,
                line: who.line,
                settles_under: if base { "base" } else { "reform" },
                funds: money(funds),
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
        base_title: bp.title.clone(),
        reform_title: rp.title.clone(),
        claims: corpus.claims,
        affected,
        errors,
        settled_both: both,
        settled_one_side: one_side,
        one_side_funds: (money(one_side_funds.0), money(one_side_funds.1)),
        one_sided,
        shares: columns
            .iter()
            .zip(&totals)
            .map(|(c, (b, a))| ShareChange {
                name: c.name.clone(),
                fund: payer(c.base, &base_names) || payer(c.reform, &reform_names),
                base: c.base.map(|_| money(*b)),
                reform: c.reform.map(|_| money(*a)),
                change: money(a - b),
            })
            .collect(),
        fund_change: money(fund_change),
        by_field,
        movers,
        changes,
        per_claim_fund_change: money(per_claim_fund),
        reconciled: per_claim_fund == fund_change,
        providers: Vec::new(),
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
