//! A random program and random claims from the input's bytes, settled under the reference
//! interpreter, the closures and the JIT: every value, accumulator and error must be the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../runtime/tests/support/programs.rs"]
#[allow(dead_code)]
mod programs;

fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    for (i, b) in data.iter().take(8).enumerate() {
        seed[i] = *b;
    }
    let mut maker = programs::Gen::new(u64::from_le_bytes(seed));
    let text = maker.program();
    let csv = maker.claims(40);
    if let Err(e) = programs::compare(&text, &csv) {
        panic!("{e}");
    }
});
