//! Claims from Arrow record batches, settlements as Arrow record batches (the `arrow` feature).
//!
//! **In.** A batch's columns are bound by name to the policy's input fields (other columns are
//! ignored; a missing one is an [`ArrowError::MissingColumns`]). A cell whose Arrow type
//! already is the field's type is taken as it is, without text: `Int64` (or any integer) for
//! `int`, `Decimal128` or an integer for `money` and `rate`, `Date32`, `Date64` or a timestamp
//! at midnight for `date`, `Boolean` for `bool`. Every other cell (text: `Utf8`, `LargeUtf8`,
//! `Utf8View` or a dictionary of them; a float; a typed cell beyond its field's bounds or not
//! exact to the fen) is read as the text a CSV file would hold, by the reader of the field's
//! type ([`crate::field::parse_value`]): the same value, or the same error row naming the field
//! and the row, as from CSV. A null is an empty cell. Rows are numbered from 1 (`line`),
//! counted across the batches a [`Settler`] is given, as a JSON Lines file numbers its lines.
//!
//! **Out.** [`output_batch`] writes the columns `settle run` writes, in its order: `line`
//! (`Int64`), `id`, `member`, `status`, `error` (`Utf8`; `error` null on a settled row), then
//! each output and accumulator by its type: money `Decimal128(38, 2)`, rates
//! `Decimal128(38, 6)`, `Int64`, `Boolean`, `Date32`, enums and text as `Utf8` (null on an error
//! row). Each cell shown as Arrow shows it (a rate without its trailing zeros) is the text of
//! the CSV cell.
//!
//! **State.** A [`Settler`] keeps each member's (and each group's) year-to-date state between
//! batches, and the claim ids seen (a later claim with an id seen is a duplicate, as in one
//! file): settling a member's claims in several batches, each batch's claims after the
//! previous batch's in the settling order (date, then id), gives what one batch of them all
//! gives.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::{FieldDef, Policy, Type};
use settle_lang::limits::{MONEY_LIMIT_FEN, RATE_LIMIT_MILLIONTHS};

use crate::engine::{Engine, MemberState, Outcome, settling_order};
use crate::field::{Field, parse_value, trim_str};
use crate::io::{InputError, Row, duplicate_error, input, output_slots};
use crate::value::Value;

/// A batch that cannot be read as claims at all (a cell that cannot be read is an error row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrowError {
    /// Columns the policy's input needs are missing from the batch.
    #[error("missing column{} {}", if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))]
    MissingColumns(Vec<String>),
    /// A column of a type no field reads (a list, a struct, binary data, ...).
    #[error("column `{column}` is of Arrow type {ty}, which no field reads")]
    Unsupported {
        /// The column.
        column: String,
        /// Its Arrow type.
        ty: String,
    },
    /// A member's or a group's state could not be kept after its claims (a defect).
    #[error("the state of `{0}` could not be kept: {1}")]
    State(String, String),
    /// The output batch could not be built (a defect).
    #[error("the settlements could not be built: {0}")]
    Build(String),
}

/// One cell of an input column, as its Arrow type holds it.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    /// Null: read as an empty cell.
    Null,
    Text(&'a str),
    Int(i128),
    Float(f64),
    Bool(bool),
    /// A decimal: the unscaled integer and the scale.
    Decimal(i128, i8),
    /// A whole day since 1970-01-01.
    Day(i64),
    /// A day and the seconds past its midnight (not zero).
    Instant(i64, i64),
}

impl Cell<'_> {
    /// The text a CSV file would hold for the cell.
    fn text(&self) -> String {
        match *self {
            Cell::Null => String::new(),
            Cell::Text(t) => t.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Decimal(v, scale) => decimal_text(v, scale),
            Cell::Day(d) => day_text(d),
            Cell::Instant(d, s) => {
                format!("{} {:02}:{:02}:{:02}", day_text(d), s / 3600, s / 60 % 60, s % 60)
            }
        }
    }
}

fn day_text(d: i64) -> String {
    match i32::try_from(d) {
        Ok(d) => Date(d).to_string(),
        Err(_) => format!("day {d} since 1970-01-01"),
    }
}

/// `v` scaled down by `scale` decimals, as written (`-12.50`).
fn decimal_text(v: i128, scale: i8) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        return if v == 0 { "0".into() } else { format!("{sign}{digits}{zeros}") };
    }
    let scale = usize::from(scale.unsigned_abs());
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{frac}")
}

/// `v` with `from` decimals as an integer with `to` decimals, if exact.
fn rescale(v: i128, from: i8, to: i8) -> Option<i128> {
    let shift = i32::from(to) - i32::from(from);
    let power = 10i128.checked_pow(shift.unsigned_abs())?;
    if shift >= 0 { v.checked_mul(power) } else { (v % power == 0).then_some(v / power) }
}

/// The first and last days a date field reads (years 0000 to 9999).
fn day_range() -> (i64, i64) {
    let day = |y, m, d| Date::from_ymd(y, m, d).map_or(0, |d| i64::from(d.0));
    (day(0, 1, 1), day(9999, 12, 31))
}

/// A typed cell's scaled value for a field, when it is one without text: `None` sends the cell
/// to the field's text reader (which reads it, or says why not).
fn scaled(field: &Field<'_>, cell: Cell<'_>, days: (i64, i64)) -> Option<i64> {
    let bounded = |x: i128, low: i128, high: i128| {
        i64::try_from(x).ok().filter(|x| (low..=high).contains(&i128::from(*x)))
    };
    let money = |x| bounded(x, 0, i128::from(MONEY_LIMIT_FEN));
    let rate =
        |x| bounded(x, -i128::from(RATE_LIMIT_MILLIONTHS), i128::from(RATE_LIMIT_MILLIONTHS));
    match (field, cell) {
        (Field::Int, Cell::Int(i)) => i64::try_from(i).ok(),
        (Field::Money, Cell::Int(i)) => money(i.checked_mul(100)?),
        (Field::Money, Cell::Decimal(v, s)) => money(rescale(v, s, 2)?),
        (Field::Rate, Cell::Int(i)) => rate(i.checked_mul(1_000_000)?),
        (Field::Rate, Cell::Decimal(v, s)) => rate(rescale(v, s, 6)?),
        (Field::Bool, Cell::Bool(b)) => Some(i64::from(b)),
        (Field::Date, Cell::Day(d)) => (days.0..=days.1).contains(&d).then_some(d),
        _ => None,
    }
}

/// A column's cells by row.
type Cells<'a> = Box<dyn Fn(usize) -> Cell<'a> + Send + Sync + 'a>;

fn primitive<'a, T: ArrowPrimitiveType>(
    array: &'a dyn Array,
    cell: impl Fn(T::Native) -> Cell<'a> + Send + Sync + 'a,
) -> Option<Cells<'a>> {
    let a = array.as_primitive_opt::<T>()?;
    Some(Box::new(move |i| if a.is_null(i) { Cell::Null } else { cell(a.value(i)) }))
}

/// A timestamp in `per_day` units a day as a day, or a day and its seconds.
fn instant(t: i64, per_day: i64) -> Cell<'static> {
    let (day, rest) = (t.div_euclid(per_day), t.rem_euclid(per_day));
    if rest == 0 { Cell::Day(day) } else { Cell::Instant(day, rest / (per_day / 86_400)) }
}

/// How a column's cells are read, by its Arrow type.
fn cells<'a>(name: &str, array: &'a dyn Array) -> Result<Cells<'a>, ArrowError> {
    let unsupported =
        || ArrowError::Unsupported { column: name.to_string(), ty: array.data_type().to_string() };
    let text = |array: &'a dyn Array| -> Option<Cells<'a>> {
        if let Some(a) = array.as_string_opt::<i32>() {
            return Some(Box::new(
                move |i| if a.is_null(i) { Cell::Null } else { Cell::Text(a.value(i)) },
            ));
        }
        if let Some(a) = array.as_string_opt::<i64>() {
            return Some(Box::new(
                move |i| if a.is_null(i) { Cell::Null } else { Cell::Text(a.value(i)) },
            ));
        }
        if let Some(a) = array.as_string_view_opt() {
            return Some(Box::new(
                move |i| if a.is_null(i) { Cell::Null } else { Cell::Text(a.value(i)) },
            ));
        }
        None
    };
    let cells: Option<Cells<'a>> = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => text(array),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary_opt().ok_or_else(unsupported)?;
            let values = text(dict.values().as_ref()).ok_or_else(unsupported)?;
            let keys = dict.normalized_keys();
            Some(Box::new(move |i| {
                if array.is_null(i) {
                    return Cell::Null;
                }
                keys.get(i).map_or(Cell::Null, |&k| values(k))
            }))
        }
        DataType::Int8 => primitive::<Int8Type>(array, |v| Cell::Int(v.into())),
        DataType::Int16 => primitive::<Int16Type>(array, |v| Cell::Int(v.into())),
        DataType::Int32 => primitive::<Int32Type>(array, |v| Cell::Int(v.into())),
        DataType::Int64 => primitive::<Int64Type>(array, |v| Cell::Int(v.into())),
        DataType::UInt8 => primitive::<UInt8Type>(array, |v| Cell::Int(v.into())),
        DataType::UInt16 => primitive::<UInt16Type>(array, |v| Cell::Int(v.into())),
        DataType::UInt32 => primitive::<UInt32Type>(array, |v| Cell::Int(v.into())),
        DataType::UInt64 => primitive::<UInt64Type>(array, |v| Cell::Int(v.into())),
        DataType::Float32 => {
            primitive::<arrow_array::types::Float32Type>(array, |v| Cell::Float(v.into()))
        }
        DataType::Float64 => primitive::<arrow_array::types::Float64Type>(array, Cell::Float),
        DataType::Decimal128(_, scale) => {
            let scale = *scale;
            primitive::<Decimal128Type>(array, move |v| Cell::Decimal(v, scale))
        }
        DataType::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(unsupported)?;
            Some(Box::new(move |i| if a.is_null(i) { Cell::Null } else { Cell::Bool(a.value(i)) }))
        }
        DataType::Date32 => primitive::<Date32Type>(array, |d| Cell::Day(d.into())),
        DataType::Date64 => primitive::<Date64Type>(array, |ms| instant(ms, 86_400_000)),
        DataType::Timestamp(unit, None) => match unit {
            TimeUnit::Second => primitive::<TimestampSecondType>(array, |t| instant(t, 86_400)),
            TimeUnit::Millisecond => {
                primitive::<TimestampMillisecondType>(array, |t| instant(t, 86_400_000))
            }
            TimeUnit::Microsecond => {
                primitive::<TimestampMicrosecondType>(array, |t| instant(t, 86_400_000_000))
            }
            TimeUnit::Nanosecond => {
                primitive::<TimestampNanosecondType>(array, |t| instant(t, 86_400_000_000_000))
            }
        },
        _ => None,
    };
    cells.ok_or_else(unsupported)
}

/// A batch's columns bound to the policy's input fields, each read by its Arrow type: the one
/// rule of what a cell is as a field, for both data paths ([`read_batch`] and the batch fast
/// path's `batch::read_arrow`).
pub(crate) struct Columns<'a> {
    policy: &'a Policy,
    fields: Vec<(&'a FieldDef, Field<'a>, Cells<'a>)>,
    days: (i64, i64),
}

impl<'a> Columns<'a> {
    /// The batch's column of each input field; an error when one is missing or of a type no
    /// field reads.
    pub(crate) fn of(policy: &'a Policy, batch: &'a RecordBatch) -> Result<Self, ArrowError> {
        let record = input(policy);
        let missing: Vec<String> = record
            .fields
            .iter()
            .filter(|f| batch.column_by_name(&f.name).is_none())
            .map(|f| f.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ArrowError::MissingColumns(missing));
        }
        let fields = record
            .fields
            .iter()
            .map(|f| {
                let array = batch
                    .column_by_name(&f.name)
                    .ok_or_else(|| ArrowError::MissingColumns(vec![f.name.clone()]))?;
                Ok((f, Field::of(policy, f.ty), cells(&f.name, array.as_ref())?))
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        Ok(Columns { policy, fields, days: day_range() })
    }

    /// Field `i`'s cell in row `r`, typed: its scaled value when the cell's Arrow type already
    /// is the field's type and the value is one of the type's (`None`: the cell is read as text).
    fn typed(&self, i: usize, cell: Cell<'_>) -> Option<i64> {
        let (f, field, _) = self.fields.get(i)?;
        scaled(field, cell, self.days).filter(|&x| Value::from_scaled(f.ty, x).is_some())
    }

    /// Field `i`'s cell in row `r`: its scaled value when typed ([`Columns::typed`]), else the
    /// text a CSV file would hold for it, for the field's text reader.
    pub(crate) fn cell(&self, i: usize, r: usize) -> Option<Result<i64, Text<'a>>> {
        let cells = &self.fields.get(i)?.2;
        let cell = cells(r);
        Some(match (self.typed(i, cell), cell) {
            (Some(x), _) => Ok(x),
            (None, Cell::Text(t)) => Err(Text::Borrowed(t)),
            (None, cell) => Err(Text::Owned(cell.text())),
        })
    }

    /// The longest text among the first `rows` rows of field `i` (sizing the fast path's slots).
    pub(crate) fn longest(&self, i: usize, rows: usize) -> usize {
        let text = |r| self.cell(i, r).and_then(Result::err).map_or(0, |t| t.as_str().len());
        (0..rows).map(text).max().unwrap_or(0)
    }

    /// Row `r` as a claim, or as an error row naming line `line` and the field, as
    /// [`crate::io::read_csv`] reads the same cells written as text.
    pub(crate) fn row(&self, r: usize, line: usize) -> Row {
        let policy = self.policy;
        let key = |i: usize| {
            self.fields
                .get(i)
                .map(|(_, _, cells)| cells(r).text())
                .map(|t| trim_str(&t).to_string())
                .filter(|k| !k.is_empty())
        };
        let error = |field: &str, message: String| {
            Row::Error(InputError {
                line,
                id: key(policy.id_field),
                member: key(policy.member_field),
                field: Some(field.to_string()),
                message,
            })
        };
        let mut fields = Vec::with_capacity(self.fields.len());
        for (i, (f, _, cells)) in self.fields.iter().enumerate() {
            let cell = cells(r);
            let typed = self.typed(i, cell).and_then(|x| Value::from_scaled(f.ty, x));
            let value = match (typed, cell) {
                (Some(v), _) => Ok(v),
                (None, Cell::Text(t)) => parse_value(policy, f.ty, t),
                (None, cell) => parse_value(policy, f.ty, &cell.text()),
            };
            match value {
                Ok(v) => fields.push(v),
                Err(message) => return error(&f.name, message),
            }
        }
        for key in [policy.id_field, policy.member_field] {
            if matches!(fields.get(key), Some(Value::Text(t)) if t.is_empty()) {
                let name = self.fields.get(key).map_or("id", |(f, _, _)| f.name.as_str());
                return error(name, "empty".to_string());
            }
        }
        Row::Claim(crate::engine::Claim { line, fields })
    }
}

/// A cell's text, as a CSV file would hold it.
pub(crate) enum Text<'a> {
    /// A text cell's own.
    Borrowed(&'a str),
    /// Another cell's, written out.
    Owned(String),
}

impl Text<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(t) => t,
            Text::Owned(t) => t,
        }
    }
}

/// The rows of `batch`'s claims, numbered from `first_line`: every row a claim or an error row
/// naming its line and field, as [`crate::io::read_csv`] reads the same cells written as text.
/// Duplicate ids are not looked for here ([`Duplicates`]).
pub fn read_batch(
    policy: &Policy,
    batch: &RecordBatch,
    first_line: usize,
) -> Result<Vec<Row>, ArrowError> {
    let columns = Columns::of(policy, batch)?;
    Ok((0..batch.num_rows()).into_par_iter().map(|r| columns.row(r, first_line + r)).collect())
}

/// The claim ids seen so far, each with the line it was first seen on: a later claim with the
/// same id is an error row naming that line, as in one file.
#[derive(Debug, Default)]
pub struct Duplicates {
    first: HashMap<Arc<str>, usize>,
}

impl Duplicates {
    /// The line claim id `id` was first seen on, if it was.
    pub(crate) fn seen_on(&self, id: &str) -> Option<usize> {
        self.first.get(id).copied()
    }

    /// Whether no claim id was seen yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Note claim id `id` as first seen on line `line`.
    pub(crate) fn note(&mut self, id: &str, line: usize) {
        self.first.entry(Arc::from(id)).or_insert(line);
    }

    /// Turn each claim of `rows` whose id was seen (earlier in `rows` or in an earlier call)
    /// into an error row.
    pub fn mark(&mut self, policy: &Policy, rows: &mut [Row]) {
        for row in rows.iter_mut() {
            let Row::Claim(claim) = row else { continue };
            let text = |f: usize| match claim.fields.get(f) {
                Some(Value::Text(t)) => t.clone(),
                _ => Arc::from(""),
            };
            let id = text(policy.id_field);
            match self.first.get(&id) {
                Some(&first) => {
                    let member = text(policy.member_field);
                    *row = Row::Error(duplicate_error(
                        claim.line,
                        id.to_string(),
                        member.to_string(),
                        first,
                    ));
                }
                None => {
                    self.first.insert(id, claim.line);
                }
            }
        }
    }
}

/// The output batch's schema: `line`, `id`, `member`, `status`, `error`, then the outputs and
/// accumulators as `settle run` names them.
pub fn output_schema(policy: &Policy) -> SchemaRef {
    let mut fields = vec![
        ArrowField::new("line", DataType::Int64, false),
        ArrowField::new("id", DataType::Utf8, false),
        ArrowField::new("member", DataType::Utf8, false),
        ArrowField::new("status", DataType::Utf8, false),
        ArrowField::new("error", DataType::Utf8, true),
    ];
    for (name, ty) in output_types(policy) {
        fields.push(ArrowField::new(name, arrow_type(ty), true));
    }
    Arc::new(Schema::new(fields))
}

/// The Arrow type of an output column of type `ty`.
fn arrow_type(ty: Type) -> DataType {
    match ty {
        Type::Money => DataType::Decimal128(38, 2),
        Type::Rate => DataType::Decimal128(38, 6),
        Type::Int => DataType::Int64,
        Type::Bool => DataType::Boolean,
        Type::Date => DataType::Date32,
        Type::Text | Type::Enum(_) | Type::Record(_) | Type::List(_) => DataType::Utf8,
    }
}

/// The output columns' names and types, in order: the stages' outputs, then the accumulators.
pub(crate) fn output_types(policy: &Policy) -> Vec<(String, Type)> {
    let outputs = output_slots(policy)
        .into_iter()
        .filter_map(|(v, ty)| policy.values.get(v).map(|d| (d.name.clone(), ty)));
    outputs.chain(policy.accumulators.iter().map(|a| (a.name.clone(), a.ty))).collect()
}

/// One output column being built.
pub(crate) enum Builder {
    Decimal(Decimal128Builder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Text(StringBuilder),
}

impl Builder {
    pub(crate) fn new(ty: Type, rows: usize) -> Result<Builder, ArrowError> {
        let decimal = |scale| {
            Decimal128Builder::with_capacity(rows)
                .with_precision_and_scale(38, scale)
                .map_err(|e| ArrowError::Build(e.to_string()))
        };
        Ok(match ty {
            Type::Money => Builder::Decimal(decimal(2)?),
            Type::Rate => Builder::Decimal(decimal(6)?),
            Type::Int => Builder::Int(Int64Builder::with_capacity(rows)),
            Type::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Type::Date => Builder::Date(Date32Builder::with_capacity(rows)),
            Type::Text | Type::Enum(_) | Type::Record(_) | Type::List(_) => {
                Builder::Text(StringBuilder::with_capacity(rows, rows * 8))
            }
        })
    }

    fn push(&mut self, policy: &Policy, ty: Type, v: Option<&Value>) {
        match (self, v) {
            (Builder::Text(b), Some(v)) => {
                b.append_value(crate::field::format_value(policy, ty, v))
            }
            (column, v) => {
                column.push_scaled(policy, ty, v.and_then(Value::to_scaled), &mut String::new())
            }
        }
    }

    /// Push a value held as a scaled integer (`None`: null); `text` is scratch for a value
    /// written as text, as [`crate::field::write_scaled`] writes it.
    pub(crate) fn push_scaled(
        &mut self,
        policy: &Policy,
        ty: Type,
        scaled: Option<i64>,
        text: &mut String,
    ) {
        match self {
            Builder::Decimal(b) => b.append_option(scaled.map(i128::from)),
            Builder::Int(b) => b.append_option(scaled),
            Builder::Bool(b) => b.append_option(scaled.map(|x| x != 0)),
            Builder::Date(b) => b.append_option(scaled.and_then(|x| i32::try_from(x).ok())),
            Builder::Text(b) => match scaled {
                Some(x) => {
                    text.clear();
                    crate::field::write_scaled(text, policy, ty, x);
                    b.append_value(&*text);
                }
                None => b.append_null(),
            },
        }
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            Builder::Decimal(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The rows of a batch of [`output_schema`] as they are built, one row at a time: who the row
/// is (`line`, `id`, `member`), then its status and cells. Both paths build their batches
/// with it, so the layout of a row (its columns, `ok` or `error`, the cells of an error row)
/// is decided here once.
pub(crate) struct OutputRows {
    line: Int64Builder,
    id: StringBuilder,
    member: StringBuilder,
    status: StringBuilder,
    error: StringBuilder,
    types: Vec<(String, Type)>,
    columns: Vec<Builder>,
}

impl OutputRows {
    /// Room for `n` rows.
    pub(crate) fn new(policy: &Policy, n: usize) -> Result<OutputRows, ArrowError> {
        let types = output_types(policy);
        let columns =
            types.iter().map(|(_, ty)| Builder::new(*ty, n)).collect::<Result<Vec<_>, _>>()?;
        Ok(OutputRows {
            line: Int64Builder::with_capacity(n),
            id: StringBuilder::with_capacity(n, n * 8),
            member: StringBuilder::with_capacity(n, n * 8),
            status: StringBuilder::with_capacity(n, n * 2),
            error: StringBuilder::with_capacity(n, 0),
            types,
            columns,
        })
    }

    /// Start a row: its line, claim id and member.
    pub(crate) fn who(&mut self, line: i64, id: &str, member: &str) {
        self.line.append_value(line);
        self.id.append_value(id);
        self.member.append_value(member);
    }

    /// End the row as settled: `push` puts each of `cells` into its column, in the columns'
    /// order.
    pub(crate) fn settled<X>(
        &mut self,
        cells: impl IntoIterator<Item = X>,
        mut push: impl FnMut(&mut Builder, Type, X),
    ) {
        self.status.append_value("ok");
        self.error.append_null();
        for ((column, (_, ty)), x) in self.columns.iter_mut().zip(&self.types).zip(cells) {
            push(column, *ty, x);
        }
    }

    /// End the row as not settled: the message, and no cells.
    pub(crate) fn failed(&mut self, policy: &Policy, message: &str) {
        self.status.append_value("error");
        self.error.append_value(message);
        for (column, (_, ty)) in self.columns.iter_mut().zip(&self.types) {
            column.push_scaled(policy, *ty, None, &mut String::new());
        }
    }

    /// The batch of the rows built.
    pub(crate) fn finish(self, policy: &Policy) -> Result<RecordBatch, ArrowError> {
        let OutputRows { mut line, mut id, mut member, mut status, mut error, columns, .. } = self;
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(line.finish()),
            Arc::new(id.finish()),
            Arc::new(member.finish()),
            Arc::new(status.finish()),
            Arc::new(error.finish()),
        ];
        arrays.extend(columns.into_iter().map(Builder::finish));
        RecordBatch::try_new(output_schema(policy), arrays)
            .map_err(|e| ArrowError::Build(e.to_string()))
    }
}

/// The settlements of `rows` (`outcomes` by row, as [`crate::io::by_row`] gives them) as a
/// batch of [`output_schema`]: the rows and cells `settle run` writes, in order.
pub fn output_batch(
    policy: &Policy,
    rows: &[Row],
    outcomes: &[Option<Outcome>],
) -> Result<RecordBatch, ArrowError> {
    let mut out = OutputRows::new(policy, rows.len())?;
    let slots = output_slots(policy);
    let text = |v: Option<&Value>| match v {
        Some(Value::Text(t)) => t.to_string(),
        _ => String::new(),
    };
    for (i, row) in rows.iter().enumerate() {
        let outcome = outcomes.get(i).and_then(Option::as_ref);
        let (l, who_id, who_member) = match row {
            Row::Claim(c) => (
                c.line,
                text(c.fields.get(policy.id_field)),
                text(c.fields.get(policy.member_field)),
            ),
            Row::Error(e) => {
                (e.line, e.id.clone().unwrap_or_default(), e.member.clone().unwrap_or_default())
            }
        };
        out.who(i64::try_from(l).unwrap_or(i64::MAX), &who_id, &who_member);
        match crate::io::settled(row, outcome) {
            Ok(s) => {
                let values = slots.iter().map(|(v, _)| s.value(policy, *v));
                let accs = (0..policy.accumulators.len()).map(|a| s.accumulator(policy, a));
                out.settled(values.chain(accs), |column, ty, v| {
                    column.push(policy, ty, v.as_ref())
                });
            }
            Err(message) => out.failed(policy, &message),
        }
    }
    out.finish(policy)
}

/// The Arrow schema of claims of the policy's input, as [`claims_batch`] writes them: each
/// field by its type, as an output column of that type is written.
pub fn input_schema(policy: &Policy) -> SchemaRef {
    let fields =
        input(policy).fields.iter().map(|f| ArrowField::new(&f.name, arrow_type(f.ty), true));
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// Claims as a batch of [`input_schema`]: what [`read_batch`] reads back to the same claims.
pub fn claims_batch(
    policy: &Policy,
    claims: &[&crate::engine::Claim],
) -> Result<RecordBatch, ArrowError> {
    let record = input(policy);
    let columns = record
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut column = Builder::new(f.ty, claims.len())?;
            for claim in claims {
                column.push(policy, f.ty, claim.fields.get(i));
            }
            Ok(column.finish())
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    RecordBatch::try_new(input_schema(policy), columns)
        .map_err(|e| ArrowError::Build(e.to_string()))
}

/// A member's id, state, and claims (or outcomes) by row.
type Member<T> = (Arc<str>, MemberState, Vec<(usize, T)>);

/// Settles batches of claims one after another, keeping each member's (and each group's)
/// year-to-date state and the claim ids seen between them (see the module's documentation).
#[derive(Debug)]
pub struct Settler {
    engine: Arc<Engine>,
    members: HashMap<Arc<str>, MemberState>,
    groups: HashMap<Arc<str>, MemberState>,
    duplicates: Duplicates,
    lines: usize,
}

impl Settler {
    /// A settler with no claims settled yet.
    pub fn new(engine: Arc<Engine>) -> Self {
        Settler {
            engine,
            members: HashMap::new(),
            groups: HashMap::new(),
            duplicates: Duplicates::default(),
            lines: 0,
        }
    }

    /// The engine it settles with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Settle a batch's claims after those of the batches before it: the settlements as a
    /// batch of [`output_schema`].
    pub fn settle(&mut self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        self.settle_batches(std::slice::from_ref(batch))
    }

    /// Settle the claims of `batches` (a table's batches, in order) together, after those of
    /// the batches settled before: one batch of settlements, a row for each row in.
    pub fn settle_batches(&mut self, batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
        if let Some(out) = self.settle_fast(batches)? {
            return Ok(out);
        }
        let policy = self.engine.policy();
        let mut rows = Vec::new();
        for batch in batches {
            rows.extend(read_batch(policy, batch, self.lines + rows.len() + 1)?);
        }
        self.lines += rows.len();
        self.duplicates.mark(policy, &mut rows);
        let outcomes = self.settle_rows(&rows);
        output_batch(self.engine.policy(), &rows, &outcomes)
    }

    /// [`Settler::settle_batches`] by the batch fast path ([`crate::batch`]), when the engine
    /// takes it: the batches read into one table, each member and group starting from its
    /// kept state, and the states they end in kept. `None`: the batches are for the general
    /// path (nothing read is kept).
    fn settle_fast(&mut self, batches: &[RecordBatch]) -> Result<Option<RecordBatch>, ArrowError> {
        let engine = Arc::clone(&self.engine);
        if !crate::batch::supported(&engine) {
            return Ok(None);
        }
        let mut table = crate::batch::ArrowTable::new(engine.policy(), self.lines);
        for batch in batches {
            if !table.add(batch)? {
                return Ok(None);
            }
        }
        let Some(table) = table.finish_after(&mut self.duplicates) else { return Ok(None) };
        let n = table.len();
        self.lines += n;
        let saved = Some((&self.members, &self.groups));
        let (settled, kept) = crate::batch::settle_table_carried(&engine, table, saved, &|_| {})
            .ok_or_else(|| ArrowError::Build("the fast path refused a policy it takes".into()))?;
        for kept in kept {
            let state =
                kept.state.map_err(|e| ArrowError::State(kept.id.to_string(), e.to_string()))?;
            let states = if kept.group { &mut self.groups } else { &mut self.members };
            states.insert(kept.id, state);
        }
        crate::batch::output_batch(&engine, &settled, 0..n).map(Some)
    }

    /// Settle the claims among `rows` with the kept state, updating it: the outcomes by row
    /// (`None` for an error row).
    pub fn settle_rows(&mut self, rows: &[Row]) -> Vec<Option<Outcome>> {
        let engine = &*self.engine;
        let policy = engine.policy();
        let claims: Vec<(usize, &crate::engine::Claim)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Row::Claim(c) => Some((i, c)),
                Row::Error(_) => None,
            })
            .collect();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rows.len());
        outcomes.resize_with(rows.len(), || None);
        let text = |c: &crate::engine::Claim, f: usize| -> Arc<str> {
            match c.fields.get(f) {
                Some(Value::Text(t)) => t.clone(),
                _ => Arc::from(""),
            }
        };
        let order = |a: &(usize, &crate::engine::Claim), b: &(usize, &crate::engine::Claim)| {
            settling_order(
                (engine.date_of(a.1), engine.date_of(b.1)),
                || (text(a.1, policy.id_field), text(b.1, policy.id_field)),
                (a.0, b.0),
            )
        };
        if let Some(group) = policy.group_field() {
            // Claims linked by a group settle one at a time, all in the settling order: each
            // member's and each group's claims are then in theirs.
            let mut claims = claims;
            claims.sort_by(order);
            for (i, claim) in claims {
                let member = self.members.entry(text(claim, policy.member_field)).or_default();
                let group = self.groups.entry(text(claim, group)).or_default();
                let outcome = engine.settle_one_in_group(claim, member, group);
                if let Some(slot) = outcomes.get_mut(i) {
                    *slot = Some(outcome);
                }
            }
            return outcomes;
        }
        // Members are independent: each member's claims in order, members in parallel.
        let mut by_member: HashMap<Arc<str>, Vec<(usize, &crate::engine::Claim)>> = HashMap::new();
        for (i, claim) in claims {
            by_member.entry(text(claim, policy.member_field)).or_default().push((i, claim));
        }
        let work: Vec<Member<&crate::engine::Claim>> = by_member
            .into_iter()
            .map(|(member, claims)| {
                let state = self.members.remove(&member).unwrap_or_default();
                (member, state, claims)
            })
            .collect();
        let done: Vec<Member<Outcome>> = work
            .into_par_iter()
            .map(|(member, mut state, mut claims)| {
                claims.sort_by(order);
                let settled = claims
                    .into_iter()
                    .map(|(i, claim)| (i, engine.settle_one(claim, &mut state)))
                    .collect();
                (member, state, settled)
            })
            .collect();
        for (member, state, settled) in done {
            self.members.insert(member, state);
            for (i, outcome) in settled {
                if let Some(slot) = outcomes.get_mut(i) {
                    *slot = Some(outcome);
                }
            }
        }
        outcomes
    }
}
