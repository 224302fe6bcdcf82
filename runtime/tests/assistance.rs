//! Properties of medical assistance (医疗救助) in the Shandong residents' base and Weihai's
//! policy built on it, over random members' years of claims: assistance is paid only on
//! inpatient and outpatient chronic-disease care (Weihai's notice, 一) and only to the
//! low-income groups, never above its yearly cap; and the basic fund's share of a member's first
//! claim does not fall when the bill grows.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::Type;
use settle_runtime::{Claim, Engine, Value, load_with};

#[path = "support/names.rs"]
mod names;
use names::{field, variant};

fn engine(path: &str) -> Engine {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let text = std::fs::read_to_string(&full).expect("policy");
    let name = full.display().to_string();
    Engine::new(
        load_with(&name, &text, &mut settle_runtime::io::FileLoader).expect("the policy checks"),
    )
}

/// A claim's generated figures: a member, a day from 2022-01-01, a pick for each enum and truth
/// field, the bill in fen and the self-paid share in percent.
#[derive(Debug, Clone)]
struct Gen {
    member: u8,
    day: u16,
    picks: [u32; 8],
    total: i64,
    self_paid: u8,
}

fn gen_claim() -> impl Strategy<Value = Gen> {
    (
        0u8..5,
        0u16..900,
        prop::array::uniform8(0u32..64),
        prop_oneof![3 => 0i64..5_000_000, 2 => 0i64..50_000_000, 1 => 0i64..200_000_000],
        0u8..40,
    )
        .prop_map(|(member, day, picks, total, self_paid)| Gen {
            member,
            day,
            picks,
            total,
            self_paid,
        })
}

/// The claims, each field filled by its type: enums and truth values from the picks in order.
fn build(engine: &Engine, claims: &[Gen]) -> Vec<Claim> {
    let policy = engine.policy();
    let input = policy.input_record().expect("input");
    let start = Date::parse("2022-01-01").expect("date").0;
    claims
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut picks = g.picks.iter();
            let fields = input
                .fields
                .iter()
                .map(|f| match (f.name.as_str(), f.ty) {
                    ("id", _) => Value::Text(format!("c{i}").into()),
                    ("member", _) => Value::Text(format!("m{}", g.member).into()),
                    (_, Type::Date) => Value::Date(Date(start + i32::from(g.day))),
                    ("total", _) => Value::Money(Decimal::new(g.total, 2)),
                    ("self_paid", _) => {
                        Value::Money(Decimal::new(g.total * i64::from(g.self_paid) / 100, 2))
                    }
                    (_, Type::Enum(e)) => {
                        let n = policy.enums[e].variants.len() as u32;
                        Value::Enum(picks.next().copied().unwrap_or(0) % n)
                    }
                    (_, Type::Bool) => Value::Bool(picks.next().copied().unwrap_or(0) % 2 == 1),
                    (name, ty) => panic!("no generator for field `{name}` of type {ty:?}"),
                })
                .collect();
            Claim { line: i + 2, fields }
        })
        .collect()
}

fn value(engine: &Engine, values: &[Value], name: &str) -> Decimal {
    let i =
        engine.policy().values.iter().position(|v| v.name == name).expect("a value of the policy");
    values[i].decimal().expect("money")
}

fn assistance_in_scope(path: &str, claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(path);
    let batch = build(&engine, claims);
    let outcomes = engine.settle_batch(&batch);
    let (care, group) = (field(&engine, "care"), field(&engine, "group"));
    let in_scope = [variant(&engine, "Care", "inpatient"), variant(&engine, "Care", "chronic")];
    let none = variant(&engine, "Group", "none");
    let mut yearly: HashMap<(String, i32), Decimal> = HashMap::new();
    for (claim, outcome) in batch.iter().zip(&outcomes) {
        let settled = outcome.as_ref().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let paid = value(&engine, &settled.values(engine.policy()), "assistance.pay");
        let (Value::Enum(c), Value::Enum(g)) = (&claim.fields[care], &claim.fields[group]) else {
            return Err(TestCaseError::fail("care and group are enums"));
        };
        if !in_scope.contains(c) || *g == none {
            prop_assert!(paid.is_zero(), "{path}: assistance {paid} on care {c}, group {g}");
        }
        let year = engine.date_of(claim).year_start((1, 1)).0;
        *yearly.entry((engine.member_of(claim).to_string(), year)).or_default() += paid;
    }
    for ((member, year), paid) in yearly {
        prop_assert!(paid <= Decimal::from(50_000), "{path}: {member} from day {year}: {paid}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn assistance_only_in_its_scope_and_under_its_cap(claims in prop::collection::vec(gen_claim(), 1..50)) {
        assistance_in_scope("policies/shandong/resident_base.settle", &claims)?;
        assistance_in_scope("policies/weihai/resident.settle", &claims)?;
    }

    #[test]
    fn the_basic_share_of_a_first_claim_grows_with_the_bill(claim in gen_claim(), more in 0i64..10_000_000) {
        for path in ["policies/shandong/resident_base.settle", "policies/weihai/resident.settle"] {
            let engine = engine(path);
            let bigger = Gen { total: claim.total + more, ..claim.clone() };
            // The same self-paid amount on both bills: only the policy range grows.
            let mut batch = build(&engine, &[claim.clone(), bigger]);
            let self_paid = field(&engine, "self_paid");
            batch[1].fields[self_paid] = batch[0].fields[self_paid].clone();
            batch[1].fields[field(&engine, "member")] = Value::Text("other".into());
            let outcomes = engine.settle_batch(&batch);
            let pay: Vec<Decimal> = outcomes
                .iter()
                .map(|o| o.as_ref().map(|s| value(&engine, &s.values(engine.policy()), "basic.pay")))
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(pay[0] <= pay[1], "{path}: basic {} on the bill, {} on a bill {more} fen larger", pay[0], pay[1]);
        }
    }
}
