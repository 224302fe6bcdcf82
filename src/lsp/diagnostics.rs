//! Problems as LSP diagnostics: the same problems `settle check` reports, each with its code,
//! its message and help, and its labels and notes as related information.

use std::collections::HashMap;

use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, NumberOrString,
    Url,
};
use settle_lang::{Problem, Severity};

use super::analysis::Analysis;

/// Every problem of a check as a diagnostic, grouped by the URI of the file it is in, in the
/// order `settle check` lists them. The document's own URI is always a key.
pub fn by_file(analysis: &Analysis) -> HashMap<Url, Vec<Diagnostic>> {
    let mut out: HashMap<Url, Vec<Diagnostic>> = HashMap::new();
    if let Some(uri) = analysis.uri(0) {
        out.insert(uri.clone(), Vec::new());
    }
    for problem in &analysis.checked.problems.list {
        let (Some(uri), Some(diagnostic)) =
            (analysis.uri(problem.file), diagnostic(analysis, problem))
        else {
            continue;
        };
        out.entry(uri.clone()).or_default().push(diagnostic);
    }
    out
}

/// One problem: the primary span is the range; the message is followed by the help line;
/// labels with text and notes in other files become related information.
pub fn diagnostic(analysis: &Analysis, problem: &Problem) -> Option<Diagnostic> {
    let lines = analysis.lines(problem.file)?;
    let message = format!("{}\nhelp: {}", problem.message, problem.help);
    let labels = problem
        .labels
        .iter()
        .filter(|l| !l.text.is_empty())
        .map(|l| (problem.file, l.span, &l.text));
    let notes = problem.notes.iter().map(|n| (n.file, n.span, &n.text));
    let related: Vec<DiagnosticRelatedInformation> = labels
        .chain(notes)
        .filter_map(|(file, span, text)| {
            Some(DiagnosticRelatedInformation {
                location: analysis.location(file, span)?,
                message: text.clone(),
            })
        })
        .collect();
    let code = problem.code.as_str();
    Some(Diagnostic {
        range: lines.range(problem.span()),
        severity: Some(match problem.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(code.to_string())),
        code_description: None,
        source: Some("settle".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: code.starts_with("settle::unused::").then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: None,
    })
}
