//! Properties of every settlement, on random claims through the Dezhou employee policy: every
//! yuan in exactly one share, no negative share, no yearly cap exceeded across a member's
//! claims, and the same results for any thread count and any input order.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_runtime::{Claim, Engine, Value, load_str};

fn engine() -> Engine {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/dezhou/employee_inpatient.settle"
    ));
    let text = std::fs::read_to_string(path).expect("policy");
    Engine::new(load_str("employee_inpatient.settle", &text).expect("checks"))
}

/// A claim's generated figures, in fen; the parts are shares of the total.
#[derive(Debug, Clone)]
struct Gen {
    member: u8,
    day: u16,
    level: u32,
    total: i64,
    self_paid: u8,
    prepay: u8,
    special: u8,
    /// The rare-disease drugs' share of the special drugs.
    rare: u8,
    tcm: u8,
}

fn gen_claim() -> impl Strategy<Value = Gen> {
    (
        0u8..6,
        0u16..730,
        0u32..3,
        // A long tail: most bills are small, some reach a million yuan.
        prop_oneof![4 => 0i64..2_000_000, 3 => 0i64..20_000_000, 1 => 0i64..100_000_000],
        0u8..30,
        0u8..20,
        0u8..50,
        (0u8..=100, 0u8..30),
    )
        .prop_map(|(member, day, level, total, self_paid, prepay, special, (rare, tcm))| Gen {
            member,
            day,
            level,
            total,
            self_paid,
            prepay,
            special,
            rare,
            tcm,
        })
}

fn money(fen: i64) -> Value {
    Value::Money(Decimal::new(fen, 2))
}

fn build(engine: &Engine, claims: &[Gen]) -> Vec<Claim> {
    let start = Date::parse("2020-07-01").expect("date").0;
    claims
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let share = |pct: u8| g.total * i64::from(pct) / 100;
            let (self_paid, prepay, special) =
                (share(g.self_paid), share(g.prepay), share(g.special));
            let tcm = (g.total - self_paid - prepay - special) * i64::from(g.tcm) / 100;
            let fields = vec![
                Value::Text(format!("c{i}").into()),
                Value::Text(format!("m{}", g.member).into()),
                Value::Date(Date(start + i32::from(g.day))),
                Value::Enum(g.level),
                money(g.total),
                money(self_paid),
                money(prepay),
                money(special),
                money(special * i64::from(g.rare) / 100),
                money(tcm),
            ];
            assert_eq!(fields.len(), engine.policy().input_record().expect("input").fields.len());
            Claim { line: i + 2, fields }
        })
        .collect()
}

fn value(engine: &Engine, values: &[Value], name: &str) -> Decimal {
    let i =
        engine.policy().values.iter().position(|v| v.name == name).expect("a value of the policy");
    values[i].decimal().expect("money")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_yuan_is_accounted_for_and_no_cap_is_exceeded(claims in prop::collection::vec(gen_claim(), 1..60)) {
        let engine = engine();
        let batch = build(&engine, &claims);
        let outcomes = engine.settle_batch(&batch);
        let shares = ["basic.pay", "subsidy.pay", "critical.pay", "patient.out_of_pocket"];
        let mut yearly: HashMap<(String, i32), [Decimal; 4]> = HashMap::new();
        for (claim, outcome) in batch.iter().zip(&outcomes) {
            let settled = outcome.as_ref().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let total = claim.fields[4].decimal().expect("money");
            let parts: Vec<Decimal> = shares.iter().map(|s| value(&engine, &settled.values(engine.policy()), s)).collect();
            prop_assert!(parts.iter().all(|p| !p.is_sign_negative() || p.is_zero()), "negative share {parts:?}");
            prop_assert_eq!(parts.iter().sum::<Decimal>(), total);
            let year = engine.date_of(claim).year_start((1, 1)).0;
            let entry = yearly.entry((engine.member_of(claim).to_string(), year)).or_default();
            entry[0] += parts[0];
            entry[1] += parts[1];
            entry[2] += value(&engine, &settled.values(engine.policy()), "critical.general");
            entry[3] += value(&engine, &settled.values(engine.policy()), "critical.special");
        }
        for ((member, year), [basic, subsidy, general, special]) in yearly {
            let context = format!("member {member}, year from day {year}");
            prop_assert!(basic <= Decimal::from(150_000), "{context}: basic {basic}");
            prop_assert!(subsidy <= Decimal::from(850_000), "{context}: subsidy {subsidy}");
            prop_assert!(general <= Decimal::from(400_000), "{context}: critical {general}");
            prop_assert!(special <= Decimal::from(400_000), "{context}: special drugs {special}");
        }
    }

    #[test]
    fn results_do_not_depend_on_threads_or_order(claims in prop::collection::vec(gen_claim(), 1..40), seed in any::<u64>()) {
        let engine = engine();
        let batch = build(&engine, &claims);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(|| engine.settle_batch(&batch));
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool").install(|| engine.settle_batch(&batch));
        prop_assert_eq!(&one, &two);
        // Shuffle deterministically from the seed; results follow their claims.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let shuffled: Vec<Claim> = order.iter().map(|&i| batch[i].clone()).collect();
        let settled = engine.settle_batch(&shuffled);
        for (k, &i) in order.iter().enumerate() {
            prop_assert_eq!(&settled[k], &one[i]);
        }
    }
}

#[test]
fn a_parameter_change_moves_only_claims_on_or_after_its_date() {
    let engine = engine();
    let text = std::fs::read_to_string(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/dezhou/employee_inpatient.settle"
    )))
    .expect("policy");
    let reform = text.replace(
        "from 2021-07-01 assumed { level1: 200,",
        "from 2021-07-01 assumed { level1: 100,",
    );
    assert_ne!(reform, text);
    let changed = Engine::new(load_str("reform.settle", &reform).expect("checks"));
    let claims: Vec<Gen> = (0..24)
        .map(|i| Gen {
            member: (i % 4) as u8,
            day: (i * 29) as u16,
            level: 0,
            total: 1_000_000 + i64::from(i) * 7_919,
            self_paid: 5,
            prepay: 3,
            special: 0,
            rare: 0,
            tcm: 0,
        })
        .collect();
    let batch = build(&engine, &claims);
    let before = engine.settle_batch(&batch);
    let after = changed.settle_batch(&batch);
    let change = Date::parse("2021-07-01").expect("date");
    let mut moved = 0;
    for ((claim, a), b) in batch.iter().zip(&before).zip(&after) {
        if engine.date_of(claim) < change {
            assert_eq!(a, b, "a claim before the change moved");
        } else if a != b {
            moved += 1;
        }
    }
    assert!(moved > 0, "the change moved nothing");
}
