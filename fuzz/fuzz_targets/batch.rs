//! Any bytes as a claims file, CSV and JSON Lines, read, settled and written by the batch fast
//! path (in windows of as many bytes as the file's length modulo 64, plus one) and by the
//! general path: the two outputs must be the same bytes, and neither panics. For the Dezhou
//! employee policy, the bytes as they are; for a policy with an input field of every type, the
//! bytes after its CSV header (and as they are for JSON Lines), so that they reach every reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settle_runtime::batch::{
    read_jsonl_table_from, read_table_from, settle_table, write_table_csv, write_table_jsonl,
};
use settle_runtime::{Engine, io};

#[path = "common/dezhou.rs"]
mod dezhou;
#[path = "common/every_type.rs"]
mod every_type;

fuzz_target!(|data: &[u8]| {
    same(dezhou::engine(), data, data);
    same(every_type::engine(), &[every_type::HEADER, data].concat(), data);
});

/// Both paths write the same bytes for `csv` read as CSV and `jsonl` as JSON Lines.
fn same(engine: &Engine, csv: &[u8], jsonl: &[u8]) {
    let policy = engine.policy();
    let window = csv.len() % 64 + 1;
    for (json, data) in [(false, csv), (true, jsonl)] {
        let rows = if json {
            io::read_jsonl(policy, data, "fuzz.jsonl")
        } else {
            io::read_csv_bytes(policy, data, "fuzz.csv")
        };
        let general = rows.map(|rows| {
            let settled = engine.settle_batch(&io::claims_of(&rows));
            let outcomes = io::by_row(&rows, settled);
            let mut out = Vec::new();
            let _ = if json {
                io::write_jsonl(policy, &rows, &outcomes, &mut out)
            } else {
                io::write_csv(policy, &rows, &outcomes, &mut out)
            };
            out
        });
        let table = if json {
            read_jsonl_table_from(policy, data, "fuzz.jsonl", window)
        } else {
            read_table_from(policy, data, "fuzz.csv", window)
        };
        let fast = table.map(|table| {
            table.map(|table| {
                let mut out = Vec::new();
                if let Some(settled) = settle_table(engine, table, &|_| {}) {
                    let _ = if json {
                        write_table_jsonl(engine, &settled, &mut out)
                    } else {
                        write_table_csv(engine, &settled, &mut out)
                    };
                }
                out
            })
        });
        match (general, fast) {
            (Ok(a), Ok(Some(b))) => assert_eq!(a, b, "the fast path wrote other bytes"),
            (_, Ok(None)) => {}
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!(
                "one path read the file, the other refused it: {:?} / {:?}",
                a.is_ok(),
                b.is_ok()
            ),
        }
    }
}
