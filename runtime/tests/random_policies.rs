//! Random well-typed policies, each settled under the reference interpreter, the interpreter's
//! closures and the JIT on random claims, compared exactly: values, accumulators and errors.
//!
//! Programs are generated as source text, so the front end checks them too. Each has an input
//! record of its own (money, rate, int, bool, date, text and list fields in a random order, an
//! enum of 1 to 300 variants), and the generator builds every expression for a wanted type:
//! fields, parameters (dated values, enum-keyed tables, segmented scales), `let`s, rules with
//! exceptions, accumulators (some of them group totals keyed by a text field), stage outputs, every operator of the language on them, set
//! membership, folds over a claim's list of items and comparisons of text (which the compiled
//! code leaves to the interpreter). Claims draw values at and one step beyond every bound, and
//! cells pasted with tabs, vertical tabs, non-breaking spaces, byte order marks, full-width
//! digits and quotes. Where the policy takes the batch fast path, the rows it writes are compared
//! byte for byte with the general path's, for the closures and the JIT. A mismatch prints the
//! program and the claim.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

#[path = "support/programs.rs"]
mod programs;

use programs::Gen;

#[test]
fn random_programs_agree_under_every_backend() {
    let mut maker = Gen::new(20_260_401);
    let (mut programs, mut compared, mut rejected, mut faults, mut wide) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let (mut fast, mut proportions, mut groups) = (0usize, 0usize, 0usize);
    while programs < 400 {
        let text = maker.program();
        let csv = maker.claims(200);
        let Some(c) = programs::compare(&text, &csv).unwrap_or_else(|e| panic!("{e}")) else {
            rejected += 1;
            assert!(rejected < 2_000, "the generator writes too few valid programs");
            continue;
        };
        programs += 1;
        compared += c.claims;
        faults += c.faults;
        wide += usize::from(c.wide_enum);
        fast += c.fast_rows;
        proportions += usize::from(c.proportion);
        groups += usize::from(c.groups);
    }
    eprintln!(
        "{programs} programs ({rejected} rejected), {compared} claims, {faults} errors, \
         {wide} wide enums, {proportions} with proportions, {groups} with group totals, {fast} \
         rows compared between the data paths"
    );
    assert!(compared >= 50_000, "only {compared} programs x claims compared");
    assert!(faults > 1_000, "too few error paths exercised: {faults}");
    assert!(wide > 100, "too few programs over an enum of more than 64 variants: {wide}");
    assert!(proportions > 100, "too few programs computing a proportion: {proportions}");
    assert!(groups > 50, "too few programs with group totals: {groups}");
    assert!(rejected < programs, "{rejected} programs rejected for {programs} checked");
    assert!(fast >= 50_000, "only {fast} rows compared between the general and the fast path");
}
