//! Each policy's settlement of its sample claims, snapshotted so that no change to a policy or
//! to the engine moves a figure silently: the hand-written claims in full, and 1,000 claims
//! generated with a fixed seed as totals and a fingerprint of every output row.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

use std::fmt::Write;
use std::path::Path;

use rust_decimal::Decimal;
use settle_runtime::io::{self, FileLoader as Files, Format, Row};
use settle_runtime::{Engine, Outcome};

/// Each policy with its hand-written sample claims.
const SAMPLES: &[(&str, &str)] = &[
    ("policies/dezhou/employee_inpatient.settle", "examples/claims/dezhou_employee.csv"),
    ("policies/dezhou/resident_inpatient.settle", "examples/claims/dezhou_resident.csv"),
    ("policies/taiyuan/two_diseases_outpatient.settle", "examples/claims/taiyuan_two_diseases.csv"),
    ("policies/huangyuan/outpatient_chronic.settle", "examples/claims/huangyuan_chronic.csv"),
    ("policies/out-of-area/non_referred.settle", "examples/claims/out_of_area.csv"),
    ("policies/shandong/resident_base.settle", "examples/claims/shandong_resident.csv"),
    ("policies/weihai/resident.settle", "examples/claims/weihai_resident.csv"),
    ("examples/japan/kogaku_household.settle", "examples/claims/japan_household.csv"),
    ("examples/japan/kogaku_category_u.settle", "examples/claims/japan_kogaku.csv"),
    ("examples/medicare/part_a_inpatient.settle", "examples/claims/medicare_part_a.csv"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn engine(policy: &str) -> Engine {
    let path = root().join(policy);
    let text = std::fs::read_to_string(&path).expect("policy");
    Engine::new(
        settle_runtime::load_with(&path.display().to_string(), &text, &mut Files).expect("checks"),
    )
}

fn settle(engine: &Engine, rows: &[Row]) -> (String, Vec<Option<Outcome>>) {
    let outcomes = io::by_row(rows, engine.settle_batch(&io::claims_of(rows)));
    let mut out = Vec::new();
    io::write_csv(engine.policy(), rows, &outcomes, &mut out).expect("written");
    (String::from_utf8(out).expect("utf-8"), outcomes)
}

/// FNV-1a, 64 bits: a fingerprint of the output, to notice any change.
fn fingerprint(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn summary(engine: &Engine, outcomes: &[Option<Outcome>], output: &str) -> String {
    let policy = engine.policy();
    let parts: Vec<usize> = policy.balance.iter().flat_map(|b| b.parts.iter().copied()).collect();
    let mut totals = vec![Decimal::ZERO; parts.len()];
    let mut errors = 0;
    for outcome in outcomes {
        match outcome {
            Some(Ok(s)) => {
                for (t, p) in totals.iter_mut().zip(&parts) {
                    if let Some(fen) = s.fen(*p) {
                        *t += Decimal::new(fen, 2);
                    }
                }
            }
            _ => errors += 1,
        }
    }
    let mut text = format!("claims {}\nerrors {errors}\n", outcomes.len());
    for (t, p) in totals.iter().zip(&parts) {
        let name = policy.values.get(*p).map(|v| v.name.as_str()).unwrap_or("");
        let _ = writeln!(text, "{name} {t:.2}");
    }
    let _ = writeln!(text, "fingerprint {:016x}", fingerprint(output));
    text
}

#[test]
fn hand_written_sample_claims() {
    for (policy, claims) in SAMPLES {
        let engine = engine(policy);
        let rows =
            io::read_claims(engine.policy(), &root().join(claims), Format::Csv).expect("readable");
        let (output, outcomes) = settle(&engine, &rows);
        assert!(
            outcomes.iter().all(|o| matches!(o, Some(Ok(_)))),
            "{claims}: every sample claim settles\n{output}"
        );
        let name = Path::new(claims).file_stem().and_then(|s| s.to_str()).unwrap_or("sample");
        insta::assert_snapshot!(format!("sample_{name}"), output);
    }
}

#[test]
fn generated_claims_with_a_fixed_seed() {
    for (policy, claims) in SAMPLES {
        let engine = engine(policy);
        let mut generated = Vec::new();
        settle_runtime::generate::write(engine.policy(), 1000, 1, false, &mut generated)
            .expect("generated");
        let rows =
            io::read_csv(engine.policy(), generated.as_slice(), "generated.csv").expect("readable");
        assert_eq!(rows.len(), 1000);
        let (output, outcomes) = settle(&engine, &rows);
        let name = Path::new(claims).file_stem().and_then(|s| s.to_str()).unwrap_or("sample");
        insta::assert_snapshot!(format!("generated_{name}"), summary(&engine, &outcomes, &output));
    }
}
