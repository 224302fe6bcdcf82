//! One open document checked: the front end's result, the name index, and the files it read,
//! each with its URI and line index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_types::{Diagnostic, Location, Position, Url};
use settle_lang::ast::{Item, Module};
use settle_lang::diagnostic::FileId;
use settle_lang::ide::index::{Decl, Index};
use settle_lang::span::Span;
use settle_lang::{Checked, Loader, check_with};

use super::convert::{Encoding, LineIndex};
use super::diagnostics;
use crate::files::{FileLoader, base_path};

/// The documents open in the editor, by canonical path: their URIs and unsaved texts.
pub type Buffers = HashMap<PathBuf, (Url, Arc<str>)>;

/// A checked document.
#[derive(Debug)]
pub struct Analysis {
    /// What the front end found.
    pub checked: Checked,
    /// Every name's declarations and references, in this file and its bases, as the checker
    /// resolved them (taken out of `checked`).
    pub index: Index,
    /// Each file read, by file id: its URI (`None` for a base with no path) and lines.
    files: Vec<(Option<Url>, LineIndex)>,
    /// The diagnostics of this check, by the URI of the file they are in; the document's own
    /// URI is always present, so that fixing every problem clears what was published.
    pub diagnostics: HashMap<Url, Vec<Diagnostic>>,
}

impl Analysis {
    /// Check the document `uri` holding `text`; `extends` reads open documents' unsaved texts
    /// before files on disk.
    pub fn new(uri: &Url, text: &str, buffers: &Buffers, encoding: Encoding) -> Analysis {
        let name = match uri.to_file_path() {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(()) => uri.to_string(),
        };
        let mut checked = check_with(&name, text, &mut BufferLoader { buffers });
        let index = std::mem::take(&mut checked.index);
        let files = checked
            .problems
            .sources
            .iter()
            .map(|(id, source)| {
                let file_uri = if id == 0 {
                    Some(uri.clone())
                } else {
                    let path = canonical(Path::new(&source.name));
                    match buffers.get(&path) {
                        Some((open, _)) => Some(open.clone()),
                        None => Url::from_file_path(&path).ok(),
                    }
                };
                (file_uri, LineIndex::with(source.text.clone(), encoding))
            })
            .collect();
        let mut analysis = Analysis { checked, index, files, diagnostics: HashMap::new() };
        analysis.diagnostics = diagnostics::by_file(&analysis);
        analysis
    }

    /// The URI of a file read.
    pub fn uri(&self, file: FileId) -> Option<&Url> {
        self.files.get(file).and_then(|(uri, _)| uri.as_ref())
    }

    /// The lines of a file read.
    pub fn lines(&self, file: FileId) -> Option<&LineIndex> {
        self.files.get(file).map(|(_, lines)| lines)
    }

    /// The text of a file read.
    pub fn text(&self, file: FileId) -> &str {
        self.lines(file).map_or("", LineIndex::text)
    }

    /// The id of the file with this URI, if this check read it.
    pub fn file_of(&self, uri: &Url) -> Option<FileId> {
        self.files.iter().position(|(u, _)| u.as_ref() == Some(uri))
    }

    /// Whether this check read the file `uri`.
    pub fn reads(&self, uri: &Url) -> bool {
        self.file_of(uri).is_some()
    }

    /// The byte offset of a position in the document.
    pub fn offset(&self, position: Position) -> usize {
        self.lines(0).map_or(0, |l| l.offset(position))
    }

    /// Where `span` of `file` is, for the editor.
    pub fn location(&self, file: FileId, span: Span) -> Option<Location> {
        let uri = self.uri(file)?.clone();
        Some(Location { uri, range: self.lines(file)?.range(span) })
    }

    /// The parsed module of a file read.
    pub fn module(&self, file: FileId) -> Option<&Module> {
        self.checked.modules.iter().find(|(id, _)| *id == file).map(|(_, m)| m)
    }

    /// The top-level item a declaration stands in.
    pub fn item(&self, decl: &Decl) -> Option<&Item> {
        let span = decl.name;
        self.module(decl.file)?
            .items
            .iter()
            .find(|item| item.span().start <= span.start && span.end <= item.span().end)
    }

    /// The source text of `span` in `file`.
    pub fn source(&self, file: FileId, span: Span) -> &str {
        self.text(file).get(span.range()).unwrap_or("")
    }

    /// The name the front end gave a file read (its path).
    pub fn file_name(&self, file: FileId) -> &str {
        self.checked.problems.sources.get(file).map_or("", |f| f.name.as_str())
    }
}

/// The path with symbolic links and `..` resolved, when the file exists.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Loads bases from open documents first, then from disk.
struct BufferLoader<'b> {
    buffers: &'b Buffers,
}

impl Loader for BufferLoader<'_> {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let full = base_path(from, path);
        match self.buffers.get(&canonical(&full)) {
            Some((_, text)) => Ok((full.to_string_lossy().into_owned(), text.to_string())),
            None => FileLoader.load(from, path),
        }
    }
}
