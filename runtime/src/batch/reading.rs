//! Reading a file in windows of whole records on a thread of its own, and what the CSV and JSON
//! Lines readers share: a piece's rows, error rows, and rows the general reader made.

use std::io::Read;

use rayon::prelude::*;
use settle_lang::ir::Policy;

use super::Kind;
use super::group::mark_duplicates;
use super::table::{Part, Shape, Table, add_pieces};
use crate::io::{FileError, Layout, Row};
use crate::value::Value;

/// One piece of the file, read.
#[derive(Default)]
pub(super) struct Piece {
    pub(super) part: Part,
    /// How many line feeds the piece holds.
    pub(super) newlines: usize,
    /// A text too long for the arena was met: the file goes to the general path.
    pub(super) too_long: bool,
}

impl Piece {
    /// A piece with room for about `records` records (a generous guess from the piece's size:
    /// capacity never touched costs no memory).
    pub(super) fn new(shape: &Shape, records: usize) -> Piece {
        let records = records + 16;
        Piece {
            part: Part {
                rows: Vec::with_capacity(records * shape.stride / 4),
                lines: Vec::with_capacity(records),
                bad: Vec::with_capacity(records),
                ..Part::default()
            },
            newlines: 0,
            too_long: false,
        }
    }
}

/// What reading a record needs.
pub(super) struct Reader<'a, 'p> {
    pub(super) layout: &'a Layout<'p>,
    pub(super) kinds: &'a [Kind<'p>],
    pub(super) shape: &'a Shape,
    /// The input field of each column, if any.
    pub(super) fields: Vec<Option<usize>>,
}

impl<'a, 'p> Reader<'a, 'p> {
    pub(super) fn new(layout: &'a Layout<'p>, kinds: &'a [Kind<'p>], shape: &'a Shape) -> Self {
        let mut fields = vec![None; layout.width];
        for (field, &column) in layout.positions.iter().enumerate() {
            if let Some(slot) = fields.get_mut(column) {
                *slot = Some(field);
            }
        }
        Reader { layout, kinds, shape, fields }
    }
}

/// Record an error row.
pub(super) fn fail(t: &mut Part, shape: &Shape, line: usize, row: Row) {
    t.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    if let Row::Error(e) = row {
        t.errors.push((t.bad.len(), e));
    }
    t.bad.push(true);
    t.rows.resize(t.rows.len() + shape.stride / 4, 0);
}

/// A text too long for the arena, or a value no scaled integer holds (the reader bounds every
/// value, so never met in practice): the file is for the general path, which makes such a
/// claim an error row.
pub(super) struct TooLong;

/// Keep a row the general reader made: a claim's values in a new row, or an error row.
pub(super) fn keep_row(
    out: &mut Piece,
    shape: &Shape,
    line: usize,
    row: Row,
) -> Result<(), TooLong> {
    let t = &mut out.part;
    match row {
        Row::Claim(claim) => {
            let row = t.start_row(shape);
            for (i, (v, &slot)) in claim.fields.iter().zip(&shape.slots).enumerate() {
                match v {
                    Value::Text(s) => {
                        if !t.put_text(row.base, slot, s.as_bytes()) {
                            out.too_long = true;
                            return Err(TooLong);
                        }
                    }
                    other => match other.to_scaled() {
                        Some(x) => t.put(row.base, row.k, i, slot, x),
                        None => {
                            out.too_long = true;
                            return Err(TooLong);
                        }
                    },
                }
            }
            t.keep(line);
        }
        error => fail(t, shape, line, error),
    }
    Ok(())
}

/// Read `file` on a thread of its own in windows of whole records (see [`read_windows`]),
/// giving each to `each` on this one as the next is read, with whether it holds a quote (for
/// CSV, `csv`); `Ok(false)` when `each` leaves the file to the general path. The windows' buffers
/// go back to the reading thread to be filled again.
pub(super) fn in_windows(
    file: impl Read + Send,
    window: usize,
    csv: bool,
    name: &str,
    mut each: impl FnMut(&[u8], bool) -> Result<bool, FileError>,
) -> Result<bool, FileError> {
    std::thread::scope(|scope| {
        let (send, windows) = std::sync::mpsc::sync_channel::<Window>(1);
        let (give_back, used) = std::sync::mpsc::channel::<Vec<u8>>();
        scope.spawn(move || read_windows(file, window.max(1), csv, &send, &used));
        for read in windows {
            let (bytes, quoted) =
                read.map_err(|source| FileError::Io { path: name.to_string(), source })?;
            if !each(&bytes, quoted)? {
                return Ok(false);
            }
            // The reader has stopped when it is gone: the buffer is then simply dropped.
            let _ = give_back.send(bytes);
        }
        Ok(true)
    })
}

/// A window of the file read, and whether it holds a quote; or the error that ended reading.
pub(super) type Window = std::io::Result<(Vec<u8>, bool)>;

/// Read a window's pieces in parallel with `read` and add them to the table: the lines before
/// the next window, or `None` when a piece is for the general path.
pub(super) fn add_window(
    table: &mut Table,
    pieces: Vec<&[u8]>,
    lines_before: usize,
    read: impl Fn(&[u8]) -> Piece + Sync,
) -> Option<usize> {
    let read: Vec<Piece> = pieces.into_par_iter().map(&read).collect();
    if read.iter().any(|p| p.too_long) {
        return None;
    }
    Some(add_pieces(table, read, lines_before))
}

/// The table once every window is read: its duplicate ids found.
pub(super) fn finish(policy: &Policy, mut table: Table) -> Table {
    table.starts.push(table.len_read());
    mark_duplicates(policy, &mut table);
    table
}

/// Read `file` in windows of whole records, sent in order; a read error ends it. For CSV
/// (`csv`), from the first window holding a quote on, the rest of the file is one window.
pub(super) fn read_windows(
    mut file: impl Read,
    window: usize,
    csv: bool,
    send: &std::sync::mpsc::SyncSender<Window>,
    used: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut quoted = false;
    loop {
        let mut buf = if quoted {
            // The rest of the file read so far, to read on into.
            std::mem::take(&mut carry)
        } else {
            // A buffer given back, its pages already the process's, rather than a new one;
            // the part record after the last window's last line feed first.
            let mut buf = used.try_recv().unwrap_or_default();
            buf.clear();
            buf.append(&mut carry);
            buf
        };
        let want = buf.len() + window;
        buf.reserve(window);
        let mut ended = false;
        while buf.len() < want {
            let room = want - buf.len();
            match (&mut file).take(room as u64).read_to_end(&mut buf) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = send.send(Err(e));
                    return;
                }
            }
        }
        if ended {
            if !buf.is_empty() {
                let quote = quoted || (csv && memchr::memchr(b'"', &buf).is_some());
                let _ = send.send(Ok((buf, quote)));
            }
            return;
        }
        // Whole records only: up to the last line feed of a window without quotes; once a
        // quote is met, the rest of the file in one.
        quoted = quoted || (csv && memchr::memchr(b'"', &buf).is_some());
        let cut = if quoted { None } else { memchr::memrchr(b'\n', &buf).map(|p| p + 1) };
        match cut {
            Some(cut) => {
                carry.extend_from_slice(buf.get(cut..).unwrap_or(&[]));
                buf.truncate(cut);
                if send.send(Ok((buf, false))).is_err() {
                    return;
                }
            }
            None => carry = buf,
        }
    }
}
