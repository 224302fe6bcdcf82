//! The server's loop: documents opened and changed, checked, diagnostics published, requests
//! answered in order.
//!
//! An opened document is checked at once; a changed one once the edits pause for
//! [`DEBOUNCE`] (or before the next request, so that answers always read the current text).
//! The unsaved texts of the other open documents stand in for their files, so a policy
//! extending an open base sees the base's edits; every open document that read a changed one
//! is checked again, and so is every one reading a file the client reports changed on disk.
//! An open document's published diagnostics are its own check's (and the results of the tests
//! run from its lenses); a base that is not open gets those of every check that read it,
//! without repeats.

use std::collections::{BTreeSet, HashMap};
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, CodeLensRequest, Completion, DocumentSymbolRequest, ExecuteCommand,
    Formatting, GotoDefinition, HoverRequest, InlayHintRequest, PrepareRenameRequest, References,
    RegisterCapability, Rename, Request as _, SemanticTokensFullRequest, SignatureHelpRequest,
};
use lsp_types::{
    CodeActionProviderCapability, CodeLensOptions, CompletionOptions, CompletionResponse,
    Diagnostic, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentSymbolResponse, ExecuteCommandOptions, FileSystemWatcher,
    GlobPattern, GotoDefinitionResponse, InitializeParams, InitializeResult, OneOf,
    PositionEncodingKind, PublishDiagnosticsParams, Registration, RegistrationParams,
    RenameOptions, SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, ServerInfo, SignatureHelpOptions,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Url,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use settle_lang::date::Date;

use super::analysis::{Analysis, Buffers, canonical};
use super::convert::{Encoding, LineIndex};
use super::{actions, completion, hints, hover, lenses, navigation, rename, signature, tokens};

/// What stops the server: the connection failing.
pub type ServerError = Box<dyn Error + Send + Sync>;

/// How long the edits of a document must pause before it is checked again.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// What the server announces it can do, columns counted in `encoding`.
pub fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(match encoding {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![lenses::RUN_TEST.into()],
            work_done_progress_options: Default::default(),
        }),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            retrigger_characters: None,
            work_done_progress_options: Default::default(),
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into()]),
            ..CompletionOptions::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..SemanticTokensOptions::default()
            },
        )),
        ..ServerCapabilities::default()
    }
}

/// Serve one client on `connection` until it shuts the server down or goes away. `today`
/// decides which parameter values hovers show as in force.
pub fn serve(connection: &Connection, today: Date) -> Result<(), ServerError> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let offered = params.capabilities.general.as_ref().and_then(|g| g.position_encodings.as_ref());
    let encoding = if offered.is_some_and(|kinds| kinds.contains(&PositionEncodingKind::UTF8)) {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    };
    let result = InitializeResult {
        capabilities: capabilities(encoding),
        server_info: Some(ServerInfo {
            name: "settle".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;
    let watches = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|d| d.dynamic_registration)
        == Some(true);
    if watches {
        watch_policies(connection)?;
    }
    let mut server = Server {
        connection,
        today,
        encoding,
        docs: HashMap::new(),
        pending: BTreeSet::new(),
        tests: HashMap::new(),
        published: HashMap::new(),
    };
    loop {
        let message = if server.pending.is_empty() {
            match connection.receiver.recv() {
                Ok(message) => message,
                Err(_) => return Ok(()),
            }
        } else {
            match connection.receiver.recv_timeout(DEBOUNCE) {
                Ok(message) => message,
                Err(e) if e.is_timeout() => {
                    server.flush()?;
                    continue;
                }
                Err(_) => return Ok(()),
            }
        };
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                server.flush()?;
                let response = server.request(request);
                connection.sender.send(response.into())?;
            }
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
}

/// Ask the client to report changes on disk of policy files, for re-checking the documents
/// that extend them.
fn watch_policies(connection: &Connection) -> Result<(), ServerError> {
    let options = DidChangeWatchedFilesRegistrationOptions {
        watchers: vec![FileSystemWatcher {
            glob_pattern: GlobPattern::String("**/*.settle".into()),
            kind: None,
        }],
    };
    let params = RegistrationParams {
        registrations: vec![Registration {
            id: "settle-policies-on-disk".into(),
            method: DidChangeWatchedFiles::METHOD.into(),
            register_options: Some(serde_json::to_value(options)?),
        }],
    };
    let request = Request::new(
        lsp_server::RequestId::from("settle-watch".to_string()),
        RegisterCapability::METHOD.into(),
        params,
    );
    connection.sender.send(request.into())?;
    Ok(())
}

/// An open document.
#[derive(Debug)]
struct Document {
    text: Arc<str>,
    analysis: Analysis,
}

struct Server<'c> {
    connection: &'c Connection,
    today: Date,
    encoding: Encoding,
    docs: HashMap<Url, Document>,
    /// Documents changed since they were last checked.
    pending: BTreeSet<Url>,
    /// The results of the tests last run from a lens, by document, until it changes.
    tests: HashMap<Url, Vec<Diagnostic>>,
    /// What was last published for each URI.
    published: HashMap<Url, Vec<Diagnostic>>,
}

impl Server<'_> {
    fn request(&mut self, request: Request) -> Response {
        match request.method.as_str() {
            HoverRequest::METHOD => answer::<HoverRequest>(request, |p| {
                let at = &p.text_document_position_params;
                self.at(at).and_then(|(a, offset)| hover::hover(a, offset, self.today))
            }),
            GotoDefinition::METHOD => answer::<GotoDefinition>(request, |p| {
                let (a, offset) = self.at(&p.text_document_position_params)?;
                navigation::definition(a, offset).map(GotoDefinitionResponse::Scalar)
            }),
            References::METHOD => answer::<References>(request, |p| {
                let at = &p.text_document_position;
                let (a, offset) = self.at(at)?;
                let uri = &at.text_document.uri;
                let others: Vec<&Analysis> =
                    self.docs.iter().filter(|(u, _)| *u != uri).map(|(_, d)| &d.analysis).collect();
                let include = p.context.include_declaration;
                Some(navigation::references(a, &others, offset, include))
            }),
            DocumentSymbolRequest::METHOD => answer::<DocumentSymbolRequest>(request, |p| {
                let doc = self.docs.get(&p.text_document.uri)?;
                Some(DocumentSymbolResponse::Nested(navigation::symbols(&doc.analysis)))
            }),
            CodeActionRequest::METHOD => answer::<CodeActionRequest>(request, |p| {
                let doc = self.docs.get(&p.text_document.uri)?;
                Some(actions::code_actions(&doc.analysis, p.range))
            }),
            PrepareRenameRequest::METHOD => answer::<PrepareRenameRequest>(request, |p| {
                let (a, offset) = self.at(&p)?;
                rename::prepare(a, offset)
            }),
            Rename::METHOD => {
                let id = request.id.clone();
                match serde_json::from_value::<lsp_types::RenameParams>(request.params) {
                    Ok(p) => match self.rename(&p) {
                        Ok(edit) => Response::new_ok(id, edit),
                        Err(message) => {
                            Response::new_err(id, ErrorCode::RequestFailed as i32, message)
                        }
                    },
                    Err(e) => Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
                }
            }
            InlayHintRequest::METHOD => answer::<InlayHintRequest>(request, |p| {
                let doc = self.docs.get(&p.text_document.uri)?;
                Some(hints::inlay_hints(&doc.analysis, p.range))
            }),
            CodeLensRequest::METHOD => answer::<CodeLensRequest>(request, |p| {
                let doc = self.docs.get(&p.text_document.uri)?;
                Some(lenses::code_lenses(&doc.analysis, &p.text_document.uri))
            }),
            SignatureHelpRequest::METHOD => answer::<SignatureHelpRequest>(request, |p| {
                let (a, offset) = self.at(&p.text_document_position_params)?;
                signature::signature_help(a, offset)
            }),
            ExecuteCommand::METHOD => {
                let id = request.id.clone();
                match serde_json::from_value::<lsp_types::ExecuteCommandParams>(request.params) {
                    Ok(p) => match self.execute(&p) {
                        Ok(result) => Response::new_ok(id, result),
                        Err(message) => {
                            Response::new_err(id, ErrorCode::RequestFailed as i32, message)
                        }
                    },
                    Err(e) => Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
                }
            }
            Completion::METHOD => answer::<Completion>(request, |p| {
                let (a, offset) = self.at(&p.text_document_position)?;
                Some(CompletionResponse::Array(completion::completion(a, offset)))
            }),
            SemanticTokensFullRequest::METHOD => {
                answer::<SemanticTokensFullRequest>(request, |p| {
                    let doc = self.docs.get(&p.text_document.uri)?;
                    Some(SemanticTokensResult::Tokens(tokens::semantic_tokens(&doc.analysis)))
                })
            }
            Formatting::METHOD => {
                let id = request.id.clone();
                match serde_json::from_value::<lsp_types::DocumentFormattingParams>(request.params)
                {
                    Ok(p) => match self.format(&p.text_document.uri) {
                        Ok(edits) => Response::new_ok(id, edits),
                        Err(message) => {
                            Response::new_err(id, ErrorCode::RequestFailed as i32, message.into())
                        }
                    },
                    Err(e) => Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
                }
            }
            _ => Response::new_err(
                request.id,
                ErrorCode::MethodNotFound as i32,
                format!("`{}` is not supported", request.method),
            ),
        }
    }

    /// The analysis of the document a request points into, and the byte offset it points at.
    fn at(&self, at: &TextDocumentPositionParams) -> Option<(&Analysis, usize)> {
        let doc = self.docs.get(&at.text_document.uri)?;
        Some((&doc.analysis, doc.analysis.offset(at.position)))
    }

    /// Rename the name a request points at, in every open document that reads it.
    fn rename(&self, p: &lsp_types::RenameParams) -> Result<lsp_types::WorkspaceEdit, String> {
        let at = &p.text_document_position;
        let (a, offset) = self.at(at).ok_or("the document is not open")?;
        let uri = &at.text_document.uri;
        let others: Vec<&Analysis> =
            self.docs.iter().filter(|(u, _)| *u != uri).map(|(_, d)| &d.analysis).collect();
        rename::rename(a, &others, offset, &p.new_name)
    }

    /// Run a command: [`lenses::RUN_TEST`] runs a test and publishes its result.
    fn execute(
        &mut self,
        p: &lsp_types::ExecuteCommandParams,
    ) -> Result<Option<serde_json::Value>, String> {
        if p.command != lenses::RUN_TEST {
            return Err(format!("`{}` is not a command of settle", p.command));
        }
        let (Some(uri), Some(name)) = (
            p.arguments.first().and_then(|a| a.as_str()).and_then(|u| Url::parse(u).ok()),
            p.arguments.get(1).and_then(|a| a.as_str()),
        ) else {
            return Err("`settle.runTest` takes a document's URI and a test's name".into());
        };
        let doc = self.docs.get(&uri).ok_or("the document is not open")?;
        let results = lenses::run_test(&doc.analysis, name);
        let passed =
            results.iter().all(|d| d.severity != Some(lsp_types::DiagnosticSeverity::ERROR));
        self.tests.insert(uri.clone(), results);
        self.publish(BTreeSet::from([uri])).map_err(|e| e.to_string())?;
        Ok(Some(serde_json::json!({ "passed": passed })))
    }

    /// The whole document formatted as `settle fmt` would, as one edit (none when formatted).
    fn format(&self, uri: &Url) -> Result<Option<Vec<TextEdit>>, &'static str> {
        let Some(doc) = self.docs.get(uri) else { return Ok(None) };
        let syntax_errors =
            doc.analysis.checked.problems.list.iter().any(|p| {
                p.file == 0 && p.is_error() && p.code.as_str().starts_with("settle::syntax")
            });
        if syntax_errors || doc.analysis.checked.modules.is_empty() {
            return Err("not formatted: fix the syntax errors first");
        }
        let formatted = settle_lang::format::format(&doc.text);
        if *formatted == *doc.text {
            return Ok(Some(Vec::new()));
        }
        let whole = LineIndex::with(doc.text.clone(), self.encoding).whole();
        Ok(Some(vec![TextEdit { range: whole, new_text: formatted }]))
    }

    fn notification(&mut self, notification: Notification) -> Result<(), ServerError> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Some(p) = params::<DidOpenTextDocumentParams>(notification) else {
                    return Ok(());
                };
                self.flush()?;
                self.set_text(p.text_document.uri, p.text_document.text.into())
            }
            DidChangeTextDocument::METHOD => {
                let Some(p) = params::<DidChangeTextDocumentParams>(notification) else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                let encoding = self.encoding;
                let Some(doc) = self.docs.get_mut(&uri) else { return Ok(()) };
                let mut text = doc.text.to_string();
                for change in p.content_changes {
                    match change.range {
                        Some(range) => {
                            let span = LineIndex::with(text.as_str().into(), encoding).span(range);
                            text.replace_range(span.range(), &change.text);
                        }
                        None => text = change.text,
                    }
                }
                doc.text = text.into();
                self.pending.insert(uri);
                Ok(())
            }
            DidChangeWatchedFiles::METHOD => {
                let Some(p) = params::<DidChangeWatchedFilesParams>(notification) else {
                    return Ok(());
                };
                self.flush()?;
                let mut affected = BTreeSet::new();
                for change in p.changes {
                    // An open document's text is the editor's, not the disk's.
                    if !self.docs.contains_key(&change.uri) {
                        affected.extend(self.recheck(&change.uri));
                    }
                }
                self.publish(affected)
            }
            DidCloseTextDocument::METHOD => {
                let Some(p) = params::<DidCloseTextDocumentParams>(notification) else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                self.pending.remove(&uri);
                self.tests.remove(&uri);
                let Some(closed) = self.docs.remove(&uri) else { return Ok(()) };
                let mut affected: BTreeSet<Url> = closed.analysis.diagnostics.into_keys().collect();
                affected.extend(self.recheck(&uri));
                self.publish(affected)
            }
            _ => Ok(()),
        }
    }

    /// Check the documents changed since they were last checked, and publish.
    fn flush(&mut self) -> Result<(), ServerError> {
        for uri in std::mem::take(&mut self.pending) {
            let Some(text) = self.docs.get(&uri).map(|d| d.text.clone()) else { continue };
            self.set_text(uri, text)?;
        }
        Ok(())
    }

    /// Take a document's new text, check it and every open document that read it, publish.
    fn set_text(&mut self, uri: Url, text: Arc<str>) -> Result<(), ServerError> {
        self.tests.remove(&uri);
        let analysis = Analysis::new(&uri, &text, &self.buffers(), self.encoding);
        let old = self.docs.insert(uri.clone(), Document { text, analysis });
        let mut affected: BTreeSet<Url> =
            old.map(|d| d.analysis.diagnostics.into_keys().collect()).unwrap_or_default();
        if let Some(doc) = self.docs.get(&uri) {
            affected.extend(doc.analysis.diagnostics.keys().cloned());
        }
        affected.extend(self.recheck(&uri));
        self.publish(affected)
    }

    /// Check again every other open document that read `changed`; return the URIs whose
    /// diagnostics may have changed.
    fn recheck(&mut self, changed: &Url) -> BTreeSet<Url> {
        let buffers = self.buffers();
        let mut affected = BTreeSet::new();
        for (uri, doc) in &mut self.docs {
            if uri == changed || !doc.analysis.reads(changed) {
                continue;
            }
            affected.extend(doc.analysis.diagnostics.keys().cloned());
            doc.analysis = Analysis::new(uri, &doc.text, &buffers, self.encoding);
            affected.extend(doc.analysis.diagnostics.keys().cloned());
        }
        affected
    }

    /// The open documents' texts by canonical path, for `extends`.
    fn buffers(&self) -> Buffers {
        self.docs
            .iter()
            .filter_map(|(uri, doc)| {
                let path = uri.to_file_path().ok()?;
                Some((canonical(&path), (uri.clone(), doc.text.clone())))
            })
            .collect()
    }

    /// Publish the diagnostics of each URI in `uris` that changed since last published: an
    /// open document's own check's; for a file not open, those of the checks that read it.
    fn publish(&mut self, uris: BTreeSet<Url>) -> Result<(), ServerError> {
        for uri in uris {
            let checks: Vec<&Analysis> = match self.docs.get(&uri) {
                Some(doc) => vec![&doc.analysis],
                None => {
                    let mut readers: Vec<(&Url, &Document)> = self.docs.iter().collect();
                    readers.sort_by_key(|(u, _)| *u);
                    readers.into_iter().map(|(_, d)| &d.analysis).collect()
                }
            };
            let mut list: Vec<Diagnostic> = Vec::new();
            let tests = self.tests.get(&uri).into_iter().flatten();
            for analysis in checks {
                for d in analysis.diagnostics.get(&uri).into_iter().flatten() {
                    if !list.contains(d) {
                        list.push(d.clone());
                    }
                }
            }
            list.extend(tests.cloned());
            if self.published.get(&uri) == Some(&list) {
                continue;
            }
            let params = PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: list.clone(),
                version: None,
            };
            let message = Notification::new(PublishDiagnostics::METHOD.into(), params);
            self.connection.sender.send(message.into())?;
            if list.is_empty() && !self.docs.contains_key(&uri) {
                self.published.remove(&uri);
            } else {
                self.published.insert(uri, list);
            }
        }
        Ok(())
    }
}

/// A notification's parameters; malformed ones are reported on standard error and ignored.
fn params<P: DeserializeOwned>(notification: Notification) -> Option<P> {
    match serde_json::from_value(notification.params) {
        Ok(params) => Some(params),
        Err(e) => {
            eprintln!("settle lsp: ignored `{}`: {e}", notification.method);
            None
        }
    }
}

/// Answer a request of type `R` with `f` of its parameters; bad parameters are an error.
fn answer<R>(request: Request, f: impl FnOnce(R::Params) -> R::Result) -> Response
where
    R: lsp_types::request::Request,
    R::Params: DeserializeOwned,
    R::Result: Serialize,
{
    match serde_json::from_value::<R::Params>(request.params) {
        Ok(params) => Response::new_ok(request.id, f(params)),
        Err(e) => Response::new_err(request.id, ErrorCode::InvalidParams as i32, e.to_string()),
    }
}
