//! Writing a settled table as Arrow record batches (the `arrow` feature): the batches
//! [`crate::arrow::output_batch`] builds for the same claims, cell for cell.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};

use super::settle::Settled;
use super::settled_values;
use crate::arrow::{ArrowError, Builder, output_schema, output_types};
use crate::engine::Engine;

/// The settlements of records `rows` of a settled table as a batch of
/// [`crate::arrow::output_schema`]: the rows and cells the general path's
/// [`crate::arrow::output_batch`] builds for the same claims.
pub fn output_batch(
    engine: &Engine,
    settled: &Settled,
    rows: Range<usize>,
) -> Result<RecordBatch, ArrowError> {
    let policy = engine.policy();
    let n = rows.len();
    let mut line = Int64Builder::with_capacity(n);
    let mut id = StringBuilder::with_capacity(n, n * 8);
    let mut member = StringBuilder::with_capacity(n, n * 8);
    let mut status = StringBuilder::with_capacity(n, n * 2);
    let mut error = StringBuilder::with_capacity(n, 0);
    let types = output_types(policy);
    let mut columns =
        types.iter().map(|(_, ty)| Builder::new(*ty, n)).collect::<Result<Vec<_>, _>>()?;
    let mut values = vec![0i64; settled_values(policy)];
    let mut text = String::new();
    for i in rows {
        let Some(said) = settled.said(policy, i, &mut values) else { continue };
        line.append_value(i64::from(said.line));
        id.append_value(String::from_utf8_lossy(said.id));
        member.append_value(String::from_utf8_lossy(said.member));
        match said.message {
            None => {
                status.append_value("ok");
                error.append_null();
                for ((column, (_, ty)), &x) in columns.iter_mut().zip(&types).zip(&values) {
                    column.push_scaled(policy, *ty, Some(x), &mut text);
                }
            }
            Some(message) => {
                status.append_value("error");
                error.append_value(message);
                for (column, (_, ty)) in columns.iter_mut().zip(&types) {
                    column.push_scaled(policy, *ty, None, &mut text);
                }
            }
        }
    }
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
