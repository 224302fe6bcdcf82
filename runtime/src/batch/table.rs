//! The table of claims read: fixed-width rows, one block a piece of the file, and where each field
//! sits in a row.

use zerocopy::IntoBytes;

use rayon::prelude::*;

use super::Kind;
use super::reading::Piece;
use crate::field::{Field, trim};
use crate::io::{InputError, Layout};

/// The fewest and most bytes of text a row holds for a text field: its slot holds as many as
/// the longest of that field in the file's first records, within these bounds; longer texts go
/// to the arena.
pub(super) const INLINE_TEXT: (usize, usize) = (8, 31);

/// Records looked at to size the text slots.
pub(super) const SAMPLED: usize = 1000;

/// The first byte of a text slot whose text is in the arena.
pub(super) const IN_ARENA: u8 = 0xff;

/// The number slot of a value kept aside, in [`Part::wide`].
pub(super) const ASIDE: i32 = i32::MIN;

/// The variant slot of a value kept aside.
pub(super) const ASIDE_SMALL: u8 = u8::MAX;

/// Claims read from a CSV file: the parts read in parallel, kept as they were read (joining
/// them would copy every row once more).
#[derive(Debug, Default)]
pub struct Table {
    pub(super) shape: Shape,
    pub(super) parts: Vec<Part>,
    /// The index of each part's first record, then the number of records.
    pub(super) starts: Vec<usize>,
    /// The error rows, by record index.
    pub(super) errors: Vec<(usize, InputError)>,
}

/// Where each input field sits in a record's row, and where its settlement goes.
///
/// A row holds its texts and variants first, then its numbers; once the claim is settled its
/// numbers are not read again, and its settled values (outputs, then accumulators before it, 4
/// bytes each) take their place from [`Shape::results`] on: the row is as long as the longer of
/// the two. The texts and variants stay, for who the claim is and how a report groups it.
#[derive(Debug, Default, Clone)]
pub(super) struct Shape {
    /// Each field's offset in the row and its slot.
    pub(super) slots: Vec<(usize, Slot)>,
    /// Where the settled values start (a multiple of 4), and how many there are.
    pub(super) results: usize,
    pub(super) values: usize,
    /// Bytes a row: a multiple of 4.
    pub(super) stride: usize,
}

/// How a field is kept in its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Slot {
    /// 4 bytes, little-endian; [`ASIDE`]: in [`Part::wide`].
    Number,
    /// 1 byte (a variant of an enum of fewer than 255); [`ASIDE_SMALL`]: in [`Part::wide`].
    Small,
    /// The length and up to this many bytes of text, or [`IN_ARENA`] and the text's offset and
    /// length in [`Part::text`] (4 bytes each).
    Text(usize),
}

impl Slot {
    pub(super) fn size(self) -> usize {
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
    pub(super) fn of(
        kinds: &[Kind<'_>],
        layout: &Layout<'_>,
        sample: &[u8],
        values: usize,
    ) -> Shape {
        let mut longest = vec![0; layout.width];
        for record in sample.split(|&b| b == b'\n').take(SAMPLED) {
            for (column, field) in record.split(|&b| b == b',').enumerate() {
                if let Some(l) = longest.get_mut(column) {
                    *l = field.len().max(*l);
                }
            }
        }
        Shape::sized(kinds, layout, &longest, values)
    }

    /// The rows for fields of `kinds` settled into `values` values, each text slot sized from
    /// `longest`, the longest text of each column in the first records.
    pub(super) fn sized(
        kinds: &[Kind<'_>],
        layout: &Layout<'_>,
        longest: &[usize],
        values: usize,
    ) -> Shape {
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
pub(super) struct Part {
    /// Every record's row, `stride` bytes each (in 4-byte words, so that the settled values
    /// can be written in place); zeros for error rows.
    pub(super) rows: Vec<u32>,
    /// The line each record starts on; empty once read when they follow each other from
    /// `first_line` (no blank lines, no line ends in fields).
    pub(super) lines: Vec<u32>,
    pub(super) first_line: u32,
    /// Whether each record is an error row.
    pub(super) bad: Vec<bool>,
    /// The error rows, by record index in the part.
    pub(super) errors: Vec<(usize, InputError)>,
    /// Texts too long for their row.
    pub(super) text: Vec<u8>,
    /// Values too wide for their slot: (record index in the part, field, value), in order.
    pub(super) wide: Vec<(u32, u32, i64)>,
}

#[inline]
pub(super) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

impl Part {
    /// How many records.
    pub(super) fn len(&self) -> usize {
        self.bad.len()
    }

    /// The line record `k` starts on.
    pub(super) fn line(&self, k: usize) -> u32 {
        if self.lines.is_empty() {
            self.first_line.saturating_add(u32::try_from(k).unwrap_or(u32::MAX))
        } else {
            self.lines.get(k).copied().unwrap_or(0)
        }
    }

    /// Forget the line numbers when they follow each other.
    pub(super) fn squeeze_lines(&mut self) {
        let first = self.lines.first().copied().unwrap_or(0);
        if self.lines.iter().enumerate().all(|(k, &l)| Some(l) == first.checked_add(k as u32)) {
            self.lines = Vec::new();
            self.first_line = first;
        }
    }

    #[inline]
    pub(super) fn row(&self, shape: &Shape, k: usize) -> &[u8] {
        let start = k * shape.stride;
        self.rows.as_bytes().get(start..start + shape.stride).unwrap_or(&[])
    }

    /// Text field `field` of record `k`.
    pub(super) fn text(&self, shape: &Shape, k: usize, field: usize) -> &[u8] {
        text_of(shape, self.row(shape, k), &self.text, field)
    }

    /// Settled value `j` of record `k` (outputs, then accumulators before it), once written.
    /// Inlined, as the row's other small readers here: called for every value written, from
    /// other files, where a call each cost 4 % of `settle run` (docs/performance.md).
    #[inline]
    pub(super) fn result(&self, shape: &Shape, k: usize, j: usize) -> i64 {
        i64::from(read_u32(self.row(shape, k), shape.results + 4 * j) as i32)
    }

    /// Put `x` in slot `(at, slot)` of the row starting at `base` (record `k`), or aside when
    /// it does not fit.
    pub(super) fn put(
        &mut self,
        base: usize,
        k: usize,
        field: usize,
        (at, slot): (usize, Slot),
        x: i64,
    ) {
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
    pub(super) fn put_text(
        &mut self,
        base: usize,
        (at, slot): (usize, Slot),
        bytes: &[u8],
    ) -> bool {
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
#[inline]
pub(super) fn text_of<'a>(shape: &Shape, row: &'a [u8], arena: &'a [u8], field: usize) -> &'a [u8] {
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
#[inline]
pub(super) fn fill(shape: &Shape, row: &[u8], wide: &[(u32, u32, i64)], k: usize, out: &mut [i64]) {
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
pub(super) struct NewRow {
    /// Where it starts in the rows, and its record index.
    pub(super) base: usize,
    pub(super) k: usize,
    /// The lengths of the arena and of the values kept aside before it.
    pub(super) text_at: usize,
    pub(super) wide_at: usize,
}

impl Part {
    /// Start a row of zeros at the end of the part.
    #[inline]
    pub(super) fn start_row(&mut self, shape: &Shape) -> NewRow {
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
    pub(super) fn take_field(
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
    pub(super) fn keep(&mut self, line: usize) {
        self.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
        self.bad.push(false);
    }

    /// Undo the new row and everything written for it.
    #[inline]
    pub(super) fn undo(&mut self, row: NewRow) {
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
    pub(super) fn locate(&self, i: usize) -> Option<(&Part, usize)> {
        let p = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((self.parts.get(p)?, i - self.starts.get(p)?))
    }

    /// The part holding record `i` and its index there, when the record is a claim.
    pub(super) fn claim(&self, i: usize) -> Option<(&Part, usize)> {
        self.locate(i).filter(|(p, k)| !p.bad.get(*k).copied().unwrap_or(true))
    }

    /// Text field `field` of record `i`.
    pub(super) fn text(&self, i: usize, field: usize) -> &[u8] {
        self.locate(i).map_or(&[], |(p, k)| p.text(&self.shape, k, field))
    }

    /// The line record `i` starts on.
    pub(super) fn line(&self, i: usize) -> u32 {
        self.locate(i).map_or(0, |(p, k)| p.line(k))
    }
}

/// Add a window's pieces to the table, their line numbers moved by the `lines_before` the
/// window; the lines before the next window.
pub(super) fn add_pieces(table: &mut Table, mut read: Vec<Piece>, lines_before: usize) -> usize {
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
    pub(super) fn len_read(&self) -> usize {
        self.starts.last().zip(self.parts.last()).map_or(0, |(s, p)| s + p.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{kinds, settled_values};

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
        let sample = b"g0000000,p017477,2020-08-24,level2,987.12,106.60,0.00,7.81,1.25,162.53\n";
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
        // The date and 6 amounts, from the results on.
        let mut numbers: Vec<usize> =
            shape.slots.iter().filter(|(_, s)| *s == Slot::Number).map(|(at, _)| *at).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, vec![20, 24, 28, 32, 36, 40, 44]);
        assert_eq!(shape.stride, 20 + 4 * values);
        // Fewer settled values than the numbers' bytes: the numbers decide.
        assert_eq!(Shape::of(&kinds, &layout, sample, 2).stride, 48);
    }
}
