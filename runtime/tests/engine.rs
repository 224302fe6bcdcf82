//! The engine on real policies and claims: settlements, traces, bad input, arithmetic faults,
//! determinism, and the embedding API.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::path::Path;

use settle_runtime::io::{self, Row};
use settle_runtime::{Claim, Engine, MemberState, Outcome, load_str};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn dezhou() -> Engine {
    let text = std::fs::read_to_string(root().join("policies/dezhou/employee_inpatient.settle"))
        .expect("policy");
    Engine::new(load_str("employee_inpatient.settle", &text).expect("checks"))
}

fn sample_rows(engine: &Engine) -> Vec<Row> {
    let path = root().join("examples/claims/dezhou_employee.csv");
    io::read_claims(engine.policy(), &path, io::Format::Csv).expect("readable")
}

fn claims(rows: &[Row]) -> Vec<Claim> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Claim(c) => Some(c.clone()),
            Row::Error(_) => None,
        })
        .collect()
}

fn settle_rows(engine: &Engine, rows: &[Row]) -> Vec<Option<Outcome>> {
    io::by_row(rows, engine.settle_batch(&io::claims_of(rows)))
}

fn csv_output(engine: &Engine, rows: &[Row]) -> String {
    let outcomes = settle_rows(engine, rows);
    let mut out = Vec::new();
    io::write_csv(engine.policy(), rows, &outcomes, &mut out).expect("written");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn settlements_as_json_lines() {
    let engine = dezhou();
    let rows = sample_rows(&engine);
    let outcomes = settle_rows(&engine, &rows);
    let mut out = Vec::new();
    io::write_jsonl(engine.policy(), &rows, &outcomes, &mut out).expect("written");
    let text = String::from_utf8(out).expect("utf-8");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    assert_eq!(first["basic.pay"].to_string(), "13430.00");
    assert_eq!(text.lines().count(), rows.len());
}

#[test]
fn explain_a_claim_that_reaches_the_basic_cap() {
    let engine = dezhou();
    let batch = claims(&sample_rows(&engine));
    let explanation = settle_runtime::trace::explain(&engine, &batch, "c010").expect("explained");
    insta::assert_snapshot!(explanation.to_text());
    let json = serde_json::to_value(&explanation).expect("json");
    assert_eq!(json["year_to_date"][1]["value"], "150000.00");
}

#[test]
fn the_basic_cap_holds_across_a_members_claims() {
    let engine = dezhou();
    let rows = sample_rows(&engine);
    let outcomes = settle_rows(&engine, &rows);
    let pay = engine.policy().values.iter().position(|v| v.name == "basic.pay").expect("basic.pay");
    let mut total = rust_decimal::Decimal::ZERO;
    for (row, outcome) in rows.iter().zip(&outcomes) {
        let (Row::Claim(c), Some(Ok(s))) = (row, outcome) else { continue };
        if &*engine.member_of(c) == "m03" {
            total += s.value(engine.policy(), pay).and_then(|v| v.decimal()).expect("money");
        }
    }
    assert_eq!(total.to_string(), "150000.00");
}

const SMALL: &str = r#"
policy test.small
enum Level { level1, level2 }
input claim { id: text, member: text, date: date, level: Level, total: money, days: int }
param cap: money
    from 2021-01-01 1_000
yearly paid = sum(basic.pay)
let per_day = claim.total / claim.days
rule extra: money
    default 0
    when per_day > 100 -> 10
    when per_day > 200 -> 20
stage basic (pay: money) {
    pay = min(claim.total * 50%, max(cap - paid, 0)) + extra - extra
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"#;

fn small() -> Engine {
    Engine::new(load_str("small.settle", SMALL).expect("checks"))
}

fn read(engine: &Engine, csv: &str) -> Vec<Row> {
    io::read_csv(engine.policy(), csv.as_bytes(), "claims.csv").expect("a header with every column")
}

fn error_of(rows: &[Row], line: usize) -> String {
    rows.iter()
        .find_map(|r| match r {
            Row::Error(e) if e.line == line => Some(e.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error row at line {line}: {rows:?}"))
}

const HEADER: &str = "id,member,date,level,total,days\n";

#[test]
fn bad_fields_are_error_rows_with_line_and_field() {
    let engine = small();
    let csv = format!(
        "{HEADER}a,m1,2021-03-01,level1,100,1\n\
         b,m1,2021-03-01,level4,100,1\n\
         c,m1,2021-03-01,level1,12x,1\n\
         d,m1,2021-03-01,level1,-5,1\n\
         e,m1,2021-03-01,level1,1.005,1\n\
         f,m1,2023-02-30,level1,100,1\n\
         a,m2,2021-03-01,level1,100,1\n\
         g,m1,2021-03-01,level1,99999999999999999999,1\n\
         h,,2021-03-01,level1,100,1\n\
         i,m1,2021-03-01,level1,100\n\
         j,m1,2021-03-01,level1,100,1,extra\n\
         k,m1,2021-03-01,level1,100,1.5\n"
    );
    let rows = read(&engine, &csv);
    assert_eq!(rows.len(), 12, "one row per record");
    assert!(matches!(rows[0], Row::Claim(_)));
    assert_eq!(
        error_of(&rows, 3),
        "line 3, field `level`: `level4` is not a `Level`; did you mean `level1`?"
    );
    assert_eq!(error_of(&rows, 4), "line 4, field `total`: `12x` is not a number");
    assert_eq!(
        error_of(&rows, 5),
        "line 5, field `total`: `-5` is negative; amounts must be 0 or more"
    );
    assert_eq!(
        error_of(&rows, 6),
        "line 6, field `total`: `1.005` has more than two decimals (amounts are exact to the fen)"
    );
    assert_eq!(
        error_of(&rows, 7),
        "line 7, field `date`: `2023-02-30` is not a date (YYYY-MM-DD, a day that exists)"
    );
    assert_eq!(error_of(&rows, 8), "line 8, field `id`: duplicate claim id `a`, first on line 2");
    assert_eq!(
        error_of(&rows, 9),
        "line 9, field `total`: `99999999999999999999` is beyond 10^15 yuan"
    );
    assert_eq!(error_of(&rows, 10), "line 10, field `member`: empty");
    assert_eq!(error_of(&rows, 11), "line 11: the line has 5 fields, the header 6");
    assert_eq!(error_of(&rows, 12), "line 12: the line has 7 fields, the header 6");
    assert_eq!(error_of(&rows, 13), "line 13, field `days`: `1.5` is not a whole number");
}

/// A money cell beyond 10^15 yuan, however many digits, is an error row naming its line and
/// field, from a file or through the embedding API: never a panic that loses every other claim.
#[test]
fn a_cell_beyond_a_bound_is_an_error_row_not_a_panic() {
    let engine = small();
    let rows = read(
        &engine,
        &format!(
            "{HEADER}a,m1,2021-03-01,level1,999999999999999999.9,1\n\
             b,m1,2021-03-01,level1,1000000000000000,1\n\
             c,m1,2021-03-01,level1,\u{a0}1000000000000000.01\u{b},1\n"
        ),
    );
    assert_eq!(
        error_of(&rows, 2),
        "line 2, field `total`: `999999999999999999.9` is beyond 10^15 yuan"
    );
    assert!(matches!(rows[1], Row::Claim(_)), "{rows:?}");
    assert_eq!(
        error_of(&rows, 4),
        "line 4, field `total`: `1000000000000000.01` is beyond 10^15 yuan"
    );
    let json = r#"{"id":"a","member":"m1","date":"2021-03-01","level":"level1","total":999999999999999999.9,"days":1}"#;
    let refused = engine.claim_from_json(json).expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "line 1, field `total`: `999999999999999999.9` is beyond 10^15 yuan"
    );
}

/// A byte order mark before the first line of JSON Lines, and spaces pasted around an object,
/// are spaces, as around a field: the line is a claim.
#[test]
fn a_byte_order_mark_before_json_lines_is_a_space() {
    let engine = small();
    let jsonl = "\u{feff}{\"id\":\"a\",\"member\":\"m1\",\"date\":\"2021-03-01\",\"level\":\"level1\",\"total\":100,\"days\":1}\u{a0}\n\
                 \u{b}\n";
    let rows = io::read_jsonl(engine.policy(), jsonl.as_bytes(), "claims.jsonl").expect("read");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(matches!(&rows[0], Row::Claim(c) if c.line == 1), "{rows:?}");
}

#[test]
fn every_input_row_gives_one_output_row() {
    let engine = small();
    let csv = format!(
        "{HEADER}a,m1,2021-03-01,level1,100,1\nb,m1,2021-03-01,level9,100,1\nc,m2,2021-03-01,level1,100,0\n"
    );
    let rows = read(&engine, &csv);
    let out = csv_output(&engine, &rows);
    assert_eq!(out.lines().count(), 1 + 3, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_missing_column_is_a_file_error() {
    let engine = small();
    let err = io::read_csv(engine.policy(), "id,member,date,total\n".as_bytes(), "claims.csv")
        .expect_err("refused");
    assert_eq!(err.to_string(), "claims.csv, line 1: missing columns `level`, `days`");
}

#[test]
fn an_empty_file_and_a_file_cut_mid_line() {
    let engine = small();
    assert!(
        io::read_csv(engine.policy(), "".as_bytes(), "empty.csv")
            .is_err_and(|e| e.to_string().contains("missing"))
    );
    let rows = read(&engine, &format!("{HEADER}a,m1,2021-03-01,level1,100,1\nb,m1,2021-03-01,lev"));
    assert_eq!(rows.len(), 2);
    assert_eq!(error_of(&rows, 3), "line 3: the line has 4 fields, the header 6");
}

#[test]
fn json_lines_in() {
    let engine = small();
    let jsonl = "{\"id\":\"a\",\"member\":\"m1\",\"date\":\"2021-03-01\",\"level\":\"level1\",\"total\":100.10,\"days\":1}\n\
                 {\"id\":\"b\",\"member\":\"m1\",\"date\":\"2021-03-01\",\"level\":\"level1\",\"days\":1}\n\
                 not json\n";
    let rows = io::read_jsonl(engine.policy(), jsonl.as_bytes(), "claims.jsonl").expect("read");
    assert_eq!(rows.len(), 3);
    let Row::Claim(a) = &rows[0] else { panic!("{:?}", rows[0]) };
    assert_eq!(a.fields[4].to_string(), "100.10");
    assert_eq!(error_of(&rows, 2), "line 2, field `total`: missing");
    assert!(error_of(&rows, 3).starts_with("line 3: not a JSON object"));
}

#[test]
fn arithmetic_faults_and_conflicts_are_error_rows_naming_the_value() {
    let engine = small();
    let rows = read(
        &engine,
        &format!(
            "{HEADER}a,m1,2021-03-01,level1,100,0\nb,m2,2021-03-01,level1,1000,2\nc,m3,2020-12-31,level1,100,1\n"
        ),
    );
    let outcomes = settle_rows(&engine, &rows);
    let message = |i: usize| match &outcomes[i] {
        Some(Err(e)) => e.to_string(),
        other => panic!("claim {i} settled: {other:?}"),
    };
    assert_eq!(message(0), "computing `per_day`: division by zero");
    assert_eq!(
        message(1),
        "computing `extra`: two exceptions apply: `when per_day > 100` and `when per_day > 200`"
    );
    assert_eq!(
        message(2),
        "computing `basic.pay`: no value of `cap` is in force on 2020-12-31 (its first takes effect 2021-01-01)"
    );
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let policy = load_str(
        "big.settle",
        "policy big\ninput claim { id: text, member: text, date: date, total: money }\nlet huge = claim.total * 1_000_000_000\n\
         stage basic (pay: money) { pay = huge - huge }\nstage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
         balance claim.total = basic.pay + patient.out_of_pocket\n",
    )
    .expect("checks");
    let engine = Engine::new(policy);
    let claim = engine
        .claim_from_json(r#"{"id":"a","member":"m","date":"2024-01-01","total":"10000000"}"#)
        .expect("claim");
    let outcome = engine.settle_batch(&[claim]);
    assert_eq!(
        outcome[0].as_ref().expect_err("overflows").to_string(),
        "computing `huge`: overflow: the result is beyond ±10^15 yuan (or ±10^9 for a rate)"
    );
}

#[test]
fn results_do_not_depend_on_threads_or_input_order() {
    let engine = dezhou();
    let batch = claims(&sample_rows(&engine));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| engine.settle_batch(&batch));
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool")
        .install(|| engine.settle_batch(&batch));
    assert_eq!(one, two);
    let mut reversed = batch.clone();
    reversed.reverse();
    let mut back = engine.settle_batch(&reversed);
    back.reverse();
    assert_eq!(one, back);
}

#[test]
fn one_claim_at_a_time_with_saved_state_equals_the_batch() {
    let engine = dezhou();
    let batch = claims(&sample_rows(&engine));
    let expected = engine.settle_batch(&batch);
    let mut m03: Vec<(usize, &Claim)> =
        batch.iter().enumerate().filter(|(_, c)| &*engine.member_of(c) == "m03").collect();
    m03.sort_by_key(|(_, c)| engine.date_of(c));
    let mut state = MemberState::default();
    for (i, claim) in m03 {
        // The state travels as JSON, as a counter's database would keep it.
        let saved = serde_json::to_string(&state).expect("serializes");
        state = serde_json::from_str(&saved).expect("deserializes");
        let outcome = engine.settle_one(claim, &mut state);
        assert_eq!(outcome, expected[i]);
    }
    assert_eq!(state.accumulators[1].1.value, "150000.00");
}

#[test]
fn accumulators_reset_when_the_medical_year_turns() {
    let engine = dezhou();
    let rows = read_dezhou(
        &engine,
        "y1,m1,2021-12-30,level1,10000,0,0,0,0,0\ny2,m1,2022-01-02,level1,10000,0,0,0,0,0\n",
    );
    let outcomes = settle_rows(&engine, &rows);
    let due = engine.policy().values.iter().position(|v| v.name == "deductible_due").expect("rule");
    let value = |i: usize| match &outcomes[i] {
        Some(Ok(s)) => s.value(engine.policy(), due).expect("value").to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(value(0), "200.00");
    assert_eq!(value(1), "200.00", "a new year: a first admission again");
}

/// A policy counting a member's claims over the medical year and over a lifetime.
const WINDOWS: &str = "policy windows
input claim { id: text, member: text, date: date, total: money }
yearly this_year: int = count()
lifetime ever: int = count()
lifetime paid: money = sum(s.pay)
stage s (pay: money) { pay = claim.total * 50% }
stage p (rest: money) { rest = claim.total - s.pay }
balance claim.total = s.pay + p.rest
";

#[test]
fn lifetime_totals_survive_the_year_and_not_the_member() {
    let policy = load_str("windows.settle", WINDOWS).expect("checks");
    let csv = "id,member,date,total\n\
               a,m1,2021-12-30,100\n\
               b,m1,2022-01-02,100\n\
               c,m2,2022-01-03,100\n\
               d,m1,2023-06-01,100\n";
    let engines = [
        Engine::reference(policy.clone()),
        Engine::new(policy.clone()),
        Engine::compiled(policy.clone()).expect("compiles"),
    ];
    let (year, ever, paid) = (0, 1, 2);
    for engine in &engines {
        let rows = read(engine, csv);
        let outcomes = settle_rows(engine, &rows);
        let acc = |i: usize, a: usize| match &outcomes[i] {
            Some(Ok(s)) => s.accumulator(engine.policy(), a).expect("accumulator").to_string(),
            other => panic!("{other:?}"),
        };
        let seen: Vec<[String; 3]> =
            (0..4).map(|i| [acc(i, year), acc(i, ever), acc(i, paid)]).collect();
        assert_eq!(
            seen,
            [
                ["0", "0", "0.00"].map(String::from),
                ["0", "1", "50.00"].map(String::from),
                ["0", "0", "0.00"].map(String::from),
                ["0", "2", "100.00"].map(String::from),
            ],
            "{:?}",
            engine.backend()
        );
        // One claim at a time with saved state, across the year turn, as at a counter.
        let m1 = claims(&rows);
        let mut state = MemberState::default();
        for claim in m1.iter().filter(|c| &*engine.member_of(c) == "m1") {
            let saved = serde_json::to_string(&state).expect("serializes");
            state = serde_json::from_str(&saved).expect("deserializes");
            assert!(engine.settle_one(claim, &mut state).is_ok());
        }
        let ever_after: Vec<&str> =
            state.accumulators.iter().map(|(_, a)| a.value.as_str()).collect();
        assert_eq!(ever_after, ["1", "3", "150.00"]);
    }
}

/// A policy counting a member's claims in the calendar month and quarter.
const CALENDAR: &str = "policy calendar
input claim { id: text, member: text, date: date, total: money }
monthly in_month: int = count()
quarterly in_quarter: int = count()
stage s (pay: money) { pay = claim.total }
balance claim.total = s.pay
";

#[test]
fn monthly_and_quarterly_totals_start_again_with_each_calendar_month_and_quarter() {
    let policy = load_str("calendar.settle", CALENDAR).expect("checks");
    let csv = "id,member,date,total\n\
               a,m1,2021-12-30,1\n\
               b,m1,2022-01-02,1\n\
               c,m1,2022-01-31,1\n\
               d,m1,2022-02-01,1\n\
               e,m1,2022-03-31,1\n\
               f,m1,2022-04-01,1\n\
               g,m2,2022-04-02,1\n\
               h,m1,2023-04-15,1\n\
               i,m1,2023-04-20,1\n";
    let expected = [[0, 0], [0, 0], [1, 1], [0, 2], [0, 3], [0, 0], [0, 0], [0, 0], [1, 1]];
    let engines = [
        Engine::reference(policy.clone()),
        Engine::new(policy.clone()),
        Engine::compiled(policy.clone()).expect("compiles"),
    ];
    for engine in &engines {
        let rows = read(engine, csv);
        let outcomes = settle_rows(engine, &rows);
        let acc = |i: usize, a: usize| match &outcomes[i] {
            Some(Ok(s)) => s.accumulator(engine.policy(), a).expect("accumulator").to_string(),
            other => panic!("{other:?}"),
        };
        let seen: Vec<[String; 2]> = (0..9).map(|i| [acc(i, 0), acc(i, 1)]).collect();
        let want: Vec<[String; 2]> = expected.iter().map(|p| p.map(|n| n.to_string())).collect();
        assert_eq!(seen, want, "{:?}", engine.backend());
        // One claim at a time with saved state: the last claim's date travels with it.
        let mut state = MemberState::default();
        for claim in claims(&rows).iter().filter(|c| &*engine.member_of(c) == "m1") {
            let saved = serde_json::to_string(&state).expect("serializes");
            state = serde_json::from_str(&saved).expect("deserializes");
            assert!(engine.settle_one(claim, &mut state).is_ok());
        }
        let after: Vec<&str> = state.accumulators.iter().map(|(_, a)| a.value.as_str()).collect();
        assert_eq!(after, ["2", "2"]);
        assert_eq!(state.last_claim.as_deref(), Some("2023-04-20"));
    }
}

fn read_dezhou(engine: &Engine, body: &str) -> Vec<Row> {
    let csv = format!(
        "id,member,admitted,level,total,self_paid,prepay,special_drugs,tcm,rare_disease_drugs\n{body}"
    );
    io::read_csv(engine.policy(), csv.as_bytes(), "claims.csv").expect("read")
}

#[test]
fn a_claim_that_faults_leaves_the_members_year_unchanged() {
    let engine = small();
    let with_fault = read(
        &engine,
        &format!(
            "{HEADER}a,m1,2021-03-01,level1,100,1\nb,m1,2021-03-02,level1,100,0\nc,m1,2021-03-03,level1,100,1\n"
        ),
    );
    let without = read(
        &engine,
        &format!("{HEADER}a,m1,2021-03-01,level1,100,1\nc,m1,2021-03-03,level1,100,1\n"),
    );
    let faulted = settle_rows(&engine, &with_fault);
    let clean = settle_rows(&engine, &without);
    assert!(matches!(faulted[1], Some(Err(_))));
    assert_eq!(faulted[2], clean[1], "the faulting claim counted in the year");
}
