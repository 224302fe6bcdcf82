//! The bureaus' policies and the examples: each checks clean, and every test written in them
//! passes under the interpreter.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

use std::path::{Path, PathBuf};

use settle_lang::check_with;
use settle_runtime::Engine;
use settle_runtime::io::FileLoader as Files;
use settle_runtime::testing::run_tests;

fn policy_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["policies", "examples"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("readable directory").flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "settle") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    assert!(files.len() >= 8, "expected the bureaus' policies, found {files:?}");
    files
}

#[test]
fn every_policy_checks_without_errors_or_warnings() {
    for path in policy_files() {
        let text = std::fs::read_to_string(&path).expect("readable policy");
        let checked = check_with(&path.display().to_string(), &text, &mut Files);
        assert!(checked.problems.list.is_empty(), "{}", checked.problems.render_plain());
    }
}

#[test]
fn every_test_written_in_a_policy_passes() {
    let mut count = 0;
    for path in policy_files() {
        let text = std::fs::read_to_string(&path).expect("readable policy");
        let checked = check_with(&path.display().to_string(), &text, &mut Files);
        let policy = checked.policy.expect("the policy checks");
        let engine = Engine::new(policy);
        for report in run_tests(&engine, &text) {
            count += 1;
            let failures: Vec<String> = report
                .failures
                .iter()
                .map(|f| format!("line {}: expect {}: {}", f.line, f.expect, f.detail))
                .collect();
            assert!(
                report.passed(),
                "{}: \"{}\"\n{}",
                path.display(),
                report.name,
                failures.join("\n")
            );
        }
    }
    assert!(count >= 30, "only {count} tests in the policies");
}

#[test]
fn the_readme_examples_check() {
    let readme = include_str!("../README.md");
    let mut blocks = 0;
    for block in readme.split("```settle\n").skip(1) {
        let code = block.split("```").next().unwrap_or("");
        let checked = settle_lang::check("README.md", code);
        assert!(checked.problems.list.is_empty(), "{}", checked.problems.render_plain());
        let policy = checked.policy.expect("checks");
        for report in run_tests(&Engine::new(policy), code) {
            assert!(
                report.passed(),
                "README test \"{}\" fails: {:?}",
                report.name,
                report.failures
            );
        }
        blocks += 1;
    }
    assert!(blocks >= 1);
}

/// The bureaus' policies reach, with their own tests, every rule default and exception, every
/// parameter version, every table cell and every scale bracket they declare or extend
/// (`settle test --coverage`): a rule added without a test fails here. A reform's tests reach
/// what the reform itself writes; its base's items are its base's tests' to reach.
#[test]
fn the_policies_tests_reach_every_branch_and_bracket() {
    use settle_runtime::coverage::{Kind, coverage};
    let mut reached = 0;
    for path in policy_files() {
        if path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            && !path.to_string_lossy().contains("reforms")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable policy");
        let checked = check_with(&path.display().to_string(), &text, &mut Files);
        let engine = Engine::new(checked.policy.expect("the policy checks"));
        let c = coverage(&engine, &text);
        // A policy settling a period on top of a base leaves the base's items to the base's
        // tests, as a reform does; the parameters only its period reads are not in the claims'
        // traces the coverage is measured on (tests read the period, but no trace follows it):
        // its tests and `runtime/tests/period.rs` settle those.
        let period = !engine.policy().period.is_empty();
        let reform = path.to_string_lossy().contains("reforms") || period;
        let period_only = period_only_params(engine.policy());
        let missing: Vec<String> = c
            .items
            .iter()
            .filter(|i| !i.reached && i.kind != Kind::Stage && (!reform || i.line.is_some()))
            .filter(|i| !period_only.iter().any(|p| i.name.starts_with(&format!("param `{p}`"))))
            .map(|i| format!("{}:{}: {}", path.display(), i.line.unwrap_or(0), i.name))
            .collect();
        assert!(missing.is_empty(), "not reached by a test:\n{}", missing.join("\n"));
        reached += c.items.len();
    }
    assert!(reached > 300, "only {reached} items");
}

/// The parameters that only period settlement reads.
fn period_only_params(policy: &settle_lang::ir::Policy) -> Vec<String> {
    use settle_lang::ir::ExprKind;
    use settle_lang::ir::period::ColumnKind;
    let read = |e: &settle_lang::ir::Expr, out: &mut Vec<usize>| {
        e.walk(&mut |x| match &x.kind {
            ExprKind::Param(p)
            | ExprKind::Table(p, _)
            | ExprKind::Segmented(p, _)
            | ExprKind::RateAt(p, _) => out.push(*p),
            _ => {}
        })
    };
    let mut by_claims = Vec::new();
    for v in &policy.values {
        v.body.walk(&mut |e| read(e, &mut by_claims));
    }
    let mut by_period = Vec::new();
    let p = &policy.period;
    for named in p.values.iter().chain(&p.cases) {
        read(&named.expr, &mut by_period);
    }
    for a in &p.aggregates {
        a.folding.body.iter().chain(&a.folding.filter).for_each(|e| read(e, &mut by_period));
    }
    for t in &p.tables {
        for c in &t.columns {
            match &c.kind {
                ColumnKind::Fold(f) => {
                    f.body.iter().chain(&f.filter).for_each(|e| read(e, &mut by_period));
                }
                ColumnKind::Share { amount, .. } => read(amount, &mut by_period),
                ColumnKind::Expr(e) => read(e, &mut by_period),
            }
        }
    }
    by_period.retain(|p| !by_claims.contains(p));
    by_period.iter().filter_map(|p| policy.params.get(*p).map(|d| d.name.clone())).collect()
}
