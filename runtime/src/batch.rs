//! The batch fast path: a file of claims (CSV or JSON Lines) read, settled and written (CSV or
//! JSON Lines) without making a [`Value`] for any field.
//!
//! The general path reads every claim into a row of [`Value`]s and keeps every settlement's
//! values; on a million claims that is most of a run's time and memory. This path, taken when
//! the policy is settled by closures or compiled code that need no fallback (no list or record
//! fields, no folds or text comparisons), works on scaled integers from end to end:
//!
//! - **Reading.** A thread of its own reads the file in windows of whole records (for CSV, from
//!   the first window holding a quote on, the rest of the file in one), each window cut into
//!   pieces parsed in parallel, each field straight from its bytes into the record's row of a
//!   block per piece ([`Table`]): a fixed number of bytes a record, numbers and dates in 4,
//!   variants in 1, each id in a slot of 8 to 31 bytes sized from the file's first records,
//!   longer ids in a byte arena. A CSV record or a JSON line the one-pass reader does not take as
//!   it is (a sign, spaces, a rate, a date it cannot read, an escape, anything unusual) is read
//!   by the general reader's own function, so its values or its error row are the general
//!   path's. Duplicate ids are found by a parallel sort of 64-bit keys (a hash above the index).
//! - **Settling.** Members are grouped by a parallel sort of such keys of their ids (a hash
//!   shared by different members is split exactly); tasks of about 256 claims copy their rows
//!   (first both ends of each, so that the cache misses overlap), fill one block, order and
//!   settle them, and write each claim's settled values (its outputs, then its accumulators
//!   before it, 4 bytes each where they fit) back into its own row, in place of its numbers,
//!   which nothing reads again: the rows are still in the cache, and no other block is needed.
//! - **Writing.** Rows are formatted from those values in parallel pieces straight to bytes,
//!   written in order by a thread of its own while the next batch is formatted.
//!
//! The output is byte for byte the general path's; `tests/batch.rs` compares the two on every
//! policy the path takes, in every combination of formats, on generated claims, hostile input,
//! random bodies and windows, and the `batch` fuzz target on any bytes.
//!
//! Memory, per claim, for the Dezhou employee policy (9 input fields, 7 outputs, 7
//! accumulators): the table's row of 76 bytes (the ids' 18 and the level's 1, padded to 20,
//! then the larger of the numbers' 24 and the settled values' 56) and 1 of status (line numbers
//! only where records do not follow each other line after line); while reading, two windows of
//! the file (16 MiB each) and 8 bytes for the duplicate search; while settling, 8 for grouping:
//! about 85 bytes a claim at the peak, 1.25 times the input's size as measured. See
//! `docs/performance.md`.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use zerocopy::{FromBytes, IntoBytes};

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::{Policy, Type};

use crate::engine::{ClaimError, Engine};
use crate::field::{Field, trim, write_scaled};
use crate::io::{
    FileError, InputError, Layout, Lines, Row, build_claim, csv_cuts, csv_error, line_end_cuts,
    output_slots, record_cuts, utf8_error, width_error, write_csv_header,
};
use crate::value::Value;

/// Bytes of the file read at a time by [`read_table_from`].
pub const WINDOW: usize = 16 << 20;

/// The fewest and most bytes of text a row holds for a text field: its slot holds as many as
/// the longest of that field in the file's first records, within these bounds; longer texts go
/// to the arena.
const INLINE_TEXT: (usize, usize) = (8, 31);
/// Records looked at to size the text slots.
const SAMPLED: usize = 1000;
/// The first byte of a text slot whose text is in the arena.
const IN_ARENA: u8 = 0xff;
/// The number slot of a value kept aside, in [`Part::wide`].
const ASIDE: i32 = i32::MIN;
/// The variant slot of a value kept aside.
const ASIDE_SMALL: u8 = u8::MAX;

/// Claims read from a CSV file: the parts read in parallel, kept as they were read (joining
/// them would copy every row once more).
#[derive(Debug, Default)]
pub struct Table {
    shape: Shape,
    parts: Vec<Part>,
    /// The index of each part's first record, then the number of records.
    starts: Vec<usize>,
    /// The error rows, by record index.
    errors: Vec<(usize, InputError)>,
}

/// Where each input field sits in a record's row, and where its settlement goes.
///
/// A row holds its texts and variants first, then its numbers; once the claim is settled its
/// numbers are not read again, and its settled values (outputs, then accumulators before it, 4
/// bytes each) take their place from [`Shape::results`] on: the row is as long as the longer of
/// the two. The texts and variants stay, for who the claim is and how a report groups it.
#[derive(Debug, Default, Clone)]
struct Shape {
    /// Each field's offset in the row and its slot.
    slots: Vec<(usize, Slot)>,
    /// Where the settled values start (a multiple of 4), and how many there are.
    results: usize,
    values: usize,
    /// Bytes a row: a multiple of 4.
    stride: usize,
}

/// How a field is kept in its row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// 4 bytes, little-endian; [`ASIDE`]: in [`Part::wide`].
    Number,
    /// 1 byte (a variant of an enum of fewer than 255); [`ASIDE_SMALL`]: in [`Part::wide`].
    Small,
    /// The length and up to this many bytes of text, or [`IN_ARENA`] and the text's offset and
    /// length in [`Part::text`] (4 bytes each).
    Text(usize),
}

impl Slot {
    fn size(self) -> usize {
        match self {
            Slot::Number => 4,
            Slot::Small => 1,
            Slot::Text(inline) => 1 + inline,
        }
    }
}

impl Shape {
    /// The rows for fields of `kinds` settled into `values` values, text slots sized from the
    /// records of `sample`.
    fn of(kinds: &[Kind<'_>], layout: &Layout<'_>, sample: &[u8], values: usize) -> Shape {
        let mut longest = vec![0; layout.width];
        for record in sample.split(|&b| b == b'\n').take(SAMPLED) {
            for (column, field) in record.split(|&b| b == b',').enumerate() {
                if let Some(l) = longest.get_mut(column) {
                    *l = field.len().max(*l);
                }
            }
        }
        let kept: Vec<Slot> = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| match kind {
                Kind { field: Field::Text, .. } => {
                    let column = layout.positions.get(i).copied().unwrap_or(0);
                    let l = longest.get(column).copied().unwrap_or(0);
                    Slot::Text(l.clamp(INLINE_TEXT.0, INLINE_TEXT.1))
                }
                Kind { field: Field::Enum(def), .. }
                    if def.variants.len() < usize::from(ASIDE_SMALL) =>
                {
                    Slot::Small
                }
                _ => Slot::Number,
            })
            .collect();
        let mut slots = vec![(0, Slot::Number); kept.len()];
        let mut at = 0;
        let mut place = |at: &mut usize, wanted: &dyn Fn(Slot) -> bool| {
            for (i, &slot) in kept.iter().enumerate().filter(|(_, s)| wanted(**s)) {
                if let Some(s) = slots.get_mut(i) {
                    *s = (*at, slot);
                }
                *at += slot.size();
            }
        };
        place(&mut at, &|s| s != Slot::Number);
        let results = at.next_multiple_of(4);
        at = results;
        place(&mut at, &|s| s == Slot::Number);
        let stride = at.max(results + 4 * values).next_multiple_of(4);
        Shape { slots, results, values, stride }
    }
}

/// The records of one piece of the file.
#[derive(Debug, Default)]
struct Part {
    /// Every record's row, `stride` bytes each (in 4-byte words, so that the settled values
    /// can be written in place); zeros for error rows.
    rows: Vec<u32>,
    /// The line each record starts on; empty once read when they follow each other from
    /// `first_line` (no blank lines, no line ends in fields).
    lines: Vec<u32>,
    first_line: u32,
    /// Whether each record is an error row.
    bad: Vec<bool>,
    /// The error rows, by record index in the part.
    errors: Vec<(usize, InputError)>,
    /// Texts too long for their row.
    text: Vec<u8>,
    /// Values too wide for their slot: (record index in the part, field, value), in order.
    wide: Vec<(u32, u32, i64)>,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

impl Part {
    /// How many records.
    fn len(&self) -> usize {
        self.bad.len()
    }

    /// The line record `k` starts on.
    fn line(&self, k: usize) -> u32 {
        if self.lines.is_empty() {
            self.first_line.saturating_add(u32::try_from(k).unwrap_or(u32::MAX))
        } else {
            self.lines.get(k).copied().unwrap_or(0)
        }
    }

    /// Forget the line numbers when they follow each other.
    fn squeeze_lines(&mut self) {
        let first = self.lines.first().copied().unwrap_or(0);
        if self.lines.iter().enumerate().all(|(k, &l)| Some(l) == first.checked_add(k as u32)) {
            self.lines = Vec::new();
            self.first_line = first;
        }
    }

    fn row(&self, shape: &Shape, k: usize) -> &[u8] {
        let start = k * shape.stride;
        self.rows.as_bytes().get(start..start + shape.stride).unwrap_or(&[])
    }

    /// Text field `field` of record `k`.
    fn text(&self, shape: &Shape, k: usize, field: usize) -> &[u8] {
        text_of(shape, self.row(shape, k), &self.text, field)
    }

    /// Settled value `j` of record `k` (outputs, then accumulators before it), once written.
    fn result(&self, shape: &Shape, k: usize, j: usize) -> i64 {
        i64::from(read_u32(self.row(shape, k), shape.results + 4 * j) as i32)
    }

    /// Put `x` in slot `(at, slot)` of the row starting at `base` (record `k`), or aside when
    /// it does not fit.
    fn put(&mut self, base: usize, k: usize, field: usize, (at, slot): (usize, Slot), x: i64) {
        let mut aside = || self.wide.push((k as u32, field as u32, x));
        match slot {
            Slot::Number => {
                let v = match i32::try_from(x) {
                    Ok(v) if v != ASIDE => v,
                    _ => {
                        aside();
                        ASIDE
                    }
                };
                if let Some(b) = self.rows.as_mut_bytes().get_mut(base + at..base + at + 4) {
                    b.copy_from_slice(&v.to_le_bytes());
                }
            }
            Slot::Small => {
                let v = match u8::try_from(x) {
                    Ok(v) if v != ASIDE_SMALL => v,
                    _ => {
                        aside();
                        ASIDE_SMALL
                    }
                };
                if let Some(b) = self.rows.as_mut_bytes().get_mut(base + at) {
                    *b = v;
                }
            }
            Slot::Text(_) => {}
        }
    }

    /// Put text `bytes` in the text slot `(at, slot)` of the row starting at `base`; `false`
    /// when the arena outgrows 32-bit offsets.
    fn put_text(&mut self, base: usize, (at, slot): (usize, Slot), bytes: &[u8]) -> bool {
        let Some(slot) = self.rows.as_mut_bytes().get_mut(base + at..base + at + slot.size())
        else {
            return true;
        };
        if let Ok(len) = u8::try_from(bytes.len())
            && bytes.len() < slot.len()
        {
            if let Some((first, rest)) = slot.split_first_mut() {
                *first = len;
                if let Some(inline) = rest.get_mut(..bytes.len()) {
                    inline.copy_from_slice(bytes);
                }
            }
            return true;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(bytes.len()))
        else {
            return false;
        };
        if start.checked_add(len).is_none() {
            return false;
        }
        if let Some(first) = slot.first_mut() {
            *first = IN_ARENA;
        }
        if let Some(b) = slot.get_mut(1..5) {
            b.copy_from_slice(&start.to_le_bytes());
        }
        if let Some(b) = slot.get_mut(5..9) {
            b.copy_from_slice(&len.to_le_bytes());
        }
        self.text.extend_from_slice(bytes);
        true
    }
}

/// Text field `field` of a record from its row, or from the arena of its part.
fn text_of<'a>(shape: &Shape, row: &'a [u8], arena: &'a [u8], field: usize) -> &'a [u8] {
    let Some(&(at, Slot::Text(_))) = shape.slots.get(field) else { return &[] };
    match row.get(at).copied() {
        Some(IN_ARENA) => {
            let start = read_u32(row, at + 1) as usize;
            let len = read_u32(row, at + 5) as usize;
            arena.get(start..start + len).unwrap_or(&[])
        }
        Some(len) => row.get(at + 1..at + 1 + usize::from(len)).unwrap_or(&[]),
        None => &[],
    }
}

/// Record `k`'s fields from its row into `out`: the scaled values the engine takes (0 for a
/// text: no code the path runs looks at one), values kept aside from `wide`.
fn fill(shape: &Shape, row: &[u8], wide: &[(u32, u32, i64)], k: usize, out: &mut [i64]) {
    let aside = |field: usize| {
        let key = (k as u32, field as u32);
        match wide.binary_search_by_key(&key, |&(r, f, _)| (r, f)) {
            Ok(w) => wide.get(w).map_or(0, |w| w.2),
            Err(_) => 0,
        }
    };
    for (field, (out, &(at, slot))) in out.iter_mut().zip(&shape.slots).enumerate() {
        *out = match slot {
            Slot::Number => match read_u32(row, at) as i32 {
                ASIDE => aside(field),
                x => i64::from(x),
            },
            Slot::Small => match row.get(at).copied().unwrap_or(0) {
                ASIDE_SMALL => aside(field),
                x => i64::from(x),
            },
            Slot::Text(_) => 0,
        };
    }
}

/// A row being written at the end of a part, to keep or to undo.
struct NewRow {
    /// Where it starts in the rows, and its record index.
    base: usize,
    k: usize,
    /// The lengths of the arena and of the values kept aside before it.
    text_at: usize,
    wide_at: usize,
}

impl Part {
    /// Start a row of zeros at the end of the part.
    #[inline]
    fn start_row(&mut self, shape: &Shape) -> NewRow {
        let row = NewRow {
            base: self.rows.len() * 4,
            k: self.len(),
            text_at: self.text.len(),
            wide_at: self.wide.len(),
        };
        self.rows.resize((row.base + shape.stride) / 4, 0);
        row
    }

    /// Field `i` of the new row from its bytes, as the fast parser reads a field of its kind;
    /// `false` when it does not take them (or the arena is full).
    // Inlined into the one-pass readers' loops (measured: a call costs reading 4 %).
    #[inline(always)]
    fn take_field(
        &mut self,
        row: &NewRow,
        i: usize,
        kind: &Kind,
        slot: (usize, Slot),
        bytes: &[u8],
    ) -> bool {
        match kind.field {
            Field::Text => {
                let text = trim(bytes);
                !(kind.required && text.is_empty()) && self.put_text(row.base, slot, text)
            }
            field => field.read(bytes).map(|x| self.put(row.base, row.k, i, slot, x)).is_ok(),
        }
    }

    /// Keep the new row: a claim on line `line`.
    #[inline]
    fn keep(&mut self, line: usize) {
        self.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
        self.bad.push(false);
    }

    /// Undo the new row and everything written for it.
    #[inline]
    fn undo(&mut self, row: NewRow) {
        self.rows.truncate(row.base / 4);
        self.text.truncate(row.text_at);
        self.wide.truncate(row.wide_at);
    }
}

impl Table {
    /// How many records (claims and error rows).
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Whether the file had no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many records are error rows.
    pub fn error_rows(&self) -> usize {
        self.errors.len()
    }

    /// The error rows' input errors, in file order.
    pub fn input_errors(&self) -> impl Iterator<Item = &InputError> {
        self.errors.iter().map(|(_, e)| e)
    }

    /// The part holding record `i`, and its index there.
    fn locate(&self, i: usize) -> Option<(&Part, usize)> {
        let p = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((self.parts.get(p)?, i - self.starts.get(p)?))
    }

    /// The part holding record `i` and its index there, when the record is a claim.
    fn claim(&self, i: usize) -> Option<(&Part, usize)> {
        self.locate(i).filter(|(p, k)| !p.bad.get(*k).copied().unwrap_or(true))
    }

    /// Text field `field` of record `i`.
    fn text(&self, i: usize, field: usize) -> &[u8] {
        self.locate(i).map_or(&[], |(p, k)| p.text(&self.shape, k, field))
    }

    /// The line record `i` starts on.
    fn line(&self, i: usize) -> u32 {
        self.locate(i).map_or(0, |(p, k)| p.line(k))
    }
}

/// Whether `engine` settles its policy's claims by this path: closures or compiled code that
/// need no fallback, and input fields that are numbers, dates, enum variants or texts.
pub fn supported(engine: &Engine) -> bool {
    let policy = engine.policy();
    let scalar = policy
        .input_record()
        .is_some_and(|r| r.fields.iter().all(|f| !matches!(f.ty, Type::Record(_) | Type::List(_))));
    scalar && engine.settles_without_fallback()
}

/// How many values a claim settles into: its outputs, then its accumulators before it.
fn settled_values(policy: &Policy) -> usize {
    output_slots(policy).len() + policy.accumulators.len()
}

/// How one input field is read: by its type's reader ([`Field::read`]); `required` for the
/// claim and member ids (empty is an error).
#[derive(Debug)]
struct Kind<'p> {
    field: Field<'p>,
    required: bool,
}

fn kinds(policy: &Policy) -> Vec<Kind<'_>> {
    let Some(record) = policy.input_record() else { return Vec::new() };
    record
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| Kind {
            field: Field::of(policy, f.ty),
            required: i == policy.id_field || i == policy.member_field,
        })
        .collect()
}

/// One piece of the file, read.
#[derive(Default)]
struct Piece {
    part: Part,
    /// How many line feeds the piece holds.
    newlines: usize,
    /// A text too long for the arena was met: the file goes to the general path.
    too_long: bool,
}

impl Piece {
    /// A piece with room for about `records` records (a generous guess from the piece's size:
    /// capacity never touched costs no memory).
    fn new(shape: &Shape, records: usize) -> Piece {
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
struct Reader<'a, 'p> {
    layout: &'a Layout<'p>,
    kinds: &'a [Kind<'p>],
    shape: &'a Shape,
    /// The input field of each column, if any.
    fields: Vec<Option<usize>>,
}

impl<'a, 'p> Reader<'a, 'p> {
    fn new(layout: &'a Layout<'p>, kinds: &'a [Kind<'p>], shape: &'a Shape) -> Self {
        let mut fields = vec![None; layout.width];
        for (field, &column) in layout.positions.iter().enumerate() {
            if let Some(slot) = fields.get_mut(column) {
                *slot = Some(field);
            }
        }
        Reader { layout, kinds, shape, fields }
    }
}

/// Read a piece (`quoted`: its window holds a quote); line numbers count from 1 at its start.
fn read_piece(r: &Reader<'_, '_>, piece: &[u8], quoted: bool) -> Piece {
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
fn split_piece(r: &Reader<'_, '_>, piece: &[u8], out: &mut Piece) {
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
fn quick_record(
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
fn read_quoted_piece(r: &Reader<'_, '_>, piece: &[u8], out: &mut Piece) {
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

/// Record an error row.
fn fail(t: &mut Part, shape: &Shape, line: usize, row: Row) {
    t.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    if let Row::Error(e) = row {
        t.errors.push((t.bad.len(), e));
    }
    t.bad.push(true);
    t.rows.resize(t.rows.len() + shape.stride / 4, 0);
}

/// A text too long for the arena: the file is for the general path.
struct TooLong;

/// Take one record of `count` fields (`field(column)`, all of them `all`) on line `line`.
fn take_record<'r>(
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

/// Keep a row the general reader made: a claim's values in a new row, or an error row.
fn keep_row(out: &mut Piece, shape: &Shape, line: usize, row: Row) -> Result<(), TooLong> {
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
                    other => t.put(row.base, row.k, i, slot, other.scaled()),
                }
            }
            t.keep(line);
        }
        error => fail(t, shape, line, error),
    }
    Ok(())
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

/// Read `file` on a thread of its own in windows of whole records (see [`read_windows`]),
/// giving each to `each` on this one as the next is read, with whether it holds a quote (for
/// CSV, `csv`); `Ok(false)` when `each` leaves the file to the general path. The windows' buffers
/// go back to the reading thread to be filled again.
fn in_windows(
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
type Window = std::io::Result<(Vec<u8>, bool)>;

/// Read a window's pieces in parallel with `read` and add them to the table: the lines before
/// the next window, or `None` when a piece is for the general path.
fn add_window(
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
fn finish(policy: &Policy, mut table: Table) -> Table {
    table.starts.push(table.len_read());
    mark_duplicates(policy, &mut table);
    table
}

/// Read `file` in windows of whole records, sent in order; a read error ends it. For CSV
/// (`csv`), from the first window holding a quote on, the rest of the file is one window.
fn read_windows(
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
fn line_cuts(bytes: &[u8], pieces: usize) -> Vec<&[u8]> {
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
fn read_jsonl_piece(r: &Reader<'_, '_>, piece: &[u8]) -> Piece {
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
enum Json {
    /// A string without escapes: its bytes between the quotes.
    Text(usize, usize),
    /// A number, `true` or `false`: its text.
    Literal(usize, usize),
    Null,
}

/// Read a line that is a flat JSON object of plain values in one pass: its row written, `true`.
/// `false`: nothing kept; the general reader reads it.
fn quick_json(
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
fn scan_object(r: &Reader<'_, '_>, line: &[u8], values: &mut [Option<Json>]) -> bool {
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
fn json_number(n: &[u8]) -> bool {
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

/// Add a window's pieces to the table, their line numbers moved by the `lines_before` the
/// window; the lines before the next window.
fn add_pieces(table: &mut Table, mut read: Vec<Piece>, lines_before: usize) -> usize {
    let mut before = lines_before;
    let shifts: Vec<usize> = read
        .iter()
        .map(|p| {
            let shift = before;
            before += p.newlines;
            shift
        })
        .collect();
    read.par_iter_mut().zip(shifts).for_each(|(p, shift)| {
        let shift32 = u32::try_from(shift).unwrap_or(u32::MAX);
        p.part.lines.iter_mut().for_each(|l| *l = l.saturating_add(shift32));
        p.part.errors.iter_mut().for_each(|(_, e)| e.line += shift);
    });
    for piece in read {
        let mut part = piece.part;
        if part.len() == 0 {
            continue;
        }
        part.squeeze_lines();
        let start = table.len_read();
        table.starts.push(start);
        table.errors.extend(part.errors.drain(..).map(|(i, e)| (start + i, e)));
        part.rows.shrink_to_fit();
        table.parts.push(part);
    }
    before
}

impl Table {
    /// Records read so far (while reading, before the last start is pushed).
    fn len_read(&self) -> usize {
        self.starts.last().zip(self.parts.last()).map_or(0, |(s, p)| s + p.len())
    }
}

/// The 32 high bits of a hash of `bytes`, above a record index: claims sorted by these keys are
/// side by side by hash, each hash's in input order.
fn key(bytes: &[u8], i: u32) -> u64 {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(bytes);
    (hash & !0xffff_ffff) | u64::from(i)
}

/// The record index of a key.
fn record(key: u64) -> u32 {
    key as u32
}

/// Keys of text field `field` of every claim that is not an error row, made and sorted in
/// parallel: each part's made straight into its own stretch of one block.
fn sorted_keys(table: &Table, field: usize) -> Vec<u64> {
    let shape = &table.shape;
    let claims: Vec<usize> =
        table.parts.iter().map(|p| p.bad.iter().filter(|bad| !**bad).count()).collect();
    let mut keys = vec![0u64; claims.iter().sum()];
    let mut stretches = Vec::with_capacity(claims.len());
    let mut rest = keys.as_mut_slice();
    for &n in &claims {
        let Some((stretch, after)) = std::mem::take(&mut rest).split_at_mut_checked(n) else {
            break;
        };
        stretches.push(stretch);
        rest = after;
    }
    table.parts.par_iter().zip(&table.starts).zip(stretches).for_each(|((part, &start), out)| {
        let good = part.bad.iter().enumerate().filter(|(_, bad)| !**bad);
        for (slot, (k, _)) in out.iter_mut().zip(good) {
            let i = u32::try_from(start + k).unwrap_or(u32::MAX);
            *slot = key(part.text(shape, k, field), i);
        }
    });
    keys.par_sort_unstable();
    keys
}

/// Runs of keys sharing their hash.
fn runs(keys: &[u64]) -> impl Iterator<Item = &[u64]> {
    keys.chunk_by(|a, b| a >> 32 == b >> 32)
}

/// Sorted keys cut into tasks of about [`CLAIMS_PER_TASK`] claims at changes of hash.
fn tasks(keys: &[u64]) -> Vec<(usize, usize)> {
    let mut tasks = Vec::with_capacity(keys.len() / CLAIMS_PER_TASK + 1);
    let mut from = 0;
    while from < keys.len() {
        let mut to = (from + CLAIMS_PER_TASK).min(keys.len());
        while let (Some(a), Some(b)) = (keys.get(to - 1), keys.get(to))
            && a >> 32 == b >> 32
        {
            to += 1;
        }
        tasks.push((from, to));
        from = to;
    }
    tasks
}

/// Claims one parallel task settles: a few hundred members' claims.
const CLAIMS_PER_TASK: usize = 256;

/// Turn every claim whose id an earlier claim has into an error row naming the first, as the
/// general reader does.
fn mark_duplicates(policy: &Policy, table: &mut Table) {
    let t = &*table;
    let id = |i: u32| t.text(i as usize, policy.id_field);
    let keys = sorted_keys(t, policy.id_field);
    let shared: Vec<&[u64]> = runs(&keys).filter(|run| run.len() > 1).collect();
    // Within a run of one hash, claims by id then input order: the first of each id is the
    // first claim with it, the others its duplicates.
    let pairs: Vec<(u32, u32)> = shared
        .par_iter()
        .flat_map_iter(|run| {
            let mut claims: Vec<u32> = run.iter().map(|&k| record(k)).collect();
            claims.sort_by(|&a, &b| id(a).cmp(id(b)).then(a.cmp(&b)));
            let mut pairs = Vec::new();
            let mut first = 0;
            for (n, &c) in claims.iter().enumerate() {
                match claims.get(first) {
                    Some(&f) if id(f) == id(c) => {
                        if n != first {
                            pairs.push((c, f));
                        }
                    }
                    _ => first = n,
                }
            }
            pairs
        })
        .collect();
    drop(shared);
    drop(keys);
    if pairs.is_empty() {
        return;
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let found: Vec<(usize, InputError)> = pairs
        .iter()
        .map(|&(b, a)| {
            let i = b as usize;
            let earlier = t.line(a as usize);
            (
                i,
                InputError {
                    line: t.line(i) as usize,
                    message: format!(
                        "duplicate claim id `{}`, first on line {earlier}",
                        text(id(b))
                    ),
                    id: Some(text(id(b))),
                    member: Some(text(t.text(i, policy.member_field))),
                    field: Some("id".to_string()),
                },
            )
        })
        .collect();
    for (i, _) in &found {
        let p = table.starts.partition_point(|&s| s <= *i).saturating_sub(1);
        let k = i - table.starts.get(p).copied().unwrap_or(0);
        if let Some(b) = table.parts.get_mut(p).and_then(|p| p.bad.get_mut(k)) {
            *b = true;
        }
    }
    table.errors.extend(found);
    table.errors.sort_by_key(|(i, _)| *i);
}

/// Put the claims of one hash group in `out` as one member, or, when different members share
/// the hash, as one group per member.
fn split_by_member<'a, 'k>(
    group: &'a mut [(Date, u32)],
    member: &impl Fn(u32) -> &'k [u8],
    out: &mut Vec<&'a mut [(Date, u32)]>,
) {
    let first = group.first().map(|&(_, i)| member(i));
    if group.iter().all(|&(_, i)| Some(member(i)) == first) {
        out.push(group);
        return;
    }
    group.sort_by(|a, b| member(a.1).cmp(member(b.1)).then(a.1.cmp(&b.1)));
    let mut rest = group;
    while let Some(&(_, i)) = rest.first() {
        let m = member(i);
        let len = rest.iter().take_while(|&&(_, j)| member(j) == m).count().max(1);
        let Some((head, tail)) = std::mem::take(&mut rest).split_at_mut_checked(len) else { break };
        out.push(head);
        rest = tail;
    }
}

/// The settlements of a [`Table`]: each claim's settled values in its row (see [`Shape`]).
#[derive(Debug)]
pub struct Settled {
    table: Table,
    /// The settled values of the claims where one does not fit 32 bits, by record index.
    wide: Vec<(usize, Vec<i64>)>,
    /// Claims that did not settle, by record index.
    errors: Vec<(usize, ClaimError)>,
    /// The total of each balance share over the settled claims, in fen.
    pub totals: Vec<(String, i128)>,
}

impl Settled {
    /// How many claims did not settle.
    pub fn failed(&self) -> usize {
        self.errors.len()
    }

    /// The claims settled.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Claim `i`'s settled values (record `k` of `part`): its outputs, then its accumulators
    /// before it.
    fn values(&self, i: usize, part: &Part, k: usize, out: &mut [i64]) {
        match self.wide.binary_search_by_key(&i, |(k, _)| *k) {
            Ok(w) => {
                let wide = self.wide.get(w).map_or(&[][..], |(_, v)| v.as_slice());
                out.iter_mut().zip(wide).for_each(|(slot, x)| *slot = *x);
            }
            Err(_) => {
                for (j, slot) in out.iter_mut().enumerate() {
                    *slot = part.result(&self.table.shape, k, j);
                }
            }
        }
    }
}

/// A part's rows while its claims are settled: as words each task may write its claims'
/// settled values into, with what they refer to outside themselves.
struct Settling<'t> {
    rows: &'t [AtomicU32],
    arena: &'t [u8],
    wide: &'t [(u32, u32, i64)],
}

/// Settle a table's claims: members in parallel on the current rayon pool, calling `progress`
/// with the number of claims settled as each member is done. `None` when the engine does not
/// take this path (see [`supported`]).
pub fn settle_table(
    engine: &Engine,
    mut table: Table,
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Settled> {
    if !supported(engine) {
        return None;
    }
    let policy = engine.policy();
    let shares: Vec<usize> = policy.balance.iter().flat_map(|b| b.parts.iter().copied()).collect();
    let outputs: Vec<usize> = output_slots(policy).iter().map(|(v, _)| *v).collect();
    let shape = table.shape.clone();
    let per_claim = outputs.len() + policy.accumulators.len();
    if per_claim != shape.values {
        return None;
    }
    let words = shape.stride / 4;
    // Claims side by side by the hash of their member (a sort of keys); a run whose members
    // differ (a collision) is split by member in its task.
    let keys = sorted_keys(&table, policy.member_field);
    let tasks = tasks(&keys);
    let wide = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let totals = Mutex::new(vec![0i128; shares.len()]);
    let width = policy.input_record().map_or(0, |r| r.fields.len());
    let starts = table.starts.clone();
    // Each task writes only its own claims' rows, every claim being in one task.
    let views: Option<Vec<Settling<'_>>> = table
        .parts
        .iter_mut()
        .map(|part| {
            let Part { rows, text, wide, .. } = part;
            let rows: &[AtomicU32] = <[AtomicU32]>::mut_from_bytes(rows.as_mut_bytes()).ok()?;
            Some(Settling { rows, arena: text, wide })
        })
        .collect();
    // The rows are words: their view as atomic words cannot fail.
    let views = views?;
    let locate = |i: usize| {
        let p = starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((views.get(p)?, i - starts.get(p)?))
    };
    tasks.par_iter().for_each(|&(from, to)| {
        let chunk: Vec<&[u64]> = runs(keys.get(from..to).unwrap_or(&[])).collect();
        // The task's claims' rows copied into one block, one read of the table each; the
        // claims then ordered and settled from there, and their settled values written back in
        // place of their numbers.
        let claims: Vec<u32> =
            chunk.iter().flat_map(|run| run.iter().map(|&k| record(k))).collect();
        let located: Vec<Option<(&Settling<'_>, usize)>> =
            claims.iter().map(|&i| locate(i as usize)).collect();
        // Each row's ends read first, every read independent of the others: the
        // processor fetches many rows at once instead of one after another in the loop below.
        let touched = located.iter().flatten().fold(0u32, |x, (view, k)| {
            // The first and last word: a row may span two cache lines.
            let word = |w: usize| view.rows.get(w).map_or(0, |w| w.load(Ordering::Relaxed));
            x ^ word(k * words) ^ word((k + 1) * words - 1)
        });
        std::hint::black_box(touched);
        let mut copies: Vec<u32> = vec![0; claims.len() * words];
        for (place, copy) in located.iter().zip(copies.chunks_exact_mut(words.max(1))) {
            if let Some((view, k)) = place
                && let Some(row) = view.rows.get(k * words..(k + 1) * words)
            {
                copy.iter_mut().zip(row).for_each(|(c, w)| *c = w.load(Ordering::Relaxed));
            }
        }
        let mut rows: Vec<i64> = vec![0; claims.len() * width];
        // Each claim's member and id, from the row just copied.
        let mut texts: Vec<(&[u8], &[u8])> = Vec::with_capacity(claims.len());
        for ((place, copy), row) in located
            .iter()
            .zip(copies.chunks_exact(words.max(1)))
            .zip(rows.chunks_exact_mut(width.max(1)))
        {
            texts.push(match place {
                Some((view, k)) => {
                    let bytes = copy.as_bytes();
                    fill(&shape, bytes, view.wide, *k, row);
                    let text = |field| text_of(&shape, bytes, view.arena, field);
                    (text(policy.member_field), text(policy.id_field))
                }
                None => (&[], &[]),
            });
        }
        let member = |p: u32| texts.get(p as usize).map_or(&[][..], |t| t.0);
        let id = |p: u32| texts.get(p as usize).map_or(&[][..], |t| t.1);
        let day = |p: usize| {
            let cell = rows.get(p * width + policy.dated_field).copied().unwrap_or(0);
            Date(i32::try_from(cell).unwrap_or(0))
        };
        // (date, position in the block) of each claim, split by member and ordered by date,
        // id and input order.
        let mut order: Vec<(Date, u32)> = (0..claims.len()).map(|p| (day(p), p as u32)).collect();
        let at = |p: u32| claims.get(p as usize).copied().unwrap_or(u32::MAX);
        let mut groups = Vec::with_capacity(chunk.len());
        let mut rest: &mut [(Date, u32)] = &mut order;
        for run in &chunk {
            let Some((head, tail)) = std::mem::take(&mut rest).split_at_mut_checked(run.len())
            else {
                break;
            };
            split_by_member(head, &member, &mut groups);
            rest = tail;
        }
        for group in &mut groups {
            group.sort_unstable_by(|&(d, a), &(e, b)| {
                d.cmp(&e).then_with(|| id(a).cmp(id(b))).then(at(a).cmp(&at(b)))
            });
        }
        let settling: Vec<u32> = groups.iter().flat_map(|g| g.iter().map(|c| c.1)).collect();
        let mut outs: Vec<i64> = vec![0; settling.len() * per_claim];
        let mut done = vec![false; settling.len()];
        let mut failed = Vec::new();
        let mut sums = vec![0i128; shares.len()];
        let row = |k: usize| {
            let p = settling.get(k).copied().unwrap_or(u32::MAX) as usize;
            rows.get(p * width..(p + 1) * width)
        };
        engine.settle_members(
            &groups,
            &row,
            &mut |k, result| match result {
                Ok(frame) => {
                    let Some(out) = outs.get_mut(k * per_claim..(k + 1) * per_claim) else {
                        return;
                    };
                    let values = outputs.iter().map(|&v| frame.values.get(v).copied());
                    let cells =
                        values.map(Option::unwrap_or_default).chain(frame.accs.iter().copied());
                    for (slot, x) in out.iter_mut().zip(cells) {
                        *slot = x;
                    }
                    for (sum, &p) in sums.iter_mut().zip(&shares) {
                        *sum += i128::from(frame.values.get(p).copied().unwrap_or(0));
                    }
                    if let Some(d) = done.get_mut(k) {
                        *d = true;
                    }
                }
                Err(e) => {
                    let p = settling.get(k).copied().unwrap_or(u32::MAX);
                    failed.push((at(p) as usize, e));
                }
            },
            progress,
        );
        if let Ok(mut totals) = totals.lock() {
            for (t, s) in totals.iter_mut().zip(sums) {
                *t += s;
            }
        }
        let mut wider = Vec::new();
        for ((&p, out), _) in
            settling.iter().zip(outs.chunks_exact(per_claim.max(1))).zip(&done).filter(|(_, d)| **d)
        {
            if !out.iter().all(|&x| i32::try_from(x).is_ok()) {
                wider.push((at(p) as usize, out.to_vec()));
                continue;
            }
            let Some(Some((view, k))) = located.get(p as usize) else { continue };
            let start = k * words + shape.results / 4;
            if let Some(cells) = view.rows.get(start..start + per_claim) {
                for (cell, &x) in cells.iter().zip(out) {
                    cell.store(x as i32 as u32, Ordering::Relaxed);
                }
            }
        }
        if !wider.is_empty()
            && let Ok(mut wide) = wide.lock()
        {
            wide.extend(wider);
        }
        if !failed.is_empty()
            && let Ok(mut errors) = errors.lock()
        {
            errors.extend(failed);
        }
    });
    drop(tasks);
    drop(keys);
    let mut errors = errors.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    errors.sort_by_key(|(i, _)| *i);
    let sums = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let totals = shares
        .iter()
        .zip(sums)
        .map(|(p, sum)| (policy.values.get(*p).map_or(String::new(), |d| d.name.clone()), sum))
        .collect();
    let mut wide = wide.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    wide.sort_by_key(|(i, _)| *i);
    Some(Settled { table, wide, errors, totals })
}

/// A table's claims settled for an impact report ([`crate::diff`]): each claim's shares of the
/// balance, by the names asked for, in fen, where it settled; and, until
/// [`Shares::without_table`], the settled table, for who each claim is and the variants of its
/// enum fields (both kept in its row, see [`Shape`]).
#[derive(Debug)]
pub struct Shares {
    names: usize,
    fen: Vec<i64>,
    settled: Vec<bool>,
    table: Option<Settled>,
}

/// Settle `table` for an impact report, calling `progress` as [`settle_table`] does. `None` when
/// the engine does not take this path, a share named is not one of the policy's outputs in
/// money, or an enum field has too many variants for a byte of the row (and so gives way to the
/// settled values): the general path then settles the claims.
pub fn settle_shares(
    engine: &Engine,
    table: Table,
    names: &[String],
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Shares> {
    let policy = engine.policy();
    let outputs = output_slots(policy);
    let at: Vec<usize> = names
        .iter()
        .map(|name| {
            outputs.iter().position(|&(v, ty)| {
                ty == Type::Money && policy.values.get(v).is_some_and(|d| d.name == *name)
            })
        })
        .collect::<Option<_>>()?;
    let fields = policy.input_record().map_or(&[][..], |r| r.fields.as_slice());
    let kept = fields
        .iter()
        .zip(&table.shape.slots)
        .all(|(f, &(_, slot))| !matches!(f.ty, Type::Enum(_)) || slot == Slot::Small);
    if !kept {
        return None;
    }
    let n = table.len();
    let settled = settle_table(engine, table, progress)?;
    let k = names.len();
    let mut fen = vec![0i64; n * k];
    let mut ok = vec![false; n];
    let table = settled.table();
    // Claims a parallel task reads the shares of.
    const CLAIMS: usize = 4096;
    fen.par_chunks_mut(k.max(1) * CLAIMS).zip(ok.par_chunks_mut(CLAIMS)).enumerate().for_each(
        |(chunk, (fen, ok))| {
            let mut values = vec![0i64; settled_values(policy)];
            for (j, (shares, ok)) in fen.chunks_exact_mut(k.max(1)).zip(ok).enumerate() {
                let i = chunk * CLAIMS + j;
                let Some((part, kk)) = table.claim(i) else { continue };
                if settled.errors.binary_search_by_key(&i, |(e, _)| *e).is_ok() {
                    continue;
                }
                settled.values(i, part, kk, &mut values);
                for (slot, &a) in shares.iter_mut().zip(&at) {
                    *slot = values.get(a).copied().unwrap_or(0);
                }
                *ok = true;
            }
        },
    );
    Some(Shares { names: k, fen, settled: ok, table: Some(settled) })
}

impl Shares {
    /// Records (claims and error rows).
    pub fn len(&self) -> usize {
        self.settled.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.settled.is_empty()
    }

    /// Record `i`'s shares, `None` where it did not settle.
    pub fn shares(&self, i: usize) -> Option<Vec<rust_decimal::Decimal>> {
        if !self.settled.get(i).copied().unwrap_or(false) {
            return None;
        }
        let fen = self.fen.get(i * self.names..(i + 1) * self.names)?;
        Some(fen.iter().map(|&x| rust_decimal::Decimal::new(x, 2)).collect())
    }

    /// Record `i`'s variant of enum field `field` of the input, `None` for an error row (or once
    /// the table is forgotten).
    pub fn variant(&self, i: usize, field: usize) -> Option<u32> {
        let table = self.table.as_ref()?.table();
        let (part, k) = table.claim(i)?;
        let &(at, Slot::Small) = table.shape.slots.get(field)? else { return None };
        part.row(&table.shape, k).get(at).map(|&v| u32::from(v))
    }

    /// Who record `i` is, `None` for an error row (or once the table is forgotten).
    pub fn who(&self, policy: &Policy, i: usize) -> Option<crate::io::Who> {
        let table = self.table.as_ref()?.table();
        let (part, k) = table.claim(i)?;
        let text = |field| String::from_utf8_lossy(part.text(&table.shape, k, field)).into_owned();
        Some(crate::io::Who {
            id: text(policy.id_field),
            member: text(policy.member_field),
            line: part.line(k) as usize,
        })
    }

    /// Forget the settled table (who each claim is, its variants), keeping the shares.
    pub fn without_table(mut self) -> Shares {
        self.table = None;
        self
    }
}

/// Write the settlements of a table as CSV, byte for byte what [`crate::io::write_csv`] writes
/// for the same claims: rows formatted in parallel pieces, written in order.
pub fn write_table_csv(
    engine: &Engine,
    settled: &Settled,
    mut out: impl Write + Send,
) -> std::io::Result<()> {
    let policy = engine.policy();
    let count = write_csv_header(policy, &mut out)?;
    let c = Columns { engine, settled, slots: output_slots(policy), count, json: None };
    write_rows(&c, out)
}

/// Write the settlements of a table as JSON Lines, byte for byte what
/// [`crate::io::write_jsonl`] writes for the same claims: rows formatted in parallel pieces,
/// written in order.
pub fn write_table_jsonl(
    engine: &Engine,
    settled: &Settled,
    out: impl Write + Send,
) -> std::io::Result<()> {
    let policy = engine.policy();
    let json = Some(JsonKeys::of(policy));
    let c = Columns { engine, settled, slots: output_slots(policy), count: 0, json };
    write_rows(&c, out)
}

/// Write every row of a table, formatted in parallel pieces, in order.
fn write_rows(c: &Columns<'_>, mut out: impl Write + Send) -> std::io::Result<()> {
    let (engine, table) = (c.engine, c.settled.table());
    // Pieces of 16,384 rows (about 2 MiB for the Dezhou policy): a buffered writer of 1 MiB
    // passes them to the file without copying them.
    const BATCH: usize = 1 << 17;
    const PIECE: usize = 1 << 14;
    let n = table.len();
    // A thread of its own writes the pieces in order while the pool formats the next batch:
    // writing a large file is slow kernel work that formatting need not wait for.
    // Pieces written go back to be formatted into again: their pages are the process's
    // already (new ones cost a page fault every 4 KiB of output).
    let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(2 * BATCH / PIECE);
        let spare = &spare;
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for mut piece in receive {
                out.write_all(&piece)?;
                piece.clear();
                if let Ok(mut spare) = spare.lock() {
                    spare.push(piece);
                }
            }
            out.flush()
        });
        'batches: for batch in (0..n).step_by(BATCH) {
            let end = (batch + BATCH).min(n);
            let pieces: Vec<Vec<u8>> = (batch..end)
                .step_by(PIECE)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|from| {
                    let buffer = spare.lock().ok().and_then(|mut spare| spare.pop());
                    let mut piece = OutPiece::new(engine.policy(), PIECE, buffer);
                    for i in from..(from + PIECE).min(end) {
                        piece.write(c, i);
                    }
                    piece.out
                })
                .collect();
            for piece in pieces {
                // The writer stopped on an error: it reports it below.
                if send.send(piece).is_err() {
                    break 'batches;
                }
            }
        }
        drop(send);
        writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the writer thread failed")))
    })
}

/// Two digits of every number below 100.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Write a count.
fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Write an amount in fen as yuan with two decimals (`-1234.05`), as `io::push_fen` does: the
/// digits put together from the right in a buffer, copied once.
fn push_fen(out: &mut Vec<u8>, fen: i64) {
    if fen == 0 {
        out.extend_from_slice(b"0.00");
        return;
    }
    let mut buf = [0u8; 24];
    let mut at = buf.len();
    let abs = fen.unsigned_abs();
    fn pair(buf: &mut [u8; 24], at: &mut usize, n: u64) {
        let p = n as usize * 2;
        *at -= 2;
        if let (Some(slot), Some(two)) = (buf.get_mut(*at..*at + 2), PAIRS.get(p..p + 2)) {
            slot.copy_from_slice(two);
        }
    }
    pair(&mut buf, &mut at, abs % 100);
    let mut yuan = abs / 100;
    at -= 1;
    if let Some(slot) = buf.get_mut(at) {
        *slot = b'.';
    }
    while yuan >= 100 {
        pair(&mut buf, &mut at, yuan % 100);
        yuan /= 100;
    }
    if yuan >= 10 {
        pair(&mut buf, &mut at, yuan);
    } else {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'0' + yuan as u8;
        }
    }
    if fen < 0 {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'-';
        }
    }
    out.extend_from_slice(buf.get(at..).unwrap_or(&[]));
}

/// Write a field as the `csv` writer does: quoted when it holds a comma, a quote or a line
/// end, quotes doubled inside.
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(bytes);
    }
}

/// One piece of output being written.
struct OutPiece {
    out: Vec<u8>,
    /// Scratch for cells of rarer types.
    cell: String,
    /// Scratch: a claim's settled values.
    values: Vec<i64>,
}

/// What every row of the output needs.
struct Columns<'a> {
    engine: &'a Engine,
    settled: &'a Settled,
    /// The output values, with their types.
    slots: Vec<(usize, Type)>,
    /// Output columns (outputs, then accumulators).
    count: usize,
    /// For JSON Lines: the keys of a row.
    json: Option<JsonKeys>,
}

impl OutPiece {
    /// A piece of `rows` rows, written into `buffer` if given.
    fn new(policy: &Policy, rows: usize, buffer: Option<Vec<u8>>) -> Self {
        OutPiece {
            out: buffer.unwrap_or_else(|| Vec::with_capacity(rows * 128)),
            cell: String::new(),
            values: vec![0; settled_values(policy)],
        }
    }

    fn cell(out: &mut Vec<u8>, scratch: &mut String, policy: &Policy, ty: Type, x: i64) {
        match ty {
            Type::Money => push_fen(out, x),
            Type::Int => push_int(out, x),
            _ => {
                scratch.clear();
                write_scaled(scratch, policy, ty, x);
                push_field(out, scratch.as_bytes());
            }
        }
    }

    fn write(&mut self, c: &Columns<'_>, i: usize) {
        let (policy, settled) = (c.engine.policy(), c.settled);
        let table = settled.table();
        let Some((part, k)) = table.locate(i) else { return };
        let bad = part.bad.get(k).copied().unwrap_or(true);
        let input_error = if bad {
            table
                .errors
                .binary_search_by_key(&i, |(k, _)| *k)
                .ok()
                .and_then(|k| table.errors.get(k))
        } else {
            None
        };
        let (id, member, message) = match input_error {
            Some((_, e)) => (
                e.id.as_deref().unwrap_or("").as_bytes(),
                e.member.as_deref().unwrap_or("").as_bytes(),
                Some(e.to_string()),
            ),
            None => (
                part.text(&table.shape, k, policy.id_field),
                part.text(&table.shape, k, policy.member_field),
                if bad {
                    Some("not settled".to_string())
                } else {
                    settled
                        .errors
                        .binary_search_by_key(&i, |(k, _)| *k)
                        .ok()
                        .and_then(|k| settled.errors.get(k))
                        .map(|(_, e)| e.to_string())
                },
            ),
        };
        let OutPiece { out, cell, values } = self;
        let settled_values = match message {
            Some(_) => None,
            None => {
                settled.values(i, part, k, values);
                Some(values.split_at(c.slots.len().min(values.len())))
            }
        };
        let row = RowOut { line: part.line(k), id, member, message: message.as_deref() };
        let values = settled_values;
        match &c.json {
            None => csv_row(out, cell, c, &row, values),
            Some(keys) => json_row(out, cell, c, keys, &row, values),
        }
    }
}

/// What an output row says besides the settled values.
struct RowOut<'r> {
    line: u32,
    id: &'r [u8],
    member: &'r [u8],
    /// Why the claim did not settle.
    message: Option<&'r str>,
}

/// A claim's outputs (in column order) and its accumulators before it, when it settled; `None`
/// for an error row.
type Values<'v> = Option<(&'v [i64], &'v [i64])>;

/// Write a row as CSV: `line,id,member,status,error,<outputs>,<accumulators>`.
fn csv_row(
    out: &mut Vec<u8>,
    scratch: &mut String,
    c: &Columns<'_>,
    row: &RowOut<'_>,
    values: Values<'_>,
) {
    let policy = c.engine.policy();
    push_int(out, i64::from(row.line));
    out.push(b',');
    push_field(out, row.id);
    out.push(b',');
    push_field(out, row.member);
    match values {
        Some((values, accs)) => {
            out.extend_from_slice(b",ok,");
            for (&(_, ty), &x) in c.slots.iter().zip(values) {
                out.push(b',');
                OutPiece::cell(out, scratch, policy, ty, x);
            }
            for (a, &x) in policy.accumulators.iter().zip(accs) {
                out.push(b',');
                OutPiece::cell(out, scratch, policy, a.ty, x);
            }
        }
        None => {
            out.extend_from_slice(b",error,");
            push_field(out, row.message.unwrap_or("").as_bytes());
            out.extend(std::iter::repeat_n(b',', c.count));
        }
    }
    out.push(b'\n');
}

/// Where a key of a JSON Lines output row takes its value from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Line,
    Id,
    Member,
    Status,
    Error,
    /// An output of the settlement (its column among the outputs), with its type.
    Value(usize, Type),
    /// An accumulator before the claim, with its type.
    Accumulator(usize, Type),
}

/// The keys of JSON Lines output rows in the order `serde_json` writes them (sorted, a later
/// one of the same name replacing an earlier, as [`crate::io::write_jsonl`] inserts them), each
/// written once as `"key":`: for settled claims and for error rows.
#[derive(Debug)]
struct JsonKeys {
    settled: Vec<(Vec<u8>, Source)>,
    failed: Vec<(Vec<u8>, Source)>,
}

impl JsonKeys {
    fn of(policy: &Policy) -> JsonKeys {
        use std::collections::BTreeMap;
        let head = [("line", Source::Line), ("id", Source::Id), ("member", Source::Member)];
        let mut settled: BTreeMap<String, Source> =
            head.iter().map(|(k, s)| (k.to_string(), *s)).collect();
        let mut failed = settled.clone();
        settled.insert("status".into(), Source::Status);
        failed.insert("status".into(), Source::Status);
        failed.insert("error".into(), Source::Error);
        for (j, (v, ty)) in output_slots(policy).into_iter().enumerate() {
            if let Some(def) = policy.values.get(v) {
                settled.insert(def.name.clone(), Source::Value(j, ty));
            }
        }
        for (i, a) in policy.accumulators.iter().enumerate() {
            settled.insert(a.name.clone(), Source::Accumulator(i, a.ty));
        }
        let keyed = |map: BTreeMap<String, Source>| {
            map.into_iter()
                .map(|(k, s)| {
                    let mut key = Vec::new();
                    push_json_string(&mut key, k.as_bytes());
                    key.push(b':');
                    (key, s)
                })
                .collect()
        };
        JsonKeys { settled: keyed(settled), failed: keyed(failed) }
    }
}

/// Write a row as one JSON object, as [`crate::io::write_jsonl`] does.
fn json_row(
    out: &mut Vec<u8>,
    scratch: &mut String,
    c: &Columns<'_>,
    keys: &JsonKeys,
    row: &RowOut<'_>,
    values: Values<'_>,
) {
    let policy = c.engine.policy();
    let keys = if values.is_some() { &keys.settled } else { &keys.failed };
    out.push(b'{');
    for (n, (key, source)) in keys.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        let number = |out: &mut Vec<u8>, scratch: &mut String, ty: Type, x: i64| {
            json_value(out, scratch, policy, ty, x)
        };
        match *source {
            Source::Line => push_int(out, i64::from(row.line)),
            Source::Id => push_json_string(out, row.id),
            Source::Member => push_json_string(out, row.member),
            Source::Status => {
                out.extend_from_slice(if values.is_some() { b"\"ok\"" } else { b"\"error\"" })
            }
            Source::Error => push_json_string(out, row.message.unwrap_or("").as_bytes()),
            Source::Value(v, ty) => {
                let x = values.and_then(|(values, _)| values.get(v).copied()).unwrap_or(0);
                number(out, scratch, ty, x);
            }
            Source::Accumulator(i, ty) => {
                let x = values.and_then(|(_, accs)| accs.get(i).copied()).unwrap_or(0);
                number(out, scratch, ty, x);
            }
        }
    }
    out.extend_from_slice(b"}\n");
}

/// A settled value in JSON, as [`crate::io::write_jsonl`] writes its cell: amounts, rates and
/// counts as numbers (their text, when it is one), yes/no as `true` or `false`, the rest as
/// strings.
fn json_value(out: &mut Vec<u8>, scratch: &mut String, policy: &Policy, ty: Type, x: i64) {
    match ty {
        Type::Money => push_fen(out, x),
        Type::Int => push_int(out, x),
        _ => {
            scratch.clear();
            write_scaled(scratch, policy, ty, x);
            match ty {
                Type::Rate => match scratch.parse::<serde_json::Number>() {
                    Ok(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    Err(_) => push_json_string(out, scratch.as_bytes()),
                },
                Type::Bool => {
                    out.extend_from_slice(if scratch == "true" { b"true" } else { b"false" })
                }
                _ => push_json_string(out, scratch.as_bytes()),
            }
        }
    }
}

/// Write a JSON string as `serde_json` does: quotes, backslashes and control characters escaped
/// (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`), everything else as it is.
fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..at).unwrap_or(&[]));
        if escape.is_empty() {
            let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 15)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = at + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sharing_a_hash_are_split() {
        let names: [&[u8]; 5] = [b"m2", b"m1", b"m2", b"m3", b"m1"];
        let member = |i: u32| names.get(i as usize).copied().unwrap_or(b"");
        let mut group: Vec<(Date, u32)> = (0..5).map(|i| (Date(10 - i), i as u32)).collect();
        let mut out = Vec::new();
        split_by_member(&mut group, &member, &mut out);
        let split: Vec<Vec<u32>> = out.iter().map(|g| g.iter().map(|c| c.1).collect()).collect();
        assert_eq!(split, vec![vec![1, 4], vec![0, 2], vec![3]]);
        let mut one: Vec<(Date, u32)> = vec![(Date(3), 1), (Date(1), 4)];
        let mut out = Vec::new();
        split_by_member(&mut one, &member, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_row_holds_its_texts_and_variants_then_the_larger_of_its_numbers_and_settled_values() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/dezhou/employee_inpatient.settle"
        ))
        .expect("policy");
        let policy = crate::load_str("employee_inpatient.settle", &text).expect("checks");
        let record = crate::io::input(&policy);
        let width = record.fields.len();
        let layout = Layout { policy: &policy, record, positions: (0..width).collect(), width };
        let kinds = kinds(&policy);
        // Ids of 8 and 7 characters: slots of a length and 8 bytes each.
        let sample = b"g0000000,p017477,2020-08-24,level2,987.12,106.60,0.00,7.81,162.53\n";
        // 7 outputs and 7 accumulators.
        let values = settled_values(&policy);
        assert_eq!(values, 14);
        let shape = Shape::of(&kinds, &layout, sample, values);
        // The two ids, then the level: kept once the claim is settled.
        let kept: Vec<(usize, usize)> = shape
            .slots
            .iter()
            .filter(|(_, s)| *s != Slot::Number)
            .map(|&(at, s)| (at, at + s.size()))
            .collect();
        assert_eq!(kept, vec![(0, 9), (9, 18), (18, 19)]);
        assert_eq!(shape.results, 20);
        // The date and 5 amounts, from the results on.
        let mut numbers: Vec<usize> =
            shape.slots.iter().filter(|(_, s)| *s == Slot::Number).map(|(at, _)| *at).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, vec![20, 24, 28, 32, 36, 40]);
        assert_eq!(shape.stride, 20 + 4 * values);
        // Fewer settled values than the numbers' bytes: the numbers decide.
        assert_eq!(Shape::of(&kinds, &layout, sample, 2).stride, 44);
    }

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
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        all.extend(["é中\u{2028}\u{ffff}", "a\"b\\c\u{1}\u{1f}\u{7f}", ""].map(str::to_string));
        for s in all {
            let mut ours = Vec::new();
            push_json_string(&mut ours, s.as_bytes());
            let theirs = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&ours), theirs, "{s:?}");
        }
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

    #[test]
    fn numbers_are_written_as_the_general_writer_writes_them() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut cases: Vec<i64> =
            vec![0, 1, -1, 5, -5, 9, 10, 99, 100, 101, 999, 1000, i64::MAX, i64::MIN];
        for i in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push((x as i64) >> (i % 63));
        }
        for n in cases {
            let (mut fen, mut int) = (Vec::new(), Vec::new());
            push_fen(&mut fen, n);
            push_int(&mut int, n);
            let mut expected = String::new();
            crate::field::push_fen(&mut expected, i128::from(n));
            assert_eq!(String::from_utf8_lossy(&fen), expected, "{n}");
            assert_eq!(String::from_utf8_lossy(&int), n.to_string(), "{n}");
        }
    }
}
