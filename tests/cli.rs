//! The `settle` command as users and CI run it: exit codes, output formats, files written.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::settle;

fn scratch(name: &str) -> PathBuf {
    support::scratch("cli-tests", name)
}

const BROKEN: &str = "policy broken.example
input claim { id: text, member: text, date: date, total: money }
param ratio: rate = 85
stage basic (pay: money) {
    pay = claim.total * ratoi
}
balance claim.total = basic.pay
";

#[test]
fn check_exits_zero_on_a_clean_policy() {
    let out = settle(&["check", "examples/sketch.settle"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sketch.settle: ok"));
}

#[test]
fn check_exits_one_on_errors_and_reports_them_all_as_json() {
    let dir = scratch("json");
    let file = dir.join("broken.settle");
    std::fs::write(&file, BROKEN).expect("write");
    let out = settle(&["check", "--format", "json", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    let codes: Vec<&str> = json["files"][0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["settle::type::rate_literal", "settle::name::unknown"]);
    assert_eq!(json["errors"], 2);
    let first = &json["files"][0]["problems"][0];
    assert_eq!(first["range"]["line"], 3);
    assert_eq!(first["range"]["column"], 21);
    assert_eq!(first["help"], "write rates with `%`: `85%`");
}

#[test]
fn check_exits_two_when_a_file_cannot_be_read() {
    let out = settle(&["check", "no/such/policy.settle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(settle(&["check"]).status.code(), Some(2));
    assert_eq!(settle(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn warnings_fail_only_when_denied() {
    let dir = scratch("warnings");
    let file = dir.join("unused.settle");
    let text = std::fs::read_to_string("examples/sketch.settle").expect("sketch")
        + "\nparam unused_bonus: rate = 5%\n";
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    assert_eq!(settle(&["check", path]).status.code(), Some(0));
    assert_eq!(settle(&["check", "--deny-warnings", path]).status.code(), Some(1));
}

#[test]
fn fmt_rewrites_a_file_and_check_mode_reports_it() {
    let dir = scratch("fmt");
    let file = dir.join("messy.settle");
    let messy = std::fs::read_to_string("examples/sketch.settle")
        .expect("sketch")
        .replace("    pay = min(", "pay=min(")
        .replace("yearly admissions = count()", "yearly   admissions=count( )");
    std::fs::write(&file, &messy).expect("write");
    let path = file.to_str().expect("utf-8 path");
    assert_eq!(settle(&["fmt", "--check", path]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), messy, "--check must not write");
    assert_eq!(settle(&["fmt", path]).status.code(), Some(0));
    let formatted = std::fs::read_to_string(&file).expect("read");
    assert_eq!(formatted, std::fs::read_to_string("examples/sketch.settle").expect("sketch"));
    assert_eq!(settle(&["fmt", "--check", path]).status.code(), Some(0));
}

#[test]
fn fmt_refuses_a_file_with_syntax_errors_and_leaves_it_alone() {
    let dir = scratch("fmt-broken");
    let file = dir.join("broken.settle");
    let text = "policy a\nlet x = (1 +\n";
    std::fs::write(&file, text).expect("write");
    let out = settle(&["fmt", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
}

#[test]
fn check_reports_invalid_utf8_without_crashing() {
    let dir = scratch("utf8");
    let file = dir.join("latin1.settle");
    std::fs::write(&file, b"policy caf\xe9\n").expect("write");
    let out = settle(&["check", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settle::syntax::invalid_utf8"));
}

#[test]
fn an_unwritable_output_fails_before_any_work() {
    let out = settle(&[
        "run",
        "policies/dezhou/employee_inpatient.settle",
        "--claims",
        "no/such/claims.csv",
        "--out",
        "/nonexistent-directory/settlements.csv",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write `/nonexistent-directory/settlements.csv`"), "{stderr}");
    assert!(!stderr.contains("claims.csv"), "the claims were read first: {stderr}");
}

/// SIGTERM, as a scheduler stops a job, lands while the run is provably in progress: its claims
/// come through a named pipe this test holds open, and its temporary output already exists. The
/// handler must remove the temporary file and exit 130; the previous output stays.
#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_the_previous_output_and_no_partial_file() {
    use std::io::Write;
    let dir = scratch("interrupted");
    let claims = dir.join("claims.csv");
    let target = dir.join("settlements.csv");
    let made = Command::new("mkfifo").arg(&claims).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    std::fs::write(&target, "previous\n").expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args([
            "run",
            "policies/dezhou/employee_inpatient.settle",
            "--claims",
            claims.to_str().expect("path"),
            "--out",
            target.to_str().expect("path"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    // Opening the pipe for writing waits for the run to open it for reading.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&claims).expect("the pipe");
    let sample = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/claims/dezhou_employee.csv"),
    )
    .expect("sample claims");
    pipe.write_all(&sample).expect("claims written");
    pipe.flush().expect("flushed");
    let partial = || {
        std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .count()
    };
    let waited = std::time::Instant::now();
    while partial() == 0 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "the run never started its output"
        );
        assert_eq!(child.try_wait().expect("status"), None, "the run ended with its input open");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The pipe is still open: the run cannot have finished reading, let alone written.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("exits");
    drop(pipe);
    assert_eq!(status.code(), Some(130), "the handler's exit, not a default death: {status:?}");
    let content = std::fs::read_to_string(&target).expect("the target exists");
    assert_eq!(content, "previous\n");
    assert_eq!(partial(), 0, "the partial file was left behind");
}

/// The sample claims settled with `--out out`, checked to succeed: what the run printed, and
/// the settlements a run without `--out` prints, to compare with what reached `out`.
fn sample_to(out: &str) -> (Vec<u8>, Vec<u8>) {
    let run = ["run", "policies/dezhou/employee_inpatient.settle", "--claims"];
    let claims = "examples/claims/dezhou_employee.csv";
    let written = settle(&[&run[..], &[claims, "--out", out]].concat());
    assert_eq!(written.status.code(), Some(0), "{}", String::from_utf8_lossy(&written.stderr));
    (written.stdout, settle(&[&run[..], &[claims]].concat()).stdout)
}

/// An output that exists and is not a regular file (a named pipe here, `/dev/null` as often) is
/// written through: a file renamed over it would replace the pipe or device itself.
#[cfg(unix)]
#[test]
fn an_output_that_is_a_pipe_is_written_through_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("pipe");
    let pipe = dir.join("settlements.csv");
    let _ = std::fs::remove_file(&pipe);
    let made = Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::read(pipe).expect("the pipe reads"))
    };
    let (_, expected) = sample_to(pipe.to_str().expect("path"));
    // Before reading: a replaced pipe would leave the reader waiting for a writer forever.
    let kind = std::fs::symlink_metadata(&pipe).expect("still there").file_type();
    assert!(kind.is_fifo(), "the pipe was replaced by {kind:?}");
    assert_eq!(reader.join().expect("the reader"), expected);
}

/// `--out /dev/stdout` into a pipe (as a test harness or `| head` reads it) writes the pipe:
/// `/dev/stdout` is a link to a link to the pipe, and neither is replaced.
#[cfg(target_os = "linux")]
#[test]
fn an_output_of_dev_stdout_into_a_pipe_writes_the_pipe() {
    let (printed, expected) = sample_to("/dev/stdout");
    assert_eq!(printed, expected);
}

/// An output that is a symbolic link is written to the file it points to; the link stays.
#[cfg(unix)]
#[test]
fn an_output_that_is_a_link_writes_the_file_it_points_to() {
    let dir = scratch("link");
    let (file, link) = (dir.join("settlements.csv"), dir.join("latest.csv"));
    std::fs::write(&file, "previous\n").expect("write");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("settlements.csv", &link).expect("symlink");
    let (_, expected) = sample_to(link.to_str().expect("path"));
    let kind = std::fs::symlink_metadata(&link).expect("still there").file_type();
    assert!(kind.is_symlink(), "the link was replaced by {kind:?}");
    assert_eq!(std::fs::read(&file).expect("the file"), expected);
}

#[test]
fn extra_columns_are_ignored() {
    let dir = scratch("extra-columns");
    let claims = dir.join("claims.csv");
    let original = std::fs::read_to_string("examples/claims/dezhou_employee.csv").expect("sample");
    let widened: String = original
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("{l},note\n") } else { format!("{l},x\n") })
        .collect();
    std::fs::write(&claims, widened).expect("write");
    let run = |file: &str| {
        let out = settle(&["run", "policies/dezhou/employee_inpatient.settle", "--claims", file]);
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    assert_eq!(run(claims.to_str().expect("path")), run("examples/claims/dezhou_employee.csv"));
}

#[test]
fn a_killed_runs_partial_file_is_removed_by_the_next_run() {
    let dir = scratch("killed");
    let target = dir.join("settlements.csv");
    // What a run killed with SIGKILL leaves: a temporary file of a process that no longer exists.
    let stale = dir.join(".settlements.csv.4194303999.partial");
    std::fs::write(&stale, "half a file").expect("write");
    let out = settle(&[
        "run",
        "policies/dezhou/employee_inpatient.settle",
        "--claims",
        "examples/claims/dezhou_employee.csv",
        "--out",
        target.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stale.exists(), "the stale partial file is still there");
    assert_eq!(std::fs::read_to_string(&target).expect("written").lines().count(), 15);
}

#[test]
fn read_only_reports_input_errors_and_settles_nothing() {
    let policy = "policies/dezhou/employee_inpatient.settle";
    let clean =
        settle(&["run", policy, "--claims", "examples/claims/dezhou_employee.csv", "--read-only"]);
    let text = String::from_utf8_lossy(&clean.stderr);
    assert_eq!(clean.status.code(), Some(0), "{text}");
    assert!(text.contains("errors   0"), "{text}");
    assert!(clean.stdout.is_empty(), "settlements were written");

    let dir = scratch("read-only");
    let claims = dir.join("claims.csv");
    let original = std::fs::read_to_string("examples/claims/dezhou_employee.csv").expect("sample");
    let broken = original.replacen("level2,18000.00", "level9,18000.00", 1)
        + "c999,m01,2021-02-30,level1,1.00,0,0,0,0,0\n";
    std::fs::write(&claims, broken).expect("written");
    for threads in ["1", "2"] {
        let out = settle(&[
            "run",
            policy,
            "--claims",
            claims.to_str().expect("path"),
            "--read-only",
            "--threads",
            threads,
        ]);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("line 2") && text.contains("level9"), "{text}");
        assert!(text.contains("2021-02-30"), "{text}");
        assert!(text.contains("errors   2"), "{text}");
    }
}

/// `--max-error-rows N` fails the run (exit 1) past N error rows, after writing every row.
#[test]
fn a_run_past_the_error_row_limit_fails_after_writing() {
    let dir = scratch("max-errors");
    let claims = dir.join("claims.csv");
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/claims/dezhou_employee.csv"),
    )
    .expect("sample");
    // Two error rows: an amount finer than a fen, a date before any parameter is in force.
    let bad = "x1,m1,2021-02-03,level2,10.001,0,0,0,0\nx2,m1,1990-01-01,level2,10.00,0,0,0,0\n";
    std::fs::write(&claims, format!("{sample}{bad}")).expect("claims");
    let out = dir.join("out.csv");
    for backend in ["jit", "interp"] {
        let run = |max: &str| {
            let _ = std::fs::remove_file(&out);
            settle(&[
                "run",
                "policies/dezhou/employee_inpatient.settle",
                "--claims",
                claims.to_str().expect("path"),
                "--out",
                out.to_str().expect("path"),
                "--backend",
                backend,
                "--max-error-rows",
                max,
            ])
        };
        let over = run("1");
        assert_eq!(over.status.code(), Some(1), "{backend}");
        assert!(
            String::from_utf8_lossy(&over.stderr).contains("2 error rows, more than the 1"),
            "{}",
            String::from_utf8_lossy(&over.stderr)
        );
        let written = std::fs::read_to_string(&out).expect("every row written");
        assert_eq!(written.lines().count(), 1 + 14 + 2);
        assert_eq!(run("2").status.code(), Some(0), "{backend}: at the limit");
    }
}

/// A file that cannot be read is a usage error (2) for `settle test` as for every command; an
/// output flag that `--snapshot` does not honour is refused, not ignored.
#[test]
fn test_exit_codes_and_refused_flags() {
    let missing = settle(&["test", "no/such/policy.settle"]);
    assert_eq!(missing.status.code(), Some(2));
    let dir = scratch("refused");
    let d = dir.to_str().expect("path");
    for extra in [["--junit", "x.xml"], ["--format", "json"]] {
        let mut args = vec![
            "test",
            "policies/dezhou/employee_inpatient.settle",
            "--claims",
            "examples/claims/dezhou_employee.csv",
            "--snapshot",
            d,
        ];
        args.extend(extra);
        let out = settle(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"), "{extra:?}");
    }
}

/// A cell beyond a bound of its type (money past 10^15 yuan, a rate past 10^9) is an error row
/// naming its line and field, under either backend and from CSV or JSON Lines: the other claims
/// settle, and the run succeeds.
#[test]
fn a_cell_beyond_a_bound_is_an_error_row_under_both_backends() {
    let dir = scratch("beyond-a-bound");
    let policy = dir.join("bounds.settle");
    std::fs::write(
        &policy,
        "policy bounds.example\n\
         input claim { id: text, member: text, date: date, total: money, share: rate }\n\
         stage basic (pay: money) { pay = claim.total * claim.share }\n\
         stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }\n\
         balance claim.total = basic.pay + patient.out_of_pocket\n",
    )
    .expect("write");
    let csv = dir.join("claims.csv");
    std::fs::write(
        &csv,
        "id,member,date,total,share\n\
         c1,m1,2024-03-01,100.00,50%\n\
         c2,m1,2024-03-02,999999999999999999.9,50%\n\
         c3,m2,2024-03-03,100.00,80000000000000000000000\n\
         c4,m2,2024-03-04,200.00,0.5\n",
    )
    .expect("write");
    let jsonl = dir.join("claims.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":\"c1\",\"member\":\"m1\",\"date\":\"2024-03-01\",\"total\":100,\"share\":\"50%\"}\n\
         {\"id\":\"c2\",\"member\":\"m1\",\"date\":\"2024-03-02\",\"total\":999999999999999999.9,\"share\":\"50%\"}\n\
         {\"id\":\"c3\",\"member\":\"m2\",\"date\":\"2024-03-03\",\"total\":100,\"share\":80000000000000000000000}\n\
         {\"id\":\"c4\",\"member\":\"m2\",\"date\":\"2024-03-04\",\"total\":200,\"share\":0.5}\n",
    )
    .expect("write");
    let (money, rate) = (
        "line 3, field `total`: `999999999999999999.9` is beyond 10^15 yuan",
        "line 4, field `share`: `80000000000000000000000` is beyond ±10^9",
    );
    for (claims, first) in [(&csv, 2), (&jsonl, 1)] {
        for backend in ["jit", "interp"] {
            let out = settle(&[
                "run",
                policy.to_str().expect("path"),
                "--claims",
                claims.to_str().expect("path"),
                "--backend",
                backend,
            ]);
            let (stdout, stderr) =
                (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(0), "{backend}: {stderr}");
            let rows: Vec<&str> = stdout.lines().skip(1).collect();
            assert_eq!(rows.len(), 4, "{backend}: {stdout}");
            let row = |i: usize| rows.get(i).copied().unwrap_or_default();
            let line = |n: usize| n + first - 2;
            assert!(row(0).starts_with(&format!("{},c1,m1,ok,", line(2))), "{stdout}");
            let money = money.replace("line 3", &format!("line {}", line(3)));
            let rate = rate.replace("line 4", &format!("line {}", line(4)));
            assert!(row(1).contains(",error,") && row(1).contains(&money), "{backend}: {stdout}");
            assert!(row(2).contains(",error,") && row(2).contains(&rate), "{backend}: {stdout}");
            assert!(row(3).starts_with(&format!("{},c4,m2,ok,", line(5))), "{stdout}");
        }
    }
}

/// A policy whose test reaches some of its branches, for `settle test --coverage`.
const COVERED: &str = r#"policy cov.example
dated by claim.date

enum Level { low, high }

input claim { id: text, member: text, date: date, level: Level, total: money }

yearly visits = count()

param deductible: money by Level
    from 2024-01-01 { low: 100, high: 200 }
    from 2025-01-01 { low: 150, high: 250 }

param ratio: scale = { 0 .. 1_000: 50%, 1_000 ..: 80% }

rule due: money
    default deductible[claim.level]
    when visits == 1 -> 0
    when visits >= 2 -> 1

stage basic (pay: money) {
    pay = segmented(ratio, max(claim.total - due, 0))
}

stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}

balance claim.total = basic.pay + patient.out_of_pocket

test "one low visit" {
    claim a { member: "m", date: 2024-03-01, level: low, total: 600 }
    claim b { member: "m", date: 2024-04-01, level: low, total: 600 }
    expect a.basic.pay == 250.00  // (600 - 100) * 50%
    expect b.basic.pay == 300.00  // 600 * 50%: the 2nd visit pays no deductible
}
"#;

/// `--coverage` names what the tests do not reach, by line, in text, JSON and LCOV; a test
/// added for an exception makes it reached.
#[test]
fn coverage_names_what_the_tests_do_not_reach() {
    let dir = scratch("coverage");
    let policy = dir.join("cov.settle");
    std::fs::write(&policy, COVERED).expect("write");
    let lcov = dir.join("lcov.info");
    let p = policy.to_str().expect("path");
    let out = settle(&[
        "test",
        p,
        "--coverage",
        "--format",
        "json",
        "--lcov",
        lcov.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = json["files"][0]["coverage"]["items"].as_array().expect("items");
    let missing: Vec<(String, u64)> = items
        .iter()
        .filter(|i| i["reached"] == false)
        .map(|i| (i["name"].as_str().expect("name").to_string(), i["line"].as_u64().expect("line")))
        .collect();
    let expected = [
        ("rule `due`: when visits >= 2", 19),
        ("param `deductible`[high] from 2024-01-01", 11),
        ("param `deductible` from 2025-01-01", 12),
        ("param `deductible`[low] from 2025-01-01", 12),
        ("param `deductible`[high] from 2025-01-01", 12),
        ("param `ratio`: 1000 and above", 14),
        ("stage `patient`", 25),
    ];
    let expected: Vec<(String, u64)> =
        expected.iter().map(|(n, l)| ((*n).to_string(), *l)).collect();
    assert_eq!(missing, expected);
    assert_eq!(items.len(), 14);
    let info = std::fs::read_to_string(&lcov).expect("lcov written");
    assert!(
        info.contains("DA:19,0\n") && info.contains("DA:18,1\n") && info.contains("DA:16,1\n"),
        "{info}"
    );
    // A third visit reaches the second exception; a bill past 1,000 the upper bracket.
    let more = COVERED.replace(
        "    expect a.basic.pay",
        "    claim c { member: \"m\", date: 2024-05-01, level: low, total: 2_000 }\n    expect c.basic.pay == 1_299.20  // the 3rd visit: due 1; 1,000 * 50% + 999 * 80% = 500 + 799.20\n    expect a.basic.pay",
    );
    std::fs::write(&policy, more).expect("write");
    let text = settle(&["test", p, "--coverage"]);
    let report = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(0), "{report}");
    assert!(report.contains("exceptions              2 of 2"), "{report}");
    assert!(report.contains("scale brackets          2 of 2"), "{report}");
    assert!(!report.contains("when visits >= 2"), "{report}");
}

/// The common slips get a hint, one `--format` vocabulary serves every command, directories
/// and `-` stand for files, and colour follows `--color`.
#[test]
fn terminal_conventions() {
    let slip = settle(&[
        "run",
        "policies/dezhou/employee_inpatient.settle",
        "examples/claims/dezhou_employee.csv",
    ]);
    assert_eq!(slip.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&slip.stderr)
            .contains("hint: claims are given with `--claims`: `settle run ... --claims examples/claims/dezhou_employee.csv`"),
        "{}",
        String::from_utf8_lossy(&slip.stderr)
    );
    for format in ["text", "human"] {
        let out = settle(&["check", "--format", format, "policies/taiyuan"]);
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("two_diseases_outpatient.settle: ok")
        );
    }
    let all = settle(&["check", "policies"]);
    assert_eq!(all.status.code(), Some(0));
    let checked =
        String::from_utf8_lossy(&all.stderr).lines().filter(|l| l.ends_with(": ok")).count();
    let files = std::fs::read_dir("policies")
        .expect("dir")
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).map(|f| f.count()).unwrap_or(0))
        .sum::<usize>();
    assert_eq!(checked, files, "every policy under the directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["check", "-"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(BROKEN.as_bytes()).expect("written");
    }
    let piped = child.wait_with_output().expect("exits");
    assert_eq!(piped.status.code(), Some(1), "the broken policy from standard input");
    assert!(String::from_utf8_lossy(&piped.stderr).contains("ratoi"));
    let dir = scratch("color");
    let file = dir.join("broken.settle");
    std::fs::write(&file, BROKEN).expect("write");
    let f = file.to_str().expect("path");
    let tested = settle(&["test", "policies/taiyuan"]);
    assert_eq!(tested.status.code(), Some(0), "settle test takes a directory");
    assert!(String::from_utf8_lossy(&tested.stdout).contains("two_diseases_outpatient.settle"));
    let ignored = settle(&[
        "run",
        "policies/taiyuan/two_diseases_outpatient.settle",
        "--claims",
        "examples/claims/taiyuan_two_diseases.csv",
        "--read-only",
        "--format",
        "jsonl",
    ]);
    assert_eq!(ignored.status.code(), Some(2), "--read-only writes nothing: --format is refused");
    let colored = settle(&["check", "--color", "always", f]);
    assert!(colored.stderr.contains(&0x1b), "colour when asked");
    for plain in [settle(&["check", f]), settle(&["check", "--color", "never", f])] {
        assert!(!plain.stderr.contains(&0x1b), "no colour off a terminal or when refused");
    }
}

/// A claims file saved as GBK (Excel's default on Chinese Windows) or UTF-16 gets a hint, and
/// `--encoding` reads it.
#[test]
fn claims_in_gbk_or_utf16_get_a_hint_and_read_with_encoding() {
    let dir = scratch("encoding");
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/claims/weihai_resident.csv"),
    )
    .expect("sample")
    .replace("w001,", "张三001,");
    let (gbk, _, _) = encoding_rs::GBK.encode(&sample);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(sample.encode_utf16().flat_map(u16::to_le_bytes));
    for (name, bytes, flag) in [("gbk.csv", gbk.to_vec(), "gbk"), ("utf16.csv", utf16, "utf-16")] {
        let file = dir.join(name);
        std::fs::write(&file, bytes).expect("write");
        let f = file.to_str().expect("path");
        let plain = settle(&["run", "policies/weihai/resident.settle", "--claims", f]);
        let err = String::from_utf8_lossy(&plain.stderr);
        assert!(err.contains(&format!("run with `--encoding {flag}`")), "{name}: {err}");
        let read =
            settle(&["run", "policies/weihai/resident.settle", "--claims", f, "--encoding", flag]);
        assert_eq!(read.status.code(), Some(0), "{name}");
        let out = String::from_utf8_lossy(&read.stdout);
        assert!(out.contains("\n2,张三001,w01,ok,"), "{name}: {out}");
        let errors = |text: &str| text.matches(",error,").count();
        let utf8 = settle(&[
            "run",
            "policies/weihai/resident.settle",
            "--claims",
            "examples/claims/weihai_resident.csv",
        ]);
        assert_eq!(errors(&out), errors(&String::from_utf8_lossy(&utf8.stdout)), "{name}: {out}");
        assert!(!String::from_utf8_lossy(&read.stderr).contains("hint"), "{name}");
    }
}

#[test]
fn a_reader_that_stops_early_stops_the_command_quietly() {
    // `settle test --format json | head -c 0`: the reader is gone before the report is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(["test", "policies/dezhou/employee_inpatient.settle", "--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
