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
}

#[cfg(feature = "parquet")]
mod imp {
    use std::fs::File;
    use std::io::Write;
    use std::path::Path;

    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use settle_lang::ir::Policy;
    use settle_runtime::Outcome;
    use settle_runtime::arrow::{
        Duplicates, claims_batch, output_batch, output_schema, read_batch,
    };
    use settle_runtime::io::{self, Row};

    /// Rows a record batch holds, read and written.
    const BATCH: usize = 1 << 16;

    /// Every row of the Parquet file at `path` as a claim or an error row, duplicates marked.
    pub fn read_rows(policy: &Policy, path: &Path) -> Result<Vec<Row>, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH).build())
            .map_err(|e| format!("`{name}` is not a Parquet file settle reads: {e}"))?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| format!("cannot read `{name}`: {e}"))?;
            let read = read_batch(policy, &batch, rows.len() + 1);
            rows.extend(read.map_err(|e| format!("{name}: {e}"))?);
        }
        Duplicates::default().mark(policy, &mut rows);
        Ok(rows)
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

pub use imp::{read_rows, write_claims, write_settlements};
