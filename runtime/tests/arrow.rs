//! Claims from Arrow batches settle exactly as from CSV: every output cell, shown as text, is the
//! CSV writer's cell (the `line` of a batch row counting rows from 1, the CSV's lines from the
//! header's 1), for the sample claims as text columns, for generated claims as typed columns
//! (decimals, days, integers, truth values, dictionaries), for typed cells beyond their fields'
//! bounds, and with members' state carried from one batch to the next.

#![cfg(feature = "arrow")]
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array,
    Int64Array, RecordBatch, StringArray,
};
use arrow_schema::DataType;
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::{Policy, Type};
use settle_runtime::arrow::Settler;
use settle_runtime::io::{self, FileLoader, Row};
use settle_runtime::{Engine, Value};

const SAMPLES: &[(&str, &str)] = &[
    ("policies/dezhou/employee_inpatient.settle", "examples/claims/dezhou_employee.csv"),
    ("policies/dezhou/resident_inpatient.settle", "examples/claims/dezhou_resident.csv"),
    ("policies/taiyuan/two_diseases_outpatient.settle", "examples/claims/taiyuan_two_diseases.csv"),
    ("policies/huangyuan/outpatient_chronic.settle", "examples/claims/huangyuan_chronic.csv"),
    ("policies/out-of-area/non_referred.settle", "examples/claims/out_of_area.csv"),
    ("policies/shandong/resident_base.settle", "examples/claims/shandong_resident.csv"),
    ("policies/weihai/resident.settle", "examples/claims/weihai_resident.csv"),
    ("examples/japan/kogaku_household.settle", "examples/claims/japan_household.csv"),
    ("examples/japan/kogaku_category_u.settle", "examples/claims/japan_kogaku.csv"),
    ("examples/medicare/part_a_inpatient.settle", "examples/claims/medicare_part_a.csv"),
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn policy(path: &str) -> Policy {
    let path = root().join(path);
    let text = std::fs::read_to_string(&path).expect("policy");
    settle_runtime::load_with(&path.display().to_string(), &text, &mut FileLoader).expect("checks")
}

/// The CSV writer's rows (without the header) for a CSV text of claims, settled in one batch.
fn csv_settlements(engine: &Engine, claims: &str) -> Vec<Vec<String>> {
    let rows = io::read_csv_bytes(engine.policy(), claims.as_bytes(), "claims").expect("read");
    let outcomes = io::by_row(&rows, engine.settle_batch(&io::claims_of(&rows)));
    let mut out = Vec::new();
    io::write_csv(engine.policy(), &rows, &outcomes, &mut out).expect("written");
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(out.as_slice());
    reader.records().map(|r| r.expect("a record").iter().map(str::to_string).collect()).collect()
}

/// A cell of an output batch as text: a rate's decimal without trailing zeros, null as empty.
fn cell_text(array: &dyn Array, i: usize) -> String {
    if array.is_null(i) {
        return String::new();
    }
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
        DataType::Boolean => array.as_boolean().value(i).to_string(),
        DataType::Date32 => Date(array.as_primitive::<Date32Type>().value(i)).to_string(),
        DataType::Decimal128(_, 2) => {
            Decimal::from_i128_with_scale(array.as_primitive::<Decimal128Type>().value(i), 2)
                .to_string()
        }
        DataType::Decimal128(_, 6) => {
            Decimal::from_i128_with_scale(array.as_primitive::<Decimal128Type>().value(i), 6)
                .normalize()
                .to_string()
        }
        other => panic!("an output column of type {other}"),
    }
}

/// Every row of `out` as text, its lines shifted to the CSV's (whose header is line 1).
fn batch_rows(out: &RecordBatch) -> Vec<Vec<String>> {
    (0..out.num_rows())
        .map(|i| {
            out.columns()
                .iter()
                .enumerate()
                .map(|(c, column)| {
                    let text = cell_text(column.as_ref(), i);
                    match c {
                        0 => (text.parse::<usize>().expect("a line") + 1).to_string(),
                        4 => shift_lines(&text),
                        _ => text,
                    }
                })
                .collect()
        })
        .collect()
}

/// An error message with the lines it names moved by one, as in a CSV file (`line 2, field
/// ...`, `... first on line 2`).
fn shift_lines(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = after.split_at(digits);
        match number.parse::<usize>() {
            Ok(n) => out.push_str(&(n + 1).to_string()),
            Err(_) => out.push_str(number),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A batch of text columns holding a CSV text's cells as written.
fn text_batch(claims: &str) -> RecordBatch {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(claims.as_bytes());
    let header: Vec<String> =
        reader.headers().expect("a header").iter().map(str::to_string).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a record")).collect();
    let columns: Vec<(String, ArrayRef)> = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let cells: StringArray = records.iter().map(|r| r.get(c)).collect();
            (name.clone(), Arc::new(cells) as ArrayRef)
        })
        .collect();
    RecordBatch::try_from_iter(columns).expect("a batch")
}

/// A batch of typed columns (decimals, days, integers, truth values, dictionaries of variants)
/// holding the values of a CSV text whose every cell reads.
fn typed_batch(policy: &Policy, claims: &str) -> RecordBatch {
    let rows = io::read_csv_bytes(policy, claims.as_bytes(), "claims").expect("read");
    let claims: Vec<_> = rows
        .iter()
        .map(|r| match r {
            Row::Claim(c) => c,
            Row::Error(e) => panic!("generated claims read: {e}"),
        })
        .collect();
    let record = policy.input_record().expect("an input");
    let columns: Vec<(String, ArrayRef)> = record
        .fields
        .iter()
        .enumerate()
        .map(|(f, field)| {
            let values = claims.iter().map(|c| &c.fields[f]);
            let array: ArrayRef = match field.ty {
                Type::Money => Arc::new(
                    values
                        .map(|v| v.to_scaled().map(i128::from))
                        .collect::<Decimal128Array>()
                        .with_precision_and_scale(20, 2)
                        .expect("a decimal type"),
                ),
                Type::Rate => Arc::new(
                    values
                        .map(|v| v.to_scaled().map(i128::from))
                        .collect::<Decimal128Array>()
                        .with_precision_and_scale(20, 6)
                        .expect("a decimal type"),
                ),
                Type::Int => Arc::new(values.map(Value::to_scaled).collect::<Int64Array>()),
                Type::Bool => Arc::new(
                    values.map(|v| v.to_scaled().map(|x| x != 0)).collect::<BooleanArray>(),
                ),
                Type::Date => Arc::new(
                    values
                        .map(|v| v.to_scaled().and_then(|x| i32::try_from(x).ok()))
                        .collect::<Date32Array>(),
                ),
                Type::Enum(e) => {
                    let def = &policy.enums[e];
                    let names = values.map(|v| match v {
                        Value::Enum(i) => Some(def.variants[*i as usize].as_str()),
                        _ => None,
                    });
                    Arc::new(names.collect::<DictionaryArray<Int32Type>>())
                }
                _ => Arc::new(
                    values
                        .map(|v| match v {
                            Value::Text(t) => Some(t.to_string()),
                            _ => None,
                        })
                        .collect::<StringArray>(),
                ),
            };
            (field.name.clone(), array)
        })
        .collect();
    RecordBatch::try_from_iter(columns).expect("a batch")
}

fn generated(policy: &Policy, count: usize, seed: u64) -> String {
    let mut out = Vec::new();
    settle_runtime::generate::write(policy, count, seed, false, &mut out).expect("generated");
    String::from_utf8(out).expect("utf-8")
}

fn assert_same(what: &str, batch: Vec<Vec<String>>, csv: Vec<Vec<String>>) {
    assert_eq!(batch.len(), csv.len(), "{what}: rows");
    for (i, (a, c)) in batch.iter().zip(&csv).enumerate() {
        assert_eq!(a, c, "{what}: row {i}");
    }
}

#[test]
fn sample_claims_as_text_columns_settle_as_from_csv() {
    for (policy_path, claims) in SAMPLES {
        let claims = std::fs::read_to_string(root().join(claims)).expect("claims");
        for jit in [false, true] {
            let p = policy(policy_path);
            let engine = if jit { Engine::compiled(p).expect("compiles") } else { Engine::new(p) };
            let engine = Arc::new(engine);
            let csv = csv_settlements(&engine, &claims);
            let out = Settler::new(engine.clone()).settle(&text_batch(&claims)).expect("settled");
            assert_eq!(
                out.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>(),
                ["line", "id", "member", "status", "error"]
                    .into_iter()
                    .map(String::from)
                    .chain(io::output_columns(engine.policy()))
                    .collect::<Vec<_>>(),
                "{policy_path}: columns"
            );
            assert_same(policy_path, batch_rows(&out), csv);
        }
    }
}

#[test]
fn generated_claims_as_typed_columns_settle_as_from_csv() {
    for (policy_path, _) in SAMPLES {
        let p = policy(policy_path);
        let claims = generated(&p, 2_000, 21);
        let engine = Arc::new(Engine::new(p));
        let csv = csv_settlements(&engine, &claims);
        let typed = typed_batch(engine.policy(), &claims);
        let out = Settler::new(engine.clone()).settle(&typed).expect("settled");
        assert_same(policy_path, batch_rows(&out), csv);
    }
}

#[test]
fn state_carries_from_one_batch_to_the_next() {
    for (policy_path, _) in SAMPLES {
        let p = policy(policy_path);
        let claims = generated(&p, 2_000, 7);
        let engine = Arc::new(Engine::new(p));
        let whole = text_batch(&claims);
        // The rows in settling order, cut in three: each member's later claims in later batches.
        let policy = engine.policy();
        let rows = io::read_csv_bytes(policy, claims.as_bytes(), "claims").expect("read");
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let key = |i: usize| match &rows[i] {
            Row::Claim(c) => (engine.date_of(c), engine.id_of(c).to_string()),
            Row::Error(e) => panic!("{e}"),
        };
        order.sort_by_key(|&i| key(i));
        let indices = arrow_array::UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
        let sorted = RecordBatch::try_new(
            whole.schema(),
            whole.columns().iter().map(|c| arrow_select_take(c.as_ref(), &indices)).collect(),
        )
        .expect("sorted");
        let one = Settler::new(engine.clone()).settle(&sorted).expect("one batch");
        let mut settler = Settler::new(engine.clone());
        let n = sorted.num_rows();
        let mut pieces = Vec::new();
        for (start, end) in [(0, n / 3), (n / 3, n / 2), (n / 2, n)] {
            let out = settler.settle(&sorted.slice(start, end - start)).expect("a batch");
            pieces.extend(batch_rows(&out));
        }
        assert_same(policy_path, pieces, batch_rows(&one));
    }
}

/// `take` for the text columns of [`text_batch`] (the test needs no other).
fn arrow_select_take(column: &dyn Array, indices: &arrow_array::UInt32Array) -> ArrayRef {
    let strings = column.as_string::<i32>();
    Arc::new(
        indices
            .values()
            .iter()
            .map(|&i| strings.value(i as usize))
            .map(Some)
            .collect::<StringArray>(),
    )
}

const SMALL: &str = r#"
policy small
input claim { id: text, member: text, date: date, total: money, ratio: rate, visits: int, referred: bool }
stage basic (pay: money) { pay = claim.total * claim.ratio }
stage patient (rest: money) { rest = claim.total - basic.pay }
balance claim.total = basic.pay + patient.rest
"#;

#[test]
fn typed_cells_beyond_their_fields_are_the_csv_readers_error_rows() {
    let engine =
        Arc::new(Engine::new(settle_runtime::load_str("small.settle", SMALL).expect("checks")));
    // Each row's cells typed, and as a CSV file writes them.
    let csv = "id,member,date,total,ratio,visits,referred\n\
               c1,m1,2024-01-02,123.450,0.85,1,true\n\
               c2,m1,2024-01-03,1.234,0.5,2,false\n\
               c3,m2,2024-01-04,-0.100,0.5,3,true\n\
               c4,m2,2024-01-05,,0.5,4,false\n\
               ,m3,2024-01-06,10.000,1.5,5,true\n\
               c6,m3,2024-01-07,100000000000000000.000,0.1,6,true\n\
               c7,m3,2024-01-08,10.000,1000000000.000001,7,false\n\
               c1,m4,2024-01-09,10.000,0.1,8,false\n";
    let decimals = |values: Vec<Option<i128>>, scale: i8| -> ArrayRef {
        Arc::new(
            values
                .into_iter()
                .collect::<Decimal128Array>()
                .with_precision_and_scale(38, scale)
                .expect("a decimal type"),
        )
    };
    let day = |y, m, d| Date::from_ymd(y, m, d).expect("a day").0;
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(StringArray::from(vec![
                Some("c1"),
                Some("c2"),
                Some("c3"),
                Some("c4"),
                None,
                Some("c6"),
                Some("c7"),
                Some("c1"),
            ])) as ArrayRef,
        ),
        (
            "member",
            Arc::new(StringArray::from(vec!["m1", "m1", "m2", "m2", "m3", "m3", "m3", "m4"])),
        ),
        ("date", Arc::new(Date32Array::from((2..=9).map(|d| day(2024, 1, d)).collect::<Vec<_>>()))),
        (
            "total",
            decimals(
                vec![
                    Some(123_450),
                    Some(1_234),
                    Some(-100),
                    None,
                    Some(10_000),
                    Some(100_000_000_000_000_000_000),
                    Some(10_000),
                    Some(10_000),
                ],
                3,
            ),
        ),
        (
            "ratio",
            decimals(
                vec![
                    Some(850_000),
                    Some(500_000),
                    Some(500_000),
                    Some(500_000),
                    Some(1_500_000),
                    Some(100_000),
                    Some(1_000_000_000_000_001),
                    Some(100_000),
                ],
                6,
            ),
        ),
        ("visits", Arc::new(Int64Array::from((1..=8).collect::<Vec<i64>>()))),
        (
            "referred",
            Arc::new(BooleanArray::from(vec![true, false, true, false, true, true, false, false])),
        ),
    ])
    .expect("a batch");
    let expected = csv_settlements(&engine, csv);
    let out = Settler::new(engine.clone()).settle(&batch).expect("settled");
    let rows = batch_rows(&out);
    assert_same("typed", rows.clone(), expected);
    let errors: Vec<&str> =
        rows.iter().filter(|r| r[3] == "error").map(|r| r[4].as_str()).collect();
    assert_eq!(errors.len(), 7, "{errors:#?}");
    // Floats (as pandas holds amounts) are read as their shortest decimal text.
    let floats = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["f1", "f2"])) as ArrayRef),
        ("member", Arc::new(StringArray::from(vec!["m1", "m1"]))),
        ("date", Arc::new(StringArray::from(vec!["2024-02-01", "2024-02-02"]))),
        ("total", Arc::new(Float64Array::from(vec![12.5, 0.125]))),
        ("ratio", Arc::new(Float64Array::from(vec![0.85, 0.85]))),
        ("visits", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ("referred", Arc::new(Int64Array::from(vec![1, 0]))),
    ])
    .expect("a batch");
    let csv = "id,member,date,total,ratio,visits,referred\n\
               f1,m1,2024-02-01,12.5,0.85,1,1\n\
               f2,m1,2024-02-02,0.125,0.85,2,0\n";
    let out = Settler::new(engine.clone()).settle(&floats).expect("settled");
    assert_same("floats", batch_rows(&out), csv_settlements(&engine, csv));
}

#[test]
fn a_missing_column_is_named() {
    let engine =
        Arc::new(Engine::new(settle_runtime::load_str("small.settle", SMALL).expect("checks")));
    let batch = text_batch("id,member,date,total\nc1,m1,2024-01-02,1\n");
    let err = Settler::new(engine).settle(&batch).expect_err("refused");
    assert_eq!(err.to_string(), "missing columns `ratio`, `visits`, `referred`");
}

/// Every row the general path writes for `batches` settled one after another: each read by
/// [`settle_runtime::arrow::read_batch`], its duplicates marked, its claims settled claim by
/// claim with the kept states ([`Settler::settle_rows`]).
fn general_rows(engine: &Arc<Engine>, batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let policy = engine.policy();
    let mut settler = Settler::new(engine.clone());
    let mut duplicates = settle_runtime::arrow::Duplicates::default();
    let (mut lines, mut out) = (0, Vec::new());
    for batch in batches {
        let mut rows = settle_runtime::arrow::read_batch(policy, batch, lines + 1).expect("read");
        lines += rows.len();
        duplicates.mark(policy, &mut rows);
        let outcomes = settler.settle_rows(&rows);
        let written = settle_runtime::arrow::output_batch(policy, &rows, &outcomes).expect("out");
        out.extend(batch_rows(&written));
    }
    out
}

#[test]
fn batches_split_inside_members_settle_as_one_table() {
    let mut fast = 0;
    for (policy_path, _) in SAMPLES {
        let p = policy(policy_path);
        let engine = Arc::new(Engine::new(p));
        fast += usize::from(settle_runtime::batch::supported(&engine));
        let policy = engine.policy();
        let claims = generated(policy, 3_000, 11);
        // The claims in settling order, then rows that are errors or duplicates of claims in
        // the first batch (an id first seen there twice more in the last) and claims of a
        // member of their own with hostile cells.
        let rows = io::read_csv_bytes(policy, claims.as_bytes(), "claims").expect("read");
        let key = |r: &Row| match r {
            Row::Claim(c) => (engine.date_of(c), engine.id_of(c).to_string()),
            Row::Error(e) => panic!("{e}"),
        };
        let mut lines: Vec<&str> = claims.lines().collect();
        let header = lines.remove(0);
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| key(&rows[i]));
        let mut text: Vec<String> = vec![header.to_string()];
        text.extend(order.iter().map(|&i| lines[i].to_string()));
        let first = text[1].clone();
        let second = text[2].clone();
        text.extend([first.clone(), second, first.clone()]);
        let record = policy.input_record().expect("an input");
        let hostile = ["\t", "\u{3000}", "１２", "", "2024-02-30", "-0.001", "\u{feff}x"];
        for (n, cell) in hostile.iter().enumerate() {
            let fields: Vec<String> = record
                .fields
                .iter()
                .enumerate()
                .map(|(f, _)| match f {
                    f if f == policy.id_field => format!("hostile-{n}"),
                    f if f == policy.member_field => "hostile-member".to_string(),
                    _ if n % record.fields.len() == f => cell.to_string(),
                    _ => csv_cell(&first, f).to_string(),
                })
                .collect();
            text.push(fields.join(","));
        }
        let whole = text_batch(&(text.join("\n") + "\n"));
        let n = whole.num_rows();
        let cuts = [0, 1, n / 7, n / 3, n / 3 + 1, n / 2, 4 * n / 5, n];
        let batches: Vec<RecordBatch> =
            cuts.windows(2).map(|w| whole.slice(w[0], w[1] - w[0])).collect();
        // Members' claims fall on both sides of each cut.
        let members = |r: std::ops::Range<usize>| -> std::collections::HashSet<&str> {
            r.filter_map(|r| order.get(r))
                .map(|&i| csv_cell(lines[i], policy.member_field))
                .collect()
        };
        for &c in &cuts[2..cuts.len() - 1] {
            let split = members(0..c).intersection(&members(c..order.len())).count();
            assert!(split > 0, "{policy_path}: no member on both sides of row {c}");
        }

        let one = Settler::new(engine.clone()).settle(&whole).expect("one table");
        let one = batch_rows(&one);
        let mut settler = Settler::new(engine.clone());
        let split: Vec<Vec<String>> =
            batches.iter().flat_map(|b| batch_rows(&settler.settle(b).expect("a batch"))).collect();
        assert_same(&format!("{policy_path}: split"), split, one.clone());
        assert_same(
            &format!("{policy_path}: general"),
            general_rows(&engine, &[whole]),
            one.clone(),
        );
        assert_same(
            &format!("{policy_path}: general, split"),
            general_rows(&engine, &batches),
            one,
        );
    }
    assert!(fast >= 5, "{fast} of the sample policies take the fast path");
}

/// Field `f` of a CSV record without quotes, whose columns are the input's fields in order.
fn csv_cell(record: &str, f: usize) -> &str {
    record.split(',').nth(f).unwrap_or_else(|| panic!("no field {f} in {record}"))
}
