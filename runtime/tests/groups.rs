//! Group totals (`monthly by claim.household ...`): hand-computed figures under every backend
//! and both data paths, members moving between households, input order, one claim at a time
//! with saved member and group state, `explain`, and thread counts on enough households that
//! they are split across many tasks.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::{HashMap, HashSet};

use settle_runtime::engine::CLAIMS_PER_TASK;
use settle_runtime::io::{self, Row};
use settle_runtime::{Engine, MemberState, Value, batch, generate, load_str};

const HOUSEHOLDS: &str = "
policy groups.test
input claim { id: text, member: text, household: text, date: date, total: money }
monthly by claim.household household_month: money = sum(claim.total)
yearly by claim.household household_claims: int = count() where claim.total >= 100
monthly own_month: money = sum(claim.total)
stage s (pay: money) { pay = claim.total }
balance claim.total = s.pay
";

/// m1 and m2 share h1; m3 is alone in h2; m2 moves to h2 in March.
const CLAIMS: &str = "id,member,household,date,total\n\
    a,m1,h1,2024-01-05,100\n\
    b,m2,h1,2024-01-10,50\n\
    c,m3,h2,2024-01-11,200\n\
    d,m1,h1,2024-01-20,30\n\
    e,m2,h1,2024-02-01,120\n\
    f,m2,h2,2024-03-02,70\n\
    g,m3,h2,2024-03-03,10\n\
    h,m1,h1,2024-03-04,5\n\
    i,m2,h2,2024-03-09,1\n";

/// Each claim's accumulators before it: household_month, household_claims, own_month.
const EXPECTED: [[&str; 3]; 9] = [
    ["0.00", "0", "0.00"],     // a: the first claim of h1
    ["100.00", "1", "0.00"],   // b: a's 100 in h1's January; m2's first
    ["0.00", "0", "0.00"],     // c: h2 has nothing yet
    ["150.00", "1", "100.00"], // d: a + b in h1 (b's 50 is under 100, not counted); m1's a
    ["0.00", "1", "0.00"],     // e: February starts again for h1 and m2; d's 30 not counted
    ["0.00", "1", "0.00"],     // f: m2 now in h2, in March; c counted in h2
    ["70.00", "1", "0.00"],    // g: f in h2's March (70 under 100); m3's March is new
    ["0.00", "2", "0.00"],     // h: h1's March is new; a and e counted in h1
    ["80.00", "1", "70.00"],   // i: f + g in h2's March; m2's own March holds f
];

fn engines(text: &str) -> Vec<Engine> {
    let policy = load_str("groups.settle", text).expect("checks");
    vec![
        Engine::reference(policy.clone()),
        Engine::new(policy.clone()),
        Engine::compiled(policy).expect("compiles"),
    ]
}

fn read(engine: &Engine, csv: &str) -> Vec<Row> {
    io::read_csv(engine.policy(), csv.as_bytes(), "claims.csv").expect("readable")
}

fn accumulators(engine: &Engine, csv: &str) -> Vec<Vec<String>> {
    let rows = read(engine, csv);
    let outcomes = engine.settle_batch(&io::claims_of(&rows));
    outcomes
        .iter()
        .map(|o| match o {
            Ok(s) => s.accumulators(engine.policy()).iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{e}"),
        })
        .collect()
}

fn general_csv(engine: &Engine, csv: &[u8]) -> Vec<u8> {
    let rows = io::read_csv_bytes(engine.policy(), csv, "claims.csv").expect("readable");
    let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
    let mut out = Vec::new();
    io::write_csv(engine.policy(), &rows, &outcomes, &mut out).expect("written");
    out
}

fn fast_csv(engine: &Engine, csv: &[u8]) -> Vec<u8> {
    let table = batch::read_table(engine.policy(), csv, "claims.csv")
        .expect("readable")
        .expect("the fast path reads it");
    let settled = batch::settle_table(engine, table, &|_| {}).expect("the fast path settles it");
    let mut out = Vec::new();
    batch::write_table_csv(engine, &settled, &mut out).expect("written");
    out
}

#[test]
fn group_and_member_totals_under_every_backend_and_both_data_paths() {
    let want: Vec<Vec<String>> =
        EXPECTED.iter().map(|r| r.iter().map(|s| (*s).to_owned()).collect()).collect();
    for engine in engines(HOUSEHOLDS) {
        assert_eq!(accumulators(&engine, CLAIMS), want, "{:?}", engine.backend());
        if batch::supported(&engine) {
            let general = general_csv(&engine, CLAIMS.as_bytes());
            assert_eq!(fast_csv(&engine, CLAIMS.as_bytes()), general, "{:?}", engine.backend());
        }
    }
}

#[test]
fn outcomes_do_not_depend_on_input_order() {
    let mut lines: Vec<&str> = CLAIMS.lines().skip(1).collect();
    lines.reverse();
    lines.swap(1, 5);
    let shuffled = format!("id,member,household,date,total\n{}\n", lines.join("\n"));
    for engine in engines(HOUSEHOLDS) {
        let ids = |csv: &str| -> Vec<String> {
            read(&engine, csv)
                .iter()
                .map(|r| match r {
                    Row::Claim(c) => engine.id_of(c).to_string(),
                    Row::Error(e) => panic!("{e}"),
                })
                .collect()
        };
        let mut by_id: Vec<(String, Vec<String>)> =
            ids(&shuffled).into_iter().zip(accumulators(&engine, &shuffled)).collect();
        by_id.sort();
        let mut straight: Vec<(String, Vec<String>)> =
            ids(CLAIMS).into_iter().zip(accumulators(&engine, CLAIMS)).collect();
        straight.sort();
        assert_eq!(by_id, straight, "{:?}", engine.backend());
    }
}

#[test]
fn one_claim_at_a_time_with_saved_member_and_group_state() {
    for engine in engines(HOUSEHOLDS) {
        let rows = read(&engine, CLAIMS);
        let claims = io::into_claims(rows);
        let mut members: Vec<(String, MemberState)> = Vec::new();
        let mut groups: Vec<(String, MemberState)> = Vec::new();
        let text = |c: &settle_runtime::Claim, i: usize| match &c.fields[i] {
            Value::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        };
        // The claims are in date order already.
        for (claim, want) in claims.iter().zip(EXPECTED) {
            let (m, g) = (text(claim, 1), text(claim, 2));
            if !members.iter().any(|(k, _)| *k == m) {
                members.push((m.clone(), MemberState::default()));
            }
            if !groups.iter().any(|(k, _)| *k == g) {
                groups.push((g.clone(), MemberState::default()));
            }
            let member = &mut members.iter_mut().find(|(k, _)| *k == m).expect("member").1;
            let group = &mut groups.iter_mut().find(|(k, _)| *k == g).expect("group").1;
            let settled =
                engine.settle_one_in_group(claim, member, group).expect("settles with the states");
            let got: Vec<String> =
                settled.accumulators(engine.policy()).iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{:?} claim {}", engine.backend(), engine.id_of(claim));
            // The group's state holds only group totals, the member's only its own.
            assert!(group.accumulators.iter().all(|(n, _)| n.starts_with("household_")));
            assert!(member.accumulators.iter().all(|(n, _)| n == "own_month"));
        }
        // Without the group's state, a policy with group totals refuses the claim.
        let refused = engine.settle_one(&claims[0], &mut MemberState::default());
        assert!(
            refused.as_ref().is_err_and(|e| e.to_string().contains("household_month")),
            "{refused:?}"
        );
    }
}

#[test]
fn explain_shows_the_group_and_its_members() {
    let engine = Engine::new(load_str("groups.settle", HOUSEHOLDS).expect("checks"));
    let claims = io::into_claims(read(&engine, CLAIMS));
    let explanation = settle_runtime::trace::explain(&engine, &claims, "i").expect("explained");
    let group = explanation.group.as_ref().expect("a group");
    assert_eq!((group.field.as_str(), group.key.as_str()), ("household", "h2"));
    // m2 links h1's claims to h2's, all settled together; h2's members are those with claims
    // naming it, by their first there.
    assert_eq!(group.members, ["m3", "m2"]);
    let text = explanation.to_text();
    assert!(
        text.contains("household_month (monthly from 2024-03-01) by household = 80.00"),
        "{text}"
    );
    assert!(text.contains("group household = h2"), "{text}");
}

/// Generated claims for the household policy of the Japanese example: members in households of
/// two and three, enough for dozens of tasks.
#[test]
fn households_split_across_many_tasks_settle_alike_on_one_and_two_threads() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let path = root.join("examples/japan/kogaku_household.settle");
    let text = std::fs::read_to_string(&path).expect("policy");
    let policy = settle_runtime::load_with(&path.display().to_string(), &text, &mut io::FileLoader)
        .expect("checks");
    let engine = Engine::new(policy);
    let mut csv = Vec::new();
    generate::write(engine.policy(), 12_000, 5, false, &mut csv).expect("generated");
    let claims = io::into_claims(read(&engine, std::str::from_utf8(&csv).expect("utf-8")));
    let household = engine.policy().group_field().expect("the example has group totals");
    let households: HashSet<String> =
        claims.iter().map(|c| c.fields[household].to_string()).collect();
    let members: HashSet<String> = claims.iter().map(|c| engine.member_of(c).to_string()).collect();
    assert!(members.len() > households.len() * 2, "households of several members");
    let tasks = claims.len() / (CLAIMS_PER_TASK * 2);
    assert!(tasks >= 16 && households.len() > tasks * 16, "{} households", households.len());
    // The batch against one claim at a time in settling order, each with its member's and its
    // household's saved state: households cut across tasks would miss their other members.
    let batch = engine.settle_batch(&claims);
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by_key(|&i| (engine.date_of(&claims[i]), engine.id_of(&claims[i])));
    let mut members: HashMap<String, MemberState> = HashMap::new();
    let mut groups: HashMap<String, MemberState> = HashMap::new();
    for i in order {
        let claim = &claims[i];
        let member = members.entry(engine.member_of(claim).to_string()).or_default();
        let group = groups.entry(claim.fields[household].to_string()).or_default();
        let one = engine.settle_one_in_group(claim, member, group);
        assert_eq!(one, batch[i], "claim {}", engine.id_of(claim));
    }
    let on = |n: usize, f: &(dyn Fn() -> Vec<u8> + Sync)| {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool").install(f)
    };
    let general = |n| on(n, &|| general_csv(&engine, &csv));
    let one = general(1);
    assert_eq!(one, general(2), "the general path on 1 and 2 threads");
    assert!(batch::supported(&engine), "the example takes the fast path");
    let fast = |n| on(n, &|| fast_csv(&engine, &csv));
    assert_eq!(fast(1), one, "the fast path on 1 thread");
    assert_eq!(fast(2), one, "the fast path on 2 threads");
}
