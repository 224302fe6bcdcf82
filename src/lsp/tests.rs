//! The server driven through an in-memory connection, as an editor drives it: documents opened
//! and changed, diagnostics published and cleared, hovers, definitions, references, outlines,
//! completions, tokens and formatting.
//!
//! The policies read are copies under `tests/editor/` (a base, a city extending it, the Dezhou
//! employee policy, the sketch), so that edits of the repository's policies do not move the
//! positions the snapshots hold.

#![allow(clippy::expect_used, clippy::panic, reason = "a test fails by panicking")]

use std::collections::VecDeque;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument, Exit,
    Initialized, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, CodeLensRequest, Completion, DocumentSymbolRequest, ExecuteCommand,
    Formatting, GotoDefinition, HoverRequest, Initialize, InlayHintRequest, References, Rename,
    SemanticTokensFullRequest, Shutdown, SignatureHelpRequest,
};
use lsp_types::{
    CodeActionContext, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeLensParams,
    DidChangeWatchedFilesParams, ExecuteCommandParams, FileChangeType, FileEvent, InlayHintLabel,
    InlayHintParams, PositionEncodingKind, RenameParams, SignatureHelpParams, WorkspaceEdit,
};
use lsp_types::{
    CompletionParams, CompletionResponse, Diagnostic, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, FormattingOptions,
    GotoDefinitionParams, GotoDefinitionResponse, HoverContents, HoverParams, InitializeParams,
    InitializedParams, Location, Position, PublishDiagnosticsParams, ReferenceContext,
    ReferenceParams, SemanticTokensParams, SemanticTokensResult, TextDocumentContentChangeEvent,
    TextDocumentIdentifier, TextDocumentItem, TextDocumentPositionParams, Url,
    VersionedTextDocumentIdentifier,
};
use serde_json::Value;
use settle_lang::date::Date;

use super::convert::{Encoding, LineIndex};
use super::server::{self, serve};
use super::tokens::legend;

/// An editor connected to a server running on a thread of its own.
struct Editor {
    connection: Connection,
    server: Option<JoinHandle<()>>,
    next_id: i32,
    /// Notifications received while waiting for a response.
    notifications: VecDeque<Notification>,
    /// Each open document's version.
    versions: Vec<(Url, i32)>,
}

const WAIT: Duration = Duration::from_secs(20);

impl Editor {
    /// Start a server for which today is `today`, and initialize it.
    fn start(today: &str) -> Editor {
        Editor::start_with(today, lsp_types::ClientCapabilities::default()).0
    }

    fn send_request<R: lsp_types::request::Request>(&mut self, params: R::Params) -> RequestId {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let request = Request::new(id.clone(), R::METHOD.to_string(), params);
        self.connection.sender.send(Message::Request(request)).expect("the server listens");
        id
    }

    fn response(&mut self, id: &RequestId) -> Response {
        loop {
            match self.connection.receiver.recv_timeout(WAIT).expect("the server answers") {
                Message::Response(r) if r.id == *id => return r,
                Message::Notification(n) => self.notifications.push_back(n),
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    fn request<R: lsp_types::request::Request>(&mut self, params: R::Params) -> R::Result {
        self.try_request::<R>(params).unwrap_or_else(|e| panic!("{} failed: {e}", R::METHOD))
    }

    fn notify<N: lsp_types::notification::Notification>(&mut self, params: N::Params) {
        let notification = Notification::new(N::METHOD.to_string(), params);
        self.connection.sender.send(notification.into()).expect("the server listens");
    }

    fn open(&mut self, uri: &Url, text: &str) {
        self.versions.push((uri.clone(), 1));
        self.notify::<DidOpenTextDocument>(DidOpenTextDocumentParams {
            text_document: TextDocumentItem {
                uri: uri.clone(),
                language_id: "settle".into(),
                version: 1,
                text: text.into(),
            },
        });
    }

    fn change(&mut self, uri: &Url, text: &str) {
        let version = self.versions.iter_mut().find(|(u, _)| u == uri).map(|(_, v)| {
            *v += 1;
            *v
        });
        self.notify::<DidChangeTextDocument>(DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier {
                uri: uri.clone(),
                version: version.expect("an open document"),
            },
            content_changes: vec![TextDocumentContentChangeEvent {
                range: None,
                range_length: None,
                text: text.into(),
            }],
        });
    }

    fn close(&mut self, uri: &Url) {
        self.notify::<DidCloseTextDocument>(DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
        });
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &Url) -> Vec<Diagnostic> {
        let published = |n: &Notification| {
            (n.method == PublishDiagnostics::METHOD)
                .then(|| serde_json::from_value::<PublishDiagnosticsParams>(n.params.clone()).ok())
                .flatten()
                .filter(|p| p.uri == *uri)
        };
        if let Some(i) = self.notifications.iter().position(|n| published(n).is_some()) {
            let n = self.notifications.remove(i).expect("queued");
            return published(&n).expect("published").diagnostics;
        }
        loop {
            match self.connection.receiver.recv_timeout(WAIT).expect("diagnostics are published") {
                Message::Notification(n) => match published(&n) {
                    Some(p) => return p.diagnostics,
                    None => self.notifications.push_back(n),
                },
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    fn position(&self, uri: &Url, position: Position) -> TextDocumentPositionParams {
        TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            position,
        }
    }

    fn hover(&mut self, uri: &Url, at: Position) -> Option<String> {
        let params = HoverParams {
            text_document_position_params: self.position(uri, at),
            work_done_progress_params: Default::default(),
        };
        let hover = self.request::<HoverRequest>(params)?;
        match hover.contents {
            HoverContents::Markup(m) => Some(m.value),
            other => panic!("hover as markup, not {other:?}"),
        }
    }

    fn definition(&mut self, uri: &Url, at: Position) -> Option<Location> {
        let params = GotoDefinitionParams {
            text_document_position_params: self.position(uri, at),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        match self.request::<GotoDefinition>(params)? {
            GotoDefinitionResponse::Scalar(location) => Some(location),
            other => panic!("one location, not {other:?}"),
        }
    }

    fn references(&mut self, uri: &Url, at: Position, declarations: bool) -> Vec<Location> {
        let params = ReferenceParams {
            text_document_position: self.position(uri, at),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: ReferenceContext { include_declaration: declarations },
        };
        self.request::<References>(params).unwrap_or_default()
    }

    fn completion(&mut self, uri: &Url, at: Position) -> Vec<String> {
        let params = CompletionParams {
            text_document_position: self.position(uri, at),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: None,
        };
        let Some(CompletionResponse::Array(mut items)) = self.request::<Completion>(params) else {
            panic!("a completion list");
        };
        items.sort_by(|a, b| a.sort_text.cmp(&b.sort_text));
        items
            .into_iter()
            .map(|i| match i.detail {
                Some(d) => format!("{}: {d}", i.label),
                None => i.label,
            })
            .collect()
    }

    fn lenses(&mut self, uri: &Url) -> Vec<lsp_types::CodeLens> {
        self.request::<CodeLensRequest>(CodeLensParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap_or_default()
    }

    /// Run the test of `lens`, as clicking it does: the command's result.
    fn run_lens(&mut self, lens: &lsp_types::CodeLens) -> Value {
        let command = lens.command.clone().expect("a command");
        assert_eq!(command.command, "settle.runTest");
        let outcome = self.request::<ExecuteCommand>(ExecuteCommandParams {
            command: command.command,
            arguments: command.arguments.unwrap_or_default(),
            work_done_progress_params: Default::default(),
        });
        outcome.expect("a result")
    }

    fn format(&mut self, uri: &Url) -> Result<Option<Vec<lsp_types::TextEdit>>, String> {
        let params = DocumentFormattingParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            options: FormattingOptions { tab_size: 4, insert_spaces: true, ..Default::default() },
            work_done_progress_params: Default::default(),
        };
        let id = self.send_request::<Formatting>(params);
        match self.response(&id).response_result {
            Ok(result) => Ok(serde_json::from_value(result).expect("a well-formed result")),
            Err(error) => Err(error.message),
        }
    }

    fn shutdown(mut self) {
        self.request::<Shutdown>(());
        self.notify::<Exit>(());
        if let Some(server) = self.server.take() {
            server.join().expect("the server thread ends");
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A policy file of the repository (the editor tests' copies are under `tests/editor/`): its URI
/// and text.
fn policy(path: &str) -> (Url, String) {
    let full: PathBuf = repo().join(path);
    let text = std::fs::read_to_string(&full).expect("the policy exists");
    (Url::from_file_path(&full).expect("an absolute path"), text)
}

/// A document that exists only in the editor.
fn scratch(name: &str) -> Url {
    Url::from_file_path(repo().join("target").join("lsp-memory").join(name)).expect("a path")
}

/// The position of the `n`th (from 0) occurrence of `needle` in `text`.
fn find(text: &str, needle: &str, n: usize) -> Position {
    let offset = text.match_indices(needle).nth(n).map(|(i, _)| i).expect("the needle");
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column = before.rsplit('\n').next().map_or(0, |l| l.encode_utf16().count());
    Position::new(line as u32, column as u32)
}

/// A location as `path:line:column-line:column`, lines and columns from 1, paths from the
/// repository's root.
fn show(location: &Location) -> String {
    let path = location.uri.to_file_path().expect("a file");
    let path = path.strip_prefix(repo()).unwrap_or(&path).to_string_lossy().replace('\\', "/");
    let r = location.range;
    format!(
        "{path}:{}:{}-{}:{}",
        r.start.line + 1,
        r.start.character + 1,
        r.end.line + 1,
        r.end.character + 1
    )
}

fn show_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let code = match &d.code {
            Some(lsp_types::NumberOrString::String(c)) => c.as_str(),
            _ => "",
        };
        let r = d.range;
        let _ = writeln!(
            out,
            "{}:{}-{}:{} {:?} {code}\n  {}",
            r.start.line + 1,
            r.start.character + 1,
            r.end.line + 1,
            r.end.character + 1,
            d.severity.expect("a severity"),
            d.message.replace('\n', "\n  ")
        );
        for related in d.related_information.iter().flatten() {
            let _ = writeln!(out, "  related {}: {}", show(&related.location), related.message);
        }
    }
    out
}

const BROKEN: &str = "policy broken.example \"示例：一个有错误的政策\"
input claim { id: text, member: text, date: date, total: money }
param ratio: rate = 85
param unused_bonus: rate = 5%
stage basic (pay: money) {
    pay = claim.total * ratoi  // 比例
}
balance claim.total = basic.pay
";

#[test]
fn diagnostics_are_published_on_open_and_cleared_by_the_fix() {
    let mut editor = Editor::start("2024-01-01");
    let uri = scratch("broken.settle");
    editor.open(&uri, BROKEN);
    let diagnostics = editor.diagnostics(&uri);
    insta::assert_snapshot!(show_diagnostics(&diagnostics));

    let fixed = BROKEN.replace("= 85", "= 85%").replace("ratoi", "ratio");
    editor.change(&uri, &fixed);
    let diagnostics = editor.diagnostics(&uri);
    let codes: Vec<_> = diagnostics.iter().map(|d| d.code.clone()).collect();
    assert_eq!(
        codes,
        [Some(lsp_types::NumberOrString::String("settle::unused::param".into()))],
        "only the warning is left"
    );
    let fixed = fixed.replace("param unused_bonus: rate = 5%\n", "");
    editor.change(&uri, &fixed);
    assert_eq!(editor.diagnostics(&uri), []);

    editor.change(&uri, BROKEN);
    assert_eq!(editor.diagnostics(&uri).len(), 3, "broken again");
    editor.close(&uri);
    assert_eq!(editor.diagnostics(&uri), [], "closing clears its diagnostics");
    editor.shutdown();
}

#[test]
fn diagnostic_columns_count_utf16_code_units() {
    let mut editor = Editor::start("2024-01-01");
    let uri = scratch("columns.settle");
    let text = "policy columns
input claim { id: text, member: text, date: date, total: money }
let note = if claim.total > 0 then \"𠀀起付线\" else 比例
";
    editor.open(&uri, text);
    let diagnostics = editor.diagnostics(&uri);
    let unknown = diagnostics
        .iter()
        .find(|d| d.message.starts_with("unknown name `比例`"))
        .expect("the unknown name is reported");
    // `𠀀` is two UTF-16 code units, each Chinese character one.
    assert_eq!(unknown.range.start, find(text, "比例", 0));
    assert_eq!(unknown.range.start.character, 48);
    assert_eq!(unknown.range.end.character, 50);
    editor.shutdown();
}

#[test]
fn hover_on_values_and_fields_added_to_a_base() {
    let mut editor = Editor::start("2021-08-01");
    let (uri, text) = policy("examples/reforms/dezhou_level1_deductible_200.settle");
    editor.open(&uri, &text);
    assert_eq!(editor.diagnostics(&uri), []);
    let added = editor.hover(&uri, find(&text, "deductible\n", 0)).expect("a hover");
    assert!(added.contains("override param deductible"), "{added}");
    assert!(added.contains("**from 2021-07-01** (assumed start): `{ level1: 200,"), "{added}");
    let (uri, text) = policy("examples/reforms/dezhou_assistance.settle");
    editor.open(&uri, &text);
    assert_eq!(editor.diagnostics(&uri), []);
    let field = editor.hover(&uri, find(&text, "group: Group", 0)).expect("a hover");
    assert!(field.contains("claim.group: Group") && field.contains("救助对象类别"), "{field}");
    editor.shutdown();
}

#[test]
fn hover_on_a_parameter_shows_every_dated_value_and_source() {
    let mut editor = Editor::start("2021-08-01");
    let (uri, text) = policy("tests/editor/dezhou/employee_inpatient.settle");
    editor.open(&uri, &text);
    assert_eq!(editor.diagnostics(&uri), []);

    let table = editor.hover(&uri, find(&text, "deductible[claim.level]", 0)).expect("a hover");
    insta::assert_snapshot!("hover_table_parameter", table);
    let scalar = editor.hover(&uri, find(&text, "basic_cap - basic_paid", 0)).expect("a hover");
    insta::assert_snapshot!("hover_dated_parameter", scalar);
    let scale = editor.hover(&uri, find(&text, "subsidy_scale,", 0)).expect("a hover");
    insta::assert_snapshot!("hover_scale_parameter", scale);
    editor.shutdown();
}

#[test]
fn hover_marks_no_value_in_force_before_the_first_date() {
    let mut editor = Editor::start("2019-12-31");
    let (uri, text) = policy("tests/editor/dezhou/employee_inpatient.settle");
    editor.open(&uri, &text);
    let hover = editor.hover(&uri, find(&text, "basic_cap - basic_paid", 0)).expect("a hover");
    assert!(
        hover.contains(
            "no value is in force today (2019-12-31): the first takes effect on 2020-01-01"
        )
    );
    assert!(!hover.contains("(in force today)"));
    editor.shutdown();
}

#[test]
fn hover_on_a_rule_shows_its_default_and_exceptions() {
    let mut editor = Editor::start("2021-08-01");
    let (uri, text) = policy("tests/editor/dezhou/employee_inpatient.settle");
    editor.open(&uri, &text);
    let rule = editor.hover(&uri, find(&text, "deductible_due, 0)", 0)).expect("a hover");
    insta::assert_snapshot!("hover_rule", rule);
    let mut names = String::new();
    for (needle, n) in [
        ("claim.level]", 0),
        ("level]", 0),
        ("admissions ==", 0),
        ("eligible * ratio", 0),
        ("pay = min", 0),
        ("basic.over_cap)", 0),
        ("over_cap)", 0),
        ("Level {", 0),
        ("level1 \"", 0),
        ("policy_range =", 0),
    ] {
        let hover = editor.hover(&uri, find(&text, needle, n)).expect("a hover");
        let _ = writeln!(names, "----- {needle}\n{hover}");
    }
    insta::assert_snapshot!("hover_names", names);
    assert_eq!(editor.hover(&uri, find(&text, "// The TCM", 0)), None, "nothing in a comment");
    editor.shutdown();
}

#[test]
fn hover_on_a_file_with_errors_shows_values_as_written() {
    let mut editor = Editor::start("2021-08-01");
    let uri = scratch("dated.settle");
    let text = "policy dated
input claim { id: text, member: text, date: date, total: money }
param cap: money
    source \"the notice\"
    from 2021-01-01 80_000
    from 2021-07-01 150_000 assumed source \"item 3\"
let paid = min(claim.total, cap) + missing
";
    editor.open(&uri, text);
    assert_eq!(editor.diagnostics(&uri).len(), 1);
    let hover = editor.hover(&uri, find(text, "cap)", 0)).expect("a hover");
    insta::assert_snapshot!(hover);
    editor.shutdown();
}

#[test]
fn definitions_and_references_reach_across_extends() {
    let mut editor = Editor::start("2023-06-01");
    let (city, city_text) = policy("tests/editor/weihai/resident.settle");
    editor.open(&city, &city_text);
    assert_eq!(editor.diagnostics(&city), []);
    let mut out = String::new();
    for (needle, n) in [
        ("deductible[claim.care", 0),
        ("claim.care", 0),
        ("care, claim.level]", 0),
        ("upward_in_community ->", 0),
        ("burden - critical", 0),
        ("critical.pay", 0),
        ("pay = min(left", 0),
        ("ratio: rate by Care", 0),
        ("deductible_due: money", 0),
        ("managed_patients_included and", 0),
    ] {
        let to = editor.definition(&city, find(&city_text, needle, n));
        let _ = writeln!(out, "{needle} -> {}", to.as_ref().map_or("nothing".into(), show));
    }
    insta::assert_snapshot!("definitions_across_extends", out);

    // The base's references, from the city, with the override's declaration.
    let at = find(&city_text, "ratio: rate by Care", 0);
    let refs: Vec<String> = editor.references(&city, at, true).iter().map(show).collect();
    insta::assert_snapshot!("references_of_an_overridden_parameter", refs.join("\n"));

    // From the base, once open: the city that extends it reads its names too.
    let (base, base_text) = policy("tests/editor/shandong/resident_base.settle");
    editor.open(&base, &base_text);
    let at = find(&base_text, "burden_so_far = sum", 0);
    let refs: Vec<String> = editor.references(&base, at, false).iter().map(show).collect();
    assert!(refs.iter().any(|r| r.starts_with("tests/editor/shandong/")), "{refs:?}");
    let at = find(&base_text, "burden =", 0);
    let refs: Vec<String> = editor.references(&base, at, false).iter().map(show).collect();
    assert!(refs.iter().any(|r| r.starts_with("tests/editor/weihai/resident.settle:")), "{refs:?}");
    editor.shutdown();
}

#[test]
fn an_open_base_is_read_from_the_editor_by_the_policies_extending_it() {
    let mut editor = Editor::start("2023-06-01");
    let (city, city_text) = policy("tests/editor/weihai/resident.settle");
    let (base, base_text) = policy("tests/editor/shandong/resident_base.settle");
    editor.open(&city, &city_text);
    assert_eq!(editor.diagnostics(&city), []);

    // The base opened with a mistake: both checks read it; the problem is published once.
    let broken = base_text.replacen(
        "yearly basic_paid = sum(basic.pay)",
        "yearly basic_paid = sum(basic.pya)",
        1,
    );
    editor.open(&base, &broken);
    let diagnostics = editor.diagnostics(&base);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0].message,
        "`basic` has no output `pya`\nhelp: the outputs of `basic` are `pay`, `below_deductible`, `over_cap`"
    );
    let hover = editor.hover(&city, find(&city_text, "deductible[claim.care", 0));
    assert!(hover.is_some(), "the city still answers");

    editor.close(&base);
    assert_eq!(editor.diagnostics(&base), [], "closed: the city reads the file on disk again");
    editor.shutdown();
}

#[test]
fn document_symbols_outline_the_policy() {
    let mut editor = Editor::start("2021-08-01");
    let (uri, text) = policy("tests/editor/sketch.settle");
    editor.open(&uri, &text);
    let params = DocumentSymbolParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    let Some(DocumentSymbolResponse::Nested(symbols)) =
        editor.request::<DocumentSymbolRequest>(params)
    else {
        panic!("nested symbols");
    };
    fn outline(out: &mut String, symbols: &[DocumentSymbol], depth: usize) {
        for s in symbols {
            let r = s.range;
            let _ = writeln!(
                out,
                "{}{} {:?} {} [{}-{}]",
                "  ".repeat(depth),
                s.name,
                s.kind,
                s.detail.as_deref().unwrap_or(""),
                r.start.line + 1,
                r.end.line + 1
            );
            outline(out, s.children.as_deref().unwrap_or(&[]), depth + 1);
        }
    }
    let mut out = String::new();
    outline(&mut out, &symbols, 0);
    insta::assert_snapshot!(out);
    editor.shutdown();
}

#[test]
fn completion_offers_members_names_and_the_expected_variants() {
    let mut editor = Editor::start("2021-08-01");
    let (uri, text) = policy("tests/editor/sketch.settle");
    // The author is typing a new `let` at the end and a new expectation in the test.
    let typing = text.replace(
        "    expect c.basic.pay == 9_000.00",
        "    expect c.basic.\n    expect c.basic.pay == 9_000.00",
    ) + "let extra = claim.\n";
    editor.open(&uri, &typing);
    let mut out = String::new();
    let end = Position::new(typing.lines().count() as u32 - 1, "let extra = claim.".len() as u32);
    let _ = writeln!(out, "----- claim.\n{}", editor.completion(&uri, end).join("\n"));
    let at = find(&typing, "c.basic.\n", 0);
    let at = Position::new(at.line, at.character + "c.basic.".len() as u32);
    let _ = writeln!(out, "----- c.basic.\n{}", editor.completion(&uri, at).join("\n"));
    let at = find(&typing, "level1, group", 0);
    let _ =
        writeln!(out, "----- level: (in a test claim)\n{}", editor.completion(&uri, at).join("\n"));
    let at = find(&typing, "eligible - pay", 0);
    let at = Position::new(at.line, at.character + 2);
    let _ = writeln!(out, "----- el (in stage basic)\n{}", editor.completion(&uri, at).join("\n"));
    insta::assert_snapshot!(out);
    editor.shutdown();
}

#[test]
fn semantic_tokens_classify_every_token() {
    let mut editor = Editor::start("2021-08-01");
    let uri = scratch("tokens.settle");
    let text = "policy t /* a
comment */
enum Level { level1 \"一级\" }
input claim { id: text, member: text, date: date, level: Level, total: money }
param cap: money = 1_000
let paid = min(claim.total, cap) // 封顶
";
    editor.open(&uri, text);
    let params = SemanticTokensParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    let Some(SemanticTokensResult::Tokens(tokens)) =
        editor.request::<SemanticTokensFullRequest>(params)
    else {
        panic!("tokens");
    };
    let legend = legend();
    let lines: Vec<&str> = text.lines().collect();
    let (mut line, mut start) = (0u32, 0u32);
    let mut out = String::new();
    for t in &tokens.data {
        line += t.delta_line;
        start = if t.delta_line == 0 { start + t.delta_start } else { t.delta_start };
        let units: Vec<u16> = lines[line as usize].encode_utf16().collect();
        let word = String::from_utf16_lossy(&units[start as usize..(start + t.length) as usize]);
        let modifiers: Vec<&str> = legend
            .token_modifiers
            .iter()
            .enumerate()
            .filter(|(i, _)| t.token_modifiers_bitset & (1 << i) != 0)
            .map(|(_, m)| m.as_str())
            .collect();
        let ty = legend.token_types[t.token_type as usize].as_str();
        let _ = writeln!(out, "{}:{} {word:?} {ty} {}", line + 1, start + 1, modifiers.join(","));
    }
    insta::assert_snapshot!(out);
    editor.shutdown();
}

#[test]
fn formatting_is_settle_fmt() {
    let mut editor = Editor::start("2021-08-01");
    let uri = scratch("format.settle");
    let text = "policy   f\ninput claim {\nid: text, member: text, date: date,total: money }\n";
    editor.open(&uri, text);
    let edits = editor.format(&uri).expect("formatted").expect("edits");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].new_text, settle_lang::format::format(text));
    assert_eq!(edits[0].range.end, Position::new(3, 0));
    editor.change(&uri, &edits[0].new_text);
    assert_eq!(editor.format(&uri), Ok(Some(Vec::new())), "formatted already");
    editor.change(&uri, "policy f\ninput claim { id: text\n");
    assert_eq!(editor.format(&uri), Err("not formatted: fix the syntax errors first".into()));
    editor.shutdown();
}

#[test]
fn every_position_of_every_policy_answers_without_panicking() {
    use super::analysis::{Analysis, Buffers};
    use super::{actions, completion, hints, hover, lenses, navigation, rename, signature, tokens};

    let today = Date::parse("2023-06-01").expect("a date");
    let mut paths = Vec::new();
    for folder in ["policies", "examples"] {
        for entry in std::fs::read_dir(repo().join(folder)).expect("a folder") {
            let path = entry.expect("an entry").path();
            match std::fs::read_dir(&path) {
                Ok(inner) => paths.extend(inner.map(|e| e.expect("an entry").path())),
                Err(_) => paths.push(path),
            }
        }
    }
    paths.retain(|p| p.extension().is_some_and(|e| e == "settle"));
    assert!(paths.len() >= 8);
    let buffers = Buffers::new();
    let mut answered = 0;
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("the policy");
        let uri = Url::from_file_path(path).expect("an absolute path");
        let a = Analysis::new(&uri, &text, &buffers, Encoding::Utf16);
        assert!(!tokens::semantic_tokens(&a).data.is_empty());
        assert!(!navigation::symbols(&a).is_empty());
        let whole = a.lines(0).expect("the document").whole();
        let _ = hints::inlay_hints(&a, whole);
        let _ = actions::code_actions(&a, whole);
        let _ = lenses::code_lenses(&a, &uri);
        let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(5).collect();
        for (n, &offset) in offsets.iter().enumerate() {
            if hover::hover(&a, offset, today).is_some() {
                answered += 1;
            }
            let _ = navigation::definition(&a, offset);
            let _ = navigation::references(&a, &[], offset, true);
            let _ = signature::signature_help(&a, offset);
            if n % 40 == 0 {
                let _ = completion::completion(&a, offset);
                let _ = rename::prepare(&a, offset);
                let _ = rename::rename(&a, &[], offset, "renamed");
            }
        }
        // The author typing the file from the top: each prefix checks and completes.
        for cut in text.char_indices().map(|(i, _)| i).step_by(997) {
            let prefix = &text[..cut];
            let a = Analysis::new(&uri, prefix, &buffers, Encoding::Utf16);
            let _ = completion::completion(&a, cut);
            let _ = tokens::semantic_tokens(&a);
            let _ = navigation::symbols(&a);
            let whole = a.lines(0).expect("the document").whole();
            let _ = hints::inlay_hints(&a, whole);
            let _ = actions::code_actions(&a, whole);
        }
    }
    assert!(answered > 1000, "hovers answered: {answered}");
}

#[test]
fn malformed_and_unknown_messages_do_not_stop_the_server() {
    let mut editor = Editor::start("2021-08-01");
    let bogus =
        Notification::new(DidOpenTextDocument::METHOD.into(), serde_json::json!({ "x": 1 }));
    editor.connection.sender.send(bogus.into()).expect("the server listens");
    let id = editor.send_request::<lsp_types::request::WorkspaceSymbolRequest>(
        lsp_types::WorkspaceSymbolParams {
            query: "x".into(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        },
    );
    let error = editor.response(&id).response_result.expect_err("not supported");
    assert_eq!(error.code, lsp_server::ErrorCode::MethodNotFound as i32);
    assert_eq!(editor.hover(&scratch("never-opened.settle"), Position::new(0, 0)), None);
    let uri = scratch("after.settle");
    editor.open(&uri, BROKEN);
    assert_eq!(editor.diagnostics(&uri).len(), 3, "the server still checks");
    editor.shutdown();
}

impl Editor {
    /// Start a server with the client's `capabilities`, and initialize it.
    fn start_with(today: &str, capabilities: lsp_types::ClientCapabilities) -> (Editor, Value) {
        let today = Date::parse(today).expect("a date");
        let (server_side, connection) = Connection::memory();
        let server = std::thread::spawn(move || {
            serve(&server_side, today).expect("the server stops cleanly");
        });
        let mut editor = Editor {
            connection,
            server: Some(server),
            next_id: 0,
            notifications: VecDeque::new(),
            versions: Vec::new(),
        };
        let params = InitializeParams { capabilities, ..InitializeParams::default() };
        let id = editor.send_request::<Initialize>(params);
        let result = editor.response(&id).response_result.expect("initialized");
        editor.notify::<Initialized>(InitializedParams {});
        (editor, result)
    }

    /// A request's result, or its error's message.
    fn try_request<R: lsp_types::request::Request>(
        &mut self,
        params: R::Params,
    ) -> Result<R::Result, String> {
        let id = self.send_request::<R>(params);
        match self.response(&id).response_result {
            Ok(result) => Ok(serde_json::from_value(result).expect("a well-formed result")),
            Err(error) => Err(error.message),
        }
    }

    fn rename(&mut self, uri: &Url, at: Position, new_name: &str) -> Result<WorkspaceEdit, String> {
        let params = RenameParams {
            text_document_position: self.position(uri, at),
            new_name: new_name.into(),
            work_done_progress_params: Default::default(),
        };
        self.try_request::<Rename>(params).map(Option::unwrap_or_default)
    }
}

/// The edits of a workspace edit as `path:line:column-line:column -> text`, sorted.
fn show_edit(edit: &WorkspaceEdit) -> String {
    let mut lines: Vec<String> = edit
        .changes
        .iter()
        .flatten()
        .flat_map(|(uri, edits)| {
            edits.iter().map(move |e| {
                let at = show(&Location { uri: uri.clone(), range: e.range });
                format!("{at} -> {:?}", e.new_text)
            })
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// `text` with the edits of `edit` to `uri` applied.
fn apply(text: &str, uri: &Url, edit: &WorkspaceEdit) -> String {
    let lines = LineIndex::with(text.into(), Encoding::Utf16);
    let mut edits: Vec<(usize, usize, String)> = edit
        .changes
        .iter()
        .flatten()
        .filter(|(u, _)| *u == uri)
        .flat_map(|(_, edits)| edits)
        .map(|e| {
            let span = lines.span(e.range);
            (span.start as usize, span.end as usize, e.new_text.clone())
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, &new);
    }
    out
}

#[test]
fn quick_fixes_come_from_the_problems() {
    let mut editor = Editor::start("2024-01-01");
    let uri = scratch("fixes.settle");
    editor.open(&uri, BROKEN);
    let _ = editor.diagnostics(&uri);
    let whole = LineIndex::with(BROKEN.into(), Encoding::Utf16).whole();
    let actions = editor
        .request::<CodeActionRequest>(CodeActionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range: whole,
            context: CodeActionContext::default(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap_or_default();
    let mut all = WorkspaceEdit::default();
    let mut titles = Vec::new();
    for action in &actions {
        let CodeActionOrCommand::CodeAction(action) = action else { panic!("an action") };
        titles.push(action.title.clone());
        assert_eq!(action.kind, Some(CodeActionKind::QUICKFIX));
        assert_eq!(action.diagnostics.as_ref().map(Vec::len), Some(1), "{}", action.title);
        for (u, edits) in action.edit.as_ref().and_then(|e| e.changes.clone()).into_iter().flatten()
        {
            all.changes.get_or_insert_default().entry(u).or_default().extend(edits);
        }
    }
    let fixed = apply(BROKEN, &uri, &all);
    assert_eq!(titles, ["write `85%`", "remove `unused_bonus`", "replace with `ratio`"]);
    editor.change(&uri, &fixed);
    assert_eq!(editor.diagnostics(&uri), [], "{fixed}");
    editor.shutdown();
}

#[test]
fn rename_reaches_across_extends_and_refuses_to_shadow() {
    let mut editor = Editor::start("2023-06-01");
    let (city, city_text) = policy("tests/editor/weihai/resident.settle");
    let (base, base_text) = policy("tests/editor/shandong/resident_base.settle");
    editor.open(&city, &city_text);
    editor.open(&base, &base_text);
    let _ = editor.diagnostics(&city);

    // From the base: the city's override and its readers are renamed too.
    let at = find(&base_text, "ratio: rate by", 0);
    let edit = editor.rename(&base, at, "reimbursement_ratio").expect("renamed");
    insta::assert_snapshot!("rename_across_extends", show_edit(&edit));
    let renamed_city = apply(&city_text, &city, &edit);
    let renamed_base = apply(&base_text, &base, &edit);
    assert!(renamed_base.contains("eligible * reimbursement_ratio[rated_care"));
    assert!(renamed_city.contains("override param reimbursement_ratio: rate"));
    editor.change(&base, &renamed_base);
    editor.change(&city, &renamed_city);
    // A request checks the edits first; anything published then must be empty.
    let at = find(&renamed_city, "reimbursement_ratio: rate", 0);
    assert!(editor.hover(&city, at).is_some(), "the renamed override is known");
    for n in &editor.notifications {
        let p: PublishDiagnosticsParams = serde_json::from_value(n.params.clone()).expect("ok");
        assert_eq!(p.diagnostics, [], "the renamed pair still checks: {}", p.uri);
    }

    // Onto a name already declared, or a keyword: refused, nothing edited.
    let at = find(&renamed_base, "param deductible", 0);
    let at = Position::new(at.line, at.character + "param ".len() as u32);
    let refused = editor.rename(&base, at, "reimbursement_ratio").expect_err("refused");
    assert!(refused.contains("already declared"), "{refused}");
    let refused = editor.rename(&base, at, "when").expect_err("refused");
    assert!(refused.contains("not a name"), "{refused}");
    editor.shutdown();
}

#[test]
fn references_reach_the_base_items_an_override_replaces() {
    // The city replaces the base's rule `deductible_due` and stage `assistance`, which read
    // `deductible` and `assistance_cap`: seen from the city, the base reads them where the
    // base alone says it does.
    let (city, city_text) = policy("tests/editor/weihai/resident.settle");
    let (base, base_text) = policy("tests/editor/shandong/resident_base.settle");
    let names = ["deductible[claim.care", "assistance_cap -"];
    let in_base = |refs: Vec<Location>| -> Vec<String> {
        refs.iter().filter(|r| r.uri == base).map(show).collect()
    };

    let mut editor = Editor::start("2023-06-01");
    editor.open(&city, &city_text);
    let from_city: Vec<Vec<String>> = names
        .iter()
        .map(|name| in_base(editor.references(&city, find(&city_text, name, 0), false)))
        .collect();
    let edit = editor.rename(&city, find(&city_text, "assistance_cap", 0), "assistance_limit");
    let renamed_base = apply(&base_text, &base, &edit.expect("renamed"));
    editor.shutdown();

    let mut editor = Editor::start("2023-06-01");
    editor.open(&base, &base_text);
    let from_base: Vec<Vec<String>> = names
        .iter()
        .map(|name| in_base(editor.references(&base, find(&base_text, name, 0), false)))
        .collect();
    editor.shutdown();

    assert_eq!(from_city, from_base);
    let replaced =
        [find(&base_text, "deductible[claim.care", 0), find(&base_text, "assistance_cap -", 0)];
    for (refs, at) in from_city.iter().zip(replaced) {
        let line = format!(":{}:{}-", at.line + 1, at.character + 1);
        assert!(refs.iter().any(|r| r.contains(&line)), "{line} not in {refs:?}");
    }
    assert!(renamed_base.contains("max(assistance_limit - assistance_paid"), "{renamed_base}");
    assert!(!renamed_base.contains("assistance_cap"));
}

#[test]
fn a_chain_of_three_overrides_checks_runs_and_navigates() {
    // The county overrides `ratio` and `deductible_due`, which the city overrides in turn
    // from the province.
    let (county, county_text) = policy("tests/editor/rongcheng/resident.settle");
    let (city, city_text) = policy("tests/editor/weihai/resident.settle");
    let (province, province_text) = policy("tests/editor/shandong/resident_base.settle");
    let mut editor = Editor::start("2023-06-01");
    editor.open(&county, &county_text);
    assert_eq!(editor.diagnostics(&county), []);

    // On an override's name, the declaration it replaces; from there, the one that one replaces.
    let at = find(&county_text, "ratio: rate", 0);
    let to = editor.definition(&county, at).expect("the city's declaration");
    assert_eq!((&to.uri, to.range.start), (&city, find(&city_text, "ratio: rate", 0)));

    let at = find(&county_text, "deductible_due: money", 0);
    let refs = editor.references(&county, at, true);
    // Every place the name is written outside a comment: the three declarations, the reads in
    // force, and those in the city's and the province's tests, which run with their own
    // policies.
    let written = |uri: &Url, text: &str| -> Vec<(Url, Position)> {
        text.match_indices("deductible_due")
            .filter(|(i, _)| !text[..*i].rsplit('\n').next().unwrap_or("").contains("//"))
            .map(|(i, _)| {
                let before = &text[..i];
                let line = before.matches('\n').count() as u32;
                let column = before.rsplit('\n').next().map_or(0, |l| l.encode_utf16().count());
                (uri.clone(), Position::new(line, column as u32))
            })
            .collect()
    };
    let mut expected = written(&county, &county_text);
    expected.extend(written(&city, &city_text));
    expected.extend(written(&province, &province_text));
    let mut found: Vec<(Url, Position)> =
        refs.iter().map(|r| (r.uri.clone(), r.range.start)).collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);

    let lenses = editor.lenses(&county);
    let lens = lenses.first().expect("a lens on the test");
    assert_eq!(editor.run_lens(lens)["passed"], true);
    editor.shutdown();
}

#[test]
fn renaming_a_stage_let_refuses_to_capture_a_name_read_there() {
    let text = "policy t
input claim { id: text, member: text, date: date, total: money }
param cap: money = 100
stage basic (pay: money) {
    let room = cap - claim.total
    pay = min(room, cap)
}
balance claim.total = basic.pay
";
    let mut editor = Editor::start("2023-06-01");
    let uri = scratch("capture.settle");
    editor.open(&uri, text);
    let _ = editor.diagnostics(&uri);
    let refused = editor.rename(&uri, find(text, "room =", 0), "cap").expect_err("refused");
    assert!(refused.contains("`cap`"), "{refused}");
    let edit = editor.rename(&uri, find(text, "room =", 0), "headroom").expect("renamed");
    assert_eq!(show_edit(&edit).lines().count(), 2);
    editor.shutdown();
}

#[test]
fn renaming_a_member_refuses_the_name_of_another_member_of_its_owner() {
    let text = "policy t
enum Level { primary, level1 }
input claim { id: text, member: text, date: date, level: Level, total: money }
stage basic (pay: money, rest: money) {
    let room = claim.total
    let spare = room
    pay = room
    rest = spare
}
balance claim.total = basic.pay + basic.rest
";
    let mut editor = Editor::start("2023-06-01");
    let uri = scratch("members.settle");
    editor.open(&uri, text);
    let _ = editor.diagnostics(&uri);
    for (at, taken) in
        [("primary", "level1"), ("total", "level"), ("pay: money", "rest"), ("room =", "spare")]
    {
        let refused = editor.rename(&uri, find(text, at, 0), taken).expect_err("refused");
        assert!(refused.contains("already declared"), "{at} to {taken}: {refused}");
    }
    // A name another owner uses is free.
    let edit = editor.rename(&uri, find(text, "primary", 0), "total").expect("renamed");
    assert_eq!(show_edit(&edit).lines().count(), 1);
    editor.shutdown();
}

#[test]
fn inlay_hints_show_types_and_the_parameters_in_force_on_a_claims_date() {
    let mut editor = Editor::start("2023-06-01");
    let (uri, text) = policy("tests/editor/dezhou/employee_inpatient.settle");
    editor.open(&uri, &text);
    assert_eq!(editor.diagnostics(&uri), []);
    let range = LineIndex::with(text.as_str().into(), Encoding::Utf16).whole();
    let hints = editor
        .request::<InlayHintRequest>(InlayHintParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            range,
            work_done_progress_params: Default::default(),
        })
        .unwrap_or_default();
    let shown: Vec<String> = hints
        .iter()
        .map(|h| {
            let label = match &h.label {
                InlayHintLabel::String(s) => s.clone(),
                InlayHintLabel::LabelParts(parts) => {
                    parts.iter().map(|p| p.value.as_str()).collect()
                }
            };
            let line = text.lines().nth(h.position.line as usize).unwrap_or("");
            let before: String = line
                .encode_utf16()
                .take(h.position.character as usize)
                .collect::<Vec<_>>()
                .into_iter()
                .map(|u| char::from_u32(u32::from(u)).unwrap_or('?'))
                .collect();
            format!("{}:{} {before}|{label}", h.position.line + 1, h.position.character + 1)
        })
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
    editor.shutdown();
}

#[test]
fn a_lens_runs_a_test_and_shows_its_result() {
    let mut editor = Editor::start("2023-06-01");
    let (uri, text) = policy("tests/editor/dezhou/employee_inpatient.settle");
    let wrong = text.replacen("expect a.basic.pay ==", "expect a.basic.pay + 1 ==", 1);
    editor.open(&uri, &wrong);
    assert_eq!(editor.diagnostics(&uri), []);
    let lenses = editor.lenses(&uri);
    assert!(lenses.len() >= 2);
    let mut results = Vec::new();
    for lens in lenses.iter().take(2) {
        results.push(editor.run_lens(lens)["passed"].clone());
        results.push(show_diagnostics(&editor.diagnostics(&uri)).into());
    }
    insta::assert_snapshot!(format!("{results:#?}"));
    editor.shutdown();
}

#[test]
fn checking_waits_for_the_edits_to_pause() {
    let mut editor = Editor::start("2024-01-01");
    let uri = scratch("typing.settle");
    editor.open(&uri, BROKEN);
    let _ = editor.diagnostics(&uri);
    // Three edits in a row: one check, of the last text.
    editor.change(&uri, &BROKEN.replace("ratoi", "rat"));
    editor.change(&uri, &BROKEN.replace("ratoi", "rati"));
    editor.change(&uri, &BROKEN.replace("ratoi", "ratio"));
    let diagnostics = editor.diagnostics(&uri);
    assert!(diagnostics.iter().all(|d| !d.message.contains("unknown name")), "{diagnostics:?}");
    let more = editor.connection.receiver.recv_timeout(server::DEBOUNCE * 4);
    assert!(more.is_err(), "one publication only: {more:?}");
    editor.shutdown();
}

#[test]
fn a_base_changed_on_disk_rechecks_the_policies_extending_it() {
    let folder = repo().join("target").join("lsp-disk");
    std::fs::create_dir_all(&folder).expect("a folder");
    let base_path = folder.join("base.settle");
    let base = "policy base
input claim { id: text, member: text, date: date, total: money }
param ratio: rate = 90%
stage basic (pay: money) {
    pay = claim.total * ratio
}
balance claim.total = basic.pay
";
    std::fs::write(&base_path, base).expect("written");
    let city = "policy city\nextends \"base.settle\"\noverride param ratio: rate = 95%\n";
    let city_uri = Url::from_file_path(folder.join("city.settle")).expect("a path");
    let mut editor = Editor::start("2024-01-01");
    editor.open(&city_uri, city);
    assert_eq!(editor.diagnostics(&city_uri), []);

    std::fs::write(
        &base_path,
        base.replace("param ratio", "param share").replace("* ratio", "* share"),
    )
    .expect("written");
    editor.notify::<DidChangeWatchedFiles>(DidChangeWatchedFilesParams {
        changes: vec![FileEvent {
            uri: Url::from_file_path(&base_path).expect("a path"),
            typ: FileChangeType::CHANGED,
        }],
    });
    let codes: Vec<_> =
        editor.diagnostics(&city_uri).iter().filter_map(|d| d.code.clone()).collect();
    let nothing = lsp_types::NumberOrString::String("settle::extends::nothing_to_override".into());
    assert!(codes.contains(&nothing), "{codes:?}");
    editor.shutdown();
}

#[test]
fn utf8_positions_are_used_when_the_client_offers_them() {
    let capabilities = lsp_types::ClientCapabilities {
        general: Some(lsp_types::GeneralClientCapabilities {
            position_encodings: Some(vec![PositionEncodingKind::UTF8, PositionEncodingKind::UTF16]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (mut editor, result) = Editor::start_with("2024-01-01", capabilities);
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-8");
    let uri = scratch("utf8.settle");
    let text = "policy u\ninput claim { id: text, member: text, date: date, total: money }\nlet 起付线 = claim.total + ratoi\n";
    editor.open(&uri, text);
    let diagnostics = editor.diagnostics(&uri);
    let unknown = diagnostics.iter().find(|d| d.message.contains("ratoi")).expect("reported");
    let line = text.lines().nth(unknown.range.start.line as usize).expect("the line");
    let bytes = line.find("ratoi").expect("there");
    let units = line[..bytes].encode_utf16().count();
    assert_ne!(bytes, units);
    assert_eq!(unknown.range.start.character as usize, bytes, "columns count bytes");
    editor.shutdown();

    let (editor, result) =
        Editor::start_with("2024-01-01", lsp_types::ClientCapabilities::default());
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    editor.shutdown();
}

#[test]
fn signature_help_names_the_argument_being_written() {
    let text = "policy t
input claim { id: text, member: text, date: date, total: money }
param scale: scale = { 0 ..: 50% }
let a = min(claim.total, segmented(scale, claim.total))
";
    let mut editor = Editor::start("2024-01-01");
    let uri = scratch("signature.settle");
    editor.open(&uri, text);
    let _ = editor.diagnostics(&uri);
    let mut shown = Vec::new();
    for (needle, n) in
        [("claim.total,", 0), ("segmented(", 0), ("scale, claim", 0), ("claim.total))", 0)]
    {
        let help = editor.request::<SignatureHelpRequest>(SignatureHelpParams {
            context: None,
            text_document_position_params: editor.position(&uri, find(text, needle, n)),
            work_done_progress_params: Default::default(),
        });
        shown.push(help.map_or("none".to_string(), |h| {
            let label = h.signatures.first().map_or("", |s| s.label.as_str()).to_string();
            format!("{needle} -> {label} #{}", h.active_parameter.unwrap_or(0))
        }));
    }
    assert_eq!(
        shown,
        [
            "claim.total, -> min(a, b, ...) #0",
            "segmented( -> min(a, b, ...) #1",
            "scale, claim -> segmented(scale, amount) #0",
            "claim.total)) -> segmented(scale, amount) #1",
        ]
    );
    editor.shutdown();
}

/// A policy using the date functions, rounding to a unit, a monthly total, a first-match rule,
/// a stage placed before another and an assumed start.
const DATED: &str = "policy t
dated by claim.date

input claim { id: text, member: text, date: date, birth: date, total: money }

monthly spent: money = sum(claim.total)

param cap: money
    from 2024-01-01 100
    from 2024-07-01 assumed 200

let age = years_between(claim.birth, claim.date)
let review = claim.date + 30 days
let shown = round(claim.total, yuan, down)

rule ratio: rate
    default 50%
    when age >= 60 -> 70%
    else when age >= 40 -> 60%

stage basic (pay: money) {
    pay = min(claim.total * ratio, cap)
}
";

#[test]
fn completion_offers_the_date_functions_rounding_and_the_new_words_where_they_fit() {
    let mut editor = Editor::start("2024-08-01");
    let uri = scratch("dated.settle");
    editor.open(&uri, DATED);
    let _ = editor.diagnostics(&uri);
    // Each edit types into the policy, up to the cursor `|`, where the completion is asked for.
    let offered = |editor: &mut Editor, replace: &str, with: &str| {
        let typed = DATED.replacen(replace, with, 1);
        let at = find(&typed, "|", 0);
        editor.change(&uri, &typed.replacen('|', "", 1));
        let labels: Vec<String> = editor
            .completion(&uri, at)
            .into_iter()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect();
        labels
    };
    let functions = offered(&mut editor, "let age = years_between", "let age = y|");
    assert!(functions.contains(&"years_between".to_string()), "{functions:?}");
    assert!(functions.contains(&"year".to_string()), "{functions:?}");
    let functions = offered(&mut editor, "let shown = round(", "let shown = r|");
    assert!(functions.contains(&"round".to_string()), "{functions:?}");
    let functions = offered(&mut editor, "let age = years_between", "let age = m|");
    assert!(functions.contains(&"month".to_string()), "{functions:?}");
    let functions = offered(&mut editor, "let age = years_between", "let age = d|");
    assert!(functions.contains(&"day".to_string()), "{functions:?}");
    let units = offered(&mut editor, "claim.total, yuan, down", "claim.total, |");
    assert_eq!(units, ["fen", "jiao", "yuan"]);
    let modes = offered(&mut editor, "claim.total, yuan, down", "claim.total, yuan, |");
    assert_eq!(modes, ["down", "half_even", "half_up", "up"]);
    let lengths = offered(&mut editor, "claim.date + 30 days", "claim.date + 30 |");
    assert_eq!(lengths, ["days", "months"]);
    for window in ["lifetime", "monthly", "quarterly"] {
        let typing = format!("{}|", &window[..1]);
        let items = offered(&mut editor, "monthly spent", &typing);
        assert!(items.contains(&window.to_string()), "{window}: {items:?}");
    }
    let arms = offered(&mut editor, "    else when age >= 40", "    el|");
    assert_eq!(arms, ["else when"]);
    let outside = offered(&mut editor, "let review", "e|");
    assert!(!outside.contains(&"else when".to_string()), "{outside:?}");
    let before = offered(&mut editor, "stage basic (pay", "stage basic |");
    assert_eq!(before, ["before"]);
    let assumed = offered(&mut editor, "from 2024-07-01 assumed", "from 2024-07-01 |");
    assert_eq!(assumed, ["assumed"]);
    editor.shutdown();
}

#[test]
fn signature_help_and_hover_describe_rounding_and_the_date_functions() {
    let mut editor = Editor::start("2024-08-01");
    let uri = scratch("dated-help.settle");
    editor.open(&uri, DATED);
    let _ = editor.diagnostics(&uri);
    let mut shown = Vec::new();
    for needle in ["claim.birth,", "claim.date)\n", "yuan,", "down)"] {
        let help = editor.request::<SignatureHelpRequest>(SignatureHelpParams {
            context: None,
            text_document_position_params: editor.position(&uri, find(DATED, needle, 0)),
            work_done_progress_params: Default::default(),
        });
        shown.push(help.map_or("none".to_string(), |h| {
            let label = h.signatures.first().map_or("", |s| s.label.as_str()).to_string();
            format!("{needle} -> {label} #{}", h.active_parameter.unwrap_or(0))
        }));
    }
    assert_eq!(
        shown,
        [
            "claim.birth, -> years_between(from, to) #0",
            "claim.date)\n -> years_between(from, to) #1",
            "yuan, -> round(amount, unit, mode) #1",
            "down) -> round(amount, unit, mode) #2",
        ]
    );
    let hover = |editor: &mut Editor, needle: &str| {
        editor
            .hover(&uri, find(DATED, needle, 0))
            .unwrap_or_else(|| format!("no hover on {needle}"))
    };
    let years = hover(&mut editor, "years_between(");
    assert!(
        years.contains("years_between(from, to)") && years.contains("anniversaries"),
        "{years}"
    );
    let round = hover(&mut editor, "round(");
    assert!(round.contains("round(amount, unit, mode)"), "{round}");
    let unit = hover(&mut editor, "yuan, down");
    assert!(unit.contains("a unit of `round`: 1 yuan"), "{unit}");
    let mode = hover(&mut editor, "down)");
    assert!(mode.contains("a mode of `round`: toward zero"), "{mode}");
    let monthly = hover(&mut editor, "spent: money");
    assert!(
        monthly.contains("monthly spent: money = sum(claim.total)")
            && monthly.contains("earlier claims of the calendar month"),
        "{monthly}"
    );
    let cap = hover(&mut editor, "cap)");
    assert!(cap.contains("**from 2024-07-01** (assumed start)"), "{cap}");
    editor.shutdown();
}
