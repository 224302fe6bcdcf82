//! Any bytes as a claims file, CSV and JSON Lines, for a real policy: every record gives one
//! row, and settling and writing what was read never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use settle_runtime::io::{self, Row};
use settle_runtime::{Claim, Engine};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let text = include_str!("../../policies/dezhou/employee_inpatient.settle");
        match settle_runtime::load_str("employee_inpatient.settle", text) {
            Ok(policy) => Engine::new(policy),
            Err(problems) => panic!("{}", problems.render_plain()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let policy = engine.policy();
    for rows in [io::read_csv(policy, data, "fuzz.csv"), io::read_jsonl(policy, data, "fuzz.jsonl")] {
        let Ok(rows) = rows else { continue };
        let batch: Vec<Claim> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Claim(c) => Some(c.clone()),
                Row::Error(_) => None,
            })
            .collect();
        let mut settled = engine.settle_batch(&batch).into_iter();
        let outcomes: Vec<_> = rows.iter().map(|r| matches!(r, Row::Claim(_)).then(|| settled.next()).flatten()).collect();
        let mut out = Vec::new();
        let _ = io::write_csv(policy, &rows, &outcomes, &mut out);
        let _ = io::write_jsonl(policy, &rows, &outcomes, &mut out);
    }
});
