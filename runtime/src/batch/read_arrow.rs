//! Reading Arrow record batches into a [`Table`] (the `arrow` feature): each cell as the general
//! Arrow reader reads it ([`crate::arrow`]), straight into its row.
//!
//! A typed cell (an integer, a decimal, a date, a yes or no of its field's type and bounds) goes
//! into the row as its scaled value; any other cell is read from the text a CSV file would hold
//! for it by the field's reader ([`crate::field::Field::read`]), as CSV cells are. A row the
//! fast readers do not take is read by the general Arrow reader's own function, so its values,
//! or its error row, are the general path's. Rows are numbered from 1 across the batches, as
//! the general Arrow reader numbers them.

use std::ops::Range;

use arrow_array::RecordBatch;
use rayon::prelude::*;
use settle_lang::ir::Policy;

use super::group::mark_duplicates;
use super::reading::{Piece, keep_row};
use super::table::{SAMPLED, Shape, Table, add_pieces};
use super::{Kind, kinds, settled_values};
use crate::arrow::{ArrowError, Columns, Duplicates};
use crate::field::Field;
use crate::io::{Layout, duplicate_error, input};

/// Claims being read from Arrow record batches into a [`Table`], a batch at a time.
pub struct ArrowTable<'p> {
    layout: Layout<'p>,
    kinds: Vec<Kind<'p>>,
    table: Table,
    /// Rows read so far (before the first batch, the rows numbered before it).
    lines: usize,
    /// A piece met a text too long for the table: the claims are for the general path.
    too_long: bool,
}

impl std::fmt::Debug for ArrowTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowTable")
            .field("table", &self.table)
            .field("lines", &self.lines)
            .field("too_long", &self.too_long)
            .finish_non_exhaustive()
    }
}

impl<'p> ArrowTable<'p> {
    /// A table of `policy`'s claims, its rows numbered from `lines_before + 1`.
    pub fn new(policy: &'p Policy, lines_before: usize) -> Self {
        let record = input(policy);
        let layout = Layout {
            policy,
            record,
            positions: (0..record.fields.len()).collect(),
            width: record.fields.len(),
        };
        ArrowTable {
            layout,
            kinds: kinds(policy),
            table: Table::default(),
            lines: lines_before,
            too_long: false,
        }
    }

    /// Add a batch's rows, read in parallel pieces on the current rayon pool: `Ok(false)` when
    /// the claims are for the general path ([`crate::arrow::read_batch`]: a piece holds over
    /// 4 GiB of long texts); an error when the batch lacks a column or holds one of a type no
    /// field reads, as for the general reader.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<bool, ArrowError> {
        let policy = self.layout.policy;
        let columns = Columns::of(policy, batch)?;
        let n = batch.num_rows();
        if self.too_long {
            return Ok(false);
        }
        if self.table.shape.slots.is_empty() {
            // Text slots sized from the first batch's first rows.
            let longest: Vec<usize> = (0..self.layout.width)
                .map(|i| match self.kinds.get(i) {
                    Some(Kind { field: Field::Text, .. }) => columns.longest(i, n.min(SAMPLED)),
                    _ => 0,
                })
                .collect();
            let values = settled_values(policy);
            self.table.shape = Shape::sized(&self.kinds, &self.layout, &longest, values);
        }
        let pieces = (rayon::current_num_threads() * 2).max(1);
        let step = n.div_ceil(pieces).max(1);
        let ranges: Vec<Range<usize>> =
            (0..n).step_by(step).map(|s| s..(s + step).min(n)).collect();
        let (kinds, shape) = (&self.kinds, &self.table.shape);
        let read: Vec<Piece> =
            ranges.into_par_iter().map(|rows| read_rows(&columns, kinds, shape, rows)).collect();
        if read.iter().any(|p| p.too_long) {
            self.too_long = true;
            return Ok(false);
        }
        self.lines = add_pieces(&mut self.table, read, self.lines);
        Ok(true)
    }

    /// The table once every batch is added: its duplicate ids found, as in one file. `None`
    /// when the claims are for the general path.
    pub fn finish(self) -> Option<Table> {
        self.finish_after(&mut Duplicates::default())
    }

    /// [`ArrowTable::finish`] after the claims of earlier tables: a claim whose id `seen` holds
    /// is a duplicate of the claim it was first seen on, as the general reader's
    /// [`Duplicates::mark`] makes it; the ids of this table's claims are added to `seen`.
    pub(crate) fn finish_after(self, seen: &mut Duplicates) -> Option<Table> {
        if self.too_long {
            return None;
        }
        let policy = self.layout.policy;
        let mut table = self.table;
        table.starts.push(table.len_read());
        mark_seen(policy, &mut table, seen);
        mark_duplicates(policy, &mut table);
        let shape = &table.shape;
        for part in &table.parts {
            for k in (0..part.len()).filter(|&k| !part.bad.get(k).copied().unwrap_or(true)) {
                let id = String::from_utf8_lossy(part.text(shape, k, policy.id_field));
                seen.note(&id, part.line(k) as usize);
            }
        }
        Some(table)
    }
}

/// Turn each claim whose id `seen` holds into an error row naming the line it was first seen on.
fn mark_seen(policy: &Policy, table: &mut Table, seen: &Duplicates) {
    if seen.is_empty() {
        return;
    }
    let shape = table.shape.clone();
    let mut found = Vec::new();
    for (part, &start) in table.parts.iter_mut().zip(&table.starts) {
        for k in 0..part.len() {
            if part.bad.get(k).copied().unwrap_or(true) {
                continue;
            }
            let text = |field| String::from_utf8_lossy(part.text(&shape, k, field)).into_owned();
            let id = text(policy.id_field);
            let Some(first) = seen.seen_on(&id) else { continue };
            let error =
                duplicate_error(part.line(k) as usize, id, text(policy.member_field), first);
            found.push((start + k, error));
            if let Some(bad) = part.bad.get_mut(k) {
                *bad = true;
            }
        }
    }
    if !found.is_empty() {
        table.errors.extend(found);
        table.errors.sort_by_key(|(i, _)| *i);
    }
}

/// Read rows `rows` of a batch into a piece; line numbers count from 1 at its start.
fn read_rows(
    columns: &Columns<'_>,
    kinds: &[Kind<'_>],
    shape: &Shape,
    rows: Range<usize>,
) -> Piece {
    let mut out = Piece::new(shape, rows.len());
    out.newlines = rows.len();
    for (line, r) in (1..).zip(rows) {
        let t = &mut out.part;
        let row = t.start_row(shape);
        let taken = kinds.iter().zip(&shape.slots).enumerate().all(|(i, (kind, &slot))| {
            match columns.cell(i, r) {
                Some(Ok(x)) => {
                    t.put(row.base, row.k, i, slot, x);
                    true
                }
                Some(Err(text)) => t.take_field(&row, i, kind, slot, text.as_str().as_bytes()),
                None => false,
            }
        });
        if taken {
            t.keep(line);
            continue;
        }
        // The general reader decides: the same value or the same error row.
        t.undo(row);
        if keep_row(&mut out, shape, line, columns.row(r, line)).is_err() {
            break;
        }
    }
    out
}
