//! Parquet in and out (the `parquet` feature): `settle gen` writes the claims it writes as CSV,
//! `settle run` settles them as it settles the CSV file (every row and cell, the rows numbered
//! from 1 instead of from the CSV header's line 1) and writes the same settlements as Parquet,
//! and `settle diff` reports the same impact.

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

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;
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
