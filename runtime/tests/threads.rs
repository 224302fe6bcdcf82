//! Results do not depend on the number of threads: on enough members that the work is cut into
//! many tasks, so that one thread, two and seven really do settle different parts at once.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

use std::collections::HashMap;
use std::path::Path;

use settle_runtime::engine::CLAIMS_PER_TASK;
use settle_runtime::{Engine, batch, generate, io, load_str};

/// Claims generated for the test: enough members for dozens of tasks on either path.
const CLAIMS: usize = 12_000;

fn dezhou() -> Engine {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let text = std::fs::read_to_string(root.join("policies/dezhou/employee_inpatient.settle"))
        .expect("policy");
    Engine::new(load_str("employee_inpatient.settle", &text).expect("checks"))
}

/// Generated claims, one in 37 dated before any parameter is in force (a claim that faults
/// while settling) and one in 41 with an amount that does not read (an error row from reading):
/// error rows are collected across tasks and must come out in input order too.
fn generated(engine: &Engine) -> Vec<u8> {
    let mut csv = Vec::new();
    generate::write(engine.policy(), CLAIMS, 11, false, &mut csv).expect("generated");
    let text = String::from_utf8(csv).expect("utf-8");
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        let mut cells: Vec<&str> = line.split(',').collect();
        if n > 0 && n % 37 == 0 {
            cells[2] = "1990-01-01";
        }
        if n > 0 && n % 41 == 0 {
            cells[4] = "12.345";
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

fn on_threads<T: Send>(n: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool").install(work)
}

#[test]
fn the_engine_gives_the_same_outcomes_on_one_two_and_seven_threads() {
    let engine = dezhou();
    let rows =
        io::read_csv_bytes(engine.policy(), &generated(&engine), "claims.csv").expect("readable");
    let claims = io::into_claims(rows);
    let mut members: HashMap<String, usize> = HashMap::new();
    for c in &claims {
        *members.entry(engine.member_of(c).to_string()).or_default() += 1;
    }
    // INVARIANT: a task ends at the first change of member after CLAIMS_PER_TASK claims, so it
    // holds fewer than CLAIMS_PER_TASK plus the largest member's claims (members sharing a hash
    // aside); with fewer tasks than this, every thread count would run the same few.
    let largest = members.values().copied().max().unwrap_or(0);
    let tasks = claims.len() / (CLAIMS_PER_TASK + largest);
    assert!(tasks >= 16, "{} claims make only {tasks} tasks of {CLAIMS_PER_TASK}", claims.len());
    let one = on_threads(1, || engine.settle_batch(&claims));
    assert!(one.iter().filter(|o| o.is_ok()).count() > CLAIMS / 2, "most claims settle");
    for n in [2, 7] {
        let many = on_threads(n, || engine.settle_batch(&claims));
        let differ = one.iter().zip(&many).position(|(a, b)| a != b);
        assert_eq!(differ, None, "claim {differ:?} differs between 1 and {n} threads");
    }
}

#[test]
fn the_fast_path_writes_the_same_bytes_on_one_two_and_seven_threads() {
    let engine = dezhou();
    assert!(batch::supported(&engine), "the policy takes the fast path");
    let csv = generated(&engine);
    let run = |n: usize| {
        on_threads(n, || {
            let table = batch::read_table(engine.policy(), &csv, "claims.csv")
                .expect("readable")
                .expect("the fast path reads it");
            let settled = batch::settle_table(&engine, table, &|_| {}).expect("settles");
            let mut out = Vec::new();
            batch::write_table_csv(&engine, &settled, &mut out).expect("written");
            out
        })
    };
    let one = run(1);
    assert_eq!(bytecount(&one), CLAIMS + 1, "a header and one row per claim");
    let text = String::from_utf8_lossy(&one);
    assert!(text.contains("is in force on 1990-01-01"), "claims fault while settling");
    assert!(text.contains("has more than two decimals"), "claims fail to read");
    for n in [2, 7] {
        let many = run(n);
        let differ =
            one.split(|&b| b == b'\n').zip(many.split(|&b| b == b'\n')).position(|(a, b)| a != b);
        assert_eq!(differ, None, "line {differ:?} differs between 1 and {n} threads");
        assert_eq!(one.len(), many.len());
    }
}

fn bytecount(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}
