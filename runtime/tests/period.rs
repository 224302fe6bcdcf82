//! Period settlement: Dezhou's DIP policy on a small region settled by hand, and the
//! hospitals' dues adding up to the budget to the fen on generated cases, whatever the thread
//! count or the order of the input.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use settle_lang::ir::Policy;
use settle_runtime::io::{self, FileLoader, Row};
use settle_runtime::period::{PeriodSettlement, settle_period, share};
use settle_runtime::{Claim, Engine, load_with};

/// The DIP policy with a budget for a small region, which does not divide evenly.
fn region(budget: &str) -> Policy {
    let text = format!(
        "policy test.dip.region\nextends \"dip.settle\"\noverride param budget: money = {budget}\n"
    );
    match load_with("../policies/dezhou/region.settle", &text, &mut FileLoader) {
        Ok(p) => p,
        Err(problems) => panic!("{}", problems.render_plain()),
    }
}

fn claims(policy: &Policy, csv: &str) -> Vec<Claim> {
    let rows = io::read_csv(policy, csv.as_bytes(), "region.csv").expect("the region's claims");
    rows.into_iter()
        .map(|r| match r {
            Row::Claim(c) => c,
            Row::Error(e) => panic!("{e:?}"),
        })
        .collect()
}

fn settle(engine: &Engine, claims: &[Claim]) -> PeriodSettlement {
    let outcomes = engine.settle_batch(claims);
    settle_period(engine, claims, &outcomes).expect("the period settles")
}

/// The table `name`'s column `column` for each row, as output shows them.
fn column(policy: &Policy, settled: &PeriodSettlement, name: &str, column: &str) -> Vec<String> {
    let t = policy.period.tables.iter().position(|t| t.name == name).expect("the table");
    let table = &policy.period.tables[t];
    let c = table.columns.iter().position(|c| c.name == column).expect("the column");
    settled.tables[t]
        .rows
        .iter()
        .map(|(key, values)| {
            format!(
                "{}={}",
                key.show(policy, table.key.ty),
                settle_runtime::field::format_value(policy, table.columns[c].ty, &values[c])
            )
        })
        .collect()
}

const REGION: &str = "\
id,member,admitted,level,total,self_paid,prepay,special_drugs,rare_disease_drugs,tcm,hospital,group
a1,m1,2021-08-01,level3,2000,0,0,0,0,0,h1,appendectomy
a2,m2,2021-08-01,level2,6000,0,0,0,0,0,h2,appendectomy
a3,m3,2021-08-01,level3,8000,0,0,0,0,0,h1,appendectomy
a4,m4,2021-08-01,level2,24000,0,0,0,0,0,h2,appendectomy
p1,m5,2021-08-01,level2,3000,0,0,0,0,0,h2,pneumonia
p2,m6,2021-08-01,level1,5000,0,0,0,0,0,h3,pneumonia
";

/// Worked by hand from the policy's figures (scores 80 % and 60 %, coefficients 100 %, 92 %,
/// 85 %, high cost from 200 %, low cost to 50 % of the group's average):
///
/// - appendectomy averages 40,000 / 4 = 10,000: a1 at 20 % is low-cost, 80 % × 20 % = 16 %
///   points; a2 (60 %) and a3 (80 %) score 80 %; a4 at 240 % is high-cost, 80 % × (240 % -
///   200 % + 100 %) = 112 %. Pneumonia averages 4,000: p1 (75 %) and p2 (125 %) score 60 %.
/// - weighted: h1 = 16 % + 80 % = 0.96; h2 = (80 % + 112 % + 60 %) × 92 % = 2.3184;
///   h3 = 60 % × 85 % = 0.51; all 3.7884.
/// - the budget 40,000.03 = 4,000,003 fen: h1 4,000,003 × 0.96 / 3.7884 = 1,013,621.29 fen,
///   h2 2,447,895.41, h3 538,486.31; rounded down 4,000,002 fen, the fen left goes to the largest
///   remainder, h2's 0.41: 10,136.21 + 24,478.96 + 5,384.86 = 40,000.03.
/// - paid by others (the claim's total less basic insurance; deductibles 900 / 500 / 200,
///   ratios 80 % / 85 % / 90 %): h1 (2,000 - 880) + (8,000 - 5,680) = 3,440; h2 1,325 + 4,025
///   + 875 = 6,225; h3 5,000 - 4,320 = 680.
/// - point value 40,000.03 / 3.7884 = 10,558.555… → 10,558.56.
#[test]
fn a_small_region_settles_as_worked_by_hand() {
    let policy = region("40_000.03");
    let engine = Engine::new(policy.clone());
    let claims = claims(&policy, REGION);
    let settled = settle(&engine, &claims);
    let p = &policy;
    assert_eq!(
        column(p, &settled, "groups", "average_cost"),
        ["appendectomy=10000.00", "pneumonia=4000.00"]
    );
    let points: Vec<String> = settled
        .case_values
        .iter()
        .map(|v| settle_runtime::field::format_value(p, settle_lang::ir::Type::Rate, &v[1]))
        .collect();
    assert_eq!(points, ["0.16", "0.8", "0.8", "1.12", "0.6", "0.6"]);
    assert_eq!(column(p, &settled, "hospitals", "points"), ["h1=0.96", "h2=2.3184", "h3=0.51"]);
    assert_eq!(column(p, &settled, "hospitals", "high_cost_cases"), ["h1=0", "h2=1", "h3=0"]);
    assert_eq!(column(p, &settled, "hospitals", "low_cost_cases"), ["h1=1", "h2=0", "h3=0"]);
    assert_eq!(
        column(p, &settled, "hospitals", "due"),
        ["h1=10136.21", "h2=24478.96", "h3=5384.86"]
    );
    assert_eq!(
        column(p, &settled, "hospitals", "paid_by_others"),
        ["h1=3440.00", "h2=6225.00", "h3=680.00"]
    );
    assert_eq!(
        column(p, &settled, "hospitals", "fund"),
        ["h1=6696.21", "h2=18253.96", "h3=4704.86"]
    );
    let pv = p.period.values.iter().position(|v| v.name == "point_value").expect("point_value");
    assert_eq!(
        settle_runtime::field::format_value(p, settle_lang::ir::Type::Money, &settled.values[pv]),
        "10558.56"
    );
}

#[test]
fn largest_remainder_gives_the_fen_left_to_the_largest_remainders_then_the_earlier_row() {
    // 100 fen over three equal weights: 33 each, the fen left to the first row.
    assert_eq!(share(100, &[1, 1, 1]), Ok(vec![34, 33, 33]));
    // 10 fen by 1 : 2 : 3 : 4.5 exact 0.952, 1.905, 2.857, 4.286: floors 0, 1, 2, 4 leave 3 fen
    // for the remainders 0.952, 0.905, 0.857 (the 0.286 gets none).
    assert_eq!(share(10, &[10, 20, 30, 45]), Ok(vec![1, 2, 3, 4]));
    assert!(share(10, &[0, 0]).is_err());
    assert!(share(10, &[1, -1, 3]).is_err());
}

/// No claim, or none that settled: the tables have no rows, and nothing is divided by zero
/// points.
#[test]
fn a_period_without_a_case_has_tables_without_rows() {
    let policy = region("40_000.03");
    let engine = Engine::new(policy.clone());
    let header = REGION.lines().next().expect("a header");
    // A claim naming no such level is an error row, not a case.
    let unsettled = format!("{header}\nx1,m1,2021-08-01,level9,2000,0,0,0,0,0,h1,appendectomy\n");
    for csv in [format!("{header}\n"), unsettled] {
        let rows = io::read_csv(&policy, csv.as_bytes(), "empty.csv").expect("a file");
        let batch = io::claims_of(&rows);
        let outcomes = engine.settle_batch(&batch);
        let settled = settle_period(&engine, &batch, &outcomes).expect("an empty period settles");
        assert!(settled.cases.is_empty());
        assert_eq!(settled.tables.len(), 2);
        assert!(settled.tables.iter().all(|t| t.rows.is_empty()));
        let mut out = Vec::new();
        settle_runtime::period::write_tables(&policy, &settled, &mut out).expect("written");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "table,hospital,cases,high_cost_cases,low_cost_cases,points,total,due,paid_by_others,fund\n\
             table,group,cases,average_cost,points\n"
        );
    }
}

fn generated(policy: &Policy, count: usize, seed: u64) -> Vec<Claim> {
    let mut csv = Vec::new();
    settle_runtime::generate::write(policy, count, seed, false, &mut csv).expect("generated");
    claims(policy, std::str::from_utf8(&csv).expect("UTF-8"))
}

fn dues_fen(policy: &Policy, settled: &PeriodSettlement) -> Vec<(String, i64)> {
    column(policy, settled, "hospitals", "due")
        .into_iter()
        .map(|row| {
            let (key, due) = row.split_once('=').expect("key=value");
            let fen = due.replace('.', "").parse::<i64>().expect("an amount");
            (key.to_string(), fen)
        })
        .collect()
}

#[test]
fn the_hospitals_dues_add_up_to_the_budget_to_the_fen() {
    for (budget, fen) in [("300_000_000", 30_000_000_000), ("1_234_567.89", 123_456_789)] {
        let policy = region(budget);
        let engine = Engine::new(policy.clone());
        let claims = generated(&policy, 3_000, 7);
        let settled = settle(&engine, &claims);
        let dues = dues_fen(&policy, &settled);
        assert!(dues.len() > 100, "only {} hospitals", dues.len());
        assert_eq!(dues.iter().map(|(_, d)| d).sum::<i64>(), fen);
    }
}

/// `settle gen --texts 5000`: a region of about 5,000 hospitals, whose dues still add up to the
/// budget to the fen.
#[test]
fn a_region_of_five_thousand_hospitals_shares_the_budget_to_the_fen() {
    let policy = region("1_234_567.89");
    let engine = Engine::new(policy.clone());
    let mut csv = Vec::new();
    settle_runtime::generate::write_with(&policy, 20_000, 5, false, 5_000, &mut csv)
        .expect("generated");
    let claims = claims(&policy, std::str::from_utf8(&csv).expect("UTF-8"));
    let settled = settle(&engine, &claims);
    let dues = dues_fen(&policy, &settled);
    assert!((4_000..=5_000).contains(&dues.len()), "{} hospitals", dues.len());
    assert_eq!(dues.iter().map(|(_, d)| d).sum::<i64>(), 123_456_789);
}

#[test]
fn the_period_does_not_depend_on_thread_count_or_input_order() {
    let policy = region("1_234_567.89");
    let engine = Engine::new(policy.clone());
    let claims = generated(&policy, 3_000, 11);
    let on = |threads: usize, claims: &[Claim]| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
        pool.install(|| settle(&engine, claims))
    };
    let one = on(1, &claims);
    let four = on(4, &claims);
    assert_eq!(one.tables, four.tables);
    assert_eq!(one.values, four.values);
    assert_eq!(one.aggregates, four.aggregates);
    let mut reversed = claims.clone();
    reversed.reverse();
    let backwards = on(3, &reversed);
    assert_eq!(one.tables, backwards.tables);
    assert_eq!(one.values, backwards.values);
}

/// Huangyuan's DRG policy on two hospitals, worked by hand: weights 0.9 + 2.5 = 3.4 (h1) and
/// 0.7 + 1.1 = 1.8 (h2) of 5.2; the budget's 4,000,000,000 fen × 3.4 / 5.2 = 2,615,384,615.38
/// and × 1.8 / 5.2 = 1,384,615,384.62: the fen left goes to h2's larger remainder. The patients
/// paid 30 % of each bill: h1 2,400 + 9,000, h2 1,500 + 3,000. Base rate 40,000,000 / 5.2 =
/// 7,692,307.69.
#[test]
fn huangyuans_drg_budget_is_shared_by_weight_as_worked_by_hand() {
    let text = std::fs::read_to_string("../policies/huangyuan/drg.settle").expect("the policy");
    let policy = match load_with("../policies/huangyuan/drg.settle", &text, &mut FileLoader) {
        Ok(p) => p,
        Err(problems) => panic!("{}", problems.render_plain()),
    };
    let engine = Engine::new(policy.clone());
    let claims = claims(
        &policy,
        "id,member,discharged,hospital,drg,total
a,m1,2021-11-01,h1,gc29,8000
b,m2,2021-11-02,h1,fm19,30000
c,m3,2021-11-03,h2,es29,5000
d,m4,2021-11-04,h2,om19,10000
",
    );
    let settled = settle(&engine, &claims);
    let p = &policy;
    assert_eq!(column(p, &settled, "hospitals", "weights"), ["h1=3.4", "h2=1.8"]);
    assert_eq!(column(p, &settled, "hospitals", "due"), ["h1=26153846.15", "h2=13846153.85"]);
    assert_eq!(column(p, &settled, "hospitals", "paid_by_patients"), ["h1=11400.00", "h2=4500.00"]);
    assert_eq!(column(p, &settled, "hospitals", "fund"), ["h1=26142446.15", "h2=13841653.85"]);
    let rate = p.period.values.iter().position(|v| v.name == "base_rate").expect("base_rate");
    let shown =
        settle_runtime::field::format_value(p, settle_lang::ir::Type::Money, &settled.values[rate]);
    assert_eq!(shown, "7692307.69");
}
