//! Code actions: the edits a problem carries (a did-you-mean replacement, `85` made `85%`, a
//! table's missing keys, a variant added to its enum, an unused item removed), offered as quick
//! fixes for the problems in the range the editor asks about.

use std::collections::HashMap;

use lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Range, TextEdit, WorkspaceEdit};

use super::analysis::Analysis;
use super::diagnostics::diagnostic;

/// The quick fixes of the document's problems that touch `range`.
pub fn code_actions(a: &Analysis, range: Range) -> Vec<CodeActionOrCommand> {
    let Some(lines) = a.lines(0) else { return Vec::new() };
    let asked = lines.span(range);
    let mut out = Vec::new();
    for problem in a.checked.problems.list.iter().filter(|p| p.file == 0) {
        let at = problem.span();
        if at.start > asked.end || asked.start > at.end {
            continue;
        }
        for (i, fix) in problem.fixes.iter().enumerate() {
            let Some(location) = a.location(fix.file, fix.span) else { continue };
            let edit = TextEdit { range: location.range, new_text: fix.text.clone() };
            let changes = HashMap::from([(location.uri, vec![edit])]);
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title.clone(),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: diagnostic(a, problem).map(|d| vec![d]),
                edit: Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }),
                is_preferred: Some(i == 0),
                ..CodeAction::default()
            }));
        }
    }
    out
}
