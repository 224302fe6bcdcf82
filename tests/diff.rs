//! `settle diff` and `settle test --snapshot`: what a rule change moves, as a bureau's CI sees it.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::{settle, settle_with_ci};

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
    // The rule trail names the value the reform changed, for the claims it moved.
    let report = String::from_utf8_lossy(&text.stdout);
    assert!(report.contains("  c005: deductible_due 450.00 -> 200.00, "), "{report}");
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
        settle_with_ci(&a, None)
    };
    assert_eq!(args(&[]).status.code(), Some(0), "first run writes the snapshot");
    assert_eq!(args(&[]).status.code(), Some(0), "unchanged policy passes");
    // A bureau lowers the level-1 deductible from 200 to 100.
    std::fs::write(
        &policy,
        original.replace(
            "from 2021-07-01 assumed { level1: 200,",
            "from 2021-07-01 assumed { level1: 100,",
        ),
    )
    .expect("edit");
    let failed = args(&[]);
    assert_eq!(failed.status.code(), Some(1));
    let report = String::from_utf8_lossy(&failed.stdout);
    assert!(report.contains("2 claims moved"), "{report}");
    assert!(report.contains("claim c005 (line 6): basic.pay 2766.00 -> 2856.00"), "{report}");
    assert!(!report.contains("c001"), "an unmoved claim is not listed: {report}");
    assert!(report.contains("claim c009 (line 10)"), "{report}");
    assert_eq!(args(&["--accept"]).status.code(), Some(0));
    assert_eq!(args(&[]).status.code(), Some(0), "the accepted snapshot holds");
}

/// Each claim's shares as `settle run` writes them (CSV), by claim id; `None` for an error row.
fn run_shares(
    policy: &str,
    claims: &str,
    shares: &[&str],
) -> std::collections::BTreeMap<String, Option<Vec<rust_decimal::Decimal>>> {
    let out = settle(&["run", policy, "--claims", claims]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let header = reader.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect("a column");
    let (id, status) = (at("id"), at("status"));
    let columns: Vec<usize> = shares.iter().map(|s| at(s)).collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a row");
            let settled = (&r[status] == "ok")
                .then(|| columns.iter().map(|&c| r[c].parse().expect("money")).collect());
            (r[id].to_string(), settled)
        })
        .collect()
}

/// From Dezhou's resident policy to the employee policy (which adds the large medical subsidy)
/// and back: the report takes each side's own shares, shows a share one side lacks as such, and
/// every figure equals what `settle run` of each side pays, to the fen.
#[test]
fn a_change_of_the_payer_chain_reconciles_with_each_sides_run() {
    let claims = corpus("chain");
    let claims = claims.to_str().expect("path");
    let resident = "policies/dezhou/resident_inpatient.settle";
    let resident_shares = ["basic.pay", "critical.pay", "patient.out_of_pocket"];
    let employee_shares = ["basic.pay", "subsidy.pay", "critical.pay", "patient.out_of_pocket"];
    for ((base, base_shares), (reform, reform_shares)) in [
        ((resident, &resident_shares[..]), (FULL, &employee_shares[..])),
        ((FULL, &employee_shares[..]), (resident, &resident_shares[..])),
    ] {
        let out = settle(&["diff", base, reform, "--claims", claims, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let before = run_shares(base, claims, base_shares);
        let after = run_shares(reform, claims, reform_shares);
        let both: Vec<&String> = before
            .keys()
            .filter(|id| before[*id].is_some() && after.get(*id).is_some_and(Option::is_some))
            .collect();
        assert_eq!(report["settled_both"], both.len(), "{base} -> {reform}");
        assert!(both.len() > 900, "most claims settle under both");
        let total = |side: &std::collections::BTreeMap<_, Option<Vec<rust_decimal::Decimal>>>,
                     k: usize| {
            both.iter()
                .map(|id| side[*id].as_ref().expect("settled")[k])
                .sum::<rust_decimal::Decimal>()
        };
        let shown = |v: &serde_json::Value| {
            v.as_str().map(|s| s.parse::<rust_decimal::Decimal>().expect("money"))
        };
        let rows = report["shares"].as_array().expect("shares");
        assert_eq!(rows.len(), 4, "the union of both balances: {rows:?}");
        for row in rows {
            let name = row["name"].as_str().expect("name");
            let b = base_shares.iter().position(|s| *s == name).map(|k| total(&before, k));
            let r = reform_shares.iter().position(|s| *s == name).map(|k| total(&after, k));
            assert_eq!(shown(&row["base"]), b, "{name} under {base}");
            assert_eq!(shown(&row["reform"]), r, "{name} under {reform}");
            assert_eq!(row["fund"], name != "patient.out_of_pocket");
        }
        let funds = |side, shares: &[&str]| -> rust_decimal::Decimal {
            (0..shares.len() - 1).map(|k| total(side, k)).sum()
        };
        let change = funds(&after, reform_shares) - funds(&before, base_shares);
        assert_eq!(shown(&report["fund_change"]), Some(change), "{base} -> {reform}");
        assert_eq!(shown(&report["per_claim_fund_change"]), Some(change));
        assert_eq!(report["reconciled"], true);
        assert!(!change.is_zero(), "the subsidy moves the funds' total");
        let text = settle(&["diff", base, reform, "--claims", claims]);
        let text = String::from_utf8_lossy(&text.stdout);
        let absent = if base == resident { "subsidy.pay  -  " } else { "-  -" };
        assert!(
            text.lines().any(|l| l.trim_start().starts_with("subsidy.pay") && l.contains(" - ")),
            "the subsidy is shown as absent on one side ({absent}):\n{text}"
        );
        assert!(text.contains(&format!("{:.2}", change.abs())), "{text}");
    }
}

/// A reform under which some claims do not settle (its deductible takes effect later): they are
/// counted and listed on their own, not mixed into the shares' totals.
#[test]
fn claims_settled_under_one_side_only_are_counted_and_listed() {
    let dir = scratch("one-sided");
    let reform = dir.join("later.settle");
    let base = std::fs::canonicalize(FULL).expect("the policy");
    std::fs::write(
        &reform,
        format!(
            "policy dezhou.later\nextends {:?}\n\noverride param deductible: money by Level\n    \
             source \"a deductible in force from March 2021 only\"\n    \
             from 2021-03-01 {{ level1: 450, level2: 550, level3: 900 }}\n",
            base.to_str().expect("path")
        ),
    )
    .expect("write");
    let claims = "examples/claims/dezhou_employee.csv";
    let out = settle(&[
        "diff",
        FULL,
        reform.to_str().expect("path"),
        "--claims",
        claims,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let sample = std::fs::read_to_string(claims).expect("sample");
    let early: Vec<&str> = sample
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2).is_some_and(|d| d < "2021-03-01"))
        .map(|l| l.split(',').next().expect("id"))
        .collect();
    assert!(!early.is_empty());
    assert_eq!(report["settled_one_side"], serde_json::json!([early.len(), 0]));
    assert_eq!(report["errors"], serde_json::json!([0, early.len()]));
    let listed: Vec<&str> = report["one_sided"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, early);
    assert!(
        report["one_sided"].as_array().expect("list").iter().all(|c| c["settles_under"] == "base")
    );
    assert_eq!(report["settled_both"], 14 - early.len());
    assert_eq!(report["reconciled"], true);
}

/// In CI (`--ci`, or the `CI` variable) a snapshot never committed fails rather than being
/// written; out of CI it is written and passes.
#[test]
fn a_missing_snapshot_fails_in_ci() {
    let dir = scratch("snapshot-ci");
    let snapshots = dir.join("snapshots");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "test",
            FULL,
            "--claims",
            "examples/claims/dezhou_employee.csv",
            "--snapshot",
            snapshots.to_str().expect("path"),
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_string()));
        a
    };
    let run = |extra: &[&str], ci: Option<&str>| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        settle_with_ci(&a, ci)
    };
    let written = || std::fs::read_dir(&snapshots).map(|d| d.count()).unwrap_or(0);
    let flagged = run(&["--ci"], None);
    assert_eq!(flagged.status.code(), Some(1), "{}", String::from_utf8_lossy(&flagged.stderr));
    assert!(String::from_utf8_lossy(&flagged.stderr).contains("must be committed"));
    assert_eq!(written(), 0, "nothing written in CI");
    assert_eq!(run(&[], Some("true")).status.code(), Some(1), "the CI variable");
    assert_eq!(written(), 0);
    assert_eq!(run(&[], Some("")).status.code(), Some(0), "an empty CI variable is not CI");
    assert_eq!(written(), 1);
    assert_eq!(run(&["--ci"], None).status.code(), Some(0), "a committed snapshot passes in CI");
}

/// Snapshots are keyed by claim id: a claim added at the top of the file is the only change
/// reported, though every line below it moved. Two claims files of one name in different folders
/// keep snapshots of their own.
#[test]
fn snapshots_are_keyed_by_claim_id_and_named_by_path() {
    let dir = scratch("snapshot-keys");
    let snapshots = dir.join("snapshots");
    let sample = std::fs::read_to_string("examples/claims/dezhou_employee.csv").expect("sample");
    let (one, two) = (dir.join("a"), dir.join("b"));
    for d in [&one, &two] {
        std::fs::create_dir_all(d).expect("dir");
        std::fs::write(d.join("claims.csv"), &sample).expect("claims");
    }
    let run = |claims: &std::path::Path| {
        settle_with_ci(
            &[
                "test",
                FULL,
                "--claims",
                claims.to_str().expect("path"),
                "--snapshot",
                snapshots.to_str().expect("path"),
            ],
            None,
        )
    };
    assert_eq!(run(&one.join("claims.csv")).status.code(), Some(0));
    assert_eq!(run(&two.join("claims.csv")).status.code(), Some(0));
    assert_eq!(std::fs::read_dir(&snapshots).expect("dir").count(), 2, "one snapshot each");
    let mut lines = sample.lines();
    let header = lines.next().expect("header");
    let rest: Vec<&str> = lines.collect();
    std::fs::write(
        one.join("claims.csv"),
        format!(
            "{header}\nc000,m99,2021-05-01,level1,1000.00,0.00,0.00,0.00,0.00,0.00\n{}\n",
            rest.join("\n")
        ),
    )
    .expect("claims");
    let moved = run(&one.join("claims.csv"));
    let report = String::from_utf8_lossy(&moved.stdout);
    assert_eq!(moved.status.code(), Some(1), "{report}");
    assert!(report.contains("1 claims moved"), "{report}");
    assert!(report.contains("claim c000 (line 2): new"), "{report}");
    assert_eq!(run(&two.join("claims.csv")).status.code(), Some(0), "the other file's snapshot");
}

const DIP: &str = "policies/dezhou/dip.settle";
const DIP_REFORM: &str = "examples/reforms/dezhou_dip_level_coefficients.settle";

/// The hospitals' payments under a DIP policy and a reform of its level coefficients: each
/// hospital's figures are those `settle run --providers` writes under each policy, the dues add
/// up to the budget under both, so their changes add up to 0.00.
#[test]
fn the_hospitals_payments_under_two_dip_policies() {
    let dir = scratch("dip");
    let claims = dir.join("claims.csv");
    let claims = claims.to_str().expect("path");
    let generated =
        settle(&["gen", DIP, "--count", "2000", "--seed", "5", "--texts", "40", "--out", claims]);
    assert_eq!(generated.status.code(), Some(0), "{}", String::from_utf8_lossy(&generated.stderr));
    // What `settle run --providers` writes under each policy: hospital -> (due, fund).
    let providers = |policy: &str,
                     name: &str|
     -> std::collections::BTreeMap<String, (String, String)> {
        let out = dir.join(format!("{name}.csv"));
        let tables = dir.join(format!("{name}-providers.csv"));
        let run = settle(&[
            "run",
            policy,
            "--claims",
            claims,
            "--out",
            out.to_str().expect("path"),
            "--providers",
            tables.to_str().expect("path"),
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        let text = std::fs::read_to_string(&tables).expect("tables");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).expect("column");
        let (due, fund) = (at("due"), at("fund"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .take_while(|cells| cells[0] == "hospitals")
            .map(|cells| (cells[1].to_string(), (cells[due].to_string(), cells[fund].to_string())))
            .collect()
    };
    let (base, reform) = (providers(DIP, "base"), providers(DIP_REFORM, "reform"));
    assert_eq!(base.len(), 40);

    let json = settle(&["diff", DIP, DIP_REFORM, "--claims", claims, "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", String::from_utf8_lossy(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let tables = value["providers"].as_array().expect("providers");
    let hospitals = tables.iter().find(|t| t["table"] == "hospitals").expect("hospitals");
    assert_eq!(hospitals["key"], "hospital");
    let columns: Vec<&str> = hospitals["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let (due, fund) = (
        columns.iter().position(|c| *c == "due").expect("due"),
        columns.iter().position(|c| *c == "fund").expect("fund"),
    );
    let rows = hospitals["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), base.len());
    let mut due_changes = rust_decimal::Decimal::ZERO;
    let mut moved = 0;
    for row in rows {
        let key = row["key"].as_str().expect("key");
        let cells = row["columns"].as_array().expect("columns");
        assert_eq!(cells[due]["base"], base[key].0.as_str(), "{key}");
        assert_eq!(cells[due]["reform"], reform[key].0.as_str(), "{key}");
        assert_eq!(cells[fund]["base"], base[key].1.as_str(), "{key}");
        assert_eq!(cells[fund]["reform"], reform[key].1.as_str(), "{key}");
        let change: rust_decimal::Decimal =
            cells[due]["change"].as_str().expect("change").parse().expect("decimal");
        due_changes += change;
        moved += usize::from(!change.is_zero());
    }
    assert!(moved > 30, "the coefficients move most hospitals' dues: {moved}");
    assert_eq!(due_changes, rust_decimal::Decimal::ZERO, "the dues share one budget");
    assert_eq!(hospitals["totals"][due]["base"], "300000000.00");
    assert_eq!(hospitals["totals"][due]["reform"], "300000000.00");

    let text = settle(&["diff", DIP, DIP_REFORM, "--claims", claims]);
    assert_eq!(text.status.code(), Some(0));
    insta::assert_snapshot!("diff_dip_text", String::from_utf8_lossy(&text.stdout));
}
