//! A policy reading an input field of every type the batch fast path takes (money, a rate, a
//! count, yes or no, a date, an enum with labels, texts), its engine built once, and its CSV
//! header: targets put the fuzzed bytes after the header, so that they reach the field readers.

use std::sync::OnceLock;

use settle_runtime::Engine;

/// The CSV header of the policy's input, line end included.
pub const HEADER: &[u8] = b"id,member,date,level,total,share,days,referred,note\n";

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let text = include_str!("../../../runtime/tests/support/every_type.settle");
        match settle_runtime::load_str("every_type.settle", text) {
            Ok(policy) => Engine::new(policy),
            Err(problems) => panic!("{}", problems.render_plain()),
        }
    })
}
