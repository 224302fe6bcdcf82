//! The three ways to settle against each other: the reference interpreter walking the IR, the
//! interpreter's closures and the JIT. Every policy's in-file tests under each, and generated
//! claims (ordinary, extreme amounts near the bounds, zero) settled by all three, compared value
//! by value, accumulator by accumulator and error by error.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

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
    let limit = Decimal::from(settle_lang::limits::MONEY_LIMIT_YUAN);
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
    for outcome in &a {
        if let Err(e) = outcome {
            assert!(!e.to_string().contains("internal error"), "a defect: {e}, {what}");
        }
    }
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
    "policy f.proportion\ninput claim { id: text, member: text, date: date, total: money, n: int }\n\
     let part = claim.total * 999.99 / (claim.total - 500)\nlet big = claim.total * 999_999_999_999_999.99 / 100.00\n\
     let by_count = claim.total * claim.n / (claim.n - 1)\n\
     stage basic (pay: money) { pay = min(max(part, 0), claim.total) + 0 * big + 0 * by_count }\n\
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

/// A policy over an enum of `size` variants `d0`, `d1`, ...: whether the claim's variant is in
/// `set`, and a table of the variants keyed by it.
fn enum_policy(size: usize, set: &[usize]) -> settle_lang::ir::Policy {
    let variants: Vec<String> = (0..size).map(|i| format!("d{i}")).collect();
    let cells: Vec<String> = (0..size).map(|i| format!("d{i}: {}", i + 1)).collect();
    let set: Vec<String> = set.iter().map(|i| format!("d{i}")).collect();
    let text = format!(
        "policy regression.enum_size\nenum Disease {{ {} }}\n\
         input claim {{ id: text, member: text, date: date, disease: Disease, total: money }}\n\
         param by_disease: money by Disease = {{ {} }}\n\
         let listed: bool = claim.disease in {{ {} }}\n\
         let looked_up: money = by_disease[claim.disease]\n\
         stage basic (pay: money) {{ pay = if listed then min(looked_up, claim.total) else 0 }}\n\
         stage patient (out: money) {{ out = claim.total - basic.pay }}\n\
         balance claim.total = basic.pay + patient.out\n",
        variants.join(", "),
        cells.join(", "),
        set.join(", "),
    );
    settle_runtime::load_str("enum_size.settle", &text)
        .unwrap_or_else(|p| panic!("{}\n{text}", p.render_plain()))
}

/// Found from outside: with 66 variants, `claim.disease in {d0, d1}` held under the JIT for
/// `d64` and `d65` (a shift by the variant's index wrapped at 64). Every variant of enums of 1
/// to 300 variants, against sets below, across and above 64, under all three backends, and
/// against the set itself.
#[test]
fn set_membership_is_right_for_an_enum_of_any_size() {
    for size in [1, 2, 63, 64, 65, 66, 127, 128, 129, 300] {
        let sets: Vec<Vec<usize>> = vec![
            vec![0],
            vec![0, 1.min(size - 1)],
            vec![size - 1],
            (0..size).step_by(3).collect(),
            (0..size).filter(|i| i % 64 == 0 || i % 64 == 63).collect(),
        ];
        for set in sets {
            let policy = enum_policy(size, &set);
            let engines = engines(&policy);
            let batch: Vec<Claim> = (0..size)
                .map(|i| {
                    engines[0]
                        .claim_from_json(&format!(
                            r#"{{"id":"c{i}","member":"m{i}","date":"2024-01-01","disease":"d{i}","total":"1000"}}"#
                        ))
                        .expect("claim")
                })
                .collect();
            let outcomes = agree(&engines, &batch, &format!("{size} variants, set {set:?}"));
            for engine in &engines {
                let outcomes = engine.settle_batch(&batch);
                for (i, o) in outcomes.iter().enumerate() {
                    let settled = o.as_ref().expect("settled");
                    let listed = engine.output(settled, "listed");
                    let expected = if set.contains(&i) { "true" } else { "false" };
                    assert_eq!(
                        listed.as_deref(),
                        Some(expected),
                        "d{i} of {size} in {set:?} under {:?}",
                        engine.backend()
                    );
                    let price = format!("{}.00", i + 1);
                    assert_eq!(engine.output(settled, "looked_up"), Some(price), "d{i} of {size}");
                }
            }
            assert_eq!(outcomes.len(), size);
        }
    }
}

/// Found from outside: `Value::scaled` saturated a rate beyond 64 bits to `i64::MAX` (losing
/// its sign), and outcomes were compared through that same conversion, so the backends could
/// write different rows while comparing equal. A claim's amounts are bounded before any backend
/// settles it (an error naming the field), and outcomes compare exactly: every row written is
/// the same.
#[test]
fn large_rates_are_refused_alike_and_outcomes_compare_exactly() {
    let text = "policy regression.large_rate
input claim { id: text, member: text, date: date, r: rate, total: money }
let copy: rate = claim.r
let positive: bool = claim.r > 0%
stage basic (pay: money) { pay = if positive then claim.total * 50% else 0 }
stage patient (out: money) { out = claim.total - basic.pay }
balance claim.total = basic.pay + patient.out
";
    let policy = settle_runtime::load_str("large_rate.settle", text).expect("checks");
    let engines = engines(&policy);
    let rate = |s: &str| Value::Rate(s.parse::<Decimal>().expect("decimal"));
    // Each rate, and whether a claim carrying it is settled.
    let rates = [
        ("0.5", true),
        ("1000000000", true),
        ("-1000000000", true),
        ("1000000000.000001", false),
        ("-1000000000.000001", false),
        ("10000000000000", false),
        ("-10000000000000", false),
        ("79000000000000000000000", false),
        ("-79000000000000000000000", false),
        ("0.0000001", false),
    ];
    let batch: Vec<Claim> = rates
        .iter()
        .enumerate()
        .map(|(i, (r, _))| Claim {
            line: i + 2,
            fields: vec![
                Value::Text(format!("c{i}").into()),
                Value::Text(format!("m{i}").into()),
                Value::Date(settle_lang::date::Date(19_000)),
                rate(r),
                Value::Money(Decimal::new(100_000, 2)),
            ],
        })
        .collect();
    let outcomes = agree(&engines, &batch, "large rates");
    let written = |engine: &Engine| -> Vec<Result<Vec<Option<String>>, String>> {
        engine
            .settle_batch(&batch)
            .iter()
            .map(|o| match o {
                Ok(s) => Ok(["copy", "positive", "basic.pay"]
                    .iter()
                    .map(|n| engine.output(s, n))
                    .collect()),
                Err(e) => Err(e.to_string()),
            })
            .collect()
    };
    let reference = written(&engines[0]);
    for engine in &engines[1..] {
        assert_eq!(written(engine), reference, "{:?} writes other rows", engine.backend());
    }
    for (i, (r, settled)) in rates.iter().enumerate() {
        assert_eq!(outcomes[i].is_ok(), *settled, "rate {r}: {:?}", outcomes[i]);
    }
}

/// Found from outside: `Compiled::settle_fields` is safe and a `Frame`'s fields are public, but
/// a table read used the claim's variant as an index without a check, reading outside the
/// table. A variant out of range is a fault under the compiled code and the closures alike.
#[test]
fn a_variant_out_of_range_faults_instead_of_reading_outside_the_table() {
    use settle_compiler::{FaultKind, NoFallback};
    let policy = enum_policy(3, &[0]);
    let compiled = settle_compiler::compile(&policy).expect("compiles");
    let closures = settle_runtime::closures::Closures::new(&policy).expect("closures");
    let disease = 3;
    for variant in [0, 1, 2, 3, 4, 64, 1 << 20, 1 << 40, i64::MAX, -1, i64::MIN] {
        for (name, settled) in [
            ("compiled", {
                let mut frame = compiled.frame();
                frame.fields[disease] = variant;
                frame.fields[4] = 100_000;
                compiled.settle(&mut frame, &NoFallback).map(|()| frame.values.clone())
            }),
            ("closures", {
                let mut frame = closures.frame();
                frame.fields[disease] = variant;
                frame.fields[4] = 100_000;
                closures.settle(&mut frame, &NoFallback).map(|()| frame.values.clone())
            }),
        ] {
            match settled {
                Ok(values) => {
                    assert!((0..3).contains(&variant), "{name}: variant {variant} settled");
                    assert!(values.contains(&((variant + 1) * 100)), "{name}: {values:?}");
                }
                Err(fault) => {
                    assert!(!(0..3).contains(&variant), "{name}: variant {variant}: {fault:?}");
                    assert_eq!(fault.kind, FaultKind::OutOfRange, "{name}: variant {variant}");
                    assert_eq!(fault.a, variant, "{name}");
                }
            }
        }
    }
    // A variant outside the enum is in no set, whatever its bits modulo 64.
    for size in [3, 64, 65, 130] {
        let text = format!(
            "policy regression.set_range\nenum Disease {{ {} }}\n\
             input claim {{ id: text, member: text, date: date, disease: Disease, total: money }}\n\
             let listed: bool = claim.disease in {{ d0, d{} }}\n\
             stage basic (pay: money) {{ pay = if listed then claim.total else 0 }}\n\
             stage patient (out: money) {{ out = claim.total - basic.pay }}\n\
             balance claim.total = basic.pay + patient.out\n",
            (0..size).map(|i| format!("d{i}")).collect::<Vec<_>>().join(", "),
            size - 1,
        );
        let policy = settle_runtime::load_str("set_range.settle", &text).expect("checks");
        let compiled = settle_compiler::compile(&policy).expect("compiles");
        let closures = settle_runtime::closures::Closures::new(&policy).expect("closures");
        let listed = policy.values.iter().position(|v| v.name == "listed").expect("listed");
        for variant in [0, size as i64 - 1, 64, 128, 192, 256, -1, -64, i64::MIN, i64::MAX] {
            let expected = i64::from(variant == 0 || variant == size as i64 - 1);
            let mut frame = compiled.frame();
            frame.fields[disease] = variant;
            compiled.settle(&mut frame, &NoFallback).expect("settled");
            assert_eq!(frame.values[listed], expected, "compiled: d{variant} of {size}");
            let mut frame = closures.frame();
            frame.fields[disease] = variant;
            closures.settle(&mut frame, &NoFallback).expect("settled");
            assert_eq!(frame.values[listed], expected, "closures: d{variant} of {size}");
        }
    }
    // A frame of the wrong size is refused as an internal error, not as an overflow.
    let mut frame = compiled.frame();
    frame.fields.push(0);
    let refused = compiled.settle(&mut frame, &NoFallback).expect_err("refused");
    assert_eq!(refused.kind, FaultKind::Internal);
}
