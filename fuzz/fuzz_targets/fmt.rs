//! Formatting a file that parses is idempotent and keeps every token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settle_lang::syntax::token::{Token, tokenize};

fn significant(text: &str) -> Vec<&str> {
    tokenize(text)
        .into_iter()
        .filter(|t| !matches!(t.kind, Some(Token::Space | Token::Newline)))
        .map(|t| text.get(t.span.range()).unwrap_or(""))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut problems = Vec::new();
    let _ = settle_lang::syntax::parse::parse(text, 0, &mut problems);
    if !problems.is_empty() {
        return;
    }
    let once = settle_lang::format::format(text);
    assert_eq!(settle_lang::format::format(&once), once);
    assert_eq!(significant(&once), significant(text));
});
