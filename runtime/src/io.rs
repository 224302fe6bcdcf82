//! Claims in (CSV, JSON Lines) and settlements out, columns bound by name to the policy's input.
//!
//! Every record of an input file becomes one [`Row`]: a claim, or an error naming its line and
//! field. Nothing is dropped: a file of N records gives N rows, and the output has N rows.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rayon::prelude::*;
use settle_lang::ir::{Policy, RecordDef, Type};

use crate::engine::{Claim, Outcome};
pub use crate::field::{format_value, parse_value};
use crate::field::{json_text, trim_str};
use crate::keys;
use crate::value::Value;

/// A record of an input file: a claim, or why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A claim to settle.
    Claim(Claim),
    /// A record that could not be read.
    Error(InputError),
}

/// A record that could not be read: where, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The line of the record (1-based; the CSV header is line 1).
    pub line: usize,
    /// The claim id, if it could be read.
    pub id: Option<String>,
    /// The member id, if it could be read.
    pub member: Option<String>,
    /// The field at fault, if one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, field `{field}`: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// Who a record of an input file is: as an error row, a report or a trace names a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// Its id.
    pub id: String,
    /// Its member.
    pub member: String,
    /// The line it came from.
    pub line: usize,
}

/// A problem with a whole file (unreadable, or a header without the policy's columns).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Columns the policy's input needs are missing from the header.
    #[error("{path}, line 1: missing column{} {}", if .missing.len() == 1 { "" } else { "s" }, .missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))]
    MissingColumns {
        /// The file.
        path: String,
        /// The columns.
        missing: Vec<String>,
    },
    /// The CSV header could not be read.
    #[error("{path}: {message}")]
    Header {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Input and output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format a file's extension suggests (`.jsonl`, `.ndjson`, `.json`: JSON Lines).
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// The claims among `rows`, in order.
pub fn claims_of(rows: &[Row]) -> Vec<&Claim> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Claim(c) => Some(c),
            Row::Error(_) => None,
        })
        .collect()
}

/// The claims among `rows`, in order, owned.
pub fn into_claims(rows: Vec<Row>) -> Vec<Claim> {
    rows.into_iter()
        .filter_map(|r| match r {
            Row::Claim(c) => Some(c),
            Row::Error(_) => None,
        })
        .collect()
}

/// Spread the outcomes of the claims among `rows` (as [`claims_of`] lists them) back over the
/// rows: `None` for a row that was no claim.
pub fn by_row(rows: &[Row], settled: Vec<Outcome>) -> Vec<Option<Outcome>> {
    let mut settled = settled.into_iter();
    rows.iter().map(|r| matches!(r, Row::Claim(_)).then(|| settled.next()).flatten()).collect()
}

/// Resolves `extends "path"` relative to the file that says it.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileLoader;

impl settle_lang::Loader for FileLoader {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let full = base_path(from, path);
        let name = full.to_string_lossy().into_owned();
        let bytes = std::fs::read(&full).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!("`{name}` is not UTF-8 text (byte {})", e.utf8_error().valid_up_to())
        })?;
        Ok((name, text))
    }
}

/// Where `extends "path"` written in the file `from` points: relative to that file.
pub fn base_path(from: &str, path: &str) -> PathBuf {
    Path::new(from).parent().unwrap_or_else(|| Path::new("")).join(path)
}

/// Write `contents` to `path` whole or not at all (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    if let Some(w) = file.writer() {
        w.write_all(contents)?;
    }
    file.commit()
}

/// Read claims from a file in the given format.
pub fn read_claims(policy: &Policy, path: &Path, format: Format) -> Result<Vec<Row>, FileError> {
    let name = path.display().to_string();
    let io_error = |source| FileError::Io { path: name.clone(), source };
    match format {
        Format::Csv => read_csv_bytes(policy, &std::fs::read(path).map_err(io_error)?, &name),
        Format::JsonLines => {
            let file = File::open(path).map_err(io_error)?;
            read_jsonl(policy, std::io::BufReader::with_capacity(1 << 20, file), &name)
        }
    }
}

/// Read claims from CSV with a header line naming the input's fields.
pub fn read_csv(policy: &Policy, mut reader: impl Read, name: &str) -> Result<Vec<Row>, FileError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io { path: name.to_string(), source })?;
    read_csv_bytes(policy, &bytes, name)
}

/// Below this many bytes a CSV file is read in one piece.
const PARALLEL_FROM: usize = 1 << 20;

/// Read claims from CSV held in memory. Large inputs are cut at record boundaries and the pieces
/// read in parallel (on the current rayon pool); the rows, their line numbers and the duplicate-id
/// errors are the same as reading it in one piece.
pub fn read_csv_bytes(policy: &Policy, bytes: &[u8], name: &str) -> Result<Vec<Row>, FileError> {
    let pieces =
        if bytes.len() < PARALLEL_FROM { 1 } else { (rayon::current_num_threads() * 4).max(1) };
    read_csv_in_pieces(policy, bytes, name, pieces)
}

/// How the records of a CSV body map onto the policy's input fields.
pub(crate) struct Layout<'p> {
    pub(crate) policy: &'p Policy,
    pub(crate) record: &'p RecordDef,
    /// The column of each input field.
    pub(crate) positions: Vec<usize>,
    /// The number of columns of the header.
    pub(crate) width: usize,
}

/// A CSV file's header read against the policy's input, its body cut into about `pieces` parts
/// at record boundaries, and the number of lines before the body.
pub(crate) fn csv_cuts<'b, 'p>(
    policy: &'p Policy,
    bytes: &'b [u8],
    name: &str,
    pieces: usize,
) -> Result<(Layout<'p>, Vec<&'b [u8]>, usize), FileError> {
    let record = input(policy);
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let header = csv
        .headers()
        .map_err(|e| FileError::Header { path: name.to_string(), message: e.to_string() })?
        .clone();
    let columns: HashMap<&str, usize> =
        header.iter().enumerate().map(|(i, h)| (trim_str(h), i)).collect();
    let missing: Vec<String> = record
        .fields
        .iter()
        .filter(|f| !columns.contains_key(f.name.as_str()))
        .map(|f| f.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns { path: name.to_string(), missing });
    }
    let positions =
        record.fields.iter().map(|f| columns.get(f.name.as_str()).copied().unwrap_or(0)).collect();
    let layout = Layout { policy, record, positions, width: header.len() };
    let start = usize::try_from(csv.position().byte()).unwrap_or(bytes.len()).min(bytes.len());
    let (head, body) = bytes.split_at(start);
    let lines_before = head.iter().filter(|&&b| b == b'\n').count();
    let cuts = record_cuts(body, pieces);
    let parts = cuts.windows(2).filter_map(|w| body.get(*w.first()?..*w.last()?)).collect();
    Ok((layout, parts, lines_before))
}

/// Pieces of a CSV body, each with the number of lines before it.
pub(crate) type Pieces<'b> = Vec<(&'b [u8], usize)>;

/// A CSV file's header read against the policy's input, and its body cut into about `pieces`
/// parts at record boundaries, each with the number of lines before it.
pub(crate) fn csv_pieces<'b, 'p>(
    policy: &'p Policy,
    bytes: &'b [u8],
    name: &str,
    pieces: usize,
) -> Result<(Layout<'p>, Pieces<'b>), FileError> {
    let (layout, parts, lines_before) = csv_cuts(policy, bytes, name, pieces)?;
    let newlines: Vec<usize> =
        parts.par_iter().map(|part| part.iter().filter(|&&b| b == b'\n').count()).collect();
    let firsts = newlines.iter().scan(lines_before, |seen, n| {
        let first = *seen;
        *seen += n;
        Some(first)
    });
    Ok((layout, parts.into_iter().zip(firsts).collect()))
}

fn read_csv_in_pieces(
    policy: &Policy,
    bytes: &[u8],
    name: &str,
    pieces: usize,
) -> Result<Vec<Row>, FileError> {
    let (layout, jobs) = csv_pieces(policy, bytes, name, pieces)?;
    let pieces: Vec<Vec<Row>> =
        jobs.into_par_iter().map(|(piece, before)| read_piece(&layout, piece, before)).collect();
    let mut rows = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    rows.extend(pieces.into_iter().flatten());
    mark_duplicates(policy, &mut rows);
    Ok(rows)
}

/// [`record_cuts`] of a body without quotes: a cut after the first line feed from each step.
pub(crate) fn line_end_cuts(body: &[u8], pieces: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    if pieces > 1 && !body.is_empty() {
        let step = body.len().div_ceil(pieces);
        for i in 1..pieces {
            let from = (i * step).min(body.len());
            let cut = memchr::memchr(b'\n', body.get(from..).unwrap_or_default())
                .map_or(body.len(), |p| from + p + 1);
            cuts.push(cut);
        }
    }
    cuts.push(body.len());
    cuts.dedup();
    cuts
}

/// Offsets into `body` that start a record, `0` first and `body.len()` last, cutting it into
/// about `pieces` parts. A cut follows a line feed that ends a record, found by following the
/// quoting of the `csv` reader: a quote opens a quoted field only at the start of a field, and
/// `""` inside one is a quote.
pub(crate) fn record_cuts(body: &[u8], pieces: usize) -> Vec<usize> {
    if !body.contains(&b'"') {
        return line_end_cuts(body, pieces);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum At {
        FieldStart,
        Field,
        Quoted,
        QuoteInQuoted,
    }
    let mut cuts = vec![0];
    if pieces > 1 {
        let step = body.len().div_ceil(pieces);
        let mut at = At::FieldStart;
        let mut next = step;
        for (i, &b) in body.iter().enumerate() {
            at = match (at, b) {
                (At::Quoted, b'"') => At::QuoteInQuoted,
                (At::Quoted, _) => At::Quoted,
                (At::FieldStart, b'"') | (At::QuoteInQuoted, b'"') => At::Quoted,
                (_, b',' | b'\r') => At::FieldStart,
                (_, b'\n') => {
                    if i + 1 >= next {
                        cuts.push(i + 1);
                        next = i + 1 + step;
                    }
                    At::FieldStart
                }
                _ => At::Field,
            };
        }
    }
    cuts.push(body.len());
    cuts.dedup();
    cuts
}

/// Read the records of one piece of a CSV body; `before` is the number of lines before it.
fn read_piece(layout: &Layout<'_>, piece: &[u8], before: usize) -> Vec<Row> {
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(piece);
    let mut rows = Vec::new();
    let mut raw = csv::StringRecord::new();
    let mut lines = Lines::new(piece, before);
    let mut line_at = |position: Option<&csv::Position>, fallback: u64| {
        lines.at(position.map_or(fallback, csv::Position::byte))
    };
    loop {
        let fallback = csv.position().byte();
        match csv.read_record(&mut raw) {
            Ok(false) => break,
            Ok(true) => {
                let line = line_at(raw.position(), fallback);
                if raw.len() != layout.width {
                    rows.push(width_error(line, raw.len(), layout.width));
                    continue;
                }
                let cell =
                    |i: usize| raw.get(layout.positions.get(i).copied().unwrap_or(0)).unwrap_or("");
                rows.push(build_claim(layout.policy, layout.record, line, cell));
            }
            Err(e) => {
                let line = line_at(e.position(), fallback);
                rows.push(csv_error(line, &e));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    rows
}

/// The line a record starts on, counted from its byte offset: the reader's own line count points
/// before a record's line end when lines end with CR LF or blank lines precede it.
pub(crate) struct Lines<'b> {
    piece: &'b [u8],
    /// A byte offset and the line it is on.
    counted: (usize, usize),
}

impl<'b> Lines<'b> {
    /// Lines of `piece`, which has `before` lines before it.
    pub(crate) fn new(piece: &'b [u8], before: usize) -> Self {
        Lines { piece, counted: (0, before + 1) }
    }

    /// The line of the record at byte `byte` (offsets only grow between calls).
    pub(crate) fn at(&mut self, byte: u64) -> usize {
        let piece = self.piece;
        let mut at = usize::try_from(byte).unwrap_or(piece.len()).min(piece.len());
        while matches!(piece.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        if let Some(skipped) = piece.get(self.counted.0..at) {
            self.counted = (at, self.counted.1 + skipped.iter().filter(|&&b| b == b'\n').count());
        }
        self.counted.1
    }
}

/// The error row of a record whose field count differs from the header's.
pub(crate) fn width_error(line: usize, fields: usize, header: usize) -> Row {
    let s = if fields == 1 { "" } else { "s" };
    record_error(line, format!("the line has {fields} field{s}, the header {header}"))
}

/// The error row of a record that is not UTF-8.
pub(crate) fn utf8_error(line: usize, err: &csv::Utf8Error) -> Row {
    let (field, valid) = (err.field() + 1, err.valid_up_to());
    record_error(line, format!("field {field} is not UTF-8 text (valid up to byte {valid})"))
}

/// The error row of a record the `csv` reader could not read.
pub(crate) fn csv_error(line: usize, e: &csv::Error) -> Row {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => utf8_error(line, err),
        _ => record_error(line, format!("not a CSV record: {e}")),
    }
}

/// An error row about a whole record, before any of its fields is read.
fn record_error(line: usize, message: String) -> Row {
    Row::Error(InputError { line, id: None, member: None, field: None, message })
}

/// Read claims from JSON Lines: one object per line, keys naming the input's fields.
pub fn read_jsonl(
    policy: &Policy,
    reader: impl BufRead,
    name: &str,
) -> Result<Vec<Row>, FileError> {
    let record = input(policy);
    let mut rows = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let text = line.map_err(|source| FileError::Io { path: name.to_string(), source })?;
        rows.extend(jsonl_row(policy, record, index + 1, &text));
    }
    mark_duplicates(policy, &mut rows);
    Ok(rows)
}

/// The row of line `number` of a JSON Lines file, `text` without its line end; `None` for a
/// blank line.
pub(crate) fn jsonl_row(
    policy: &Policy,
    record: &RecordDef,
    number: usize,
    text: &str,
) -> Option<Row> {
    // The spaces around a field are those around a line too: a byte order mark before the
    // first line, a no-break space pasted after an object.
    let text = trim_str(text);
    if text.is_empty() {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
        Ok(o) => o,
        Err(e) => {
            return Some(Row::Error(InputError {
                line: number,
                id: None,
                member: None,
                field: None,
                message: format!("not a JSON object: {e}"),
            }));
        }
    };
    let cells: Vec<Option<String>> =
        record.fields.iter().map(|f| object.get(&f.name).map(json_text)).collect();
    if let Some(missing) =
        record.fields.iter().zip(&cells).find(|(_, c)| c.is_none()).map(|(f, _)| f)
    {
        return Some(Row::Error(InputError {
            line: number,
            id: object.get("id").map(json_text),
            member: object.get("member").map(json_text),
            field: Some(missing.name.clone()),
            message: "missing".to_string(),
        }));
    }
    let cell = |i: usize| cells.get(i).and_then(|c| c.as_deref()).unwrap_or("");
    Some(build_claim(policy, record, number, cell))
}

pub(crate) fn input(policy: &Policy) -> &RecordDef {
    static EMPTY: RecordDef = RecordDef { name: String::new(), fields: Vec::new() };
    policy.records.get(policy.input).unwrap_or(&EMPTY)
}

pub(crate) fn build_claim<'a>(
    policy: &Policy,
    record: &RecordDef,
    line: usize,
    cell: impl Fn(usize) -> &'a str,
) -> Row {
    let error = |field: Option<&str>, message: String| {
        let key = |i: usize| Some(trim_str(cell(i))).filter(|k| !k.is_empty()).map(str::to_string);
        Row::Error(InputError {
            line,
            id: key(policy.id_field),
            member: key(policy.member_field),
            field: field.map(str::to_string),
            message,
        })
    };
    let mut fields = Vec::with_capacity(record.fields.len());
    for (i, f) in record.fields.iter().enumerate() {
        match parse_value(policy, f.ty, cell(i)) {
            Ok(v) => fields.push(v),
            Err(message) => return error(Some(&f.name), message),
        }
    }
    for (key, name) in [(policy.id_field, "id"), (policy.member_field, "member")] {
        if matches!(fields.get(key), Some(Value::Text(t)) if t.is_empty()) {
            let field = record.fields.get(key).map_or(name, |f| f.name.as_str());
            return error(Some(field), "empty".to_string());
        }
    }
    Row::Claim(Claim { line, fields })
}

/// Turn every claim whose id an earlier claim already has into an error row naming the first
/// ([`crate::keys::duplicates`], as the batch fast path finds them).
fn mark_duplicates(policy: &Policy, rows: &mut [Row]) {
    fn text(row: &Row, field: usize) -> Option<&[u8]> {
        match row {
            Row::Claim(claim) => match claim.fields.get(field) {
                Some(Value::Text(t)) => Some(t.as_bytes()),
                _ => None,
            },
            Row::Error(_) => None,
        }
    }
    let id = |i: u32| rows.get(i as usize).and_then(|r| text(r, policy.id_field));
    let mut keys: Vec<u64> = (0..u32::try_from(rows.len()).unwrap_or(u32::MAX))
        .into_par_iter()
        .filter_map(|i| id(i).map(|id| keys::key(id, i)))
        .collect();
    keys.par_sort_unstable();
    let pairs = keys::duplicates(&keys, |i| id(i).unwrap_or_default());
    let line = |i: u32| match rows.get(i as usize) {
        Some(Row::Claim(c)) => c.line,
        _ => 0,
    };
    let errors: Vec<(usize, InputError)> = pairs
        .iter()
        .map(|&(later, first)| {
            let row = rows.get(later as usize);
            let owned = |field| row.and_then(|r| text(r, field)).map(String::from_utf8_lossy);
            let (id, member) = (owned(policy.id_field), owned(policy.member_field));
            let error = duplicate_error(
                line(later),
                id.unwrap_or_default().into_owned(),
                member.unwrap_or_default().into_owned(),
                line(first),
            );
            (later as usize, error)
        })
        .collect();
    for (i, error) in errors {
        if let Some(row) = rows.get_mut(i) {
            *row = Row::Error(error);
        }
    }
}

/// The error row of a claim on line `line` whose id an earlier claim, on `first`, has.
pub(crate) fn duplicate_error(line: usize, id: String, member: String, first: usize) -> InputError {
    InputError {
        line,
        message: format!("duplicate claim id `{id}`, first on line {first}"),
        id: Some(id),
        member: Some(member),
        field: Some("id".to_string()),
    }
}

/// The output columns: stage outputs, then accumulators (values before the claim).
pub fn output_columns(policy: &Policy) -> Vec<String> {
    let outputs = output_slots(policy).into_iter().filter_map(|(v, _)| policy.values.get(v));
    outputs
        .map(|d| d.name.clone())
        .chain(policy.accumulators.iter().map(|a| a.name.clone()))
        .collect()
}

/// What one output row says: the claim's settlement, or the message written in its place (the
/// record's reading error, the claim's settling error, or a claim left unsettled). The one rule
/// every writer follows: CSV, JSON Lines and Arrow.
pub(crate) fn settled<'a>(
    row: &Row,
    outcome: Option<&'a Outcome>,
) -> Result<&'a crate::engine::Settlement, String> {
    match (row, outcome) {
        (Row::Error(e), _) => Err(e.to_string()),
        (Row::Claim(_), Some(Err(e))) => Err(e.to_string()),
        (Row::Claim(_), None) => Err("not settled".to_string()),
        (Row::Claim(_), Some(Ok(s))) => Ok(s),
    }
}

/// One output row's cells: line, id, member, status, outputs..., accumulators..., error.
fn output_cells(
    policy: &Policy,
    row: &Row,
    outcome: Option<&Outcome>,
) -> (Vec<String>, Vec<(String, String, Type)>) {
    let (line, id, member) = match row {
        Row::Claim(c) => (
            c.line,
            format_value(
                policy,
                Type::Text,
                c.fields.get(policy.id_field).unwrap_or(&Value::Bool(false)),
            ),
            format_value(
                policy,
                Type::Text,
                c.fields.get(policy.member_field).unwrap_or(&Value::Bool(false)),
            ),
        ),
        Row::Error(e) => {
            (e.line, e.id.clone().unwrap_or_default(), e.member.clone().unwrap_or_default())
        }
    };
    let mut head = vec![line.to_string(), id, member];
    let mut cols = Vec::new();
    let error = match settled(row, outcome) {
        Err(message) => Some(message),
        Ok(s) => {
            for stage in &policy.stages {
                for v in &stage.outputs {
                    if let Some(def) = policy.values.get(*v) {
                        let mut cell = String::new();
                        s.write_cell(&mut cell, policy, *v, def.ty);
                        cols.push((def.name.clone(), cell, def.ty));
                    }
                }
            }
            for (i, a) in policy.accumulators.iter().enumerate() {
                let mut cell = String::new();
                s.write_cell(&mut cell, policy, policy.values.len() + i, a.ty);
                cols.push((a.name.clone(), cell, a.ty));
            }
            None
        }
    };
    head.push(if error.is_some() { "error".into() } else { "ok".into() });
    head.push(error.unwrap_or_default());
    (head, cols)
}

/// Write settlements as CSV: `line,id,member,status,error,<outputs>,<accumulators>`.
pub fn write_csv(
    policy: &Policy,
    rows: &[Row],
    outcomes: &[Option<Outcome>],
    mut out: impl Write,
) -> std::io::Result<()> {
    let columns = write_csv_header(policy, &mut out)?;
    let slots = output_slots(policy);
    // Rows are formatted in parallel pieces, written in order a batch at a time so that only
    // one batch of text is held.
    const BATCH: usize = 1 << 16;
    const PIECE: usize = 1 << 12;
    for (rows, outcomes) in rows.chunks(BATCH).zip(outcomes.chunks(BATCH)) {
        let pieces: Vec<std::io::Result<Vec<u8>>> = rows
            .par_chunks(PIECE)
            .zip(outcomes.par_chunks(PIECE))
            .map(|(rows, outcomes)| {
                let mut w = csv::Writer::from_writer(Vec::new());
                write_csv_rows(policy, &slots, columns, rows, outcomes, &mut w)?;
                w.into_inner().map_err(csv::IntoInnerError::into_error)
            })
            .collect();
        for piece in pieces {
            out.write_all(&piece?)?;
        }
    }
    out.flush()
}

/// Write the header of settlements as CSV; returns how many output columns follow the five
/// first (`line,id,member,status,error`).
pub(crate) fn write_csv_header(policy: &Policy, mut out: impl Write) -> std::io::Result<usize> {
    let columns = output_columns(policy);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(
        ["line", "id", "member", "status", "error"]
            .iter()
            .copied()
            .chain(columns.iter().map(String::as_str)),
    )?;
    out.write_all(&w.into_inner().map_err(csv::IntoInnerError::into_error)?)?;
    Ok(columns.len())
}

/// The settlement rows of [`write_csv`], without the header.
/// The stages' output values in column order, with their types.
pub(crate) fn output_slots(policy: &Policy) -> Vec<(usize, Type)> {
    policy
        .stages
        .iter()
        .flat_map(|s| s.outputs.iter())
        .filter_map(|v| policy.values.get(*v).map(|d| (*v, d.ty)))
        .collect()
}

/// `slots` are the output values in column order, `columns` the number of output columns.
fn write_csv_rows<W: Write>(
    policy: &Policy,
    slots: &[(usize, Type)],
    columns: usize,
    rows: &[Row],
    outcomes: &[Option<Outcome>],
    w: &mut csv::Writer<W>,
) -> std::io::Result<()> {
    let mut cell = String::new();
    for (row, outcome) in rows.iter().zip(outcomes) {
        let (line, id, member) = match row {
            Row::Claim(c) => (
                c.line,
                text_of(c.fields.get(policy.id_field)),
                text_of(c.fields.get(policy.member_field)),
            ),
            Row::Error(e) => {
                (e.line, e.id.as_deref().unwrap_or(""), e.member.as_deref().unwrap_or(""))
            }
        };
        cell.clear();
        let _ = write!(cell, "{line}");
        w.write_field(&cell)?;
        w.write_field(id)?;
        w.write_field(member)?;
        match settled(row, outcome.as_ref()) {
            Ok(s) => {
                w.write_field("ok")?;
                w.write_field("")?;
                for (v, ty) in slots {
                    cell.clear();
                    s.write_cell(&mut cell, policy, *v, *ty);
                    w.write_field(&cell)?;
                }
                for (i, a) in policy.accumulators.iter().enumerate() {
                    cell.clear();
                    s.write_cell(&mut cell, policy, policy.values.len() + i, a.ty);
                    w.write_field(&cell)?;
                }
            }
            Err(message) => {
                w.write_field("error")?;
                w.write_field(&message)?;
                for _ in 0..columns {
                    w.write_field("")?;
                }
            }
        }
        w.write_record(None::<&[u8]>)?;
    }
    w.flush()
}

fn text_of(v: Option<&Value>) -> &str {
    match v {
        Some(Value::Text(t)) => t,
        _ => "",
    }
}

/// Write settlements as JSON Lines, amounts as exact decimal numbers.
pub fn write_jsonl(
    policy: &Policy,
    rows: &[Row],
    outcomes: &[Option<Outcome>],
    mut out: impl Write,
) -> std::io::Result<()> {
    for (row, outcome) in rows.iter().zip(outcomes) {
        let (cells, cols) = output_cells(policy, row, outcome.as_ref());
        let mut obj = serde_json::Map::new();
        let line: u64 = cells.first().and_then(|l| l.parse().ok()).unwrap_or(0);
        obj.insert("line".into(), line.into());
        for (key, value) in ["id", "member", "status"].iter().zip(cells.iter().skip(1)) {
            obj.insert((*key).into(), value.clone().into());
        }
        if let Some(error) = cells.get(4).filter(|e| !e.is_empty()) {
            obj.insert("error".into(), error.clone().into());
        }
        for (name, value, ty) in cols {
            let json = match ty {
                Type::Money | Type::Rate | Type::Int => serde_json::Number::from_str(&value)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::String(value)),
                Type::Bool => serde_json::Value::Bool(value == "true"),
                _ => serde_json::Value::String(value),
            };
            obj.insert(name, json);
        }
        serde_json::to_writer(&mut out, &obj)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The temporary files of every [`AtomicFile`] not yet committed, for [`remove_partial_files`].
static PARTIAL: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove the temporary files of outputs being written: for a process about to exit on a signal,
/// so that an interrupted run leaves the previous output or none, and no partial file beside it.
pub fn remove_partial_files() {
    if let Ok(mut files) = PARTIAL.lock() {
        for f in files.drain(..) {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn forget_partial(path: &Path) {
    if let Ok(mut files) = PARTIAL.lock() {
        files.retain(|f| f != path);
    }
}

/// Remove the temporary files of earlier runs writing `name` in `dir` that were killed before
/// they could clean up (their process is gone). Only where `/proc` tells which processes live.
fn remove_stale(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".partial"))
        else {
            continue;
        };
        if pid.chars().all(|c| c.is_ascii_digit()) && !proc.join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `path` with the symbolic links it names followed (as many as the system follows at most), for
/// a link to a file that does not exist yet.
fn followed(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        let Ok(next) = std::fs::read_link(&path) else { break };
        path = match path.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
    }
    path
}

/// A file written whole or not at all: a temporary file beside the target, renamed over it on
/// [`AtomicFile::commit`]; dropped without committing, the temporary file is removed. A target
/// that exists and is not a regular file (`/dev/null`, a named pipe, a terminal) is written
/// straight to instead: renaming a file over it would replace the device or pipe itself. A
/// target that is a symbolic link is the file it points to: the link stays.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    /// The temporary file; `None` when writing straight to the target.
    temporary: Option<PathBuf>,
    writer: Option<BufWriter<Flushing>>,
}

/// Bytes written between two requests to put a file's data on disk.
const FLUSH_EVERY: u64 = 16 << 20;

/// A file whose data a thread of its own puts on disk every `FLUSH_EVERY` bytes while it is
/// written, so that the sync before the rename waits only for the last of it: the disk works
/// while the rows are formatted instead of after.
#[derive(Debug)]
pub struct Flushing {
    file: File,
    /// Bytes written since the last request.
    since: u64,
    /// Requests to the thread (at most one waiting), and the thread.
    flusher: Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>,
    /// Whether the data goes to disk (`false`: a device or pipe, never synced).
    durable: bool,
}

impl Flushing {
    /// A file put on disk as it is written (`durable`), or a stream (a device or pipe) that has
    /// no disk to wait for.
    fn new(file: File, durable: bool) -> Self {
        Flushing { file, since: 0, flusher: None, durable }
    }

    /// Ask for the data written so far to go to disk; the first time, start the thread.
    fn request(&mut self) {
        if self.flusher.is_none() {
            let Ok(file) = self.file.try_clone() else { return };
            let (send, requests) = std::sync::mpsc::sync_channel::<()>(1);
            // Errors are the final sync's to report.
            let thread = std::thread::spawn(move || {
                for () in requests {
                    let _ = file.sync_data();
                }
            });
            self.flusher = Some((send, thread));
        }
        if let Some((send, _)) = &self.flusher {
            // A request already waiting covers this one.
            let _ = send.try_send(());
        }
    }

    /// Stop the thread, then sync what is left and return the file.
    fn finish(mut self) -> std::io::Result<File> {
        if let Some((send, thread)) = self.flusher.take() {
            drop(send);
            let _ = thread.join();
        }
        if self.durable {
            self.file.sync_all()?;
        }
        Ok(self.file)
    }
}

impl Write for Flushing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.durable && self.since >= FLUSH_EVERY {
            self.since = 0;
            self.request();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl AtomicFile {
    /// Create the temporary file (this fails early when the directory is not writable).
    pub fn create(target: &Path) -> std::io::Result<Self> {
        // A device, pipe or terminal, named directly or through links (`/dev/stdout`): written
        // through, as a stream.
        if std::fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = std::fs::OpenOptions::new().write(true).open(target)?;
            return Ok(AtomicFile {
                target: target.to_path_buf(),
                temporary: None,
                writer: Some(BufWriter::with_capacity(1 << 20, Flushing::new(file, false))),
            });
        }
        // A link: the file it names is replaced where it is; the link stays.
        let linked = std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink());
        let target = &if linked {
            std::fs::canonicalize(target).unwrap_or_else(|_| followed(target))
        } else {
            target.to_path_buf()
        };
        let dir =
            target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = dir.join(format!(".{name}.{}.partial", std::process::id()));
        remove_stale(dir, &name);
        let file = File::create(&temporary)?;
        if let Ok(mut files) = PARTIAL.lock() {
            files.push(temporary.clone());
        }
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temporary: Some(temporary),
            writer: Some(BufWriter::with_capacity(1 << 20, Flushing::new(file, true))),
        })
    }

    /// The writer; `None` once committed.
    pub fn writer(&mut self) -> Option<&mut BufWriter<Flushing>> {
        self.writer.as_mut()
    }

    /// Flush, sync and move the file into place, the move synced too.
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(w) = self.writer.take() {
            w.into_inner().map_err(|e| e.into_error())?.finish()?;
        }
        let Some(temporary) = self.temporary.take() else { return Ok(()) };
        let renamed = std::fs::rename(&temporary, &self.target);
        forget_partial(&temporary);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        renamed?;
        // The rename itself on disk: the directory's entry synced (where a directory can be
        // opened as a file, as on Unix).
        #[cfg(unix)]
        {
            let dir = self.target.parent().filter(|p| !p.as_os_str().is_empty());
            File::open(dir.unwrap_or_else(|| Path::new(".")))?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            if let Some(temporary) = &self.temporary {
                let _ = std::fs::remove_file(temporary);
                forget_partial(temporary);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dezhou() -> Policy {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/dezhou/employee_inpatient.settle");
        let text = std::fs::read_to_string(path).expect("policy");
        crate::load_str("employee_inpatient.settle", &text).expect("checks")
    }

    const HEADER: &str =
        "id,member,admitted,level,total,self_paid,prepay,special_drugs,tcm,rare_disease_drugs\n";

    /// Every way of cutting `csv` gives the rows of reading it in one piece.
    fn same_in_pieces(policy: &Policy, csv: &[u8]) -> Vec<Row> {
        let whole = read_csv_in_pieces(policy, csv, "t.csv", 1).expect("header");
        for pieces in 2..=12 {
            let cut = read_csv_in_pieces(policy, csv, "t.csv", pieces).expect("header");
            assert_eq!(cut, whole, "{pieces} pieces of {:?}", String::from_utf8_lossy(csv));
        }
        whole
    }

    #[test]
    fn reading_in_pieces_keeps_rows_lines_and_duplicates() {
        let policy = dezhou();
        let mut csv = HEADER.as_bytes().to_vec();
        csv.extend_from_slice(
            concat!(
                "c1,m1,2021-02-03,level2,18000.00,1200.00,450.00,0.00,0.00,0.00\n",
                "\"c2\",\"m\"\"2\",2021-02-04,level1,100.00,0,0,0,0,0\r\n",
                "\n",
                "\"c\n3\",m3,2021-02-05,level1,100.00,0,0,0,0,0\n",
                "c4,m\"4,2021-02-06,level1,100.00,0,0,0,0,0\n",
                "c5,m5,2021-02-07,level1,100.00\n",
                "c1,m9,2021-02-08,level1,100.00,0,0,0,0,0\r",
                "c6,m6,2021-02-09,level1,1.001,0,0,0,0,0\n",
            )
            .as_bytes(),
        );
        csv.extend_from_slice(b"c7,m\xff,2021-02-10,level1,100.00,0,0,0,0,0\n");
        csv.extend_from_slice(b"\"c\"\"8\",\"m,8\nx\",2021-02-11,level1,5,0,0,0,0,0\n");
        csv.extend_from_slice(b"\"c2\",m1,2021-02-12,level1,5,0,0,0,0,0");
        let rows = same_in_pieces(&policy, &csv);
        let summary: Vec<(usize, bool)> = rows
            .iter()
            .map(|r| match r {
                Row::Claim(c) => (c.line, true),
                Row::Error(e) => (e.line, false),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (2, true),
                (3, true),
                (5, true),
                (7, true),
                (8, false),
                (9, false),
                (9, false),
                (10, false),
                (11, true),
                (13, false),
            ]
        );
        let Row::Error(duplicate) = &rows[9] else { panic!("an error row") };
        assert_eq!(duplicate.message, "duplicate claim id `c2`, first on line 3");
        assert_eq!(duplicate.member.as_deref(), Some("m1"));
    }

    #[test]
    fn lines_ending_in_cr_lf_are_numbered_as_an_editor_shows_them() {
        let policy = dezhou();
        let csv = HEADER.replace('\n', "\r\n")
            + "c1,m1,2021-02-03,level1,100.00,0,0,0,0,0\r\n"
            + "\r\n"
            + "c2,m1,2021-02-04,level1,1.001,0,0,0,0,0\r\n"
            + "c3,m1,2021-02-05,level1\r\n";
        let lines: Vec<usize> = same_in_pieces(&policy, csv.as_bytes())
            .iter()
            .map(|r| match r {
                Row::Claim(c) => c.line,
                Row::Error(e) => e.line,
            })
            .collect();
        assert_eq!(lines, [2, 4, 5]);
    }

    #[test]
    fn reading_a_large_file_in_pieces_matches_reading_it_whole() {
        let policy = dezhou();
        let mut csv = HEADER.to_string();
        for i in 0..40_000 {
            let quoted = if i % 7 == 0 { "\"" } else { "" };
            let id = if i % 1_000 == 999 { i - 500 } else { i };
            let _ = writeln!(
                csv,
                "{quoted}c{id}{quoted},m{},2021-{:02}-01,level{},{}.{:02},0,0,0,0,0",
                i % 97,
                i % 12 + 1,
                i % 3 + 1,
                i * 13 % 50_000,
                i % 100
            );
        }
        assert!(csv.len() > PARALLEL_FROM);
        let rows = same_in_pieces(&policy, csv.as_bytes());
        assert_eq!(rows.len(), 40_000);
        let errors = rows.iter().filter(|r| matches!(r, Row::Error(_))).count();
        assert_eq!(errors, 40);
        let parallel = read_csv_bytes(&policy, csv.as_bytes(), "t.csv").expect("header");
        assert_eq!(parallel, rows);
    }

    #[test]
    fn writing_in_parallel_pieces_gives_the_bytes_of_one_writer() {
        let policy = dezhou();
        let mut csv = HEADER.to_string();
        for i in 0..10_000 {
            let total = if i % 1_001 == 0 {
                "oops".to_string()
            } else {
                format!("{}.{:02}", i * 7, i % 100)
            };
            let _ = writeln!(
                csv,
                "c{i},m{},2021-{:02}-02,level{},{total},0,0,0,0,0",
                i % 37,
                i % 12 + 1,
                i % 3 + 1
            );
        }
        let rows = read_csv_bytes(&policy, csv.as_bytes(), "t.csv").expect("header");
        let engine = crate::engine::Engine::new(policy.clone());
        let settled = engine.settle_batch(&claims_of(&rows));
        let outcomes = by_row(&rows, settled);
        let mut parallel = Vec::new();
        write_csv(&policy, &rows, &outcomes, &mut parallel).expect("written");
        let mut whole = csv::Writer::from_writer(Vec::new());
        let columns = output_columns(&policy).len();
        let slots = output_slots(&policy);
        write_csv_rows(&policy, &slots, columns, &rows, &outcomes, &mut whole).expect("written");
        let whole = whole.into_inner().expect("flushed");
        let header_end = parallel.iter().position(|&b| b == b'\n').expect("a header") + 1;
        assert_eq!(parallel.get(header_end..), Some(whole.as_slice()));
        assert_eq!(parallel.iter().filter(|&&b| b == b'\n').count(), 10_001);
        assert!(String::from_utf8_lossy(&whole).contains(",error,"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256, failure_persistence: None, ..Default::default()
        })]

        /// Any text after the header, quotes and line ends anywhere, reads the same in pieces.
        #[test]
        fn any_body_reads_the_same_in_pieces(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "c1", "m2", "2021-03-04", "level1", "12.50", "0", ",", "\"", "\"\"", "\n", "\r\n",
                "\r", " ", "x\"y", ",,,,,,,,",
            ]), 0..80)
        ) {
            let policy = dezhou();
            let csv = format!("{HEADER}{}", tokens.concat());
            same_in_pieces(&policy, csv.as_bytes());
        }

        /// Arbitrary bytes after the header, invalid UTF-8 included, read the same in pieces.
        #[test]
        fn any_bytes_read_the_same_in_pieces(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            let policy = dezhou();
            let mut csv = HEADER.as_bytes().to_vec();
            csv.extend_from_slice(&body);
            same_in_pieces(&policy, &csv);
        }
    }
}
