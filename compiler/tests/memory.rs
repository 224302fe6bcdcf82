//! Compiled code's memory is given back when the compiled policy is dropped: a service that
//! reloads policies does not grow.

#![allow(clippy::expect_used, clippy::panic, reason = "a test fails by panicking")]

/// The process's mapped memory in bytes (Linux).
#[cfg(target_os = "linux")]
fn mapped() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().next().and_then(|p| p.parse().ok()).expect("size");
    pages * 4096
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_a_compiled_policy_frees_its_code() {
    let text = "policy memory.reload
input claim { id: text, member: text, date: date, total: money }
param ratio: rate = 85%
stage basic (pay: money) { pay = claim.total * ratio }
stage patient (out: money) { out = claim.total - basic.pay }
balance claim.total = basic.pay + patient.out
";
    let checked = settle_lang::check("memory.settle", text);
    let policy = checked.policy.expect("checks");
    let compile = || drop(settle_compiler::compile(&policy).expect("compiles"));
    // Warm up the allocator and Cranelift's own tables.
    (0..50).for_each(|_| compile());
    let before = mapped();
    (0..1_000).for_each(|_| compile());
    let grown = mapped().saturating_sub(before);
    // Each compiled policy maps at least a page: 1,000 kept would be 4 MB or more.
    assert!(grown < 1 << 20, "mapped memory grew by {grown} bytes over 1,000 policies");
}
