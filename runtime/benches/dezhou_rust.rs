//! The Dezhou employee inpatient policy written by hand in plain Rust over fen and millionths:
//! the ceiling the compiled policy is measured against. It follows
//! `policies/dezhou/employee_inpatient.settle` rule for rule, with the same rounding.

#![allow(clippy::panic, clippy::indexing_slicing, reason = "a benchmark stops on a wrong result")]

/// Days since 1970-01-01 of 2021-01-01 and 2021-07-01.
const JAN_2021: i64 = 18_628;
const JUL_2021: i64 = 18_809;
const MILLION: i64 = 1_000_000;

/// A claim in scaled integers: fen, days, level index.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub date: i64,
    pub level: usize,
    pub total: i64,
    pub self_paid: i64,
    pub prepay: i64,
    pub special_drugs: i64,
    /// The part of `special_drugs` for Gaucher, Pompe and Fabry disease.
    pub rare_disease_drugs: i64,
    pub tcm: i64,
}

/// A member's year-to-date values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Year {
    pub admissions: i64,
    pub basic_paid: i64,
    pub over_cap: i64,
    pub subsidy_paid: i64,
    pub burden: i64,
    pub critical_general: i64,
    pub special: i64,
}

/// The shares of one claim, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shares {
    pub basic: i64,
    pub subsidy: i64,
    pub critical: i64,
    pub patient: i64,
}

/// Half away from zero, as the policy's default rounding.
fn round_div(n: i128, d: i128) -> i64 {
    let q = n / d;
    let r = n % d;
    let q = if r != 0 && 2 * r.abs() >= d.abs() {
        q + if (n < 0) == (d < 0) { 1 } else { -1 }
    } else {
        q
    };
    q as i64
}

fn times_rate(fen: i64, millionths: i64) -> i64 {
    round_div(i128::from(fen) * i128::from(millionths), i128::from(MILLION))
}

fn segmented(amount: i64, brackets: &[(i64, i64, i64)]) -> i64 {
    let mut total = 0;
    for &(lower, upper, rate) in brackets {
        if amount <= lower {
            break;
        }
        total += times_rate(amount.min(upper) - lower, rate);
    }
    total
}

/// Settle one claim, updating the member's year.
pub fn settle(c: &Claim, y: &mut Year) -> Shares {
    let after_july = c.date >= JUL_2021;
    let deductible = match (c.level, after_july) {
        (0, false) => 45_000,
        (1, false) => 55_000,
        (0, true) => 20_000,
        (1, true) => 50_000,
        _ => 90_000,
    };
    let (second, later) = if after_july { (500_000, 0) } else { (MILLION, MILLION) };
    let due = match y.admissions {
        0 => deductible,
        1 => times_rate(deductible, second),
        _ => times_rate(deductible, later),
    };
    let ratio = match c.level {
        0 => 900_000,
        1 => 850_000,
        _ => 800_000,
    };
    let basic_cap = if after_july { 15_000_000 } else { 8_000_000 };
    let policy_range = c.total - c.self_paid - c.prepay - c.special_drugs;
    let eligible = (policy_range - due).max(0);
    let tcm_part = c.tcm.min(eligible);
    // TCM items 10 points higher from 2021-07-01 (0 before, as the policy assumes).
    let tcm_bonus = if after_july { 100_000 } else { 0 };
    // Never more than the cost (TCM at a level-1 hospital: 90 % + 10 points).
    let wanted = (times_rate(eligible, ratio) + times_rate(tcm_part, tcm_bonus)).min(eligible);
    let room = (basic_cap - y.basic_paid).max(0);
    let basic = wanted.min(room);
    let over_cap = if wanted > room {
        eligible - round_div(i128::from(eligible) * i128::from(room), i128::from(wanted))
    } else {
        0
    };
    let (subsidy_scale, subsidy_cap): (&[(i64, i64, i64)], i64) = if after_july {
        (&[(0, i64::MAX, 920_000)], 85_000_000)
    } else {
        (&[(0, 10_000_000, 850_000), (10_000_000, i64::MAX, 900_000)], 50_000_000)
    };
    let subsidy_wanted =
        segmented(y.over_cap + over_cap, subsidy_scale) - segmented(y.over_cap, subsidy_scale);
    let subsidy = subsidy_wanted.min((subsidy_cap - y.subsidy_paid).max(0));
    let burden = policy_range - basic - subsidy;
    let critical_scale = [
        (0, 10_000_000, 600_000),
        (10_000_000, 20_000_000, 650_000),
        (20_000_000, i64::MAX, 700_000),
    ];
    let above_before = (y.burden - 1_500_000).max(0);
    let above_after = (y.burden + burden - 1_500_000).max(0);
    let by_segments =
        segmented(above_after, &critical_scale) - segmented(above_before, &critical_scale);
    let general_wanted = if c.date >= JAN_2021 { by_segments } else { 0 };
    let general = general_wanted.min((40_000_000 - y.critical_general).max(0));
    let (special_ratio, special_cap) =
        if c.date >= JAN_2021 { (800_000, 40_000_000) } else { (600_000, 20_000_000) };
    // The rare-disease drugs count as special drugs from 2021-01-01 only.
    let listed = if c.date >= JAN_2021 {
        c.special_drugs
    } else {
        (c.special_drugs - c.rare_disease_drugs).max(0)
    };
    let special = times_rate(listed, special_ratio).min((special_cap - y.special).max(0));
    let critical = general + special;
    let patient = c.total - basic - subsidy - critical;
    y.admissions += 1;
    y.basic_paid += basic;
    y.over_cap += over_cap;
    y.subsidy_paid += subsidy;
    y.burden += burden;
    y.critical_general += general;
    y.special += special;
    Shares { basic, subsidy, critical, patient }
}
