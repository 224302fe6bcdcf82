//! The three ways to settle against each other: the reference interpreter walking the IR, the
//! interpreter's closures and the JIT. Every policy's in-file tests under each, and generated
//! claims (ordinary, extreme amounts near the bounds, zero) settled by all three, compared value
//! by value, accumulator by accumulator and error by error.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

use rust_decimal::Decimal;
use settle_runtime::io;
use settle_runtime::testing::run_tests;
use settle_runtime::{Backend, Claim, Engine, Outcome, Value};

#[path = "support/policies.rs"]
mod support;

fn policies() -> Vec<(String, String, settle_lang::ir::Policy)> {
    support::all()
}

fn claims(policy: &settle_lang::ir::Policy, count: usize, seed: u64) -> Vec<Claim> {
    let mut csv = Vec::new();
    settle_runtime::generate::write(policy, count, seed, false, &mut csv).expect("generated");
    io::into_claims(io::read_csv(policy, csv.as_slice(), "generated.csv").expect("read"))
}

/// The claims with every field value passed through `change`.
fn changed(claims: &[Claim], change: impl Fn(&Value) -> Option<Value>) -> Vec<Claim> {
    let field = |v: &Value| change(v).unwrap_or_else(|| v.clone());
    claims
        .iter()
        .map(|c| Claim { line: c.line, fields: c.fields.iter().map(field).collect() })
        .collect()
}

/// Move every date `days` earlier (before the first effective dates: parameters not in force).
fn earlier(claims: &[Claim], days: i32) -> Vec<Claim> {
    changed(claims, |v| match v {
        Value::Date(d) => Some(Value::Date(settle_lang::date::Date(d.0 - days))),
        _ => None,
    })
}

/// Scale every amount of the claims by `factor` fen-for-fen, clamped to the input bound.
fn scaled(claims: &[Claim], factor: i64) -> Vec<Claim> {
    let limit = Decimal::from(1_000_000_000_000_000i64);
    changed(claims, |v| match v {
        Value::Money(d) => Some(Value::Money((*d * Decimal::from(factor)).min(limit).round_dp(2))),
        _ => None,
    })
}

/// The reference, the closures and the JIT for one policy.
fn engines(policy: &settle_lang::ir::Policy) -> [Engine; 3] {
    let closures = Engine::new(policy.clone());
    assert!(closures.uses_closures(), "{} is not turned into closures", policy.name);
    let jit = Engine::compiled(policy.clone()).expect("compiles");
    [Engine::reference(policy.clone()), closures, jit]
}

/// Settle `batch` with each engine; every outcome must be the same. Returns the reference's.
fn agree(engines: &[Engine; 3], batch: &[Claim], what: &str) -> Vec<Outcome> {
    let [reference, closures, jit] = engines;
    let a = reference.settle_batch(batch);
    for (other, name) in [(closures, "closures"), (jit, "JIT")] {
        let b = other.settle_batch(batch);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "{name} differ from the reference: {what}, claim {:?}", batch[i]);
        }
    }
    a
}

#[test]
fn every_policy_compiles() {
    for (name, _, policy) in policies() {
        let engine = Engine::compiled(policy.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(engine.backend(), Backend::Jit);
        let closures = Engine::new(policy);
        assert_eq!(closures.backend(), Backend::Interpreter);
        assert!(closures.uses_closures(), "{name}");
    }
}

#[test]
fn in_file_tests_pass_under_the_reference_interpreter() {
    let mut count = 0;
    for (name, text, policy) in policies() {
        let engine = Engine::reference(policy);
        for report in run_tests(&engine, &text) {
            count += 1;
            assert!(report.passed(), "{name}: \"{}\" fails: {:?}", report.name, report.failures);
        }
    }
    assert!(count >= 30);
}

#[test]
fn in_file_tests_pass_under_the_jit() {
    let mut count = 0;
    for (name, text, policy) in policies() {
        let engine = Engine::compiled(policy).expect("compiles");
        for report in run_tests(&engine, &text) {
            count += 1;
            assert!(
                report.passed(),
                "{name}: \"{}\" fails under the JIT: {:?}",
                report.name,
                report.failures
            );
        }
    }
    assert!(count >= 30);
}

#[test]
fn both_backends_agree_on_generated_claims() {
    let mut compared = 0;
    let mut faults = 0;
    for (name, _, policy) in policies() {
        let engines = engines(&policy);
        for seed in 1..=3u64 {
            let ordinary = claims(&policy, 700, seed);
            let batches = [
                ordinary.clone(),
                scaled(&ordinary, 1_000),
                scaled(&ordinary, 100_000_000),
                scaled(&ordinary, 0),
                earlier(&ordinary, 400),
            ];
            for batch in batches {
                let a = agree(&engines, &batch, &format!("{name}, seed {seed}"));
                faults += a.iter().filter(|x| x.is_err()).count();
                compared += batch.len();
            }
        }
    }
    assert!(compared >= 20_000, "only {compared} claims compared");
    assert!(faults > 0, "no claim exercised an error path");
}

/// Small policies whose claims fault in every way the engine reports.
const FAULTY: &[&str] = &[
    "policy f.overflow\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     let huge = claim.total * claim.n\nlet count = claim.n * claim.n\n\
     stage basic (pay: money) { pay = min(huge, claim.total) + claim.total * 0 * count }\n\
     stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
     balance claim.total = basic.pay + patient.out_of_pocket\n",
    "policy f.division\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     let share = claim.total / claim.n\nlet ratio = claim.total / (claim.total - 500)\n\
     stage basic (pay: money) { pay = min(share, claim.total) + claim.total * 0 * ratio }\n\
     stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
     balance claim.total = basic.pay + patient.out_of_pocket\n",
    "policy f.conflict\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     let half = claim.total / 2\nrule extra: rate\n    default 10%\n    when half > 100 -> 20%\n    when half > 300 -> 30%\n\
     stage basic (pay: money) { pay = claim.total * extra }\n\
     stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
     balance claim.total = basic.pay + patient.out_of_pocket\n",
    "policy f.balance\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     stage basic (pay: money) { pay = claim.total * 60% - claim.n * 100.00 }\n\
     stage patient (out_of_pocket: money) { out_of_pocket = claim.total * 50% }\n\
     balance claim.total = basic.pay + patient.out_of_pocket\n",
    "policy f.dates\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     param cap: money\n    from 2021-06-01 1_000\n    from 2022-01-01 2_000\n\
     param scale_: scale\n    from 2021-06-01 { 0 .. 100: 50%, 100 ..: 80% }\n    from 2022-01-01 { 0 ..: 90% }\n\
     yearly paid = sum(basic.pay)\nyearly biggest = max(claim.total) where claim.n > 2\n\
     stage basic (pay: money) { pay = min(segmented(scale_, claim.total), max(cap - paid, 0)) }\n\
     stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
     balance claim.total = basic.pay + patient.out_of_pocket\n",
];

#[test]
fn both_backends_fault_alike() {
    let amounts = [
        "0",
        "1",
        "99.99",
        "100",
        "250",
        "500",
        "999.99",
        "1000000",
        "999999999999999",
        "1000000000000000",
    ];
    let ns = ["0", "1", "2", "3", "-1", "1000000000", "9223372036854775807"];
    let dates = ["2021-01-15", "2021-06-01", "2021-12-31", "2022-01-01", "2023-03-01"];
    for text in FAULTY {
        let policy = settle_runtime::load_str("faulty.settle", text)
            .unwrap_or_else(|p| panic!("{}", p.render_plain()));
        let engines = engines(&policy);
        let mut csv = String::from("id,member,date,total,n\n");
        let mut i = 0;
        for a in amounts {
            for n in ns {
                for d in dates {
                    csv.push_str(&format!("c{i},m{},{d},{a},{n}\n", i % 7));
                    i += 1;
                }
            }
        }
        let rows = io::read_csv(&policy, csv.as_bytes(), "claims.csv").expect("read");
        let batch = io::into_claims(rows);
        let errors = agree(&engines, &batch, text).iter().filter(|x| x.is_err()).count();
        assert!(errors > 0, "no fault in {text}");
    }
}

/// Found by the random programs: `22_000 * 0` as an amount was yuan times yuan, which neither
/// backend computes; an integer literal times an integer literal is an amount times a count.
#[test]
fn a_literal_product_is_an_amount_times_a_count() {
    let text = "policy regression.literal_product
enum Level { level1, level2 }
input claim { id: text, member: text, date: date, level: Level, total: money }
rule r0: money
    default 0
    when claim.level == level1 -> 22_000 * 3
stage basic (pay: money) { pay = min(r0, claim.total) }
stage patient (out: money) { out = claim.total - basic.pay }
balance claim.total = basic.pay + patient.out
";
    let policy = settle_runtime::load_str("regression.settle", text).expect("checks");
    let engines = engines(&policy);
    let claim = engines[0]
        .claim_from_json(
            r#"{"id":"a","member":"m","date":"2024-01-01","level":"level1","total":"100000"}"#,
        )
        .expect("claim");
    let a = agree(&engines, &[claim], "literal product");
    let settled = a[0].as_ref().expect("settled");
    assert_eq!(engines[0].output(settled, "r0").as_deref(), Some("66000.00"));
}
