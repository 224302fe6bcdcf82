//! `settle diff` and `settle test --snapshot`: what a rule change moves, as a bureau's CI sees it.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::settle;

fn scratch(name: &str) -> PathBuf {
    support::scratch("diff-tests", name)
}

const BASE: &str = "examples/reforms/dezhou_without_2021_07.settle";
const REFORM: &str = "examples/reforms/dezhou_level1_deductible_200.settle";
const FULL: &str = "policies/dezhou/employee_inpatient.settle";

/// The sample claims and 1,000 generated ones with a fixed seed.
fn corpus(name: &str) -> PathBuf {
    let dir = scratch(&format!("corpus-{name}"));
    let file = dir.join("claims.csv");
    let out = settle(&[
        "gen",
        FULL,
        "--count",
        "1000",
        "--seed",
        "11",
        "--out",
        file.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let generated = std::fs::read_to_string(&file).expect("generated");
    let sample = std::fs::read_to_string("examples/claims/dezhou_employee.csv").expect("sample");
    let rows: String = generated.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, format!("{sample}{rows}")).expect("write");
    file
}

#[test]
fn the_impact_of_one_deductible_as_text_and_json() {
    let claims = corpus("one");
    let claims = claims.to_str().expect("path");
    let text = settle(&["diff", BASE, REFORM, "--claims", claims]);
    assert_eq!(text.status.code(), Some(0), "{}", String::from_utf8_lossy(&text.stderr));
    insta::assert_snapshot!("diff_text", String::from_utf8_lossy(&text.stdout));
    let json = settle(&["diff", BASE, REFORM, "--claims", claims, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["reconciled"], true);
    insta::assert_snapshot!("diff_json", String::from_utf8_lossy(&json.stdout));
}

#[test]
fn the_impact_of_all_the_july_2021_changes_reconciles_to_the_fen() {
    let claims = corpus("all");
    let out = settle(&[
        "diff",
        BASE,
        FULL,
        "--claims",
        claims.to_str().expect("path"),
        "--format",
        "json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["reconciled"], true);
    let total: rust_decimal::Decimal = value["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| {
            s["change"].as_str().expect("change").parse::<rust_decimal::Decimal>().expect("decimal")
        })
        .sum();
    assert!(
        total.is_zero(),
        "the shares of a claim always add up to its total, so their changes add up to 0: {total}"
    );
    assert!(value["affected"].as_u64().expect("count") > 100);
}

#[test]
fn the_html_report_is_one_self_contained_page() {
    let claims = corpus("html");
    let dir = scratch("html");
    let page = dir.join("report.html");
    let out = settle(&[
        "diff",
        BASE,
        FULL,
        "--claims",
        claims.to_str().expect("path"),
        "--format",
        "html",
        "--out",
        page.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<svg") && html.contains("Largest movers"));
    assert!(!html.contains("<script") && !html.contains("http"), "the page must open offline");
}

#[test]
fn a_settlement_snapshot_fails_on_a_change_and_passes_after_accept() {
    let dir = scratch("snapshot");
    let policy = dir.join("policy.settle");
    let original = std::fs::read_to_string(FULL).expect("policy");
    std::fs::write(&policy, &original).expect("copy");
    let snapshots = dir.join("snapshots");
    let args = |extra: &[&str]| -> Output {
        let mut a = vec![
            "test",
            policy.to_str().expect("path"),
            "--claims",
            "examples/claims/dezhou_employee.csv",
            "--snapshot",
            snapshots.to_str().expect("path"),
        ];
        a.extend_from_slice(extra);
        settle(&a)
    };
    assert_eq!(args(&[]).status.code(), Some(0), "first run writes the snapshot");
    assert_eq!(args(&[]).status.code(), Some(0), "unchanged policy passes");
    // A bureau lowers the level-1 deductible from 200 to 100.
    std::fs::write(
        &policy,
        original.replace("from 2021-07-01 { level1: 200,", "from 2021-07-01 { level1: 100,"),
    )
    .expect("edit");
    let failed = args(&[]);
    assert_eq!(failed.status.code(), Some(1));
    let report = String::from_utf8_lossy(&failed.stdout);
    assert!(report.contains("2 claims moved"), "{report}");
    assert!(report.contains("claim c005 (line 6): basic.pay 2766.00 -> 2856.00"), "{report}");
    assert!(report.contains("claim c009 (line 10)"), "{report}");
    assert_eq!(args(&["--accept"]).status.code(), Some(0));
    assert_eq!(args(&[]).status.code(), Some(0), "the accepted snapshot holds");
}
