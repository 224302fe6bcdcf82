//! Writing a settled table as CSV or JSON Lines, byte for byte what the general writer writes.

use std::io::Write;
use std::sync::Mutex;

use rayon::prelude::*;
use settle_lang::ir::{Policy, Type};

use super::settle::Settled;
use super::settled_values;
use crate::engine::Engine;
use crate::field::write_scaled;
use crate::io::{output_slots, write_csv_header};

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
pub(super) fn write_rows(c: &Columns<'_>, mut out: impl Write + Send) -> std::io::Result<()> {
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
pub(super) const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Write a count.
pub(super) fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Write an amount in fen as yuan with two decimals (`-1234.05`), as `io::push_fen` does: the
/// digits put together from the right in a buffer, copied once.
pub(super) fn push_fen(out: &mut Vec<u8>, fen: i64) {
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
pub(super) fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
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
pub(super) struct OutPiece {
    pub(super) out: Vec<u8>,
    /// Scratch for cells of rarer types.
    pub(super) cell: String,
    /// Scratch: a claim's settled values.
    pub(super) values: Vec<i64>,
}

/// What every row of the output needs.
pub(super) struct Columns<'a> {
    pub(super) engine: &'a Engine,
    pub(super) settled: &'a Settled,
    /// The output values, with their types.
    pub(super) slots: Vec<(usize, Type)>,
    /// Output columns (outputs, then accumulators).
    pub(super) count: usize,
    /// For JSON Lines: the keys of a row.
    pub(super) json: Option<JsonKeys>,
}

impl OutPiece {
    /// A piece of `rows` rows, written into `buffer` if given.
    pub(super) fn new(policy: &Policy, rows: usize, buffer: Option<Vec<u8>>) -> Self {
        OutPiece {
            out: buffer.unwrap_or_else(|| Vec::with_capacity(rows * 128)),
            cell: String::new(),
            values: vec![0; settled_values(policy)],
        }
    }

    pub(super) fn cell(out: &mut Vec<u8>, scratch: &mut String, policy: &Policy, ty: Type, x: i64) {
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

    pub(super) fn write(&mut self, c: &Columns<'_>, i: usize) {
        let OutPiece { out, cell, values } = self;
        let Some(said) = c.settled.said(c.engine.policy(), i, values) else { return };
        let row = RowOut {
            line: said.line,
            id: said.id,
            member: said.member,
            message: said.message.as_deref(),
        };
        let values = match said.message {
            Some(_) => None,
            None => Some(values.split_at(c.slots.len().min(values.len()))),
        };
        match &c.json {
            None => csv_row(out, cell, c, &row, values),
            Some(keys) => json_row(out, cell, c, keys, &row, values),
        }
    }
}

/// What record `i`'s output row says: its line, who it is, and why it did not settle.
pub(super) struct Said<'s> {
    pub(super) line: u32,
    pub(super) id: &'s [u8],
    pub(super) member: &'s [u8],
    /// Why the claim did not settle (its input error, its settling error, or `not settled`);
    /// `None`: it settled.
    pub(super) message: Option<String>,
}

impl Settled {
    /// What record `i`'s output row says, its settled values (outputs, then accumulators before
    /// it) written into `values` when it settled; `None` when there is no record `i`. The one
    /// rule every writer of a settled table follows, as [`crate::io::settled`] is the general
    /// writers'.
    pub(super) fn said<'s>(
        &'s self,
        policy: &Policy,
        i: usize,
        values: &mut [i64],
    ) -> Option<Said<'s>> {
        let table = self.table();
        let (part, k) = table.locate(i)?;
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
                    self.errors
                        .binary_search_by_key(&i, |(k, _)| *k)
                        .ok()
                        .and_then(|k| self.errors.get(k))
                        .map(|(_, e)| e.to_string())
                },
            ),
        };
        if message.is_none() {
            self.values(i, part, k, values);
        }
        Some(Said { line: part.line(k), id, member, message })
    }
}

/// What an output row says besides the settled values.
pub(super) struct RowOut<'r> {
    pub(super) line: u32,
    pub(super) id: &'r [u8],
    pub(super) member: &'r [u8],
    /// Why the claim did not settle.
    pub(super) message: Option<&'r str>,
}

/// A claim's outputs (in column order) and its accumulators before it, when it settled; `None`
/// for an error row.
pub(super) type Values<'v> = Option<(&'v [i64], &'v [i64])>;

/// Write a row as CSV: `line,id,member,status,error,<outputs>,<accumulators>`.
pub(super) fn csv_row(
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
pub(super) enum Source {
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
pub(super) struct JsonKeys {
    pub(super) settled: Vec<(Vec<u8>, Source)>,
    pub(super) failed: Vec<(Vec<u8>, Source)>,
}

impl JsonKeys {
    pub(super) fn of(policy: &Policy) -> JsonKeys {
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
pub(super) fn json_row(
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
pub(super) fn json_value(
    out: &mut Vec<u8>,
    scratch: &mut String,
    policy: &Policy,
    ty: Type,
    x: i64,
) {
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
pub(super) fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
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
