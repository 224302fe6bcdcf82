//! The batch fast path against the general path: the same CSV file read, settled and written
//! both ways must give the same bytes, for every policy the fast path takes, on generated claims,
//! the sample files and hostile input (bad fields, quoting, CR LF, blank lines, duplicates, text
//! that is not UTF-8), with closures and with compiled code.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::path::Path;

use settle_runtime::Engine;
use settle_runtime::batch::{
    read_jsonl_table_from, read_table, read_table_from, settle_shares, settle_table, supported,
    write_table_csv, write_table_jsonl,
};
use settle_runtime::io;

#[path = "support/policies.rs"]
mod support;

fn policies() -> Vec<(String, settle_lang::ir::Policy)> {
    support::all().into_iter().map(|(name, _, policy)| (name, policy)).collect()
}

/// How a file is read and written: JSON Lines in, JSON Lines out.
#[derive(Debug, Clone, Copy)]
struct Formats {
    jsonl_in: bool,
    jsonl_out: bool,
}

/// CSV in and out.
const CSV: Formats = Formats { jsonl_in: false, jsonl_out: false };

/// The general path's output for `input` in the given formats.
fn general_in(engine: &Engine, input: &[u8], f: Formats) -> Vec<u8> {
    let policy = engine.policy();
    let rows = if f.jsonl_in {
        io::read_jsonl(policy, input, "claims.jsonl").expect("read")
    } else {
        io::read_csv_bytes(policy, input, "claims.csv").expect("read")
    };
    let settled = engine.settle_batch(&io::claims_of(&rows));
    let outcomes = io::by_row(&rows, settled);
    let mut out = Vec::new();
    if f.jsonl_out {
        io::write_jsonl(policy, &rows, &outcomes, &mut out).expect("written");
    } else {
        io::write_csv(policy, &rows, &outcomes, &mut out).expect("written");
    }
    out
}

/// The fast path's output for `input` in the given formats, read `window` bytes at a time.
fn fast_in(engine: &Engine, input: &[u8], f: Formats, window: usize) -> Option<Vec<u8>> {
    let policy = engine.policy();
    let table = if f.jsonl_in {
        read_jsonl_table_from(policy, input, "claims.jsonl", window).expect("read")?
    } else {
        read_table_from(policy, input, "claims.csv", window).expect("read")?
    };
    let settled = settle_table(engine, table, &|_| {}).expect("supported");
    let mut out = Vec::new();
    if f.jsonl_out {
        write_table_jsonl(engine, &settled, &mut out).expect("written");
    } else {
        write_table_csv(engine, &settled, &mut out).expect("written");
    }
    Some(out)
}

/// Both paths write the same bytes for `input`, read whole and in windows of a few records.
fn same_in(engine: &Engine, input: &[u8], f: Formats, what: &str) {
    let a = general_in(engine, input, f);
    assert!(a.len() > 200, "{what}: nothing written");
    for window in [settle_runtime::batch::WINDOW, 997] {
        let b = fast_in(engine, input, f, window)
            .unwrap_or_else(|| panic!("{what}: left to the general path"));
        same_bytes(&a, &b, &format!("{what}, {f:?}, windows of {window}"));
    }
}

/// The fast path writes what the general path writes for CSV `csv`, read whole and in windows.
fn same(engine: &Engine, csv: &[u8], what: &str) {
    same_in(engine, csv, CSV, what);
}

fn same_bytes(a: &[u8], b: &[u8], what: &str) {
    if a != b {
        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        for (x, y) in a.lines().zip(b.lines()) {
            assert_eq!(x, y, "{what}: the first differing line");
        }
        assert_eq!(a.lines().count(), b.lines().count(), "{what}: line counts");
    }
}

/// `csv` with hostile records added after its header: every way a record can be wrong or odd.
fn hostile(policy: &settle_lang::ir::Policy, csv: &str) -> String {
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let header = lines.first().cloned().unwrap_or_default();
    let columns: Vec<&str> = header.split(',').collect();
    let sample: Vec<String> =
        lines.get(1).map(|l| l.split(',').map(str::to_string).collect()).unwrap_or_default();
    let input = policy.input_record().expect("input");
    let column_of = |field: usize| {
        input.fields.get(field).and_then(|f| columns.iter().position(|c| *c == f.name))
    };
    let with = |field: usize, value: &str| {
        let mut cells = sample.clone();
        if let Some(c) = column_of(field) {
            cells[c] = value.to_string();
        }
        cells.join(",")
    };
    let mut extra = vec![
        String::new(),
        "only,two".to_string(),
        with(policy.id_field, "\"quoted, id\""),
        with(policy.id_field, " spaced "),
        with(policy.id_field, ""),
        with(policy.member_field, ""),
        with(policy.member_field, "\"m \"\"q\"\"\""),
        with(policy.dated_field, "2024-02-30"),
        with(policy.dated_field, " 2024-02-03"),
        with(policy.dated_field, "yesterday"),
    ];
    for (i, f) in input.fields.iter().enumerate() {
        let bad: &[&str] = match f.ty {
            settle_lang::ir::Type::Money => &[
                "-5",
                "1.234",
                "1_000.5",
                " 12.3 ",
                "12.",
                ".5",
                "1e3",
                "x",
                "1000000000000000.01",
                "0012.50",
                "7",
                "12.3",
                "0.5",
                "90000000.00",
                "5000000000.00",
            ],
            settle_lang::ir::Type::Enum(_) => &["nonsense", " level1", ""],
            settle_lang::ir::Type::Int => &["-3", "x", "99999999999999999999"],
            settle_lang::ir::Type::Bool => &["yes", "maybe", ""],
            settle_lang::ir::Type::Rate => &["50%", "0.5", "x"],
            _ => &[],
        };
        for b in bad {
            extra.push(with(i, b));
        }
    }
    let mut out = vec![header];
    // Each odd record with an id of its own, where it has the sample's.
    let id = sample.first().cloned().unwrap_or_default();
    out.extend(extra.into_iter().enumerate().map(|(k, l)| l.replacen(&id, &format!("h{k}"), 1)));
    // The first claim twice: a duplicate id.
    if let Some(first) = lines.get(1).cloned() {
        out.push(first);
    }
    out.extend(lines.drain(1..));
    out.join("\n") + "\n"
}

#[test]
fn the_fast_path_writes_what_the_general_path_writes() {
    let mut taken = 0;
    for (name, policy) in policies() {
        let closures = Engine::new(policy.clone());
        let jit = Engine::compiled(policy.clone()).expect("compiles");
        if !supported(&closures) {
            assert!(!supported(&jit), "{name}");
            assert!(settle_table(&closures, Default::default(), &|_| {}).is_none());
            continue;
        }
        taken += 1;
        for seed in 1..=2u64 {
            let mut csv = Vec::new();
            settle_runtime::generate::write(&policy, 3_000, seed, false, &mut csv)
                .expect("generated");
            let text = String::from_utf8(csv.clone()).expect("utf-8");
            for engine in [&closures, &jit] {
                same(engine, &csv, &format!("{name}, seed {seed}"));
                let odd = hostile(&policy, &text);
                same(engine, odd.as_bytes(), &format!("{name}, seed {seed}, hostile"));
                same(engine, odd.replace('\n', "\r\n").as_bytes(), &format!("{name}, CR LF"));
                let mut broken = odd.clone().into_bytes();
                let at = broken.len() / 2;
                broken.splice(at..at, [0xff, 0xfe]);
                same(engine, &broken, &format!("{name}, not UTF-8"));
            }
        }
    }
    assert!(taken >= 3, "only {taken} policies take the fast path");
}

/// A policy file of the repository, its bases loaded from beside it.
fn load_file(path: &str) -> settle_lang::ir::Policy {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let name = full.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&full).expect("policy");
    settle_runtime::load_with(&name, &text, &mut io::FileLoader).expect("checks")
}

/// The impact report of `reform` against `base` on `csv`, by the general path and by the fast
/// path (`None` when it does not take the pair).
fn impacts(
    base: &Engine,
    reform: &Engine,
    csv: &[u8],
) -> (settle_runtime::diff::Impact, Option<settle_runtime::diff::Impact>) {
    use settle_runtime::diff::{impact, impact_of_shares, share_names};
    let rows = |e: &Engine| io::read_csv_bytes(e.policy(), csv, "claims.csv").expect("read");
    let (base_rows, reform_rows) = (rows(base), rows(reform));
    let settle =
        |e: &Engine, rows: &[io::Row]| io::by_row(rows, e.settle_batch(&io::claims_of(rows)));
    let (before, after) = (settle(base, &base_rows), settle(reform, &reform_rows));
    let general = impact(base, reform, &base_rows, &before, &after, 10);
    // Each side's shares by its own names, as `settle diff` takes them.
    let shares = |e: &Engine| {
        let table = read_table(e.policy(), csv, "claims.csv").expect("read")?;
        settle_shares(e, table, &share_names(e.policy()), &|_| {})
    };
    let fast = shares(reform).map(|s| s.without_table()).and_then(|after| {
        let before = shares(base)?;
        Some(impact_of_shares(base, reform, &before, &after, 10))
    });
    (general, fast)
}

#[test]
fn an_impact_report_by_the_fast_path_is_the_general_paths() {
    // The resident policy has no large medical subsidy: a change of the payer chain.
    let files = [
        "policies/dezhou/employee_inpatient.settle",
        "examples/reforms/dezhou_without_2021_07.settle",
        "examples/reforms/dezhou_level1_deductible_200.settle",
        "policies/dezhou/resident_inpatient.settle",
    ];
    let engines: Vec<Engine> =
        files.iter().map(|f| Engine::compiled(load_file(f)).expect("compiles")).collect();
    let mut csv = Vec::new();
    settle_runtime::generate::write(engines[0].policy(), 4_000, 3, false, &mut csv)
        .expect("generated");
    let text = String::from_utf8(csv).expect("utf-8");
    let odd = hostile(engines[0].policy(), &text);
    for (b, base) in engines.iter().enumerate() {
        for (r, reform) in engines.iter().enumerate().filter(|(r, _)| *r != b) {
            for (body, errors) in [(&text, false), (&odd, true)] {
                let (general, fast) = impacts(base, reform, body.as_bytes());
                let what = format!("{} -> {}", files[b], files[r]);
                assert!(general.affected > 0, "{what}: nothing moved");
                assert_eq!(general.errors.0 > 0, errors, "{what}: error rows");
                assert_eq!(fast.as_ref(), Some(&general), "{what}");
            }
        }
    }
}

#[test]
fn the_sample_files_settle_alike() {
    let samples = [
        ("dezhou_employee.csv", "dezhou/employee_inpatient.settle"),
        ("dezhou_resident.csv", "dezhou/resident_inpatient.settle"),
        ("out_of_area.csv", "out-of-area/non_referred.settle"),
    ];
    let mut compared = 0;
    for (file, policy) in samples {
        let engine = Engine::new(policy_named(policy));
        if supported(&engine) {
            let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/claims/"));
            same(&engine, &std::fs::read(path.join(file)).expect("claims"), file);
            compared += 1;
        }
    }
    assert!(compared >= 1);
}

/// The policy whose path ends with `suffix`.
fn policy_named(suffix: &str) -> settle_lang::ir::Policy {
    policies().into_iter().find(|(n, _)| n.ends_with(suffix)).map(|(_, p)| p).expect("a policy")
}

/// `jsonl` with odd lines added: every way a line can be unusual or wrong.
fn hostile_jsonl(jsonl: &str) -> String {
    let first = jsonl.lines().next().unwrap_or("{}").to_string();
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&first).expect("an object");
    let with = |key: &str, value: serde_json::Value, id: &str| {
        let mut o = object.clone();
        o.insert("id".into(), id.into());
        match value {
            serde_json::Value::Null if key == "-" => {}
            v => {
                o.insert(key.into(), v);
            }
        }
        serde_json::to_string(&o).expect("json")
    };
    let without = |key: &str, id: &str| {
        let mut o = object.clone();
        o.insert("id".into(), id.into());
        o.remove(key);
        serde_json::to_string(&o).expect("json")
    };
    let mut odd = vec![
        String::new(),
        "   ".to_string(),
        "\u{3000}".to_string(),
        "[1,2]".to_string(),
        "{}".to_string(),
        "not json".to_string(),
        first.replacen('{', "{ ", 1).replace(':', " : ").replace(',', " ,\t"),
        first.replace("\"id\":", "\"id\":\"dup\",\"id\":"),
        first.replacen('}', ",}", 1),
        first.replacen('}', "} x", 1),
        format!("{first}\r"),
        with("member", "成员\n\"q\"\\".into(), "j1"),
        with("member", "m\u{1}\u{1f}\u{7f}".into(), "j2"),
        with("id", "c\\u0031".into(), "x"),
        with("extra", serde_json::json!({"a": [1, 2]}), "j3"),
        without("member", "j4"),
        without("id", "j5"),
        with("member", serde_json::Value::Null, "j6"),
        with("id", serde_json::Value::Null, "j7"),
    ];
    for key in object.keys().filter(|k| *k != "id" && *k != "member") {
        for (n, v) in [
            serde_json::json!(12.3),
            serde_json::json!(-5),
            serde_json::json!(1e3),
            serde_json::json!("1e3"),
            serde_json::json!(0),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!("12.30"),
            serde_json::json!(" 12.30"),
            serde_json::json!("level3"),
            serde_json::json!("2024-02-30"),
            serde_json::json!(99_999_999_999_999_999u64),
        ]
        .into_iter()
        .enumerate()
        {
            odd.push(with(key, v, &format!("k{key}{n}")));
        }
        let raw = with(key, serde_json::json!(7), &format!("r{key}"));
        for literal in ["7.50", "-0", "0.1e2", "1E+2", "01", "1.", ".5", "+1", "nul"] {
            odd.push(raw.replace(&format!("\"{key}\":7"), &format!("\"{key}\":{literal}")));
        }
    }
    // The first claim twice: a duplicate id.
    odd.push(first);
    let mut out: Vec<String> = odd;
    out.extend(jsonl.lines().map(str::to_string));
    out.join("\n") + "\n"
}

#[test]
fn json_lines_settle_alike() {
    let mut taken = 0;
    for (name, policy) in policies() {
        let jit = Engine::compiled(policy.clone()).expect("compiles");
        if !supported(&jit) {
            continue;
        }
        taken += 1;
        let mut jsonl = Vec::new();
        settle_runtime::generate::write(&policy, 2_000, 3, true, &mut jsonl).expect("generated");
        let mut csv = Vec::new();
        settle_runtime::generate::write(&policy, 2_000, 3, false, &mut csv).expect("generated");
        let text = String::from_utf8(jsonl.clone()).expect("utf-8");
        let odd = hostile_jsonl(&text);
        for (jsonl_in, jsonl_out) in [(true, true), (true, false), (false, true)] {
            let f = Formats { jsonl_in, jsonl_out };
            let input = if jsonl_in { &jsonl } else { &csv };
            same_in(&jit, input, f, &name);
            if jsonl_in {
                same_in(&jit, odd.as_bytes(), f, &format!("{name}, hostile"));
                same_in(&jit, odd.replace('\n', "\r\n").as_bytes(), f, &format!("{name}, CR LF"));
            } else {
                let hostile = hostile(&policy, &String::from_utf8(csv.clone()).expect("utf-8"));
                same_in(&jit, hostile.as_bytes(), f, &format!("{name}, hostile CSV"));
            }
        }
    }
    assert!(taken >= 3, "only {taken} policies take the fast path");
}

/// A file of JSON Lines that is not UTF-8 is left to the general reader, which refuses it.
#[test]
fn json_lines_not_utf8_are_left_to_the_general_reader() {
    let policy = policy_named("employee_inpatient.settle");
    let mut jsonl = Vec::new();
    settle_runtime::generate::write(&policy, 10, 1, true, &mut jsonl).expect("generated");
    jsonl.splice(20..20, [0xff, 0xfe]);
    let table = read_jsonl_table_from(&policy, jsonl.as_slice(), "claims.jsonl", 64);
    assert!(matches!(table, Ok(None)));
    assert!(io::read_jsonl(&policy, jsonl.as_slice(), "claims.jsonl").is_err());
}

/// Blank lines before the header, in windows of their own: the header is read from the first
/// window holding a record, as when reading the file whole (found by the `batch` fuzz target).
#[test]
fn blank_lines_before_the_header_read_as_a_whole_file() {
    let policy = policy_named("employee_inpatient.settle");
    let engine = Engine::new(policy.clone());
    let mut csv = b"\n\r\n\n".to_vec();
    settle_runtime::generate::write(&policy, 20, 1, false, &mut csv).expect("generated");
    let mut bad = b"\n\n\n$\xf7".to_vec();
    bad.extend(std::iter::repeat_n(0x8a, 88));
    for body in [csv.as_slice(), bad.as_slice(), b"\n\n\r\n".as_slice(), b"".as_slice()] {
        let whole = read_table(engine.policy(), body, "claims.csv").map(|t| t.map(|t| t.len()));
        for window in 1..8 {
            let windows = read_table_from(engine.policy(), body, "claims.csv", window)
                .map(|t| t.map(|t| t.len()));
            match (&whole, &windows) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "window {window}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "window {window}"),
                _ => panic!("window {window}: {whole:?} / {windows:?}"),
            }
        }
    }
    same(&engine, &csv, "blank lines first");
}

/// Texts longer than a row's slot go to the arena, however long.
#[test]
fn a_huge_text_is_read_as_the_general_path_reads_it() {
    let policy = policy_named("employee_inpatient.settle");
    let mut csv = Vec::new();
    settle_runtime::generate::write(&policy, 10, 1, false, &mut csv).expect("generated");
    let text = String::from_utf8(csv).expect("utf-8");
    let huge = "x".repeat(2 << 20);
    let body = text.replacen("\ng0000003,", &format!("\n{huge},"), 1);
    assert_ne!(body, text);
    let engine = Engine::new(policy);
    let long = body.replacen("\ng0000005,", "\nclaim-with-an-id-longer-than-its-slot,", 1);
    assert_ne!(long, body);
    same(&engine, body.as_bytes(), "a 2 MiB id");
    same(&engine, long.as_bytes(), "a long id");
}

/// A policy reading a field of every type the fast path takes.
const EVERY_TYPE: &str = include_str!("support/every_type.settle");

fn every_type() -> Engine {
    Engine::new(settle_runtime::load_str("every_type.settle", EVERY_TYPE).expect("checks"))
}

const EVERY_HEADER: &str = "id,member,date,level,total,share,days,referred,note\n";

/// Claims as users paste them: a byte order mark, tabs, vertical tabs, form feeds, no-break and
/// ideographic spaces around cells, full-width digits. Both paths read every cell alike: the
/// member `m1` with a vertical tab after it is `m1` on both.
#[test]
fn pasted_spaces_read_alike_on_both_paths() {
    let engine = every_type();
    let cells = [
        "c1,m1,2024-03-01,level1,100.00,50%,1,yes,a",
        "c2,m1\u{b},2024-03-02,level2,100.00,50%,1,no,b",
        "\u{a0}c3,\tm1 ,\u{3000}2024-03-03,一级\u{c},\u{feff}200,0.5\u{b},\u{85}2,是, 张 三 ",
        "c4,m2,2024-03-04,level1,１００.00,50%,1,no,x",
        "c5,m2,2024-03-05,level1,100.00,５0%,1,no,x",
        "c6,m2,2024-03-06,level1,100.00,50%,３,no,x",
        "c7,m2\u{2028},2024-03-07,level1,\"1,000.5\",50 %,1,\u{a0}NO\u{a0},x",
        "c8,m2,2024-03-08,level1,100,50%,1,no,\u{b}",
        "\u{b},m2,2024-03-09,level1,100,50%,1,no,x",
        "c9,\u{feff},2024-03-09,level1,100,50%,1,no,x",
    ];
    let body = format!("\u{feff}{EVERY_HEADER}{}\n", cells.join("\n"));
    same(&engine, body.as_bytes(), "pasted spaces");
    same(&engine, body.replace('\n', "\r\n").as_bytes(), "pasted spaces, CR LF");
    let rows = io::read_csv_bytes(engine.policy(), body.as_bytes(), "claims.csv").expect("read");
    let members: Vec<String> = rows
        .iter()
        .map(|r| match r {
            io::Row::Claim(c) => format!("{}", c.fields[1]),
            io::Row::Error(e) => format!("{e}"),
        })
        .collect();
    assert_eq!(&members[..3], ["m1", "m1", "m1"], "{members:?}");
    assert!(members[3].starts_with("line 5, field `total`: `１００.00` has full-width"));
    assert!(members[4].starts_with("line 6, field `share`: `５0%` has full-width"));
    assert!(members[5].starts_with("line 7, field `days`: `３` has full-width"));
    assert_eq!(members[6], "m2");
    assert_eq!(members[8], "line 10, field `id`: empty");
    assert_eq!(members[9], "line 11, field `member`: empty");
}

/// Cells at and beyond the bounds of money (10^15 yuan) and rates (±10^9), and numbers too long
/// for any integer: claims at a bound, error rows naming line and field beyond, alike on both
/// paths and in CSV and JSON Lines.
#[test]
fn cells_beyond_a_bound_are_error_rows_on_both_paths() {
    let engine = every_type();
    let cells = [
        "c1,m1,2024-03-01,level1,1000000000000000,0.000001,1,no,x",
        "c2,m1,2024-03-02,level1,1000000000000000.01,50%,1,no,x",
        "c3,m1,2024-03-03,level1,999999999999999999.9,50%,1,no,x",
        "c4,m1,2024-03-04,level1,99999999999999999999999999999999999999999,50%,1,no,x",
        "c5,m2,2024-03-05,level1,100,1000000000,1,no,x",
        "c6,m2,2024-03-06,level1,100,1000000000.000001,1,no,x",
        "c7,m2,2024-03-07,level1,100,80000000000000000000000,1,no,x",
        "c8,m2,2024-03-08,level1,100,-100000000000%,1,no,x",
        "c9,m2,2024-03-09,level1,100,-100000000000.01%,1,no,x",
        "c10,m3,2024-03-10,level1,100,50%,9223372036854775807,no,x",
        "c11,m3,2024-03-11,level1,100,50%,9223372036854775808,no,x",
        "c12,m3,2024-03-12,level1,0.01,0.000001,-9223372036854775808,no,x",
    ];
    let body = format!("{EVERY_HEADER}{}\n", cells.join("\n"));
    same(&engine, body.as_bytes(), "bounds");
    let rows = io::read_csv_bytes(engine.policy(), body.as_bytes(), "claims.csv").expect("read");
    let errors: Vec<String> = rows
        .iter()
        .filter_map(|r| match r {
            io::Row::Error(e) => Some(e.to_string()),
            io::Row::Claim(_) => None,
        })
        .collect();
    assert_eq!(
        errors,
        [
            "line 3, field `total`: `1000000000000000.01` is beyond 10^15 yuan",
            "line 4, field `total`: `999999999999999999.9` is beyond 10^15 yuan",
            "line 5, field `total`: `99999999999999999999999999999999999999999` is beyond 10^15 yuan",
            "line 7, field `share`: `1000000000.000001` is beyond ±10^9 (rates are bounded like money)",
            "line 8, field `share`: `80000000000000000000000` is beyond ±10^9 (rates are bounded like money)",
            "line 10, field `share`: `-100000000000.01%` is beyond ±10^9 (rates are bounded like money)",
            "line 12, field `days`: `9223372036854775808` is not a whole number",
        ]
    );
    // The same cells as JSON Lines, numbers as JSON numbers.
    let header: Vec<&str> = EVERY_HEADER.trim().split(',').collect();
    let jsonl: String = cells
        .iter()
        .map(|line| {
            let pairs: Vec<String> = header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| match *k {
                    "total" | "days" => format!("\"{k}\":{v}"),
                    _ => format!("\"{k}\":\"{v}\""),
                })
                .collect();
            format!("{{{}}}\n", pairs.join(","))
        })
        .collect();
    for jsonl_out in [false, true] {
        same_in(&engine, jsonl.as_bytes(), Formats { jsonl_in: true, jsonl_out }, "bounds, JSON");
    }
}

mod random_bodies {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of CSV bodies: valid-looking cells, odd ones, quotes, separators, line ends.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(",".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\r".to_string()),
            Just("\"".to_string()),
            Just("\"\"".to_string()),
            Just(" ".to_string()),
            Just("2021-03-04".to_string()),
            Just("2024-02-29".to_string()),
            Just("level1".to_string()),
            Just("level3".to_string()),
            Just("-1.5".to_string()),
            Just("12.34".to_string()),
            Just("é".to_string()),
            Just("c1".to_string()),
            Just("m1".to_string()),
            "[0-9]{1,6}(\\.[0-9]{1,3})?",
            "[a-z]{1,4}",
        ]
    }

    fn row() -> impl Strategy<Value = String> {
        prop_oneof![
            // A plausible claim with one cell possibly replaced.
            (0usize..10, token(), 0u32..40).prop_map(|(k, t, n)| {
                let mut cells = vec![
                    format!("c{n}"),
                    format!("m{}", n % 5),
                    format!("2021-0{}-1{}", 1 + n % 9, n % 10),
                    ["level1", "level2", "level3"][(n % 3) as usize].to_string(),
                    format!("{}.{:02}", 100 + n * 37, n % 100),
                    "0.00".to_string(),
                    format!("{}", n * 3),
                    format!("{}", n * 2),
                    "1.5".to_string(),
                    format!("{}", n % 4),
                ];
                if k < cells.len() && n % 3 == 0 {
                    cells[k] = t;
                }
                cells.join(",") + "\n"
            }),
            // Anything.
            prop::collection::vec(token(), 0..20).prop_map(|t| t.concat()),
        ]
    }

    /// Pieces of JSON lines: keys of the Dezhou input, values plain and odd, separators.
    fn json_token() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("\"id\":".to_string()),
            Just("\"member\":".to_string()),
            Just("\"total\":".to_string()),
            Just("\"level\":\"level2\"".to_string()),
            Just("\"admitted\":\"2021-03-04\"".to_string()),
            "-?[0-9]{1,4}(\\.[0-9]{1,3})?([eE][+-]?[0-9])?",
            "\"[a-z0-9é]{0,5}\"",
        ]
    }

    fn json_line() -> impl Strategy<Value = String> {
        prop_oneof![
            // A plausible claim with one value possibly replaced.
            (0usize..10, json_token(), 0u32..40).prop_map(|(k, t, n)| {
                let mut values = vec![
                    format!("\"c{n}\""),
                    format!("\"m{}\"", n % 5),
                    format!("\"2021-0{}-1{}\"", 1 + n % 9, n % 10),
                    format!("\"level{}\"", 1 + n % 3),
                    format!("{}.{:02}", 100 + n * 37, n % 100),
                    "\"0.00\"".to_string(),
                    format!("{}", n * 3),
                    format!("{}", n * 2),
                    "\"1.5\"".to_string(),
                    format!("\"{}\"", n % 4),
                ];
                if n % 3 == 0 {
                    values[k] = t;
                }
                let keys = [
                    "id",
                    "member",
                    "admitted",
                    "level",
                    "total",
                    "self_paid",
                    "prepay",
                    "special_drugs",
                    "tcm",
                    "rare_disease_drugs",
                ];
                let pairs: Vec<String> =
                    keys.iter().zip(&values).map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}\n", pairs.join(","))
            }),
            // Anything.
            prop::collection::vec(json_token(), 0..20).prop_map(|t| t.concat()),
        ]
    }

    /// Spaces users paste around a cell: tabs, vertical tabs, form feeds, no-break, ideographic
    /// and other Unicode spaces, a byte order mark; or none.
    fn pasted_space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "", "", "", " ", "\t", "\u{b}", "\u{c}", "\u{a0}", "\u{feff}", "\u{3000}", "\u{85}",
            "\u{2028}", "\u{202f}", "\u{200b}", "\u{1680}",
        ])
    }

    /// A cell of column `column` of [`EVERY_HEADER`]: a plain value, or one at or beyond a bound,
    /// in full-width digits, with separators, or otherwise odd.
    fn cell(column: usize) -> BoxedStrategy<String> {
        let pick = |v: Vec<&'static str>| prop::sample::select(v).prop_map(str::to_string).boxed();
        match column {
            0 => (0u32..30).prop_map(|n| format!("c{n}")).boxed(),
            1 => pick(vec!["m1", "m2", "m3", "张三", "", "m 1"]),
            2 => pick(vec![
                "2024-03-01",
                "2024-02-29",
                "2023-02-29",
                "２０２４-03-01",
                "2024-3-1",
                "",
                "0001-01-01",
                "9999-12-31",
                "0000-12-31",
                "10000-01-01",
                "2024-+1-01",
            ]),
            3 => pick(vec!["level1", "level2", "一级", "二级", "level3", "Level1", ""]),
            4 => pick(vec![
                "100.00",
                "0",
                "-0",
                "0.01",
                "12.5",
                "7.",
                ".5",
                "1,234.50",
                "1_234",
                "+3",
                "1000000000000000",
                "1000000000000000.00",
                "1000000000000000.01",
                "999999999999999999.9",
                "99999999999999999999999999999999999999999",
                "-0.01",
                "1.005",
                "1.500",
                "1e3",
                "１００",
                "100。00",
                "",
                "1,",
                "1,.5",
            ]),
            5 => pick(vec![
                "50%",
                "0.5",
                "50 %",
                "-0.5",
                "0.000001",
                "0.0000001",
                "12.3456%",
                "12.34567%",
                "1000000000",
                "1000000000.000001",
                "-1000000000",
                "100000000000%",
                "80000000000000000000000",
                "７5%",
                "5％",
                "1e2",
                "",
                "%",
            ]),
            6 => pick(vec![
                "1",
                "0",
                "-3",
                "+4",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "1.5",
                "３",
                "",
            ]),
            7 => pick(vec!["yes", "no", "TRUE", "0", "1", "是", "否", "y", "maybe", ""]),
            _ => pick(vec!["a", "", "张 三", "x,y", "\"q\""]),
        }
    }

    /// A record of [`EVERY_HEADER`]'s columns, each cell with pasted spaces around it.
    fn pasted_record() -> impl Strategy<Value = Vec<String>> {
        (0..9usize)
            .map(|c| {
                (pasted_space(), cell(c), pasted_space())
                    .prop_map(|(a, v, b)| format!("{a}{v}{b}"))
                    .boxed()
            })
            .collect::<Vec<_>>()
    }

    /// A record as a CSV line: a cell holding a comma, a quote or a line end quoted.
    fn csv_line(cells: &[String]) -> String {
        let quoted: Vec<String> = cells
            .iter()
            .map(|c| {
                if c.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        quoted.join(",") + "\n"
    }

    /// A record as a JSON line: every cell a string, except numbers left as JSON writes them.
    fn json_line_of(cells: &[String]) -> String {
        let header: Vec<&str> = EVERY_HEADER.trim().split(',').collect();
        let mut object = serde_json::Map::new();
        for (k, v) in header.iter().zip(cells) {
            let number = matches!(*k, "total" | "share" | "days")
                .then(|| serde_json::from_str::<serde_json::Number>(v).ok())
                .flatten();
            let value =
                number.map_or(serde_json::Value::String(v.clone()), serde_json::Value::Number);
            object.insert((*k).to_string(), value);
        }
        serde_json::to_string(&object).expect("json") + "\n"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// Cells as users paste them and at every bound read, settle and write alike by the
        /// general path and the fast path, from CSV and from JSON Lines, with or without a byte
        /// order mark.
        #[test]
        fn pasted_cells_settle_alike(
            records in prop::collection::vec(pasted_record(), 1..30),
            bom in any::<bool>(),
            window in 1usize..400,
        ) {
            static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
            let engine = ENGINE.get_or_init(every_type);
            let bom = if bom { "\u{feff}" } else { "" };
            let csv = format!("{bom}{EVERY_HEADER}{}", records.iter().map(|r| csv_line(r)).collect::<String>());
            let a = general_in(engine, csv.as_bytes(), CSV);
            for window in [settle_runtime::batch::WINDOW, window] {
                let b = fast_in(engine, csv.as_bytes(), CSV, window).expect("taken");
                prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            }
            let jsonl: String = records.iter().map(|r| json_line_of(r)).collect();
            let jsonl = format!("{bom}{jsonl}");
            let f = Formats { jsonl_in: true, jsonl_out: false };
            let a = general_in(engine, jsonl.as_bytes(), f);
            let b = fast_in(engine, jsonl.as_bytes(), f, window).expect("taken");
            prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn any_json_lines_settle_alike(lines in prop::collection::vec(json_line(), 0..40), window in 1usize..300) {
            static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
            let engine = ENGINE.get_or_init(|| {
                Engine::new(policy_named("employee_inpatient.settle"))
            });
            let body = lines.concat();
            for jsonl_out in [true, false] {
                let f = Formats { jsonl_in: true, jsonl_out };
                let a = general_in(engine, body.as_bytes(), f);
                let b = fast_in(engine, body.as_bytes(), f, window).expect("taken");
                prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        #[test]
        fn any_body_settles_alike(rows in prop::collection::vec(row(), 0..60), window in 1usize..300) {
            static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
            let engine = ENGINE.get_or_init(|| {
                Engine::new(policy_named("employee_inpatient.settle"))
            });
            let csv = format!("id,member,admitted,level,total,self_paid,prepay,special_drugs,tcm,rare_disease_drugs\n{}", rows.concat());
            let a = general_in(engine, csv.as_bytes(), CSV);
            for window in [settle_runtime::batch::WINDOW, window] {
                let b = fast_in(engine, csv.as_bytes(), CSV, window).expect("taken");
                prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            }
        }
    }
}
