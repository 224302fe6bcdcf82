//! Any bytes through the whole front end: parse, check, render, the editor's index and the
//! fixes offered. Nothing may panic, and every fix edits whole characters of its file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = settle_lang::check_bytes("fuzz.settle", data, &mut settle_lang::NoLoader);
    let _ = checked.problems.render_plain();
    let _ = checked.problems.to_json();
    let text = checked.problems.sources.text(0);
    // At every seventh offset of a small file, at 256 offsets of a large one: each look-up
    // walks the file's names, and asking at every seventh offset of a 26 kB policy made the
    // look-ups most of the time of a run.
    for offset in (0..=text.len()).step_by((text.len() / 256).max(7)) {
        let _ = checked.index.at(0, offset);
        let _ = checked.index.visible(0, offset);
    }
    for fix in checked.problems.list.iter().flat_map(|p| &p.fixes) {
        let file = checked.problems.sources.text(fix.file);
        let (start, end) = (fix.span.start as usize, fix.span.end as usize);
        assert!(start <= end && end <= file.len(), "a fix inside its file");
        assert!(file.is_char_boundary(start) && file.is_char_boundary(end), "whole characters");
    }
});
