//! Any bytes as a claims file, CSV and JSON Lines, for a real policy: every record gives one
//! row, and settling and writing what was read never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settle_runtime::io;

#[path = "common/dezhou.rs"]
mod dezhou;
use dezhou::engine;

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let policy = engine.policy();
    for rows in [io::read_csv(policy, data, "fuzz.csv"), io::read_jsonl(policy, data, "fuzz.jsonl")] {
        let Ok(rows) = rows else { continue };
        let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
        let mut out = Vec::new();
        let _ = io::write_csv(policy, &rows, &outcomes, &mut out);
        let _ = io::write_jsonl(policy, &rows, &outcomes, &mut out);
    }
});
