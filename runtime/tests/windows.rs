//! Rolling look-back and episode windows: the values each claim reads, across month and year
//! ends and members, alike under the three backends, the batch fast path, and one claim at a
//! time with the member's saved state.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use settle_runtime::batch::{read_table, settle_table, write_table_csv};
use settle_runtime::io::{self, Row};
use settle_runtime::{Claim, Engine, MemberState, load_str};

/// Claims counted over 30 days, paid amounts over two calendar months, and two episodes: one
/// ending on a date field of the claim, one on the claim's own date.
const WINDOWS: &str = "policy windows
input claim { id: text, member: text, date: date, out: date, total: money }
rolling 30 days recent: int = count()
rolling 2 months paid: money = sum(s.pay) where claim.total > 10
episode 10 days after claim.out stay: money = sum(claim.total)
episode 10 days largest: money = max(claim.total)
stage s (pay: money) { pay = claim.total }
balance claim.total = s.pay
";

const CLAIMS: &str = "id,member,date,out,total
a,m1,2023-12-01,2023-12-05,100
b,m1,2023-12-20,2023-12-21,5
c,m1,2023-12-31,2023-12-31,50
d,m1,2024-01-10,2024-01-20,20
e,m1,2024-01-29,2024-01-29,7
h,m1,2024-02-03,2024-02-03,3
f,m1,2024-02-15,2024-02-15,30
g,m2,2024-02-16,2024-02-16,30
";

/// What each claim reads: recent, paid, stay, largest.
const EXPECTED: [[&str; 4]; 8] = [
    // a: nothing before it.
    ["0", "0.00", "0.00", "0.00"],
    // b: a is 19 days back and in December; the stay ended 15 days before: a new episode.
    ["1", "100.00", "0.00", "0.00"],
    // c: a is 30 days back, out of the 30 days; b's stay ended 10 days before: a new episode.
    ["1", "100.00", "0.00", "0.00"],
    // d (next year): b and c within 30 days; December and January's paid; gaps of 10 days.
    ["2", "150.00", "0.00", "0.00"],
    // e: c and d; the stay of d ended 9 days before: the episode goes on.
    ["2", "170.00", "20.00", "0.00"],
    // h: d and e; February and January; 5 days after e: both episodes go on.
    ["2", "20.00", "27.00", "7.00"],
    // f: e and h within 30 days; 12 days after h: both episodes end.
    ["2", "20.00", "0.00", "0.00"],
    // g: another member starts from nothing.
    ["0", "0.00", "0.00", "0.00"],
];

fn engines() -> [Engine; 3] {
    let policy = load_str("windows.settle", WINDOWS).expect("checks");
    [
        Engine::reference(policy.clone()),
        Engine::new(policy.clone()),
        Engine::compiled(policy).expect("compiles"),
    ]
}

fn rows(engine: &Engine) -> Vec<Row> {
    io::read_csv(engine.policy(), CLAIMS.as_bytes(), "claims.csv").expect("readable")
}

fn claims(rows: &[Row]) -> Vec<Claim> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Claim(c) => Some(c.clone()),
            Row::Error(_) => None,
        })
        .collect()
}

fn shown(engine: &Engine, s: &settle_runtime::Settlement) -> [String; 4] {
    [0, 1, 2, 3].map(|a| s.accumulator(engine.policy(), a).expect("accumulator").to_string())
}

#[test]
fn each_claim_reads_its_windows_under_every_backend() {
    for engine in &engines() {
        let rows = rows(engine);
        let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
        let seen: Vec<[String; 4]> = outcomes
            .iter()
            .map(|o| match o {
                Some(Ok(s)) => shown(engine, s),
                other => panic!("{other:?}"),
            })
            .collect();
        let want: Vec<[String; 4]> = EXPECTED.iter().map(|r| r.map(String::from)).collect();
        assert_eq!(seen, want, "{:?}", engine.backend());
    }
}

#[test]
fn one_claim_at_a_time_with_saved_state_reads_the_same_windows() {
    for engine in &engines() {
        let rows = rows(engine);
        let mut state = MemberState::default();
        for (claim, want) in claims(&rows).iter().zip(EXPECTED).take(7) {
            let saved = serde_json::to_string(&state).expect("serializes");
            state = serde_json::from_str(&saved).expect("deserializes");
            let settled = engine.settle_one(claim, &mut state).expect("settles");
            assert_eq!(shown(engine, &settled), want.map(String::from), "{:?}", engine.backend());
        }
        // What the windows keep after f: e, h and f for the 30 days; d (January) for the two
        // months; each episode opened by f.
        let kept: Vec<(&str, usize, Option<&str>)> = state
            .windows
            .iter()
            .map(|(n, w)| (n.as_str(), w.claims.len(), w.began.as_deref()))
            .collect();
        assert_eq!(
            kept,
            [
                ("recent", 3, None),
                ("paid", 2, None),
                ("stay", 0, Some("2024-02-15")),
                ("largest", 0, Some("2024-02-15"))
            ]
        );
    }
}

#[test]
fn a_state_saved_before_windows_existed_still_loads() {
    let engine = Engine::new(load_str("windows.settle", WINDOWS).expect("checks"));
    let saved = r#"{"year_start":"2024-01-01","last_claim":"2024-01-29","accumulators":[]}"#;
    let mut state: MemberState = serde_json::from_str(saved).expect("an older saved state reads");
    let claim = claims(&rows(&engine)).remove(5);
    let settled = engine.settle_one(&claim, &mut state).expect("settles");
    assert_eq!(shown(&engine, &settled), ["0", "0.00", "0.00", "0.00"].map(String::from));
}

#[test]
fn the_batch_fast_path_writes_what_the_general_path_writes() {
    for engine in &engines()[1..] {
        let rows = rows(engine);
        let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
        let mut general = Vec::new();
        io::write_csv(engine.policy(), &rows, &outcomes, &mut general).expect("written");
        let table = read_table(engine.policy(), CLAIMS.as_bytes(), "claims.csv")
            .expect("read")
            .expect("the fast path takes the policy");
        let settled = settle_table(engine, table, &|_| {}).expect("supported");
        let mut fast = Vec::new();
        write_table_csv(engine, &settled, &mut fast).expect("written");
        assert_eq!(String::from_utf8(fast), String::from_utf8(general), "{:?}", engine.backend());
    }
}

#[test]
fn explain_shows_each_windows_span() {
    let engine = Engine::new(load_str("windows.settle", WINDOWS).expect("checks"));
    let rows = rows(&engine);
    let claims = claims(&rows);
    let explained = settle_runtime::trace::explain(&engine, &claims, "e").expect("explained");
    let lines: Vec<(&str, &str)> =
        explained.year_to_date.iter().map(|n| (n.name.as_str(), n.value.as_str())).collect();
    assert_eq!(
        lines,
        [
            ("recent (rolling 30 days from 2023-12-31)", "2"),
            ("paid (rolling 2 months from 2023-12-01)", "170.00"),
            ("stay (episode since 2024-01-10, ends after a gap of 10 days)", "20.00"),
            ("largest (episode, none open; ends after a gap of 10 days)", "0.00"),
        ]
    );
}
