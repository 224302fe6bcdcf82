//! The batch fast path: a CSV file of claims read, settled and written without making a
//! [`Value`] for any field.
//!
//! The general path reads every claim into a row of [`Value`]s and keeps every settlement's
//! values; on a million claims that is most of a run's time and memory. This path, taken when
//! the policy is settled by closures or compiled code that need no fallback (no list or record
//! fields, no folds or text comparisons), works on scaled integers from end to end:
//!
//! - **Reading.** The file is cut into pieces at record boundaries and the pieces parsed in
//!   parallel, each field straight from its bytes into a block of scaled integers per piece
//!   ([`Table`]); texts (the claim and member ids) go to a byte arena per piece. A record the
//!   fast parser does not take as it is (a sign, spaces, a rate, a date it cannot read, anything
//!   unusual) is read by the general reader's own function, so its value or its error row is the
//!   general path's. Duplicate ids are found by a parallel sort of hashed ids.
//! - **Settling.** Members are grouped by a parallel sort of hashed member ids (a hash shared by
//!   different members is split exactly); tasks of 64 members gather their claims into one
//!   block, settle them, and keep each claim's accumulators before it in its row of one block
//!   in input order (half the memory of keeping its outputs).
//! - **Writing.** Each row settles its claim again from those accumulators (the code is a
//!   function of the claim and them) and is formatted in parallel pieces straight to bytes,
//!   written in order by a thread of its own while the next batch is formatted.
//!
//! The output is byte for byte the general path's; `tests/batch.rs` compares the two on every
//! policy the path takes, generated claims, hostile input and random bodies, and the `batch`
//! fuzz target on any bytes.
//!
//! Memory, per claim, for the Dezhou employee policy (9 input fields, 7 accumulators): while
//! reading, the file (about 70 bytes, freed before the duplicate search) and the table (fields
//! stored by column as narrow as their values allow, 41 bytes; about 15 of id texts; 5 of line
//! number and status); while settling, the table, 32 bytes of accumulators and their mask, and
//! up to 24 for grouping: at most about 130 bytes a claim, 2.0 to 2.2 times the input's size.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::{Policy, Type};

use crate::engine::{ClaimError, Engine, MEMBERS_PER_TASK, MemberOrder, Running};
use crate::io::{
    FileError, InputError, Layout, Lines, Row, build_claim, csv_cuts, csv_error, output_slots,
    utf8_error, width_error, write_csv_header, write_scaled,
};
use crate::value::Value;

/// Bits of a text cell holding the text's length; the rest hold its offset in the arena.
const LENGTH_BITS: u32 = 20;
/// Texts longer than this send the file to the general path.
const LONGEST_TEXT: usize = (1 << LENGTH_BITS) - 1;

/// Claims read from a CSV file as scaled integers: the parts read in parallel, kept as they
/// were read (joining them would copy every cell once more).
#[derive(Debug, Default)]
pub struct Table {
    parts: Vec<Part>,
    /// The index of each part's first record, then the number of records.
    starts: Vec<usize>,
    /// The error rows, by record index.
    errors: Vec<(usize, InputError)>,
}

/// The records of one piece of the file.
#[derive(Debug, Default)]
struct Part {
    /// Input fields a claim has.
    width: usize,
    /// While the part is read: every record's fields, `width` a record, as the closures and
    /// compiled code read them; a text field holds its offset in `text` and its length. Zeros
    /// for error rows. Then moved into `columns`.
    cells: Vec<i64>,
    /// Once read: each field's values, as narrow as they all fit.
    columns: Vec<Column>,
    /// The line each record starts on.
    lines: Vec<u32>,
    /// Whether each record is an error row.
    bad: Vec<bool>,
    /// The error rows, by record index in the part.
    errors: Vec<(usize, InputError)>,
    /// The texts of the part's records.
    text: Vec<u8>,
}

/// One field's values in a part: a byte, 32 or 64 bits each, as narrow as they all fit.
#[derive(Debug)]
enum Column {
    Byte(Vec<u8>),
    Narrow(Vec<i32>),
    Wide(Vec<i64>),
}

impl Column {
    fn get(&self, k: usize) -> Option<i64> {
        match self {
            Column::Byte(v) => v.get(k).map(|&x| i64::from(x)),
            Column::Narrow(v) => v.get(k).map(|&x| i64::from(x)),
            Column::Wide(v) => v.get(k).copied(),
        }
    }

    /// Field `field` of the row-major `cells`, `width` a record.
    fn of(cells: &[i64], width: usize, field: usize) -> Column {
        let values = || cells.iter().skip(field).step_by(width.max(1)).copied();
        if values().all(|x| (0..=255).contains(&x)) {
            Column::Byte(values().map(|x| x as u8).collect())
        } else if values().all(|x| i32::try_from(x).is_ok()) {
            Column::Narrow(values().map(|x| x as i32).collect())
        } else {
            Column::Wide(values().collect())
        }
    }
}

impl Part {
    /// Move the row-major cells into columns.
    fn make_columns(&mut self) {
        let cells = std::mem::take(&mut self.cells);
        self.columns = (0..self.width).map(|f| Column::of(&cells, self.width, f)).collect();
    }

    fn cell(&self, i: usize, field: usize) -> Option<i64> {
        self.columns.get(field)?.get(i)
    }

    /// Record `i`'s fields into `row`; `false` when there is no record `i`.
    fn fill(&self, i: usize, row: &mut [i64]) -> bool {
        if i >= self.lines.len() {
            return false;
        }
        for (slot, column) in row.iter_mut().zip(&self.columns) {
            *slot = column.get(i).unwrap_or(0);
        }
        true
    }

    fn text(&self, i: usize, field: usize) -> &[u8] {
        text_of(&self.text, self.cell(i, field).unwrap_or(0))
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

    /// Every record that is a claim (no error row), in parallel: its index, its part and its
    /// index there.
    fn claims(&self) -> impl ParallelIterator<Item = (u32, &Part, usize)> {
        self.parts.par_iter().zip(&self.starts).flat_map_iter(|(part, &start)| {
            part.bad
                .iter()
                .enumerate()
                .filter(|(_, bad)| !**bad)
                .map(move |(k, _)| (u32::try_from(start + k).unwrap_or(u32::MAX), part, k))
        })
    }

    /// The part holding record `i`, and its index there.
    fn locate(&self, i: usize) -> Option<(&Part, usize)> {
        let p = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((self.parts.get(p)?, i - self.starts.get(p)?))
    }

    /// Record `i`'s fields into `row`; `false` when there is no record `i`.
    fn fill(&self, i: usize, row: &mut [i64]) -> bool {
        self.locate(i).is_some_and(|(p, k)| p.fill(k, row))
    }

    /// Text field `field` of record `i`.
    fn text(&self, i: usize, field: usize) -> &[u8] {
        self.locate(i).map_or(&[], |(p, k)| p.text(k, field))
    }

    /// The line record `i` starts on.
    fn line(&self, i: usize) -> u32 {
        self.locate(i).and_then(|(p, k)| p.lines.get(k).copied()).unwrap_or(0)
    }
}

fn text_of(arena: &[u8], cell: i64) -> &[u8] {
    let cell = cell as u64;
    let start = usize::try_from(cell >> LENGTH_BITS).unwrap_or(usize::MAX);
    let len = (cell & ((1 << LENGTH_BITS) - 1)) as usize;
    arena.get(start..start.saturating_add(len)).unwrap_or(&[])
}

/// Put `bytes` in the arena; its cell, or `None` when it is too long for one.
fn push_text(arena: &mut Vec<u8>, bytes: &[u8]) -> Option<i64> {
    if bytes.len() > LONGEST_TEXT {
        return None;
    }
    let start = i64::try_from(arena.len()).ok()?;
    arena.extend_from_slice(bytes);
    Some((start << LENGTH_BITS) | bytes.len() as i64)
}

/// Whether `engine` settles its policy's claims by this path: closures or compiled code that
/// need no fallback, input fields that are numbers, dates, enum variants or texts, and at most
/// 32 accumulators.
pub fn supported(engine: &Engine) -> bool {
    let policy = engine.policy();
    let scalar = policy
        .input_record()
        .is_some_and(|r| r.fields.iter().all(|f| !matches!(f.ty, Type::Record(_) | Type::List(_))));
    scalar && engine.settles_without_fallback() && policy.accumulators.len() <= MOST_ACCUMULATORS
}

/// How one input field is parsed.
enum Kind {
    Money,
    Date,
    Int,
    /// A text; `required` for the claim and member ids (empty is an error).
    Text {
        required: bool,
    },
    /// Variant names, then labels, with their indices.
    Enum(Vec<(Vec<u8>, i64)>),
    /// Through the general reader.
    General,
}

fn kinds(policy: &Policy) -> Vec<Kind> {
    let Some(record) = policy.input_record() else { return Vec::new() };
    record
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| match f.ty {
            Type::Money => Kind::Money,
            Type::Date => Kind::Date,
            Type::Int => Kind::Int,
            Type::Text => Kind::Text { required: i == policy.id_field || i == policy.member_field },
            Type::Enum(e) => match policy.enums.get(e) {
                Some(def) => {
                    let names = def.variants.iter().enumerate().map(|(i, v)| (v.clone(), i));
                    let labels = def
                        .labels
                        .iter()
                        .enumerate()
                        .filter_map(|(i, l)| l.as_ref().map(|l| (l.clone(), i)));
                    Kind::Enum(
                        names.chain(labels).map(|(t, i)| (t.into_bytes(), i as i64)).collect(),
                    )
                }
                None => Kind::General,
            },
            _ => Kind::General,
        })
        .collect()
}

/// A field as the fast parser takes it: no surrounding space, nothing but ASCII at its ends.
fn plain(bytes: &[u8]) -> bool {
    let edge = |b: &u8| b.is_ascii_whitespace() || !b.is_ascii();
    !bytes.first().is_some_and(edge) && !bytes.last().is_some_and(edge)
}

/// An amount as written plainly: up to 15 digits, optionally a point and one or two more.
fn fen(bytes: &[u8]) -> Option<i64> {
    let (int, frac) = match bytes.iter().position(|&b| b == b'.') {
        Some(p) => (bytes.get(..p)?, bytes.get(p + 1..)?),
        None => (bytes, &[][..]),
    };
    if int.is_empty() || int.len() > 15 || frac.len() > 2 || (frac.is_empty() && int != bytes) {
        return None;
    }
    let mut n: i64 = 0;
    for &b in int.iter().chain(frac) {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(if frac.len() == 2 {
        n
    } else if frac.len() == 1 {
        n * 10
    } else {
        n * 100
    })
}

fn fast(kind: &Kind, bytes: &[u8], arena: &mut Vec<u8>) -> Option<i64> {
    if !plain(bytes) {
        return None;
    }
    match kind {
        Kind::Money => fen(bytes),
        Kind::Date => Date::parse(std::str::from_utf8(bytes).ok()?).map(|d| i64::from(d.0)),
        Kind::Int => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Kind::Text { required } => {
            if *required && bytes.is_empty() {
                return None;
            }
            push_text(arena, bytes)
        }
        Kind::Enum(names) => names.iter().find(|(n, _)| n == bytes).map(|(_, i)| *i),
        Kind::General => None,
    }
}

/// A value from the general reader as a cell; `None` for a text too long for the arena.
fn cell_of(value: &Value, arena: &mut Vec<u8>) -> Option<i64> {
    match value {
        Value::Text(t) => push_text(arena, t.as_bytes()),
        other => Some(other.scaled()),
    }
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

/// Read a piece; line numbers count from 1 at its start.
fn read_piece(layout: &Layout<'_>, kinds: &[Kind], piece: &[u8]) -> Piece {
    let width = kinds.len();
    // A generous guess at the records: capacity never touched costs no memory.
    let records = piece.len() / 24 + 16;
    let mut out = Piece {
        part: Part {
            width,
            cells: Vec::with_capacity(records * width),
            lines: Vec::with_capacity(records),
            bad: Vec::with_capacity(records),
            ..Part::default()
        },
        newlines: 0,
        too_long: false,
    };
    if memchr::memchr(b'"', piece).is_none() {
        split_piece(layout, kinds, piece, &mut out);
    } else {
        read_quoted_piece(layout, kinds, piece, &mut out);
    }
    // A text cell too long for the arena cannot be told apart: the general path reads it.
    if out.part.text.len() > (i64::MAX >> LENGTH_BITS) as usize {
        out.too_long = true;
    }
    out.part.make_columns();
    out
}

/// A piece without quotes: records end at a CR or LF (blank lines are no records) and fields
/// at commas, exactly as the `csv` reader cuts them.
fn split_piece(layout: &Layout<'_>, kinds: &[Kind], piece: &[u8], out: &mut Piece) {
    let mut line = 1;
    let mut at = 0;
    let mut commas: Vec<usize> = Vec::with_capacity(layout.width + 1);
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
        if take_record(layout, kinds, line, record, count, field, out).is_err() {
            return;
        }
        at = end;
    }
    out.newlines = line - 1;
}

/// A piece with quotes, read with the `csv` reader.
fn read_quoted_piece(layout: &Layout<'_>, kinds: &[Kind], piece: &[u8], out: &mut Piece) {
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
                if take_record(layout, kinds, line, raw.as_slice(), raw.len(), field, out).is_err()
                {
                    return;
                }
            }
            Err(e) => {
                let line = lines.at(e.position().map_or(fallback, csv::Position::byte));
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                fail(&mut out.part, line, csv_error(line, &e));
                if io {
                    break;
                }
            }
        }
    }
    out.newlines = lines.at(piece.len() as u64).saturating_sub(1);
}

/// Record an error row.
fn fail(t: &mut Part, line: usize, row: Row) {
    t.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    if let Row::Error(e) = row {
        t.errors.push((t.bad.len(), e));
    }
    t.bad.push(true);
    t.cells.extend(std::iter::repeat_n(0, t.width));
}

/// A text too long for the arena: the file is for the general path.
struct TooLong;

/// Take one record of `count` fields (`field(column)`, all of them `all`) on line `line`.
fn take_record<'r>(
    layout: &Layout<'_>,
    kinds: &[Kind],
    line: usize,
    all: &[u8],
    count: usize,
    field: impl Fn(usize) -> &'r [u8],
    out: &mut Piece,
) -> Result<(), TooLong> {
    let t = &mut out.part;
    if !all.is_ascii() && (0..count).any(|c| std::str::from_utf8(field(c)).is_err()) {
        let mut raw = csv::ByteRecord::new();
        for c in 0..count {
            raw.push_field(field(c));
        }
        match csv::StringRecord::from_byte_record(raw) {
            Err(e) => fail(t, line, utf8_error(line, e.utf8_error())),
            Ok(_) => fail(t, line, width_error(line, count, layout.width)),
        }
        return Ok(());
    }
    if count != layout.width {
        fail(t, line, width_error(line, count, layout.width));
        return Ok(());
    }
    let (cells_at, text_at) = (t.cells.len(), t.text.len());
    let input = |i: usize| field(layout.positions.get(i).copied().unwrap_or(0));
    let mut taken = true;
    for (i, kind) in kinds.iter().enumerate() {
        match fast(kind, input(i), &mut t.text) {
            Some(x) => t.cells.push(x),
            None => {
                taken = false;
                break;
            }
        }
    }
    if !taken {
        // The general reader decides: the same value or the same error row.
        t.cells.truncate(cells_at);
        t.text.truncate(text_at);
        let text = |i: usize| std::str::from_utf8(input(i)).unwrap_or("");
        match build_claim(layout.policy, layout.record, line, text) {
            Row::Claim(claim) => {
                for v in &claim.fields {
                    match cell_of(v, &mut t.text) {
                        Some(x) => t.cells.push(x),
                        None => {
                            out.too_long = true;
                            return Err(TooLong);
                        }
                    }
                }
            }
            error => {
                fail(t, line, error);
                return Ok(());
            }
        }
    }
    t.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    t.bad.push(false);
    Ok(())
}

/// Read a CSV file held in memory into a [`Table`], in parallel pieces on the current rayon
/// pool. `Ok(None)`: the file holds a text too long for this path (over 1 MiB); read it with
/// [`crate::io::read_csv_bytes`].
pub fn read_table(policy: &Policy, bytes: &[u8], name: &str) -> Result<Option<Table>, FileError> {
    let mut table = parse_table(policy, bytes, name)?;
    if let Some(table) = &mut table {
        mark_duplicates(policy, table);
    }
    Ok(table)
}

/// [`read_table`] taking the file's bytes, which it frees as soon as they are parsed: the file
/// and the table's duplicate search are never in memory together.
pub fn read_table_from(
    policy: &Policy,
    bytes: Vec<u8>,
    name: &str,
) -> Result<Option<Table>, FileError> {
    let mut table = parse_table(policy, &bytes, name)?;
    drop(bytes);
    if let Some(table) = &mut table {
        mark_duplicates(policy, table);
    }
    Ok(table)
}

/// Parse the records of a CSV file into a table, duplicates not yet marked.
fn parse_table(policy: &Policy, bytes: &[u8], name: &str) -> Result<Option<Table>, FileError> {
    let pieces = (rayon::current_num_threads() * 4).max(1);
    let (layout, parts, lines_before) = csv_cuts(policy, bytes, name, pieces)?;
    let kinds = kinds(policy);
    let mut read: Vec<Piece> =
        parts.into_par_iter().map(|piece| read_piece(&layout, &kinds, piece)).collect();
    if read.iter().any(|p| p.too_long) {
        return Ok(None);
    }
    // Line numbers from the start of the file: each piece's count from its own start, moved by
    // the lines before it.
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
    let mut table = Table::default();
    let mut start = 0;
    for piece in read {
        let mut part = piece.part;
        table.starts.push(start);
        table.errors.extend(part.errors.drain(..).map(|(i, e)| (start + i, e)));
        start += part.lines.len();
        table.parts.push(part);
    }
    table.starts.push(start);
    Ok(Some(table))
}

/// Turn every claim whose id an earlier claim has into an error row naming the first, as the
/// general reader does.
fn mark_duplicates(policy: &Policy, table: &mut Table) {
    // Claims sorted by id (hashed, in parallel), each id's claims in input order: the first of
    // a run is the first claim with that id, the others its duplicates.
    let t = &*table;
    let id = |i: u32| t.text(i as usize, policy.id_field);
    let mut keyed = hashed(t, policy.id_field);
    keyed.par_sort_unstable_by(|&(h, a), &(k, b)| {
        h.cmp(&k).then_with(|| id(a).cmp(id(b))).then(a.cmp(&b))
    });
    let mut found: Vec<(usize, InputError)> = Vec::new();
    let mut first = 0;
    for k in 1..keyed.len() {
        let (Some(&(h, a)), Some(&(g, b))) = (keyed.get(first), keyed.get(k)) else { break };
        if h != g || id(a) != id(b) {
            first = k;
            continue;
        }
        let earlier = t.line(a as usize);
        let i = b as usize;
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        found.push((
            i,
            InputError {
                line: t.line(i) as usize,
                message: format!("duplicate claim id `{}`, first on line {earlier}", text(id(b))),
                id: Some(text(id(b))),
                member: Some(text(t.text(i, policy.member_field))),
                field: Some("id".to_string()),
            },
        ));
    }
    drop(keyed);
    if found.is_empty() {
        return;
    }
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

/// (hash of text field `field`, record index) of every claim that is not an error row, made in
/// parallel.
fn hashed(table: &Table, field: usize) -> Vec<(u64, u32)> {
    use std::hash::BuildHasher;
    let state = foldhash::fast::FixedState::default();
    table.claims().map(|(i, part, k)| (state.hash_one(part.text(k, field)), i)).collect()
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

/// The settlements of a [`Table`]: each claim's output cells and accumulators, in input order.
#[derive(Debug)]
pub struct Settled {
    /// Cells a claim has: its accumulators before it, then a mask of those that had seen a
    /// claim, 32 bits each. The outputs are computed again from these when the row is written:
    /// keeping the accumulators takes a quarter of the memory of keeping the outputs.
    per_claim: usize,
    cells: Vec<AtomicU32>,
    /// The accumulators of the claims where one does not fit 32 bits, by record index.
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

    /// Claim `i`'s accumulators before it, and which had seen a claim.
    fn before(&self, i: usize, accs: &mut [i64], seen: &mut [i64]) {
        let start = i * self.per_claim;
        let cells = self.cells.get(start..start + self.per_claim).unwrap_or(&[]);
        let wide = match self.wide.binary_search_by_key(&i, |(k, _)| *k) {
            Ok(k) => self.wide.get(k).map(|(_, v)| v.as_slice()),
            Err(_) => None,
        };
        match wide {
            Some(values) => accs.iter_mut().zip(values).for_each(|(slot, x)| *slot = *x),
            None => {
                for (slot, cell) in accs.iter_mut().zip(cells) {
                    *slot = i64::from(cell.load(Ordering::Relaxed) as i32);
                }
            }
        }
        let mask = cells.last().map_or(0, |c| c.load(Ordering::Relaxed));
        for (k, slot) in seen.iter_mut().enumerate() {
            *slot = i64::from(mask >> k & 1 == 1);
        }
    }
}

/// Accumulators whose "seen" flags fit the mask of a [`Settled`] cell.
const MOST_ACCUMULATORS: usize = 32;

/// Settle a table's claims: members in parallel on the current rayon pool, calling `progress`
/// with the number of claims settled as each member is done. `None` when the engine does not
/// take this path (see [`supported`]).
pub fn settle_table(
    engine: &Engine,
    table: &Table,
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Settled> {
    if !supported(engine) {
        return None;
    }
    let policy = engine.policy();
    let shares: Vec<usize> = policy.balance.iter().flat_map(|b| b.parts.iter().copied()).collect();
    let per_claim = policy.accumulators.len() + 1;
    let n = table.len();
    let cells: Vec<AtomicU32> =
        (0..n * per_claim).into_par_iter().map(|_| AtomicU32::new(0)).collect();
    let wide = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let totals = Mutex::new(vec![0i128; shares.len()]);
    // Claims grouped by the hash of their member (a parallel sort of hashes and positions);
    // a group whose members differ (a collision) is split by member in its task.
    let member = |i: u32| table.text(i as usize, policy.member_field);
    let mut keyed: Vec<(u64, u32, Date)> = {
        use std::hash::BuildHasher;
        let state = foldhash::fast::FixedState::default();
        table
            .claims()
            .map(|(i, part, k)| {
                let h = state.hash_one(part.text(k, policy.member_field));
                let day = part.cell(k, policy.dated_field).unwrap_or(0);
                (h, i, Date(i32::try_from(day).unwrap_or(0)))
            })
            .collect()
    };
    keyed.par_sort_unstable_by_key(|&(h, i, _)| (h, i));
    let mut lengths = Vec::new();
    let mut run = 0;
    let mut last = None;
    for &(h, ..) in &keyed {
        if last != Some(h) && run > 0 {
            lengths.push(run);
            run = 0;
        }
        last = Some(h);
        run += 1;
    }
    if run > 0 {
        lengths.push(run);
    }
    let order: Vec<(Date, u32)> = keyed.par_iter().map(|&(_, i, d)| (d, i)).collect();
    drop(keyed);
    let mut order = MemberOrder::new(order, lengths);
    let mut members = order.members();
    let id = |i: u32| table.text(i as usize, policy.id_field);
    let width = policy.input_record().map_or(0, |r| r.fields.len());
    members.par_chunks_mut(MEMBERS_PER_TASK).for_each(|chunk| {
        let mut failed = Vec::new();
        let mut groups = Vec::with_capacity(chunk.len());
        for group in chunk.iter_mut() {
            split_by_member(std::mem::take(group), &member, &mut groups);
        }
        for group in &mut groups {
            group.sort_unstable_by(|&(d, a), &(e, b)| {
                d.cmp(&e).then_with(|| id(a).cmp(id(b))).then(a.cmp(&b))
            });
        }
        // The task's claims gathered into one block in the order they settle, their outputs
        // kept in another and put in place at the end: settling reads and writes memory in
        // order instead of across the whole table.
        let claims: Vec<u32> = groups.iter().flat_map(|g| g.iter().map(|c| c.1)).collect();
        let mut rows: Vec<i64> = vec![0; claims.len() * width];
        for (&i, row) in claims.iter().zip(rows.chunks_exact_mut(width.max(1))) {
            table.fill(i as usize, row);
        }
        let mut outs: Vec<i64> = vec![0; claims.len() * per_claim];
        let mut done = vec![false; claims.len()];
        let mut sums = vec![0i128; shares.len()];
        engine.settle_members(
            &groups,
            &|k| rows.get(k * width..(k + 1) * width),
            &mut |k, result| match result {
                Ok(frame) => {
                    let Some(out) = outs.get_mut(k * per_claim..(k + 1) * per_claim) else {
                        return;
                    };
                    let mask = frame
                        .seen
                        .iter()
                        .enumerate()
                        .fold(0u64, |m, (a, s)| if *s != 0 { m | 1 << a } else { m });
                    let cells = frame.accs.iter().copied().chain([mask as i64]);
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
                Err(e) => failed.push((claims.get(k).map_or(usize::MAX, |&i| i as usize), e)),
            },
            progress,
        );
        if let Ok(mut totals) = totals.lock() {
            for (t, s) in totals.iter_mut().zip(sums) {
                *t += s;
            }
        }
        let mut wider = Vec::new();
        for ((&i, out), _) in
            claims.iter().zip(outs.chunks_exact(per_claim.max(1))).zip(&done).filter(|(_, d)| **d)
        {
            let (i, start) = (i as usize, i as usize * per_claim);
            let (accs, mask) = out.split_at(out.len().saturating_sub(1));
            let narrow = accs.iter().all(|&x| i32::try_from(x).is_ok());
            if !narrow {
                wider.push((i, accs.to_vec()));
            }
            if let Some(row) = cells.get(start..start + per_claim) {
                let values = accs.iter().map(|&x| if narrow { x as i32 as u32 } else { 0 });
                for (slot, x) in row.iter().zip(values.chain(mask.iter().map(|&m| m as u32))) {
                    slot.store(x, Ordering::Relaxed);
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
    drop(members);
    drop(order);
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
    Some(Settled { per_claim, cells, wide, errors, totals })
}

/// Write the settlements of a table as CSV, byte for byte what [`crate::io::write_csv`] writes
/// for the same claims: rows formatted in parallel pieces, written in order.
pub fn write_table_csv(
    engine: &Engine,
    table: &Table,
    settled: &Settled,
    mut out: impl Write + Send,
) -> std::io::Result<()> {
    let policy = engine.policy();
    let count = write_csv_header(policy, &mut out)?;
    let c = Columns { engine, table, settled, slots: output_slots(policy), count };
    const BATCH: usize = 1 << 16;
    const PIECE: usize = 1 << 12;
    let n = table.len();
    // A thread of its own writes the pieces in order while the pool formats the next batch:
    // writing a large file is slow kernel work that formatting need not wait for.
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(2 * BATCH / PIECE);
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for piece in receive {
                out.write_all(&piece)?;
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
                    let mut piece = OutPiece::new(engine, PIECE);
                    for i in from..(from + PIECE).min(end) {
                        piece.write(&c, i);
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

/// Write `n`'s digits (at least `min` of them) to the end of `buf`, returning where they start.
fn digits(buf: &mut [u8; 24], mut n: u64, min: usize) -> usize {
    let mut i = buf.len();
    while n > 0 || buf.len() - i < min {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        let (Some(&hi), Some(&lo)) = (PAIRS.get(pair), PAIRS.get(pair + 1)) else { break };
        let (Some(a), Some(b)) = (i.checked_sub(2), i.checked_sub(1)) else { break };
        if let Some(slot) = buf.get_mut(b) {
            *slot = lo;
        }
        if let Some(slot) = buf.get_mut(a) {
            *slot = hi;
        }
        i = a;
    }
    // One leading zero too many from the last pair.
    while i + min < buf.len() && buf.get(i) == Some(&b'0') {
        i += 1;
    }
    i
}

/// Write a count.
fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    let at = digits(&mut buf, n.unsigned_abs(), 1);
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(buf.get(at..).unwrap_or(&[]));
}

/// Write an amount in fen as yuan with two decimals (`-1234.05`), as `io::push_fen` does.
fn push_fen(out: &mut Vec<u8>, fen: i64) {
    let mut buf = [0u8; 24];
    let at = digits(&mut buf, fen.unsigned_abs(), 3);
    let all = buf.get(at..).unwrap_or(&[]);
    let (yuan, cents) = all.split_at(all.len().saturating_sub(2));
    if fen < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(yuan);
    out.push(b'.');
    out.extend_from_slice(cents);
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
    /// The running state the rows are settled again with.
    state: Running,
    /// Scratch: a claim's fields, its accumulators before it, and which had seen a claim.
    fields: Vec<i64>,
    accs: Vec<i64>,
    seen: Vec<i64>,
}

/// What every row of the output needs.
struct Columns<'a> {
    engine: &'a Engine,
    table: &'a Table,
    settled: &'a Settled,
    /// The output values, with their types.
    slots: Vec<(usize, Type)>,
    /// Output columns (outputs, then accumulators).
    count: usize,
}

impl OutPiece {
    fn new(engine: &Engine, rows: usize) -> Self {
        let accs = engine.policy().accumulators.len();
        OutPiece {
            out: Vec::with_capacity(rows * 128),
            cell: String::new(),
            state: engine.running(),
            fields: vec![0; engine.policy().input_record().map_or(0, |r| r.fields.len())],
            accs: vec![0; accs],
            seen: vec![0; accs],
        }
    }

    fn cell(out: &mut Vec<u8>, scratch: &mut String, policy: &Policy, ty: Type, x: i64) {
        out.push(b',');
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
        let (policy, table, settled) = (c.engine.policy(), c.table, c.settled);
        let Some((part, k)) = table.locate(i) else { return };
        let out = &mut self.out;
        push_int(out, i64::from(part.lines.get(k).copied().unwrap_or(0)));
        out.push(b',');
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
        let mut message = match input_error {
            Some((_, e)) => {
                push_field(out, e.id.as_deref().unwrap_or("").as_bytes());
                out.push(b',');
                push_field(out, e.member.as_deref().unwrap_or("").as_bytes());
                Some(e.to_string())
            }
            None => {
                push_field(out, part.text(k, policy.id_field));
                out.push(b',');
                push_field(out, part.text(k, policy.member_field));
                if bad {
                    Some("not settled".to_string())
                } else {
                    settled
                        .errors
                        .binary_search_by_key(&i, |(k, _)| *k)
                        .ok()
                        .and_then(|k| settled.errors.get(k))
                        .map(|(_, e)| e.to_string())
                }
            }
        };
        if message.is_none() {
            // The claim settles again from its accumulators before it, as it did.
            settled.before(i, &mut self.accs, &mut self.seen);
            part.fill(k, &mut self.fields);
            match c.engine.replay(&self.fields, &self.accs, &self.seen, &mut self.state) {
                Ok(frame) => {
                    out.extend_from_slice(b",ok,");
                    for &(v, ty) in &c.slots {
                        let x = frame.values.get(v).copied().unwrap_or(0);
                        Self::cell(out, &mut self.cell, policy, ty, x);
                    }
                    for (a, &x) in policy.accumulators.iter().zip(&self.accs) {
                        Self::cell(out, &mut self.cell, policy, a.ty, x);
                    }
                }
                Err(e) => message = Some(e.to_string()),
            }
        }
        if let Some(message) = message {
            out.extend_from_slice(b",error,");
            push_field(out, message.as_bytes());
            out.extend(std::iter::repeat_n(b',', c.count));
        }
        out.push(b'\n');
    }
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
            crate::io::push_fen(&mut expected, i128::from(n));
            assert_eq!(String::from_utf8_lossy(&fen), expected, "{n}");
            assert_eq!(String::from_utf8_lossy(&int), n.to_string(), "{n}");
        }
    }
}
