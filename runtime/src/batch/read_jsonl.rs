//! Reading JSON Lines into a [`Table`]: flat objects of plain values in one pass, any other line by
//! the general reader's own function.

use std::io::Read;

use settle_lang::ir::Policy;

use super::reading::{Piece, Reader, add_window, finish, in_windows, keep_row};
use super::table::{Part, Shape, Table};
use super::{kinds, settled_values};
use crate::io::{FileError, Layout};

/// Read claims from JSON Lines in `file` into a [`Table`], `window` bytes at a time (whole
/// lines: a line end is never inside a JSON value), each window's pieces parsed in parallel on
/// the current rayon pool while a thread of its own reads the next. A line that is a flat object
/// of plain strings (no escapes), numbers, `true`, `false` and `null` is read in one pass; any
/// other, and any value the fast parser does not take, by the general reader's own function.
/// `Ok(None)`: the file is for the general reader ([`crate::io::read_jsonl`]): it is not UTF-8,
/// or a piece holds over 4 GiB of long texts.
pub fn read_jsonl_table_from(
    policy: &Policy,
    file: impl Read + Send,
    name: &str,
    window: usize,
) -> Result<Option<Table>, FileError> {
    let record = crate::io::input(policy);
    let layout = Layout {
        policy,
        record,
        positions: (0..record.fields.len()).collect(),
        width: record.fields.len(),
    };
    let kinds = kinds(policy);
    let shape = Shape::of(&kinds, &layout, &[], settled_values(policy));
    let mut table = Table { shape, ..Table::default() };
    let mut lines_before = 0;
    let whole = in_windows(file, window, false, name, |bytes, _| {
        if std::str::from_utf8(bytes).is_err() {
            return Ok(false);
        }
        let shape = table.shape.clone();
        let reader = Reader::new(&layout, &kinds, &shape);
        let pieces = line_cuts(bytes, (rayon::current_num_threads() * 2).max(1));
        let after = add_window(&mut table, pieces, lines_before, |p| read_jsonl_piece(&reader, p));
        lines_before = after.unwrap_or(lines_before);
        Ok(after.is_some())
    })?;
    Ok(whole.then(|| finish(policy, table)))
}

/// `bytes` cut into about `pieces` parts after line feeds.
pub(super) fn line_cuts(bytes: &[u8], pieces: usize) -> Vec<&[u8]> {
    let step = bytes.len().div_ceil(pieces.max(1)).max(1);
    let mut parts = Vec::with_capacity(pieces);
    let mut rest = bytes;
    while !rest.is_empty() {
        // After the first line feed from `step` bytes on (the last byte of the step included).
        let from = step.min(rest.len()) - 1;
        let cut = memchr::memchr(b'\n', rest.get(from..).unwrap_or(&[]))
            .map_or(rest.len(), |p| from + p + 1);
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        parts.push(head);
        rest = tail;
    }
    parts
}

/// Read a piece of JSON Lines; line numbers count from 1 at its start.
pub(super) fn read_jsonl_piece(r: &Reader<'_, '_>, piece: &[u8]) -> Piece {
    let mut out = Piece::new(r.shape, piece.len() / 96);

    let mut values: Vec<Option<Json>> = vec![None; r.kinds.len()];
    let mut line = 0;
    let mut rest = piece;
    while !rest.is_empty() {
        line += 1;
        let (text, ended) = match memchr::memchr(b'\n', rest) {
            Some(end) => {
                let (head, tail) = rest.split_at(end);
                rest = tail.get(1..).unwrap_or(&[]);
                // A CR before the line feed is not part of the line.
                (head.strip_suffix(b"\r").unwrap_or(head), true)
            }
            None => (std::mem::take(&mut rest), false),
        };
        out.newlines += usize::from(ended);
        if quick_json(r, text, line, &mut values, &mut out.part) {
            continue;
        }
        let text = std::str::from_utf8(text).unwrap_or("");
        if let Some(row) = crate::io::jsonl_row(r.layout.policy, r.layout.record, line, text)
            && keep_row(&mut out, r.shape, line, row).is_err()
        {
            break;
        }
    }
    out
}

/// Where a value of a JSON object is in its line, and what it is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Json {
    /// A string without escapes: its bytes between the quotes.
    Text(usize, usize),
    /// A number, `true` or `false`: its text.
    Literal(usize, usize),
    Null,
}

/// Read a line that is a flat JSON object of plain values in one pass: its row written, `true`.
/// `false`: nothing kept; the general reader reads it.
pub(super) fn quick_json(
    r: &Reader<'_, '_>,
    line: &[u8],
    number: usize,
    values: &mut [Option<Json>],
    t: &mut Part,
) -> bool {
    values.fill(None);
    if !scan_object(r, line, values) {
        return false;
    }
    let row = t.start_row(r.shape);
    let taken = values.iter().zip(r.kinds).zip(&r.shape.slots).enumerate().all(
        |(i, ((value, kind), &slot))| {
            let bytes = match value {
                Some(Json::Text(a, b) | Json::Literal(a, b)) => line.get(*a..*b).unwrap_or(&[]),
                Some(Json::Null) => &[][..],
                None => return false,
            };
            t.take_field(&row, i, kind, slot, bytes)
        },
    );
    if taken {
        t.keep(number);
    } else {
        t.undo(row);
    }
    taken
}

/// Scan `line` as a flat JSON object whose keys and strings have no escapes, putting the value
/// of each input field's key in `values` (the last, when a key comes twice, as `serde_json`
/// keeps it); `false` for anything else.
pub(super) fn scan_object(r: &Reader<'_, '_>, line: &[u8], values: &mut [Option<Json>]) -> bool {
    let space = |p: &mut usize| {
        while matches!(line.get(*p), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            *p += 1;
        }
    };
    // The end of a string starting after its opening quote at `p`; `None` on an escape or a
    // control character.
    let string = |p: usize| {
        let mut at = p;
        loop {
            match line.get(at) {
                Some(b'"') => return Some(at),
                Some(b'\\') | None => return None,
                Some(&b) if b < 0x20 => return None,
                Some(_) => at += 1,
            }
        }
    };
    let mut p = 0;
    space(&mut p);
    if line.get(p) != Some(&b'{') {
        return false;
    }
    p += 1;
    space(&mut p);
    if line.get(p) == Some(&b'}') {
        p += 1;
    } else {
        loop {
            if line.get(p) != Some(&b'"') {
                return false;
            }
            let Some(end) = string(p + 1) else { return false };
            let key = line.get(p + 1..end).unwrap_or(&[]);
            p = end + 1;
            space(&mut p);
            if line.get(p) != Some(&b':') {
                return false;
            }
            p += 1;
            space(&mut p);
            let value = if line.get(p) == Some(&b'"') {
                let Some(end) = string(p + 1) else { return false };
                let v = Json::Text(p + 1, end);
                p = end + 1;
                v
            } else {
                let start = p;
                while line
                    .get(p)
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n'))
                {
                    p += 1;
                }
                match line.get(start..p).unwrap_or(&[]) {
                    b"null" => Json::Null,
                    b"true" | b"false" => Json::Literal(start, p),
                    // `serde_json` writes an exponent its own way (`0E0` as `0e+0`): those
                    // numbers are left to it.
                    n if json_number(n) && !n.iter().any(|b| matches!(b, b'e' | b'E')) => {
                        Json::Literal(start, p)
                    }
                    _ => return false,
                }
            };
            let field = r.layout.record.fields.iter().position(|f| f.name.as_bytes() == key);
            if let Some(slot) = field.and_then(|f| values.get_mut(f)) {
                *slot = Some(value);
            }
            space(&mut p);
            match line.get(p) {
                Some(b',') => {
                    p += 1;
                    space(&mut p);
                }
                Some(b'}') => {
                    p += 1;
                    break;
                }
                _ => return false,
            }
        }
    }
    space(&mut p);
    p == line.len()
}

/// Whether `n` is a number as JSON writes one: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(super) fn json_number(n: &[u8]) -> bool {
    let digits =
        |at: usize| n.get(at..).map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
    let mut p = usize::from(n.first() == Some(&b'-'));
    match n.get(p) {
        Some(b'0') => p += 1,
        Some(b'1'..=b'9') => p += digits(p),
        _ => return false,
    }
    if n.get(p) == Some(&b'.') {
        let d = digits(p + 1);
        if d == 0 {
            return false;
        }
        p += 1 + d;
    }
    if matches!(n.get(p), Some(b'e' | b'E')) {
        p += 1;
        if matches!(n.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        let d = digits(p);
        if d == 0 {
            return false;
        }
        p += d;
    }
    p == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_after_line_feeds_only() {
        let text = b"{\"a\":1}\n\n{\"b\":22}\r\n{}\nlast";
        for pieces in 1..12 {
            let parts = line_cuts(text, pieces);
            assert_eq!(parts.concat(), text.to_vec(), "{pieces}");
            for part in parts.iter().take(parts.len().saturating_sub(1)) {
                assert_eq!(part.last(), Some(&b'\n'), "{pieces}: {part:?}");
            }
        }
        assert!(line_cuts(b"", 4).is_empty());
    }

    #[test]
    fn json_numbers_are_those_of_the_grammar() {
        for good in ["0", "-0", "7", "12.50", "-3.25", "1e3", "1E+2", "0.1e-2", "10"] {
            assert!(json_number(good.as_bytes()), "{good}");
            assert!(serde_json::from_str::<serde_json::Number>(good).is_ok(), "{good}");
        }
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "--1", "1.2.3", "0x1", "nul"] {
            assert!(!json_number(bad.as_bytes()), "{bad}");
            assert!(serde_json::from_str::<serde_json::Number>(bad).is_err(), "{bad}");
        }
    }
}
