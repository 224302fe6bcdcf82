//! Any bytes as a claims file, CSV and JSON Lines, for a real policy and for a policy with an
//! input field of every type (the bytes after its CSV header): every record gives one row, and
//! settling and writing what was read never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settle_runtime::{Engine, io};

#[path = "common/dezhou.rs"]
mod dezhou;
#[path = "common/every_type.rs"]
mod every_type;

fuzz_target!(|data: &[u8]| {
    settle(dezhou::engine(), data, data);
    settle(every_type::engine(), &[every_type::HEADER, data].concat(), data);
});

/// Read `csv` as CSV and `jsonl` as JSON Lines, settle and write what was read.
fn settle(engine: &Engine, csv: &[u8], jsonl: &[u8]) {
    let policy = engine.policy();
    for rows in [io::read_csv(policy, csv, "fuzz.csv"), io::read_jsonl(policy, jsonl, "fuzz.jsonl")]
    {
        let Ok(rows) = rows else { continue };
        let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
        let mut out = Vec::new();
        let _ = io::write_csv(policy, &rows, &outcomes, &mut out);
        let _ = io::write_jsonl(policy, &rows, &outcomes, &mut out);
    }
}
