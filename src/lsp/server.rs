//! The server's loop: documents opened and changed, checked at once, diagnostics published,
//! requests answered in order.
//!
//! Each open document is checked on every change, with the unsaved texts of the other open
//! documents standing in for their files, so a policy extending an open base sees the base's
//! edits; every open document that read a changed one is checked again. An open document's
//! published diagnostics are its own check's; a base that is not open gets those of every
//! check that read it, without repeats.

use std::collections::{BTreeSet, HashMap};
use std::error::Error;
use std::sync::Arc;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, References,
    Request as _, SemanticTokensFullRequest,
};
use lsp_types::{
    CompletionOptions, CompletionResponse, Diagnostic, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentSymbolResponse,
    GotoDefinitionResponse, InitializeResult, OneOf, PublishDiagnosticsParams,
    SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, ServerInfo, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Url,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use settle_lang::date::Date;

use super::analysis::{Analysis, Buffers, canonical};
use super::convert::LineIndex;
use super::{completion, hover, navigation, tokens};

/// What stops the server: the connection failing.
pub type ServerError = Box<dyn Error + Send + Sync>;

/// What the server announces it can do.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
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
    let (id, _params) = connection.initialize_start()?;
    let result = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "settle".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;
    let mut server = Server { connection, today, docs: HashMap::new(), published: HashMap::new() };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(());
                }
                let response = server.request(request);
                connection.sender.send(response.into())?;
            }
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
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
    docs: HashMap<Url, Document>,
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
        let whole = LineIndex::new(doc.text.clone()).whole();
        Ok(Some(vec![TextEdit { range: whole, new_text: formatted }]))
    }

    fn notification(&mut self, notification: Notification) -> Result<(), ServerError> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Some(p) = params::<DidOpenTextDocumentParams>(notification) else {
                    return Ok(());
                };
                self.set_text(p.text_document.uri, p.text_document.text.into())
            }
            DidChangeTextDocument::METHOD => {
                let Some(p) = params::<DidChangeTextDocumentParams>(notification) else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                let Some(doc) = self.docs.get(&uri) else { return Ok(()) };
                let mut text = doc.text.to_string();
                for change in p.content_changes {
                    match change.range {
                        Some(range) => {
                            let span = LineIndex::new(text.as_str().into()).span(range);
                            text.replace_range(span.range(), &change.text);
                        }
                        None => text = change.text,
                    }
                }
                self.set_text(uri, text.into())
            }
            DidCloseTextDocument::METHOD => {
                let Some(p) = params::<DidCloseTextDocumentParams>(notification) else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                let Some(closed) = self.docs.remove(&uri) else { return Ok(()) };
                let mut affected: BTreeSet<Url> = closed.analysis.diagnostics.into_keys().collect();
                affected.extend(self.recheck(&uri));
                self.publish(affected)
            }
            _ => Ok(()),
        }
    }

    /// Take a document's new text, check it and every open document that read it, publish.
    fn set_text(&mut self, uri: Url, text: Arc<str>) -> Result<(), ServerError> {
        let analysis = Analysis::new(&uri, &text, &self.buffers());
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
            doc.analysis = Analysis::new(uri, &doc.text, &buffers);
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
            for analysis in checks {
                for d in analysis.diagnostics.get(&uri).into_iter().flatten() {
                    if !list.contains(d) {
                        list.push(d.clone());
                    }
                }
            }
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
