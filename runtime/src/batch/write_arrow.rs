//! Writing a settled table as Arrow record batches (the `arrow` feature): the batches
//! [`crate::arrow::output_batch`] builds for the same claims, cell for cell.

use std::ops::Range;

use arrow_array::RecordBatch;

use super::settle::Settled;
use super::settled_values;
use crate::arrow::{ArrowError, OutputRows};
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
    let mut out = OutputRows::new(policy, rows.len())?;
    let mut values = vec![0i64; settled_values(policy)];
    let mut text = String::new();
    for i in rows {
        let Some(said) = settled.said(policy, i, &mut values) else { continue };
        out.who(
            i64::from(said.line),
            &String::from_utf8_lossy(said.id),
            &String::from_utf8_lossy(said.member),
        );
        match said.message {
            None => out.settled(&values, |column, ty, &x| {
                column.push_scaled(policy, ty, Some(x), &mut text)
            }),
            Some(message) => out.failed(policy, &message),
        }
    }
    out.finish(policy)
}
