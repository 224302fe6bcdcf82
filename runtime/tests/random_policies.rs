//! Random well-typed policies, each settled under the reference interpreter, the interpreter's
//! closures and the JIT on random claims
//! (ordinary amounts, amounts near the bounds, zeros, dates before the first effective date),
//! compared value by value and error by error.
//!
//! Programs are generated as source text, so the front end checks them too. The generator
//! builds every expression for a wanted type: fields, parameters (dated values, enum-keyed
//! tables, segmented scales), `let`s, rules with exceptions, accumulators, stage outputs, and
//! every operator of the language on them, folds over a claim's list of items and comparisons of
//! text (which the compiled code leaves to the interpreter). A mismatch prints the program and
//! the claim.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

#[path = "support/programs.rs"]
mod programs;

use programs::Gen;
use settle_runtime::Engine;
use settle_runtime::generate::Rng;
use settle_runtime::io;

#[test]
fn random_programs_agree_under_every_backend() {
    let mut maker = Gen { rng: Rng::new(20_260_401) };
    let (mut programs, mut compared, mut rejected, mut faults, mut folds) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    while programs < 250 {
        let text = maker.program();
        let Ok(policy) = settle_runtime::load_str("random.settle", &text) else {
            rejected += 1;
            assert!(rejected < 2_000, "the generator writes too few valid programs");
            continue;
        };
        programs += 1;
        folds += usize::from(text.contains(" for i in ") || text.contains("claim.hospital"));
        let reference = Engine::reference(policy.clone());
        let closures = Engine::new(policy.clone());
        assert!(closures.uses_closures(), "{text}");
        let jit = Engine::compiled(policy).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let csv = maker.claims(90);
        let rows = io::read_csv(reference.policy(), csv.as_bytes(), "claims.csv").expect("read");
        let batch = io::into_claims(rows);
        let a = reference.settle_batch(&batch);
        for (other, name) in [(&closures, "closures"), (&jit, "JIT")] {
            let b = other.settle_batch(&batch);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(x, y, "{name}: claim {:?}\nof program\n{text}", batch[i]);
            }
        }
        faults += a.iter().filter(|x| x.is_err()).count();
        compared += batch.len();
    }
    assert!(compared >= 20_000, "only {compared} programs x claims compared");
    assert!(faults > 100, "too few error paths exercised: {faults}");
    assert!(folds > 50, "too few programs fold lists or compare text: {folds}");
}
