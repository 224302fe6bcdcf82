//! Reading CSV into a [`Table`]: records without quotes in one pass over their bytes, quoted ones
//! with the `csv` reader.

use std::io::Read;

use settle_lang::ir::Policy;

use super::reading::{Piece, Reader, TooLong, add_window, fail, finish, in_windows, keep_row};
use super::table::{Part, Shape, Table};
use super::{Kind, WINDOW, kinds, settled_values};
use crate::io::{
    FileError, Layout, Lines, build_claim, csv_cuts, csv_error, line_end_cuts, record_cuts,
    utf8_error, width_error,
};

/// Read a piece (`quoted`: its window holds a quote); line numbers count from 1 at its start.
pub(super) fn read_piece(r: &Reader<'_, '_>, piece: &[u8], quoted: bool) -> Piece {
    let mut out = Piece::new(r.shape, piece.len() / 48);
    if !quoted || memchr::memchr(b'"', piece).is_none() {
        split_piece(r, piece, &mut out);
    } else {
        read_quoted_piece(r, piece, &mut out);
    }
    out
}

/// A piece without quotes: records end at a CR or LF (blank lines are no records) and fields
/// at commas, exactly as the `csv` reader cuts them.
pub(super) fn split_piece(r: &Reader<'_, '_>, piece: &[u8], out: &mut Piece) {
    let mut line = 1;
    let mut at = 0;
    let mut commas: Vec<usize> = Vec::with_capacity(r.layout.width + 1);
    while let Some(&b) = piece.get(at) {
        if b == b'\n' {
            line += 1;
            at += 1;
            continue;
        }
        if b == b'\r' {
            at += 1;
            continue;
        }
        if let Some(end) = quick_record(r, piece, at, line, &mut out.part) {
            at = end;
            continue;
        }
        let end = memchr::memchr2(b'\r', b'\n', piece.get(at..).unwrap_or(&[]))
            .map_or(piece.len(), |e| at + e);
        let record = piece.get(at..end).unwrap_or(&[]);
        commas.clear();
        commas.extend(memchr::memchr_iter(b',', record));
        let count = commas.len() + 1;
        let field = |column: usize| {
            let start = if column == 0 {
                0
            } else {
                commas.get(column - 1).map_or(record.len(), |c| c + 1)
            };
            let stop = commas.get(column).copied().unwrap_or(record.len());
            record.get(start..stop).unwrap_or(&[])
        };
        if take_record(r, line, record, count, field, out).is_err() {
            return;
        }
        at = end;
    }
    out.newlines = line - 1;
}

/// Read the record at `at` of a piece without quotes in one pass over its bytes, when it is
/// all ASCII, has the header's number of fields and the fast parser takes every field: its
/// row written, where it ends returned. `None`: nothing kept; [`take_record`] reads it.
pub(super) fn quick_record(
    r: &Reader<'_, '_>,
    piece: &[u8],
    at: usize,
    line: usize,
    t: &mut Part,
) -> Option<usize> {
    let row = t.start_row(r.shape);
    let mut pos = at;
    let mut column = 0;
    let taken = loop {
        let start = pos;
        let mut ascii = true;
        while let Some(&b) = piece.get(pos) {
            if b == b',' || b == b'\n' || b == b'\r' {
                break;
            }
            ascii &= b.is_ascii();
            pos += 1;
        }
        if !ascii {
            break false;
        }
        let bytes = piece.get(start..pos).unwrap_or(&[]);
        if let Some(&Some(i)) = r.fields.get(column) {
            let (Some(kind), Some(&slot)) = (r.kinds.get(i), r.shape.slots.get(i)) else {
                break false;
            };
            if !t.take_field(&row, i, kind, slot, bytes) {
                break false;
            }
        }
        column += 1;
        if piece.get(pos) == Some(&b',') {
            pos += 1;
        } else {
            break column == r.layout.width;
        }
    };
    if taken {
        t.keep(line);
        Some(pos)
    } else {
        t.undo(row);
        None
    }
}

/// A piece with quotes, read with the `csv` reader.
pub(super) fn read_quoted_piece(r: &Reader<'_, '_>, piece: &[u8], out: &mut Piece) {
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(piece);
    let mut raw = csv::ByteRecord::new();
    let mut lines = Lines::new(piece, 0);
    loop {
        let fallback = csv.position().byte();
        match csv.read_byte_record(&mut raw) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.at(raw.position().map_or(fallback, csv::Position::byte));
                let field = |column: usize| raw.get(column).unwrap_or(&[]);
                if take_record(r, line, raw.as_slice(), raw.len(), field, out).is_err() {
                    return;
                }
            }
            Err(e) => {
                let line = lines.at(e.position().map_or(fallback, csv::Position::byte));
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                fail(&mut out.part, r.shape, line, csv_error(line, &e));
                if io {
                    break;
                }
            }
        }
    }
    out.newlines = lines.at(piece.len() as u64).saturating_sub(1);
}

/// Take one record of `count` fields (`field(column)`, all of them `all`) on line `line`.
pub(super) fn take_record<'r>(
    r: &Reader<'_, '_>,
    line: usize,
    all: &[u8],
    count: usize,
    field: impl Fn(usize) -> &'r [u8],
    out: &mut Piece,
) -> Result<(), TooLong> {
    let (layout, shape) = (r.layout, r.shape);
    let t = &mut out.part;
    if !all.is_ascii() && (0..count).any(|c| std::str::from_utf8(field(c)).is_err()) {
        let mut raw = csv::ByteRecord::new();
        for c in 0..count {
            raw.push_field(field(c));
        }
        match csv::StringRecord::from_byte_record(raw) {
            Err(e) => fail(t, shape, line, utf8_error(line, e.utf8_error())),
            Ok(_) => fail(t, shape, line, width_error(line, count, layout.width)),
        }
        return Ok(());
    }
    if count != layout.width {
        fail(t, shape, line, width_error(line, count, layout.width));
        return Ok(());
    }
    let input = |i: usize| field(layout.positions.get(i).copied().unwrap_or(0));
    let row = t.start_row(shape);
    let taken = r
        .kinds
        .iter()
        .zip(&shape.slots)
        .enumerate()
        .all(|(i, (kind, &slot))| t.take_field(&row, i, kind, slot, input(i)));
    if taken {
        t.keep(line);
        return Ok(());
    }
    // The general reader decides: the same value or the same error row (a text the arena has
    // no room for stops the file there too).
    t.undo(row);
    let text = |i: usize| std::str::from_utf8(input(i)).unwrap_or("");
    keep_row(out, shape, line, build_claim(layout.policy, layout.record, line, text))
}

/// Read a CSV file held in memory into a [`Table`], in parallel pieces on the current rayon
/// pool. `Ok(None)`: the file holds a text too long for this path (over 4 GiB of them in a
/// piece); read it with [`crate::io::read_csv_bytes`].
pub fn read_table(policy: &Policy, bytes: &[u8], name: &str) -> Result<Option<Table>, FileError> {
    read_table_from(policy, bytes, name, WINDOW)
}

/// Read a CSV file from `file` into a [`Table`], `window` bytes at a time (rounded to whole
/// records; from the first window holding a quote on, the rest of the file at once, since a
/// quoted field may hold line ends), each window parsed in parallel pieces on the current rayon
/// pool while a thread of its own reads the next. `Ok(None)` as for [`read_table`].
pub fn read_table_from(
    policy: &Policy,
    file: impl Read + Send,
    name: &str,
    window: usize,
) -> Result<Option<Table>, FileError> {
    let mut table = Table::default();
    let mut state: Option<(Layout<'_>, Vec<Kind>, usize)> = None;
    // Blank lines before the header, kept until a window holds it.
    let mut blank: Vec<u8> = Vec::new();
    let whole = in_windows(file, window, true, name, |window, quoted| {
        let joined: Vec<u8>;
        let mut bytes = window;
        if state.is_none() {
            if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                blank.extend_from_slice(bytes);
                return Ok(true);
            }
            if !blank.is_empty() {
                blank.extend_from_slice(bytes);
                joined = std::mem::take(&mut blank);
                bytes = &joined;
            }
        }
        let pieces = (rayon::current_num_threads() * 2).max(1);
        let (layout, kinds, lines_before, cuts) = match state.take() {
            None => {
                let (layout, cuts, lines_before) = csv_cuts(policy, bytes, name, pieces)?;
                (layout, kinds(policy), lines_before, cuts)
            }
            Some((layout, kinds, lines_before)) => {
                let cuts =
                    if quoted { record_cuts(bytes, pieces) } else { line_end_cuts(bytes, pieces) };
                let cuts = cuts.windows(2).filter_map(|w| bytes.get(*w.first()?..*w.last()?));
                (layout, kinds, lines_before, cuts.collect())
            }
        };
        if table.shape.slots.is_empty() {
            let sample = cuts.first().copied().unwrap_or(&[]);
            table.shape = Shape::of(&kinds, &layout, sample, settled_values(policy));
        }
        let shape = table.shape.clone();
        let reader = Reader::new(&layout, &kinds, &shape);
        let after = add_window(&mut table, cuts, lines_before, |p| read_piece(&reader, p, quoted));
        let taken = after.is_some();
        state = after.map(|after| (layout, kinds, after));
        Ok(taken)
    })?;
    if !whole {
        return Ok(None);
    }
    if state.is_none() {
        // A file of blank lines or none: its header is missing.
        csv_cuts(policy, &blank, name, 1)?;
    }
    Ok(Some(finish(policy, table)))
}
