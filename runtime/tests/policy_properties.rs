//! Properties of each policy in `policies/` not covered by `assistance.rs`, over random
//! members' years of claims, each read against its source document (`seeds/`):
//! - every payer's share and the patient's are never negative and never exceed the bill, and
//!   they add up to the bill;
//! - a member's year of claims never receives more than each yearly cap in force (basic fund,
//!   large medical subsidy, critical illness insurance, special-efficacy drugs, assistance,
//!   chronic-disease bands), checked after every claim in the order the engine settles them;
//! - a benefit is never paid outside its scope (the large subsidy only above the basic cap,
//!   assistance never on non-referred care outside the city nor to members of no low-income
//!   group, two-disease drugs only when a lead hospital diagnosed and the care is in its
//!   community, family mutual aid only from its start);
//! - the basic share of a member's first claim does not fall when the bill grows, the other
//!   fields held fixed.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use proptest::prelude::*;
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::Type;
use settle_runtime::{Claim, Engine, Value, load_with};

#[path = "support/names.rs"]
mod names;
use names::{field, variant};

const DEZHOU_EMPLOYEE: &str = "policies/dezhou/employee_inpatient.settle";
const DEZHOU_RESIDENT: &str = "policies/dezhou/resident_inpatient.settle";
const TAIYUAN: &str = "policies/taiyuan/two_diseases_outpatient.settle";
const HUANGYUAN: &str = "policies/huangyuan/outpatient_chronic.settle";
const OUT_OF_AREA: &str = "policies/out-of-area/non_referred.settle";

/// Each policy loaded once for the whole file.
fn engine(path: &str) -> &'static Engine {
    static ENGINES: LazyLock<HashMap<&str, Engine>> = LazyLock::new(|| {
        [DEZHOU_EMPLOYEE, DEZHOU_RESIDENT, TAIYUAN, HUANGYUAN, OUT_OF_AREA]
            .into_iter()
            .map(|path| {
                let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
                let text = std::fs::read_to_string(&full).expect("policy");
                let name = full.display().to_string();
                let policy = load_with(&name, &text, &mut settle_runtime::io::FileLoader)
                    .expect("the policy checks");
                (path, Engine::new(policy))
            })
            .collect()
    });
    &ENGINES[path]
}

fn date(text: &str) -> Date {
    Date::parse(text).expect("a date")
}

fn yuan(n: i64) -> Decimal {
    Decimal::from(n)
}

/// A claim's generated figures: a member, a day from 2020-01-01 (the earliest date the policies
/// settle), a pick for each enum and truth field, the bill in fen, and for every other money
/// field in the input's order the percent of what is left of the bill that it takes (of
/// three times the bill for the family account's balance).
#[derive(Debug, Clone)]
struct Gen {
    member: u8,
    day: u16,
    picks: [u32; 8],
    total: i64,
    parts: [u8; 6],
}

fn gen_claim() -> impl Strategy<Value = Gen> {
    (
        0u8..4,
        0u16..1200,
        prop::array::uniform8(0u32..64),
        prop_oneof![3 => 0i64..5_000_000, 2 => 0i64..50_000_000, 1 => 0i64..200_000_000],
        prop::array::uniform6(prop_oneof![1 => Just(0u8), 1 => Just(100u8), 3 => 0u8..50]),
    )
        .prop_map(|(member, day, picks, total, parts)| Gen {
            member,
            day,
            picks,
            total,
            parts,
        })
}

fn year_of_claims() -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(gen_claim(), 1..40)
}

/// The claims, each field filled by its type: enums and truth values from the picks in order,
/// the money fields other than `total` each a part of what the earlier ones left of the bill
/// (the family account's balance apart).
fn build(engine: &Engine, claims: &[Gen]) -> Vec<Claim> {
    let policy = engine.policy();
    let input = policy.input_record().expect("input");
    let start = date("2020-01-01").0;
    claims
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut picks = g.picks.iter();
            let mut parts = g.parts.iter();
            let mut left = g.total;
            let mut last_part = 0;
            let fields = input
                .fields
                .iter()
                .map(|f| match (f.name.as_str(), f.ty) {
                    ("id", _) => Value::Text(format!("c{i}").into()),
                    ("member", _) => Value::Text(format!("m{}", g.member).into()),
                    (_, Type::Date) => Value::Date(Date(start + i32::from(g.day))),
                    ("total", _) => Value::Money(Decimal::new(g.total, 2)),
                    // A balance, not a part of the bill: up to one and a half times the bill.
                    ("family_account", _) => {
                        let part = g.total * 3 * i64::from(parts.next().copied().unwrap_or(0));
                        Value::Money(Decimal::new(part / 100, 2))
                    }
                    // Of the special drugs, not a further part of the bill.
                    ("rare_disease_drugs", _) => {
                        let part = last_part * i64::from(parts.next().copied().unwrap_or(0)) / 100;
                        Value::Money(Decimal::new(part, 2))
                    }
                    (_, Type::Money) => {
                        let part = left * i64::from(parts.next().copied().unwrap_or(0)) / 100;
                        left -= part;
                        last_part = part;
                        Value::Money(Decimal::new(part, 2))
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

fn money(claim: &Claim, field: usize) -> Decimal {
    claim.fields[field].decimal().expect("money")
}

fn enum_of(claim: &Claim, field: usize) -> u32 {
    match claim.fields[field] {
        Value::Enum(v) => v,
        ref other => panic!("not an enum: {other:?}"),
    }
}

fn truth(claim: &Claim, field: usize) -> bool {
    match claim.fields[field] {
        Value::Bool(b) => b,
        ref other => panic!("not a truth value: {other:?}"),
    }
}

/// The batch settled: each claim's values by name.
struct Settled<'e> {
    engine: &'e Engine,
    batch: Vec<Claim>,
    values: Vec<Vec<Value>>,
}

impl<'e> Settled<'e> {
    fn new(engine: &'e Engine, batch: Vec<Claim>) -> Result<Self, TestCaseError> {
        let values = engine
            .settle_batch(&batch)
            .iter()
            .map(|o| o.as_ref().map(|s| s.values(engine.policy())))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(Settled { engine, batch, values })
    }

    fn get(&self, claim: usize, name: &str) -> Decimal {
        let i = self
            .engine
            .policy()
            .values
            .iter()
            .position(|v| v.name == name)
            .unwrap_or_else(|| panic!("`{name}` is not a value of the policy"));
        self.values[claim][i].decimal().expect("money")
    }

    /// Every member's claims in settling order, each with its position in the batch.
    fn histories(&self) -> Vec<Vec<usize>> {
        let mut members: Vec<String> =
            self.batch.iter().map(|c| self.engine.member_of(c).to_string()).collect();
        members.sort();
        members.dedup();
        members
            .iter()
            .map(|m| {
                self.engine.member_history(&self.batch, m).into_iter().map(|(i, _)| i).collect()
            })
            .collect()
    }

    /// A money field of the claim.
    fn input(&self, claim: usize, name: &str) -> Decimal {
        self.batch[claim].fields[field(self.engine, name)].decimal().expect("money")
    }

    fn year(&self, claim: usize) -> i32 {
        self.engine.date_of(&self.batch[claim]).year_start((1, 1)).0
    }

    fn date(&self, claim: usize) -> Date {
        self.engine.date_of(&self.batch[claim])
    }

    /// Each payer's share and the patient's within 0 ..= the bill, adding up to the bill.
    fn shares_within_the_bill(&self, payers: &[&str], patient: &str) -> Result<(), TestCaseError> {
        let path = &self.engine.policy().name;
        for (i, claim) in self.batch.iter().enumerate() {
            let total = money(claim, field(self.engine, "total"));
            let mut sum = Decimal::ZERO;
            for name in payers.iter().chain([&patient]) {
                let share = self.get(i, name);
                prop_assert!(
                    share >= Decimal::ZERO && share <= total,
                    "{path}: claim {i}: {name} {share} outside 0 ..= the bill {total}"
                );
                sum += share;
            }
            prop_assert_eq!(
                sum,
                total,
                "{}: claim {}: the shares do not add up to the bill",
                path,
                i
            );
        }
        Ok(())
    }

    /// After every claim of a member's year, in settling order, the year's sum of `name` over
    /// the claims `counted` is at most `cap` in force on that claim's date.
    fn never_above(
        &self,
        name: &str,
        counted: impl Fn(&Claim) -> bool,
        cap: impl Fn(Date) -> Decimal,
    ) -> Result<(), TestCaseError> {
        let path = &self.engine.policy().name;
        for history in self.histories() {
            let mut yearly: HashMap<i32, Decimal> = HashMap::new();
            for &i in &history {
                if !counted(&self.batch[i]) {
                    continue;
                }
                let sum = yearly.entry(self.year(i)).or_default();
                *sum += self.get(i, name);
                let cap = cap(self.date(i));
                prop_assert!(
                    *sum <= cap,
                    "{path}: {name} reaches {sum} in the year by claim {i}, above the cap {cap}"
                );
            }
        }
        Ok(())
    }
}

/// `value` of a member's first claim on the bill, and on the same claim with each of `grown`
/// (`total` among them) larger by `more` fen, the other fields the same: the pair.
fn on_a_larger_bill(
    path: &str,
    claim: &Gen,
    more: i64,
    grown: &[&str],
    value: &str,
    set: &[(&str, Value)],
) -> Result<(Decimal, Decimal), TestCaseError> {
    let engine = engine(path);
    let mut batch = build(engine, &[claim.clone(), claim.clone()]);
    for (name, v) in set {
        let f = field(engine, name);
        batch[0].fields[f] = v.clone();
        batch[1].fields[f] = v.clone();
    }
    for name in grown {
        let f = field(engine, name);
        batch[1].fields[f] = Value::Money(money(&batch[0], f) + Decimal::new(more, 2));
    }
    batch[1].fields[field(engine, "id")] = Value::Text("larger".into());
    batch[1].fields[field(engine, "member")] = Value::Text("other".into());
    let settled = Settled::new(engine, batch)?;
    Ok((settled.get(0, value), settled.get(1, value)))
}

// ----- Dezhou employees' inpatient care (seeds/000)

/// Dezhou's basic fund pays a ratio of the policy-range cost above the deductible, the TCM items
/// 10 points higher: at most the whole of that cost (100 % on TCM items at a level-1 hospital),
/// never a fen more, so the patient's burden is never negative.
fn within_the_cost(s: &Settled) -> Result<(), TestCaseError> {
    let path = &s.engine.policy().name;
    for i in 0..s.batch.len() {
        let cost = (s.get(i, "policy_range") - s.get(i, "deductible_due")).max(Decimal::ZERO);
        let paid = s.get(i, "basic.pay");
        prop_assert!(paid <= cost, "{path}: claim {i}: basic {paid} on a cost of {cost}");
        let burden = s.get(i, "burden");
        prop_assert!(burden >= Decimal::ZERO, "{path}: claim {i}: burden {burden}");
    }
    Ok(())
}

/// The basic fund's cap: 80,000 -> 150,000 (from 2021-07-01, assumed).
fn dezhou_employee_basic_cap(d: Date) -> Decimal {
    if d < date("2021-07-01") { yuan(80_000) } else { yuan(150_000) }
}

fn dezhou_employee(claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(DEZHOU_EMPLOYEE);
    let s = Settled::new(engine, build(engine, claims))?;
    s.shares_within_the_bill(
        &["basic.pay", "subsidy.pay", "critical.pay"],
        "patient.out_of_pocket",
    )?;
    within_the_cost(&s)?;
    let all = |_: &Claim| true;
    s.never_above("basic.pay", all, dezhou_employee_basic_cap)?;
    // Large medical subsidy: 500,000 -> 850,000 (2021-07-01, assumed).
    s.never_above("subsidy.pay", all, |d| {
        if d < date("2021-07-01") { yuan(500_000) } else { yuan(850_000) }
    })?;
    // Critical illness insurance: the general part's limit (assumed 400,000), and the special
    // drugs' 200,000 -> 400,000 from 2021-01-01.
    s.never_above("critical.general", all, |_| yuan(400_000))?;
    s.never_above("critical.special", all, |d| {
        if d < date("2021-01-01") { yuan(200_000) } else { yuan(400_000) }
    })?;
    dezhou_rare_disease_drugs_unpaid_before_2021(&s)?;
    // The subsidy pays only costs above the basic fund's cap: a claim it pays on leaves the
    // year's basic payments at the cap. Critical illness insurance takes employees' burden only
    // from 2021-01-01, and only the year's burden above 15,000.
    for history in s.histories() {
        let mut basic: HashMap<i32, Decimal> = HashMap::new();
        let mut burden: HashMap<i32, Decimal> = HashMap::new();
        for &i in &history {
            let basic = basic.entry(s.year(i)).or_default();
            *basic += s.get(i, "basic.pay");
            let burden = burden.entry(s.year(i)).or_default();
            *burden += s.get(i, "burden");
            let subsidy = s.get(i, "subsidy.pay");
            let cap = dezhou_employee_basic_cap(s.date(i));
            prop_assert!(
                subsidy.is_zero() || *basic == cap,
                "claim {i}: subsidy {subsidy} while the year's basic payments are {basic} < {cap}"
            );
            let general = s.get(i, "critical.general");
            prop_assert!(
                general.is_zero() || (s.date(i) >= date("2021-01-01") && *burden > yuan(15_000)),
                "claim {i}: critical illness {general} with the year's burden {burden}"
            );
        }
    }
    Ok(())
}

/// Dezhou's special drugs before 2021-01-01: critical illness insurance pays at most 60 % of
/// those other than the rare-disease drugs (which are the patient's until they are listed).
fn dezhou_rare_disease_drugs_unpaid_before_2021(s: &Settled) -> Result<(), TestCaseError> {
    for i in 0..s.batch.len() {
        if s.date(i) >= date("2021-01-01") {
            continue;
        }
        let listed =
            (s.input(i, "special_drugs") - s.input(i, "rare_disease_drugs")).max(Decimal::ZERO);
        let most = (listed * Decimal::new(60, 2)).round_dp(2);
        let special = s.get(i, "critical.special");
        prop_assert!(special <= most, "claim {i}: special drugs {special} above 60 % of {listed}");
    }
    Ok(())
}

// ----- Dezhou residents' inpatient care (seeds/000)

fn dezhou_resident(claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(DEZHOU_RESIDENT);
    let s = Settled::new(engine, build(engine, claims))?;
    s.shares_within_the_bill(&["basic.pay", "critical.pay"], "patient.out_of_pocket")?;
    within_the_cost(&s)?;
    let all = |_: &Claim| true;
    // Basic cap and critical illness limit: assumed 200,000 and 400,000.
    s.never_above("basic.pay", all, |_| yuan(200_000))?;
    s.never_above("critical.general", all, |_| yuan(400_000))?;
    s.never_above("critical.special", all, |d| {
        if d < date("2021-01-01") { yuan(200_000) } else { yuan(400_000) }
    })?;
    dezhou_rare_disease_drugs_unpaid_before_2021(&s)?;
    // Critical illness insurance's general part only on the year's burden above 12,000
    // (assumed).
    for history in s.histories() {
        let mut burden: HashMap<i32, Decimal> = HashMap::new();
        for &i in &history {
            let burden = burden.entry(s.year(i)).or_default();
            *burden += s.get(i, "burden");
            let general = s.get(i, "critical.general");
            prop_assert!(
                general.is_zero() || *burden > yuan(12_000),
                "claim {i}: critical illness {general} with the year's burden {burden}"
            );
        }
    }
    Ok(())
}

// ----- Taiyuan: two-disease outpatient drugs and family mutual aid (seeds/001)

fn taiyuan(claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(TAIYUAN);
    let s = Settled::new(engine, build(engine, claims))?;
    s.shares_within_the_bill(&["two_diseases.pay", "family.pay"], "patient.out_of_pocket")?;
    // The deductible is met once a year: 60 -> 30 yuan (2021, assumed).
    s.never_above(
        "two_diseases.deductible_part",
        |_| true,
        |d| {
            if d < date("2021-01-01") { yuan(60) } else { yuan(30) }
        },
    )?;
    let (drugs, account) = (field(engine, "drugs"), field(engine, "family_account"));
    for (i, claim) in s.batch.iter().enumerate() {
        // The scheme pays on the listed two-disease drugs only.
        let paid = s.get(i, "two_diseases.pay");
        prop_assert!(
            paid <= money(claim, drugs),
            "claim {i}: {paid} on drugs of {}",
            money(claim, drugs)
        );
        // Family mutual aid from July 1 (2022-07-01, assumed), within the account's balance.
        let family = s.get(i, "family.pay");
        prop_assert!(
            family <= money(claim, account)
                && (family.is_zero() || s.date(i) >= date("2022-07-01")),
            "claim {i}: family mutual aid {family} on {:?}",
            s.date(i)
        );
    }
    Ok(())
}

// ----- Huangyuan: two-disease drugs and chronic and special diseases (seeds/002)

fn huangyuan(claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(HUANGYUAN);
    let s = Settled::new(engine, build(engine, claims))?;
    s.shares_within_the_bill(&["outpatient.pay"], "patient.out_of_pocket")?;
    let scheme = field(engine, "scheme");
    let is = |name: &str| variant(engine, "Scheme", name);
    let (two, class1) = (is("two_diseases"), is("class1"));
    let bands = [(is("class2_low"), 3_000), (is("class2_mid"), 4_000), (is("class2_high"), 5_000)];
    let after = |d: Date| d >= date("2021-01-01");
    // The 4 diseases: 10,000 -> 100,000 a year; the 22 others: 2,000 -> 3,000-5,000, one
    // disease's band at most 5,000; two-disease drugs: assumed 1,000.
    s.never_above(
        "outpatient.pay",
        |c| enum_of(c, scheme) == class1,
        |d| {
            if after(d) { yuan(100_000) } else { yuan(10_000) }
        },
    )?;
    s.never_above(
        "outpatient.pay",
        |c| bands.iter().any(|b| b.0 == enum_of(c, scheme)),
        |d| {
            if after(d) { yuan(5_000) } else { yuan(2_000) }
        },
    )?;
    s.never_above("outpatient.pay", |c| enum_of(c, scheme) == two, |_| yuan(1_000))?;
    // A claim of a band paid leaves the year's class-2 payments within that band's cap.
    for history in s.histories() {
        let mut class2: HashMap<i32, Decimal> = HashMap::new();
        for &i in &history {
            let Some(&(_, cap)) = bands.iter().find(|b| b.0 == enum_of(&s.batch[i], scheme)) else {
                continue;
            };
            let sum = class2.entry(s.year(i)).or_default();
            let paid = s.get(i, "outpatient.pay");
            *sum += paid;
            let cap = if after(s.date(i)) { yuan(cap) } else { yuan(2_000) };
            prop_assert!(
                paid.is_zero() || *sum <= cap,
                "claim {i}: {paid} takes the year to {sum} > {cap}"
            );
        }
    }
    // Two-disease drugs only when a lead hospital diagnosed and the care is in its community.
    let (lead, community) = (field(engine, "lead_diagnosis"), field(engine, "in_community"));
    for (i, claim) in s.batch.iter().enumerate() {
        if enum_of(claim, scheme) == two && !(truth(claim, lead) && truth(claim, community)) {
            let paid = s.get(i, "outpatient.pay");
            prop_assert!(paid.is_zero(), "claim {i}: two-disease drugs paid {paid} out of scope");
        }
    }
    Ok(())
}

// ----- care outside the city (seeds/003)

fn out_of_area(claims: &[Gen]) -> Result<(), TestCaseError> {
    let engine = engine(OUT_OF_AREA);
    let s = Settled::new(engine, build(engine, claims))?;
    s.shares_within_the_bill(
        &["basic.pay", "critical.pay", "assistance.pay"],
        "patient.out_of_pocket",
    )?;
    let all = |_: &Claim| true;
    // Basic cap, critical illness limit and assistance cap: assumed 200,000, 400,000, 30,000.
    s.never_above("basic.pay", all, |_| yuan(200_000))?;
    s.never_above("critical.pay", all, |_| yuan(400_000))?;
    s.never_above("assistance.pay", all, |_| yuan(30_000))?;
    // "对未按规定转诊异地就医发生的医疗费用，原则上不予救助": no assistance on non-referred care
    // outside the city, nor to a member of no low-income group.
    let (location, referred, group) =
        (field(engine, "location"), field(engine, "referred"), field(engine, "group"));
    let local = variant(engine, "Location", "local");
    let none = variant(engine, "Group", "none");
    for (i, claim) in s.batch.iter().enumerate() {
        let paid = s.get(i, "assistance.pay");
        let outside = enum_of(claim, location) != local && !truth(claim, referred);
        prop_assert!(
            paid.is_zero() || !(outside || enum_of(claim, group) == none),
            "claim {i}: assistance {paid} out of scope"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn dezhou_employee_shares_caps_and_scopes(claims in year_of_claims()) {
        dezhou_employee(&claims)?;
    }

    #[test]
    fn dezhou_resident_shares_caps_and_scopes(claims in year_of_claims()) {
        dezhou_resident(&claims)?;
    }

    #[test]
    fn taiyuan_shares_deductible_and_scopes(claims in year_of_claims()) {
        taiyuan(&claims)?;
    }

    #[test]
    fn huangyuan_shares_caps_and_scopes(claims in year_of_claims()) {
        huangyuan(&claims)?;
    }

    #[test]
    fn out_of_area_shares_caps_and_scopes(claims in year_of_claims()) {
        out_of_area(&claims)?;
    }

    /// The basic share of a first claim (and in Dezhou the large subsidy's, which pays a flat
    /// 92 % above the cap from 2021-07-01) does not fall when the bill grows.
    #[test]
    fn first_claims_basic_shares_grow_with_the_bill(
        claim in gen_claim(),
        more in prop_oneof![0i64..2_000_000, 0i64..100_000_000],
    ) {
        for (path, values) in [
            (DEZHOU_EMPLOYEE, &["basic.pay", "subsidy.pay"][..]),
            (DEZHOU_RESIDENT, &["basic.pay"][..]),
            (HUANGYUAN, &["outpatient.pay"][..]),
            (OUT_OF_AREA, &["basic.pay"][..]),
        ] {
            for value in values {
                let (less, larger) = on_a_larger_bill(path, &claim, more, &["total"], value, &[])?;
                prop_assert!(less <= larger, "{path}: {value} {less} on the bill, {larger} on a bill {more} fen larger");
            }
        }
        // Taiyuan: the two-disease share grows with the drugs, family mutual aid with the bill.
        let (less, larger) = on_a_larger_bill(TAIYUAN, &claim, more, &["total", "drugs"], "two_diseases.pay", &[])?;
        prop_assert!(less <= larger, "two-disease drugs: {less}, then {larger} on {more} fen more");
        let (less, larger) = on_a_larger_bill(TAIYUAN, &claim, more, &["total"], "family.pay", &[])?;
        prop_assert!(less <= larger, "family mutual aid: {less}, then {larger} on {more} fen more");
    }

    /// Outside the city the basic ratio is lowered by the province tier: the same claim gets no
    /// more in the province than in the city, and no more outside the province than inside.
    #[test]
    fn out_of_area_basic_share_falls_with_distance(claim in gen_claim()) {
        let engine = engine(OUT_OF_AREA);
        let at = |name: &str| Value::Enum(variant(engine, "Location", name));
        let mut pays = Vec::new();
        for place in ["local", "in_province", "out_of_province"] {
            let (pay, _) = on_a_larger_bill(OUT_OF_AREA, &claim, 0, &[], "basic.pay", &[("location", at(place))])?;
            pays.push(pay);
        }
        prop_assert!(pays[0] >= pays[1] && pays[1] >= pays[2], "basic local, in and out of the province: {pays:?}");
    }
}
