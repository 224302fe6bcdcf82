//! In-file tests: each test's claims settled as the engine would, then its expectations checked.
//!
//! A test's claims are also a period: when an expectation reads period settlement's values (a
//! point value, a claim's points, a hospital's row), the test's settled claims are settled as a
//! period by [`settle_period`], as `settle run --providers` settles a claims file, and the
//! expectation reads that period. A period that cannot be settled, or a row it does not have,
//! fails the expectation with the reason.

use serde::Serialize;
use settle_lang::ir::period::PeriodRead;
use settle_lang::ir::{BinOp, Expr, ExprKind, Test};

use crate::engine::{Claim, Engine};
use crate::interp::{Cx, Fault, PeriodReads, Prepared, TestClaimValues};
use crate::period::{Settled, settle_period};
use crate::trace::{Explanation, explain};
use crate::value::Value;

/// The outcome of one test.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TestReport {
    /// The test's name.
    pub name: String,
    /// The line the test starts on.
    pub line: usize,
    /// Every expectation that did not hold.
    pub failures: Vec<Failure>,
}

impl TestReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An expectation that did not hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The expectation as written.
    pub expect: String,
    /// The line it is on.
    pub line: usize,
    /// What was found instead.
    pub detail: String,
    /// The claim the expectation reads first, explained.
    #[serde(skip)]
    pub explanation: Option<Explanation>,
}

/// Run every test of the engine's policy; `source` is the policy's text, for line numbers.
pub fn run_tests(engine: &Engine, source: &str) -> Vec<TestReport> {
    engine.policy().tests.iter().map(|t| run_test(engine, t, source)).collect()
}

fn line_of(source: &str, offset: u32) -> usize {
    settle_lang::diagnostic::line_col(source, offset as usize).0
}

fn run_test(engine: &Engine, test: &Test, source: &str) -> TestReport {
    let policy = engine.policy();
    let claims = claims_of(test);
    let outcomes = engine.settle_batch(&claims);
    let settled: Vec<Option<TestClaimValues>> = claims
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| {
            o.as_ref().ok().map(|s| (c.fields.clone(), s.values(policy), s.accumulators(policy)))
        })
        .collect();
    let prepared = Prepared::new(policy);
    // The period of the test's claims, settled once, when an expectation reads it.
    let period = test
        .expects
        .iter()
        .any(|e| reads_period(&e.expr))
        .then(|| settle_period(engine, &claims, &outcomes));
    let mut failures = Vec::new();
    for expect in &test.expects {
        let read = match (&period, reads_period(&expect.expr)) {
            (Some(Ok(p)), true) => Some(Settled { policy, period: p }),
            _ => None,
        };
        let mut cx = Cx {
            policy,
            prepared: &prepared,
            fields: &[],
            accs: &[],
            versions: &[],
            date: settle_lang::date::Date(0),
            values: Vec::new(),
            locals: Vec::new(),
            trace: None,
            claims: &settled,
            period: read.as_ref().map(|s| s as &dyn PeriodReads),
        };
        let claim = first_claim(&expect.expr);
        let unsettled = match (&period, reads_period(&expect.expr)) {
            (Some(Err(e)), true) => {
                Some(format!("the period of the test's claims was not settled: {e}"))
            }
            (Some(Ok(p)), true) if p.cases.is_empty() => {
                Some("the period has no case: no claim of the test was settled".to_string())
            }
            _ => None,
        };
        let detail = match unsettled {
            Some(why) => why,
            None => match cx.truth(&expect.expr) {
                Ok(true) => continue,
                Ok(false) => describe(&mut cx, &expect.expr, engine),
                Err(Fault::Unsettled(c)) => {
                    let label = test.claims.get(c).map(|c| c.label.clone()).unwrap_or_default();
                    let why = outcomes
                        .get(c)
                        .and_then(|o| o.as_ref().err())
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    format!("claim `{label}` was not settled: {why}")
                }
                Err(Fault::NoRow { table }) => match &read {
                    Some(s) => missing_rows(&mut cx, s, &expect.expr, table),
                    None => Fault::NoRow { table }.describe(policy),
                },
                Err(f) => format!("the expectation could not be computed: {}", f.describe(policy)),
            },
        };
        let explanation = claim.and_then(|c| {
            let id = claims.get(c).map(|cl| engine.id_of(cl).to_string())?;
            explain(engine, &claims, &id).ok()
        });
        failures.push(Failure {
            expect: expect.text.clone(),
            line: line_of(source, expect.span.start),
            detail,
            explanation,
        });
    }
    TestReport { name: test.name.clone(), line: line_of(source, test.span.start), failures }
}

/// A test's claims as the engine settles them, numbered from 1 in the order written.
pub(crate) fn claims_of(test: &Test) -> Vec<Claim> {
    test.claims
        .iter()
        .enumerate()
        .map(|(i, c)| Claim {
            line: i + 1,
            fields: c.fields.iter().map(Value::from_const).collect(),
        })
        .collect()
}

/// The first test claim an expression reads: a claim's value or its case value.
fn first_claim(e: &Expr) -> Option<usize> {
    let mut found = None;
    e.walk(&mut |x| match (found, &x.kind) {
        (None, ExprKind::ClaimValue(c, _))
        | (None, ExprKind::Period(PeriodRead::ClaimCase(c, _))) => found = Some(*c),
        _ => {}
    });
    found
}

/// Whether an expectation reads the period of the test's claims.
fn reads_period(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x.kind, ExprKind::Period(_)));
    found
}

/// Name the rows of `table` that `e` reads and the period does not have, with the rows it has.
fn missing_rows(cx: &mut Cx<'_>, settled: &Settled<'_>, e: &Expr, table: usize) -> String {
    let policy = settled.policy;
    let Some(def) = policy.period.tables.get(table) else {
        return Fault::NoRow { table }.describe(policy);
    };
    let mut keys = Vec::new();
    e.walk(&mut |x| {
        if let ExprKind::Period(PeriodRead::Row { table: t, key, .. }) = &x.kind {
            if *t == table {
                keys.push(key.as_ref().clone());
            }
        }
    });
    let mut missing: Vec<String> = Vec::new();
    for key in &keys {
        if let Ok(value) = cx.eval(key) {
            let shown = format!("`{}`", crate::field::format_value(policy, def.key.ty, &value));
            if !settled.has_row(table, &value) && !missing.contains(&shown) {
                missing.push(shown);
            }
        }
    }
    let rows: Vec<String> = settled.row_keys(table).iter().map(|k| format!("`{k}`")).collect();
    format!(
        "the period of the test's claims has no row {} in `{}`; its rows are {}",
        missing.join(", "),
        def.name,
        rows.join(", ")
    )
}

/// Say what a failed comparison found on each side.
fn describe(cx: &mut Cx<'_>, e: &Expr, engine: &Engine) -> String {
    let policy = engine.policy();
    match &e.kind {
        ExprKind::Binary(
            op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
            l,
            r,
        ) => {
            let left = cx.eval(l).map(|v| crate::field::format_value(policy, l.ty, &v));
            let right = cx.eval(r).map(|v| crate::field::format_value(policy, r.ty, &v));
            match (left, right, op) {
                (Ok(a), Ok(b), BinOp::Eq) => format!("found {a}, expected {b}"),
                (Ok(a), Ok(b), _) => format!("found {a}, compared with {b}"),
                _ => "the expectation could not be computed".to_string(),
            }
        }
        _ => "the condition is false".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small policy settling a period: a budget shared by members' totals.
    const POLICY: &str = r#"policy test.period
enum Group { g1, g2 }
input claim {
    id: text
    member: text
    date: date
    group: Group
    total: money
}
param ratio: rate
    from 2024-01-01 70%
stage fund (pay: money) {
    pay = claim.total * ratio
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - fund.pay
}
balance claim.total = fund.pay + patient.out_of_pocket
param budget: money = 1_000
period cost = average(claim.total) by claim.group
case share_of_group: rate = claim.total / cost[claim.group]
period all = sum(claim.total)
period per_yuan: rate = budget / all
table members by claim.member {
    total = sum(claim.total)
    due = share(budget, total)
}
"#;

    fn run(tests: &str) -> Vec<TestReport> {
        let text = format!("{POLICY}{tests}");
        let policy = crate::load_str("period.settle", &text).expect("the policy checks");
        run_tests(&Engine::new(policy), &text)
    }

    /// Each failed expectation as written, with what was found.
    fn failures(reports: &[TestReport]) -> Vec<(String, String)> {
        reports
            .iter()
            .flat_map(|r| &r.failures)
            .map(|f| (f.expect.clone(), f.detail.clone()))
            .collect()
    }

    #[test]
    fn a_test_reads_the_period_its_claims_make() {
        // 1,000 x 100 / 300.01 = 333.3222..., x 200 = 666.6445..., x 0.01 = 0.0333...: rounded
        // down, 1 fen short of 1,000, which goes to m2's remainder of 0.44 fen (m1's 0.22, m3's
        // 0.33).
        let reports = run(r#"
test "thirds" {
    claim a { member: "m1", date: 2024-03-01, group: g1, total: 100 }
    claim b { member: "m2", date: 2024-03-01, group: g1, total: 200 }
    claim c { member: "m3", date: 2024-03-02, group: g2, total: 0.01 }
    expect cost[g1] == 150
    expect cost[c.group] == 0.01
    expect a.share_of_group == 66.6667%
    expect all == 300.01
    expect per_yuan == 333.3222%
    expect members["m1"].due == 333.32
    expect members["m2"].due == 666.65
    expect members["m3"].due == 0.03
    expect members[b.member].total == 200
    expect sum(members.due) == 1_000
    expect sum(members.total) == all
    expect members["m3"].due == 0.04
}
"#);
        assert_eq!(
            failures(&reports),
            [("members[\"m3\"].due == 0.04".to_string(), "found 0.03, expected 0.04".to_string())]
        );
    }

    #[test]
    fn what_only_the_settled_period_knows_fails_the_expectation_with_the_reason() {
        let reports = run(r#"
test "a row the period does not have" {
    claim a { member: "m1", date: 2024-03-01, group: g1, total: 100 }
    claim b { member: "m2", date: 2024-03-01, group: g1, total: 200 }
    expect members["m9"].due == 0
    expect members["m1"].due + members["m7"].due == 0
    expect members["m1"].due == 333.33
}
test "a case value of a claim that did not settle" {
    claim a { member: "m1", date: 2024-03-01, group: g1, total: 100 }
    claim z { member: "m2", date: 2023-12-01, group: g1, total: 200 }
    expect z.share_of_group == 100%
    expect a.share_of_group == 100%
}
test "a period that cannot be settled" {
    claim a { member: "m1", date: 2024-03-01, group: g1, total: 0 }
    expect per_yuan == 0%
    expect a.fund.pay == 0
}
test "a period without a case" {
    claim z { member: "m1", date: 2023-12-01, group: g1, total: 100 }
    expect all == 0
}
"#);
        let found = failures(&reports);
        let expected = [
            (
                "members[\"m9\"].due == 0",
                "the period of the test's claims has no row `m9` in `members`; its rows are `m1`, `m2`",
            ),
            (
                "members[\"m1\"].due + members[\"m7\"].due == 0",
                "the period of the test's claims has no row `m7` in `members`; its rows are `m1`, `m2`",
            ),
            (
                "z.share_of_group == 100%",
                "claim `z` was not settled: computing `fund.pay`: no value of `ratio` is in force on 2023-12-01 (its first takes effect 2024-01-01)",
            ),
            (
                "per_yuan == 0%",
                "the period of the test's claims was not settled: computing `share_of_group` for the case on line 1: division by zero",
            ),
            ("all == 0", "the period has no case: no claim of the test was settled"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(e, d)| (e.to_string(), d.to_string())).collect();
        assert_eq!(found, expected);
    }
}
