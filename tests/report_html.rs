//! The HTML impact report as a browser renders it: headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs) opens the page offline, logs no console error, and every figure it shows
//! equals the JSON report's.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::settle;

/// Chromium's command, or `None` where it is not installed (then the test is skipped, except in
/// CI, where it must run).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(!ci, "headless Chromium is required in CI (.ci/run installs Debian's chromium)");
        eprintln!("skipped: chromium is not installed");
    }
    found
}

/// The page rendered by headless Chromium: its DOM after parsing, and Chromium's log.
fn render(chromium: &str, page: &Path, dir: &Path) -> (String, String) {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every `data-figure` of a page: key -> the text shown, thousands separators removed.
fn figures(dom: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-figure=\"") {
        rest = &rest[at + "data-figure=\"".len()..];
        let end = rest.find('"').expect("a closed attribute");
        let key = rest[..end].replace("&amp;", "&").replace("&quot;", "\"");
        let open = rest.find('>').expect("a closed tag");
        let close = rest[open..].find('<').expect("an element's end") + open;
        let shown = rest[open + 1..close].replace(',', "");
        assert!(out.insert(key.clone(), shown).is_none(), "figure {key} shown twice");
        rest = &rest[close..];
    }
    out
}

/// The figures the JSON report holds, under the keys the page gives them.
fn expected(report: &Value) -> BTreeMap<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let mut out = BTreeMap::new();
    for key in ["claims", "affected", "fund_change", "per_claim_fund_change"] {
        out.insert(key.to_string(), text(&report[key]));
    }
    out.insert("errors:base".into(), text(&report["errors"][0]));
    out.insert("errors:reform".into(), text(&report["errors"][1]));
    out.insert(
        "fund_change:abs".into(),
        text(&report["fund_change"]).trim_start_matches('-').into(),
    );
    let shares = report["shares"].as_array().expect("shares");
    for s in shares {
        let name = s["name"].as_str().expect("name");
        for side in ["base", "reform", "change"] {
            out.insert(format!("share:{name}:{side}"), text(&s[side]));
        }
    }
    for f in report["by_field"].as_array().expect("fields") {
        let field = f["field"].as_str().expect("field");
        for v in f["rows"].as_array().expect("rows") {
            let key = format!("variant:{field}:{}", v["variant"].as_str().expect("variant"));
            out.insert(format!("{key}:claims"), text(&v["claims"]));
            out.insert(format!("{key}:affected"), text(&v["affected"]));
            for (s, c) in shares.iter().zip(v["changes"].as_array().expect("changes")) {
                out.insert(format!("{key}:{}", s["name"].as_str().expect("name")), text(c));
            }
        }
    }
    for m in report["movers"].as_array().expect("movers") {
        out.insert(
            format!("mover:{}:funds", m["id"].as_str().expect("id")),
            text(&m["fund_change"]),
        );
    }
    for c in report["one_sided"].as_array().expect("one-sided") {
        out.insert(format!("one_sided:{}:funds", c["id"].as_str().expect("id")), text(&c["funds"]));
    }
    // The period's tables: every row in which an amount moved, for every column in which one
    // did, and those columns' totals.
    for t in report["providers"].as_array().into_iter().flatten() {
        let table = t["table"].as_str().expect("table");
        let columns = t["columns"].as_array().expect("columns");
        let rows = t["rows"].as_array().expect("rows");
        let moved = |m: &Value| m["base"] != m["reform"];
        let moved_columns: Vec<usize> =
            (0..columns.len()).filter(|&c| rows.iter().any(|r| moved(&r["columns"][c]))).collect();
        let cells = |out: &mut BTreeMap<String, String>, key: &str, cells: &Value| {
            for &c in &moved_columns {
                let column = columns[c].as_str().expect("column");
                for side in ["base", "reform", "change"] {
                    out.insert(
                        format!("provider:{table}:{key}:{column}:{side}"),
                        text(&cells[c][side]),
                    );
                }
            }
        };
        for r in rows.iter().filter(|r| r["columns"].as_array().expect("cells").iter().any(moved)) {
            cells(&mut out, r["key"].as_str().expect("key"), &r["columns"]);
        }
        cells(&mut out, "(all rows)", &t["totals"]);
    }
    out
}

/// Claims generated for `policy`, with `texts` distinct values per text field (hospitals).
fn corpus(dir: &Path, policy: &str, texts: &str) -> PathBuf {
    let file = dir.join(format!("claims-{texts}.csv"));
    let out = settle(&[
        "gen",
        policy,
        "--count",
        "3000",
        "--seed",
        "5",
        "--texts",
        texts,
        "--out",
        file.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    file
}

#[test]
fn the_report_renders_without_errors_and_shows_the_json_figures() {
    let Some(chromium) = chromium() else { return };
    let dir = support::scratch("report-html", "render");
    let inpatient = corpus(&dir, "policies/dezhou/employee_inpatient.settle", "1000");
    let dip = corpus(&dir, "policies/dezhou/dip.settle", "30");
    // A change of the payer chain (the employee policy adds the large subsidy), a reform of
    // one parameter, and a reform of the hospitals' DIP payments (the period's tables).
    let pairs = [
        (
            "policies/dezhou/resident_inpatient.settle",
            "policies/dezhou/employee_inpatient.settle",
            &inpatient,
        ),
        (
            "examples/reforms/dezhou_without_2021_07.settle",
            "policies/dezhou/employee_inpatient.settle",
            &inpatient,
        ),
        (
            "policies/dezhou/dip.settle",
            "examples/reforms/dezhou_dip_level_coefficients.settle",
            &dip,
        ),
    ];
    for (n, (base, reform, claims)) in pairs.into_iter().enumerate() {
        let claims = claims.to_str().expect("path");
        let page = dir.join(format!("report{n}.html"));
        let html = settle(&[
            "diff",
            base,
            reform,
            "--claims",
            claims,
            "--format",
            "html",
            "--out",
            page.to_str().expect("path"),
        ]);
        assert_eq!(html.status.code(), Some(0), "{}", String::from_utf8_lossy(&html.stderr));
        let json = settle(&["diff", base, reform, "--claims", claims, "--format", "json"]);
        let report: Value = serde_json::from_slice(&json.stdout).expect("json");
        let (dom, log) = render(chromium, &page, &dir);
        assert!(dom.contains("Provenance"), "the page rendered: {dom:.200}");
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("CONSOLE") && l.to_ascii_lowercase().contains("error")
                    || l.contains("Uncaught")
            })
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
        let shown = figures(&dom);
        let want = expected(&report);
        for (key, value) in &want {
            assert_eq!(shown.get(key), Some(value), "{base} -> {reform}: figure {key}");
        }
        let bins: usize = shown
            .iter()
            .filter(|(k, _)| k.starts_with("bin:"))
            .map(|(_, v)| v.parse::<usize>().expect("a count"))
            .sum();
        assert_eq!(
            bins,
            report["changes"].as_array().expect("changes").len(),
            "every moved claim in a bin"
        );
        let unknown: Vec<&String> =
            shown.keys().filter(|k| !k.starts_with("bin:") && !want.contains_key(*k)).collect();
        assert!(unknown.is_empty(), "figures the JSON report does not hold: {unknown:?}");
        let raw = std::fs::read_to_string(&page).expect("page");
        assert!(!raw.contains("<script") && !raw.contains("http"), "the page must open offline");
        assert!(
            raw.contains("<caption>") && raw.contains("scope=\"col\"") && raw.contains("<desc>")
        );
    }
}
