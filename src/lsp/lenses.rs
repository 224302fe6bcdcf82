//! Code lenses above each `test` that run it; the result comes back as diagnostics: each
//! expectation that does not hold is an error on its line, a test that passes a note on its
//! name.

use lsp_types::{CodeLens, Command, Diagnostic, DiagnosticSeverity, NumberOrString, Range, Url};
use settle_lang::ast::Item;
use settle_runtime::Engine;
use settle_runtime::testing::run_tests;

use super::analysis::Analysis;

/// The command a lens runs: arguments are the document's URI and the test's name.
pub const RUN_TEST: &str = "settle.runTest";

/// A lens above every test of the document.
pub fn code_lenses(a: &Analysis, uri: &Url) -> Vec<CodeLens> {
    let (Some(module), Some(lines)) = (a.module(0), a.lines(0)) else { return Vec::new() };
    module
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Test(t) => Some(CodeLens {
                range: lines.range(t.name.span),
                command: Some(Command {
                    title: "▶ run test".into(),
                    command: RUN_TEST.into(),
                    arguments: Some(vec![uri.to_string().into(), t.name.value.clone().into()]),
                }),
                data: None,
            }),
            _ => None,
        })
        .collect()
}

/// Run the test `name` of the document and describe its result as diagnostics.
pub fn run_test(a: &Analysis, name: &str) -> Vec<Diagnostic> {
    let (Some(module), Some(lines)) = (a.module(0), a.lines(0)) else { return Vec::new() };
    let Some(test) = module.items.iter().find_map(|item| match item {
        Item::Test(t) if t.name.value == name => Some(t),
        _ => None,
    }) else {
        return Vec::new();
    };
    let at_name = lines.range(test.name.span);
    let diagnostic = |range: Range, severity, code: &str, message: String| Diagnostic {
        range,
        severity: Some(severity),
        code: Some(NumberOrString::String(code.into())),
        source: Some("settle test".into()),
        message,
        ..Diagnostic::default()
    };
    let Some(policy) = a.checked.policy.clone() else {
        let message = "the test cannot run: the policy has errors".to_string();
        return vec![diagnostic(
            at_name,
            DiagnosticSeverity::ERROR,
            "settle::test::not_run",
            message,
        )];
    };
    let text = a.text(0);
    let engine = Engine::new(policy);
    let Some(report) = run_tests(&engine, text).into_iter().find(|r| r.name == name) else {
        return Vec::new();
    };
    if report.passed() {
        let message = format!("test \"{name}\" passed");
        return vec![diagnostic(
            at_name,
            DiagnosticSeverity::INFORMATION,
            "settle::test::passed",
            message,
        )];
    }
    report
        .failures
        .iter()
        .map(|f| {
            let written = test.expects.iter().find(|e| {
                settle_lang::diagnostic::line_col(text, e.span.start as usize).0 == f.line
            });
            let range = written.map_or(at_name, |e| lines.range(e.span));
            let message = format!("expected `{}`\n{}", f.expect, f.detail);
            diagnostic(range, DiagnosticSeverity::ERROR, "settle::test::failed", message)
        })
        .collect()
}
