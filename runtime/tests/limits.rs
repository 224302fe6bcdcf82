//! The bounds of money and rates ([`settle_lang::limits`]) hold alike wherever a number enters
//! or is made: a literal in a policy, a cell read from a claims file and a value computed by each
//! backend are taken at the bound and refused one fen (one millionth) past it.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use settle_lang::ir::Policy;
use settle_lang::limits::{MONEY_LIMIT_FEN, RATE_LIMIT_MILLIONTHS};
use settle_runtime::io::{self, Row};
use settle_runtime::{Engine, load_str};

/// A policy adding `money` to the claim's amount and `rate` to its share (and paying the amount).
fn policy(money: &str, rate: &str) -> Result<Policy, String> {
    let text = format!(
        "policy bounds\n\
         input claim {{ id: text, member: text, date: date, total: money, share: rate }}\n\
         stage basic (paid: money, more: money, wider: rate) {{\n\
             paid = claim.total\n\
             more = claim.total + {money}\n\
             wider = claim.share + {rate}\n\
         }}\n\
         balance claim.total = basic.paid\n"
    );
    load_str("bounds.settle", &text).map_err(|problems| format!("{problems:?}"))
}

/// `units` of the smallest step (fen, millionths) written as a decimal with `decimals` places.
fn decimal(units: i64, decimals: usize) -> String {
    let digits = format!("{units:0>width$}", width = decimals + 1);
    let (whole, part) = digits.split_at(digits.len() - decimals);
    format!("{whole}.{part}")
}

/// The rows read from a file of one claim with these cells.
fn read(policy: &Policy, total: &str, share: &str) -> Row {
    let csv = format!("id,member,date,total,share\nc1,m1,2024-03-01,{total},{share}\n");
    let mut rows = io::read_csv(policy, csv.as_bytes(), "claims.csv").expect("readable");
    assert_eq!(rows.len(), 1, "one record, one row");
    rows.remove(0)
}

#[test]
fn a_literal_at_the_bound_checks_and_one_past_is_refused() {
    let at_money = decimal(MONEY_LIMIT_FEN, 2);
    let past_money = decimal(MONEY_LIMIT_FEN + 1, 2);
    // A rate literal is a percentage: its millionths are ten-thousandths of the number.
    let at_rate = format!("{}%", decimal(RATE_LIMIT_MILLIONTHS, 4));
    let past_rate = format!("{}%", decimal(RATE_LIMIT_MILLIONTHS + 1, 4));
    policy(&at_money, &at_rate).expect("literals at the bounds check");
    for (money, rate) in [(&past_money, &at_rate), (&at_money, &past_rate)] {
        let refused = policy(money, rate).expect_err("a literal past a bound is refused");
        assert!(refused.contains("is too large"), "{money} or {rate}: {refused}");
    }
}

#[test]
fn a_cell_at_the_bound_reads_and_one_past_is_an_error_row_naming_its_field() {
    let policy = policy("0", "0%").expect("checks");
    let at_money = decimal(MONEY_LIMIT_FEN, 2);
    let at_rate = decimal(RATE_LIMIT_MILLIONTHS, 6);
    let Row::Claim(_) = read(&policy, &at_money, &at_rate) else {
        panic!("cells at the bounds read");
    };
    let cases = [
        (decimal(MONEY_LIMIT_FEN + 1, 2), at_rate.clone(), "total"),
        (at_money.clone(), decimal(RATE_LIMIT_MILLIONTHS + 1, 6), "share"),
        (at_money.clone(), format!("-{}", decimal(RATE_LIMIT_MILLIONTHS + 1, 6)), "share"),
    ];
    for (total, share, field) in cases {
        let Row::Error(e) = read(&policy, &total, &share) else {
            panic!("{total}, {share}: a cell past a bound reads");
        };
        assert_eq!((e.line, e.field.as_deref()), (2, Some(field)), "{e:?}");
        assert!(e.message.contains("is beyond"), "{e:?}");
    }
}

#[test]
fn a_value_computed_at_the_bound_settles_and_one_past_faults_on_every_backend() {
    let policy = policy("0.01", "0.0001%").expect("checks");
    let engines = [
        Engine::reference(policy.clone()),
        Engine::new(policy.clone()),
        Engine::compiled(policy.clone()).expect("compiles"),
    ];
    // One step below each bound, and at it: the sums land at the bound, and one step past it.
    let below = (decimal(MONEY_LIMIT_FEN - 1, 2), decimal(RATE_LIMIT_MILLIONTHS - 1, 6));
    let at = (decimal(MONEY_LIMIT_FEN, 2), decimal(RATE_LIMIT_MILLIONTHS, 6));
    let cases = [(&below.0, &below.1, true), (&at.0, &below.1, false), (&below.0, &at.1, false)];
    for (total, share, settles) in cases {
        let Row::Claim(claim) = read(&policy, total, share) else {
            panic!("{total}, {share}: cells within the bounds read");
        };
        let outcomes: Vec<_> =
            engines.iter().map(|e| e.settle_batch(std::slice::from_ref(&claim))).collect();
        for (outcome, backend) in outcomes.iter().zip(["reference", "closures", "compiled"]) {
            match &outcome[0] {
                Ok(s) if settles => {
                    let more = policy.values.iter().position(|v| v.name == "basic.more");
                    let fen = s.fen(more.expect("declared")).expect("money");
                    assert_eq!(fen, MONEY_LIMIT_FEN, "{backend}: the sum is the bound");
                }
                Err(e) if !settles => {
                    assert!(e.to_string().contains("beyond"), "{backend}: {e}");
                }
                other => panic!("{backend}, {total} and {share}: {other:?}"),
            }
        }
        assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "the backends agree: {outcomes:?}");
    }
}
