//! Parquet files in and out of `settle run`, `settle diff` and `settle gen`, chosen by the
//! `.parquet` extension; built with the `parquet` feature (`cargo build --features parquet`).
//!
//! Claims are read from the file's record batches by the Arrow reader of the runtime
//! (`settle_runtime::arrow`): typed columns as they are, text as a CSV cell, the same values or
//! error rows as from CSV, rows numbered from 1 as in a JSON Lines file. Settlements are written
//! with the columns and types of `settle_runtime::arrow::output_schema`; generated claims with
//! typed columns (money as decimals with two places, dates as days).

use std::path::Path;
use std::process::ExitCode;

use crate::cli::EXIT_USAGE;

/// Whether `path` names a Parquet file (by its extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// What `settle` says of a Parquet file when built without the `parquet` feature.
const MISSING: &str = "this settle was built without Parquet: build it with \
                       `cargo build --release --features parquet`";

/// Refuse, before any work, a Parquet file among `paths` when built without Parquet.
pub fn available(paths: &[Option<&Path>]) -> Result<(), ExitCode> {
    match paths.iter().flatten().find(|p| is_parquet(p)) {
        Some(path) if !cfg!(feature = "parquet") => {
            eprintln!("error: `{}`: {MISSING}", path.display());
            Err(ExitCode::from(EXIT_USAGE))
        }
        _ => Ok(()),
    }
}

#[cfg(not(feature = "parquet"))]
mod imp {
    use std::io::Write;
    use std::path::Path;

    use settle_lang::ir::Policy;
    use settle_runtime::Outcome;
    use settle_runtime::io::Row;

    use super::MISSING;

    pub fn read_rows(_: &Policy, _: &Path) -> Result<Vec<Row>, String> {
        Err(MISSING.into())
    }

    pub fn write_settlements(
        _: &Policy,
        _: &[Row],
        _: &[Option<Outcome>],
        _: impl Write + Send,
    ) -> Result<(), String> {
        Err(MISSING.into())
    }

    pub fn write_claims(_: &Policy, _: usize, _: u64, _: impl Write + Send) -> Result<(), String> {
        Err(MISSING.into())
    }

    pub fn read_table(
        _: &Policy,
        _: &Path,
    ) -> Result<Option<settle_runtime::batch::Table>, String> {
        Err(MISSING.into())
    }

    pub fn write_table(
        _: &settle_runtime::Engine,
        _: &settle_runtime::batch::Settled,
        _: impl Write + Send,
    ) -> Result<(), String> {
        Err(MISSING.into())
    }
}

#[cfg(feature = "parquet")]
mod imp {
    use std::fs::File;
    use std::io::Write;
    use std::path::Path;

    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use settle_lang::ir::Policy;
    use settle_runtime::arrow::{
        Duplicates, claims_batch, output_batch, output_schema, read_batch,
    };
    use settle_runtime::batch::{self, ArrowTable, Settled, Table};
    use settle_runtime::io::{self, Row};
    use settle_runtime::{Engine, Outcome};

    /// Rows a record batch holds, read and written.
    const BATCH: usize = 1 << 16;

    /// The record batches of the Parquet file at `path`, `BATCH` rows each.
    fn batches(path: &Path) -> Result<ParquetRecordBatchReader, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH).build())
            .map_err(|e| format!("`{name}` is not a Parquet file settle reads: {e}"))
    }

    /// Every row of the Parquet file at `path` as a claim or an error row, duplicates marked.
    pub fn read_rows(policy: &Policy, path: &Path) -> Result<Vec<Row>, String> {
        let name = path.display();
        let reader = batches(path)?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| format!("cannot read `{name}`: {e}"))?;
            let read = read_batch(policy, &batch, rows.len() + 1);
            rows.extend(read.map_err(|e| format!("{name}: {e}"))?);
        }
        Duplicates::default().mark(policy, &mut rows);
        Ok(rows)
    }

    /// The claims of the Parquet file at `path` read for the batch fast path, a record batch
    /// at a time: the rows [`read_rows`] reads, in a [`Table`]. `Ok(None)`: they are for the
    /// general path.
    pub fn read_table(policy: &Policy, path: &Path) -> Result<Option<Table>, String> {
        let name = path.display();
        let mut table = ArrowTable::new(policy, 0);
        for batch in batches(path)? {
            let batch = batch.map_err(|e| format!("cannot read `{name}`: {e}"))?;
            if !table.add(&batch).map_err(|e| format!("{name}: {e}"))? {
                return Ok(None);
            }
        }
        Ok(table.finish())
    }

    /// Write a settled table as Parquet, a record batch of rows at a time: the file
    /// [`write_settlements`] writes for the same claims.
    pub fn write_table(
        engine: &Engine,
        settled: &Settled,
        out: impl Write + Send,
    ) -> Result<(), String> {
        let policy = engine.policy();
        let mut writer = ArrowWriter::try_new(out, output_schema(policy), Some(properties()))
            .map_err(|e| e.to_string())?;
        let n = settled.table().len();
        for start in (0..n).step_by(BATCH) {
            let batch = batch::output_batch(engine, settled, start..(start + BATCH).min(n))
                .map_err(|e| e.to_string())?;
            writer.write(&batch).map_err(|e| e.to_string())?;
        }
        writer.close().map(drop).map_err(|e| e.to_string())
    }

    fn properties() -> WriterProperties {
        WriterProperties::builder().set_compression(Compression::SNAPPY).build()
    }

    /// Write settlements (`outcomes` by row) as Parquet, a record batch of rows at a time.
    pub fn write_settlements(
        policy: &Policy,
        rows: &[Row],
        outcomes: &[Option<Outcome>],
        out: impl Write + Send,
    ) -> Result<(), String> {
        let mut writer = ArrowWriter::try_new(out, output_schema(policy), Some(properties()))
            .map_err(|e| e.to_string())?;
        for (rows, outcomes) in rows.chunks(BATCH).zip(outcomes.chunks(BATCH)) {
            let batch = output_batch(policy, rows, outcomes).map_err(|e| e.to_string())?;
            writer.write(&batch).map_err(|e| e.to_string())?;
        }
        writer.close().map(drop).map_err(|e| e.to_string())
    }

    /// Write `count` generated claims (`settle gen`'s, the same for the same seed) as Parquet.
    pub fn write_claims(
        policy: &Policy,
        count: usize,
        seed: u64,
        out: impl Write + Send,
    ) -> Result<(), String> {
        let mut text = Vec::new();
        settle_runtime::generate::write(policy, count, seed, false, &mut text)
            .map_err(|e| e.to_string())?;
        let rows = io::read_csv_bytes(policy, &text, "generated").map_err(|e| e.to_string())?;
        drop(text);
        let claims = io::claims_of(&rows);
        let first = claims_batch(policy, &[]).map_err(|e| e.to_string())?;
        let mut writer = ArrowWriter::try_new(out, first.schema(), Some(properties()))
            .map_err(|e| e.to_string())?;
        for chunk in claims.chunks(BATCH) {
            let batch = claims_batch(policy, chunk).map_err(|e| e.to_string())?;
            writer.write(&batch).map_err(|e| e.to_string())?;
        }
        writer.close().map(drop).map_err(|e| e.to_string())
    }
}

pub use imp::{read_rows, read_table, write_claims, write_settlements, write_table};
