//! Parquet in and out (the `parquet` feature): `settle gen` writes the claims it writes as CSV,
//! `settle run` settles them as it settles the CSV file (every row and cell, the rows numbered
//! from 1 instead of from the CSV header's line 1) and writes the same settlements as Parquet,
//! and `settle diff` reports the same impact. `settle run` of a Parquet file takes the batch fast
//! path and writes, as CSV, JSON Lines or Parquet, byte for byte what the general path writes,
//! hostile cells included.

#![cfg(feature = "parquet")]
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use settle_runtime::Engine;
use settle_runtime::arrow::{Duplicates, output_batch, output_schema, read_batch};
use settle_runtime::io::{self, Row};
use support::settle;

const POLICIES: &[&str] = &[
    "policies/dezhou/employee_inpatient.settle",
    // Group totals: a household's members settle together.
    "examples/japan/kogaku_household.settle",
];

fn generated(policy: &str, dir: &Path, extension: &str) -> PathBuf {
    let file = dir.join(format!("claims.{extension}"));
    let out = settle(&["gen", policy, "--count", "3000", "--seed", "5", "--out", path(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    file
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `settle run`'s CSV rows, without the header.
fn run_csv(policy: &str, claims: &Path) -> Vec<Vec<String>> {
    let out = settle(&["run", policy, "--claims", path(claims)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    csv::Reader::from_reader(out.stdout.as_slice())
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_string).collect())
        .collect()
}

/// A row of a Parquet-read file moved to the CSV's lines (its header is line 1).
fn shifted(mut row: Vec<String>) -> Vec<String> {
    row[0] = (row[0].parse::<usize>().expect("a line") + 1).to_string();
    row
}

/// A cell as `settle run` writes it in CSV (a rate without trailing zeros, null as empty).
fn cell_text(array: &dyn Array, i: usize) -> String {
    if array.is_null(i) {
        return String::new();
    }
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
        DataType::Boolean => array.as_boolean().value(i).to_string(),
        DataType::Date32 => {
            settle_lang::date::Date(array.as_primitive::<Date32Type>().value(i)).to_string()
        }
        DataType::Decimal128(_, scale) => {
            let d = Decimal::from_i128_with_scale(
                array.as_primitive::<Decimal128Type>().value(i),
                u32::from(scale.unsigned_abs()),
            );
            if *scale == 2 { d.to_string() } else { d.normalize().to_string() }
        }
        other => panic!("a column of type {other}"),
    }
}

fn read_parquet(file: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(file).expect("open"))
        .expect("a Parquet file")
        .build()
        .expect("a reader")
        .map(|b| b.expect("a batch"))
        .collect()
}

#[test]
fn claims_in_parquet_settle_as_in_csv_and_settlements_write_as_parquet() {
    for policy in POLICIES {
        let dir = support::scratch("parquet-tests", &policy.replace('/', "-"));
        let csv = generated(policy, &dir, "csv");
        let parquet = generated(policy, &dir, "parquet");
        // Generated claims are typed columns: money as decimals, dates as days.
        let claims = read_parquet(&parquet);
        let schema = claims[0].schema();
        assert!(schema.fields().iter().any(|f| f.data_type() == &DataType::Date32));
        assert!(
            schema.fields().iter().any(|f| matches!(f.data_type(), DataType::Decimal128(_, 2)))
        );
        assert_eq!(claims.iter().map(RecordBatch::num_rows).sum::<usize>(), 3000);

        let expected = run_csv(policy, &csv);
        let from_parquet = run_csv(policy, &parquet);
        assert_eq!(from_parquet.len(), expected.len(), "{policy}");
        let moved: Vec<Vec<String>> = from_parquet.into_iter().map(shifted).collect();
        assert!(moved == expected, "{policy}: settled from Parquet");

        let out = dir.join("settlements.parquet");
        let done = settle(&["run", policy, "--claims", path(&csv), "--out", path(&out)]);
        assert_eq!(done.status.code(), Some(0), "{}", String::from_utf8_lossy(&done.stderr));
        let mut rows: Vec<Vec<String>> = Vec::new();
        for batch in read_parquet(&out) {
            let names: Vec<String> =
                batch.schema().fields().iter().map(|f| f.name().clone()).collect();
            assert_eq!(names.len(), expected[0].len());
            for i in 0..batch.num_rows() {
                rows.push(batch.columns().iter().map(|c| cell_text(c.as_ref(), i)).collect());
            }
        }
        // The CSV file's lines numbered as read from it (line 2 first) in the Parquet output.
        assert!(rows == expected, "{policy}: written as Parquet");
    }
}

#[test]
fn diff_reads_parquet() {
    let base = "examples/reforms/dezhou_without_2021_07.settle";
    let reform = "examples/reforms/dezhou_level1_deductible_200.settle";
    let dir = support::scratch("parquet-tests", "diff");
    let csv = generated("policies/dezhou/employee_inpatient.settle", &dir, "csv");
    let parquet = generated("policies/dezhou/employee_inpatient.settle", &dir, "parquet");
    let report = |claims: &Path| {
        let out = settle(&["diff", base, reform, "--claims", path(claims), "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        strip(&mut json);
        json
    };
    assert_eq!(report(&parquet), report(&csv));
}

/// A report without what names the claims file or its lines.
fn strip(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !matches!(k.as_str(), "claims" | "line" | "trail" | "claims_file"));
            map.values_mut().for_each(strip);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Cells users paste: spaces of every kind around a value, full-width digits, a byte order mark,
/// days that do not exist, amounts beyond the fen or the bounds, exponents, words.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "\t12.50 ",
    "\u{3000}7\u{3000}",
    "１２",
    "\u{feff}3.5",
    "2024-02-30",
    "2024/01/05",
    "-0.01",
    "0.001",
    "1e3",
    "100000000000000000.00",
    "NaN",
    "12,5",
    "\"quoted\"",
    "level9",
    "true",
    "é中",
];

/// The generated claims of `csv` as a Parquet file of text columns, with hostile cells, nulls
/// and duplicate ids drawn into them.
fn hostile_parquet(csv: &Path, out: &Path) -> PathBuf {
    let mut reader = csv::Reader::from_path(csv).expect("claims");
    let header: Vec<String> =
        reader.headers().expect("a header").iter().map(String::from).collect();
    let mut records: Vec<Vec<Option<String>>> = reader
        .records()
        .map(|r| r.expect("a record").iter().map(|c| Some(c.to_string())).collect())
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut draw = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for r in 0..records.len() {
        let column = draw(header.len());
        match draw(16) {
            0..=2 => records[r][column] = Some(HOSTILE[draw(HOSTILE.len())].to_string()),
            3 => records[r][column] = None,
            4 if r > 0 => {
                // The id of an earlier claim.
                let earlier = records[draw(r)][0].clone();
                records[r][0] = earlier;
            }
            _ => {}
        }
    }
    let columns: Vec<(String, ArrayRef)> = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let cells: StringArray = records.iter().map(|r| r[c].as_deref()).collect();
            (name.clone(), Arc::new(cells) as ArrayRef)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(columns).expect("a batch");
    let file = out.join("hostile.parquet");
    let mut writer =
        ArrowWriter::try_new(File::create(&file).expect("create"), batch.schema(), None)
            .expect("a writer");
    for start in (0..batch.num_rows()).step_by(700) {
        writer.write(&batch.slice(start, 700.min(batch.num_rows() - start))).expect("written");
    }
    writer.close().expect("closed");
    file
}

/// What the general path (`settle_runtime::arrow`'s reader, `Engine::settle_batch`, the
/// general writers) writes for the Parquet file `claims`: CSV, JSON Lines and Parquet bytes.
fn general_path(policy_path: &str, claims: &Path, dir: &Path) -> [Vec<u8>; 3] {
    let text = std::fs::read_to_string(policy_path).expect("policy");
    let policy =
        settle_runtime::load_with(policy_path, &text, &mut io::FileLoader).expect("checks");
    let engine = Engine::compiled(policy.clone()).unwrap_or_else(|_| Engine::new(policy));
    let policy = engine.policy();
    let mut rows: Vec<Row> = Vec::new();
    for batch in read_parquet(claims) {
        let read = read_batch(policy, &batch, rows.len() + 1).expect("read");
        rows.extend(read);
    }
    Duplicates::default().mark(policy, &mut rows);
    let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
    let (mut csv, mut jsonl) = (Vec::new(), Vec::new());
    io::write_csv(policy, &rows, &outcomes, &mut csv).expect("CSV");
    io::write_jsonl(policy, &rows, &outcomes, &mut jsonl).expect("JSON Lines");
    let file = dir.join("general.parquet");
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let out = File::create(&file).expect("create");
    let mut writer =
        ArrowWriter::try_new(out, output_schema(policy), Some(properties)).expect("a writer");
    for (rows, outcomes) in rows.chunks(1 << 16).zip(outcomes.chunks(1 << 16)) {
        writer.write(&output_batch(policy, rows, outcomes).expect("a batch")).expect("written");
    }
    writer.close().expect("closed");
    [csv, jsonl, std::fs::read(&file).expect("written")]
}

#[test]
fn parquet_claims_settle_by_the_fast_path_as_by_the_general_path() {
    for policy in POLICIES {
        let dir = support::scratch("parquet-tests", &format!("fast-{}", policy.replace('/', "-")));
        let csv = generated(policy, &dir, "csv");
        let typed = generated(policy, &dir, "parquet");
        let hostile = hostile_parquet(&csv, &dir);
        for claims in [typed, hostile] {
            let [csv, jsonl, parquet] = general_path(policy, &claims, &dir);
            let what = format!("{policy}, {}", claims.display());
            let errors = String::from_utf8_lossy(&csv).matches(",error,").count();
            assert!(claims.ends_with("claims.parquet") || errors > 100, "{what}: {errors} errors");
            for (extension, expected) in [("csv", csv), ("jsonl", jsonl), ("parquet", parquet)] {
                let out = dir.join(format!("fast.{extension}"));
                let done = settle(&["run", policy, "--claims", path(&claims), "--out", path(&out)]);
                assert_eq!(
                    done.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&done.stderr)
                );
                let written = std::fs::read(&out).expect("written");
                assert!(written == expected, "{what}: {extension} differs from the general path's");
            }
        }
    }
}
