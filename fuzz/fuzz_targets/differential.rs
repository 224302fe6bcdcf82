//! A random program and random claims from the input's bytes, settled under the interpreter and
//! the JIT: every value, accumulator and error must be the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settle_runtime::io;
use settle_runtime::Engine;

#[path = "../../runtime/tests/support/programs.rs"]
#[allow(dead_code)]
mod programs;

fuzz_target!(|data: &[u8]| {
    let mut seed = [0u8; 8];
    for (i, b) in data.iter().take(8).enumerate() {
        seed[i] = *b;
    }
    let mut maker = programs::Gen { rng: settle_runtime::generate::Rng::new(u64::from_le_bytes(seed)) };
    let text = maker.program();
    let Ok(policy) = settle_runtime::load_str("fuzz.settle", &text) else { return };
    let interpreter = Engine::new(policy.clone());
    let jit = match Engine::compiled(policy) {
        Ok(engine) => engine,
        Err(e) => panic!("{e}\n{text}"),
    };
    let csv = maker.claims(40);
    let Ok(rows) = io::read_csv(interpreter.policy(), csv.as_bytes(), "claims.csv") else { return };
    let batch = io::into_claims(rows);
    let a = interpreter.settle_batch(&batch);
    let b = jit.settle_batch(&batch);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "claim {:?}\nof program\n{text}", batch.get(i));
    }
});
