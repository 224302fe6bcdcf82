//! Any bytes through the whole front end: parse, check, render. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = settle_lang::check_bytes("fuzz.settle", data, &mut settle_lang::NoLoader);
    let _ = checked.problems.render_plain();
    let _ = checked.problems.to_json();
});
