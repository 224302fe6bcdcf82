//! Large files are parsed in ranges on several threads, cut before items: whatever item ends
//! just before a cut (one ending in a `source` clause, a `test`, a comment after it), every item
//! is parsed once, in the range it starts in.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

/// A policy of about 20 KiB: filler `let`s, and near the middle `item` followed by a comment
/// and `param q`, at `shift` lines from the middle.
fn policy(item: &str, shift: usize) -> String {
    let mut text = String::from(
        "policy chunks.example\ninput claim { id: text, member: text, date: date, total: money }\n",
    );
    let filler = 600;
    let middle = filler / 2 + shift;
    for i in 0..filler {
        if i == middle {
            text.push_str(item);
            text.push_str("\n\n// a comment between items\n\nparam q: money = 2\n");
        }
        text.push_str(&format!("let v{i:04} = claim.total + p + q // filler\n"));
    }
    text.push_str(
        "stage patient (out_of_pocket: money) { out_of_pocket = claim.total }\n\
         balance claim.total = patient.out_of_pocket\n",
    );
    text
}

#[test]
fn every_item_is_parsed_once_whatever_ends_before_a_cut() {
    let items = [
        "param p: money = 1 source \"a document\"",
        "param p: money = 1",
        "param p: money\n    source \"a document\"\n    from 2024-01-01 1",
    ];
    let mut checked = 0;
    for item in items {
        for shift in 0..8 {
            let text = policy(item, shift);
            assert!(text.len() > 16 << 10, "large enough to be parsed in ranges");
            let result = settle_lang::check("chunks.settle", &text);
            let twice: Vec<String> = result
                .problems
                .list
                .iter()
                .filter(|p| p.message.contains("twice"))
                .map(|p| p.message.clone())
                .collect();
            assert!(twice.is_empty(), "{item:?} at +{shift}: {twice:?}");
            assert_eq!(result.problems.error_count(), 0, "{}", result.problems.render_plain());
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}
