//! Hostile bodies, generated: a claim with one field gone or replaced by a value it cannot hold
//! (a wrong type, a date out of range, an amount too large or too precise), malformed JSON, deep
//! nesting, oversized batches. Each is a 4xx problem document, naming the field where one is to
//! blame, never a 5xx; the service stays up.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// A request: its path under the policy, its body, and the field the problem must name.
#[derive(Debug, Clone)]
pub struct Hostile {
    pub batch: bool,
    pub body: String,
    pub field: Option<String>,
}

/// A JSON value that is not a text, a number or a date: what no field of a claim reads as such.
fn not_a_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Bool(true)),
        Just(json!([])),
        Just(json!({"nested": {"deeper": [1, 2, 3]}})),
        proptest::collection::vec(any::<i64>(), 1..4).prop_map(|v| json!(v)),
    ]
}

/// A value an amount field cannot hold.
fn bad_amount() -> impl Strategy<Value = Value> {
    prop_oneof![
        not_a_scalar(),
        Just(Value::Null),
        "[a-z]{1,8}".prop_map(Value::String),
        // A third decimal that is not 0: "1.130" is 1.13, an amount like any other.
        (1u32..1_000_000, 10u32..100, 1u32..10).prop_map(|(a, b, c)| json!(format!("{a}.{b}{c}"))),
        "[1-9][0-9]{30,60}(\\.[0-9]{2})?".prop_map(Value::String),
        Just(json!("1e400")),
        Just(json!("NaN")),
        Just(json!("--1.00")),
    ]
}

/// A value the admission date cannot hold: not a date, or a day no calendar has.
fn bad_date() -> impl Strategy<Value = Value> {
    prop_oneof![
        not_a_scalar(),
        Just(Value::Null),
        "[a-z]{1,8}".prop_map(Value::String),
        (2000u32..2100, 13u32..100, 1u32..28)
            .prop_map(|(y, m, d)| json!(format!("{y}-{m:02}-{d:02}"))),
        (2000u32..2100, 1u32..13, 32u32..100)
            .prop_map(|(y, m, d)| json!(format!("{y}-{m:02}-{d:02}"))),
        (100_000u32..u32::MAX).prop_map(|y| json!(format!("{y}-01-01"))),
        any::<i64>().prop_map(|n| json!(n)),
    ]
}

/// A value the level (one of the policy's variants) cannot hold.
fn bad_level() -> impl Strategy<Value = Value> {
    prop_oneof![
        not_a_scalar(),
        Just(Value::Null),
        "x[a-z0-9]{0,8}".prop_map(Value::String),
        any::<i32>().prop_map(|n| json!(n)),
    ]
}

/// A claim with `field` replaced by `value` (`None`: removed).
fn spoiled(claim: &Value, field: &str, value: Option<Value>) -> Hostile {
    let mut c = claim.clone();
    if let Some(map) = c.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_string(), v),
            None => map.remove(field),
        };
    }
    Hostile { batch: false, body: c.to_string(), field: Some(field.to_string()) }
}

/// Every kind of hostile request, built on `claim` (a valid one).
pub fn hostile(claim: Value) -> impl Strategy<Value = Hostile> {
    let fields = [
        "id",
        "member",
        "admitted",
        "level",
        "total",
        "self_paid",
        "prepay",
        "special_drugs",
        "rare_disease_drugs",
        "tcm",
    ];
    let amounts = ["total", "self_paid", "prepay", "special_drugs", "rare_disease_drugs", "tcm"];
    let text = claim.to_string();
    let (c1, c2, c3, c4, c5) =
        (claim.clone(), claim.clone(), claim.clone(), claim.clone(), claim.clone());
    prop_oneof![
        // A field missing.
        proptest::sample::select(fields.to_vec()).prop_map(move |f| spoiled(&c1, f, None)),
        // The id or the member empty.
        (
            proptest::sample::select(vec!["id", "member"]),
            prop_oneof![Just(json!("")), Just(Value::Null)]
        )
            .prop_map(move |(f, v)| spoiled(&c2, f, Some(v))),
        // An amount it cannot be.
        (proptest::sample::select(amounts.to_vec()), bad_amount()).prop_map(move |(f, v)| spoiled(
            &c3,
            f,
            Some(v)
        )),
        bad_date().prop_map(move |v| spoiled(&c4, "admitted", Some(v))),
        bad_level().prop_map(move |v| spoiled(&c5, "level", Some(v))),
        // Malformed JSON: a valid claim cut short, or bytes that are no JSON.
        (1..text.len()).prop_map({
            let text = text.clone();
            move |n| Hostile { batch: false, body: text.chars().take(n).collect(), field: None }
        }),
        "[^\\[{\"0-9tfn ]{1,64}".prop_map(|body| Hostile { batch: false, body, field: None }),
        // Deep nesting, as a claim or a batch.
        (129usize..200_000, any::<bool>()).prop_map(|(depth, batch)| Hostile {
            batch,
            body: format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            field: None,
        }),
        (129usize..20_000).prop_map(|depth| Hostile {
            batch: false,
            body: format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
            field: None,
        }),
        // Batches: too many claims, or not an array.
        (1_001usize..1_600).prop_map({
            let text = text.clone();
            move |n| Hostile {
                batch: true,
                body: format!("[{}]", vec![text.as_str(); n].join(",")),
                field: None,
            }
        }),
        not_a_scalar().prop_filter("not an array", |v| !v.is_array()).prop_map(|v| Hostile {
            batch: true,
            body: v.to_string(),
            field: None
        }),
    ]
}

/// Run `cases` hostile requests through `send` (path suffix, body -> status and answer).
pub fn check(
    claim: Value,
    cases: u32,
    send: impl Fn(bool, &str) -> (u16, Value),
) -> Result<(), String> {
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&hostile(claim), |h| {
            let (status, problem) = send(h.batch, &h.body);
            let shown: String = h.body.chars().take(80).collect();
            if !(400..500).contains(&status) {
                return Err(TestCaseError::fail(format!("{status} for {shown}: {problem}")));
            }
            if status != 413 && problem["status"] != json!(status) {
                return Err(TestCaseError::fail(format!(
                    "no problem document for {shown}: {problem}"
                )));
            }
            if let Some(f) = &h.field {
                if problem["field"] != json!(f) {
                    return Err(TestCaseError::fail(format!(
                        "{status} for {shown} does not name `{f}`: {problem}"
                    )));
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}
