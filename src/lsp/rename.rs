//! Renaming a name everywhere it is declared and read: in the document, the bases it extends
//! and the open policies that read the file declaring it. A rename that would make the new
//! name mean something else somewhere (shadow or be shadowed), or that is no name, is refused.

use std::collections::HashMap;

use lsp_types::{PrepareRenameResponse, TextEdit, Url, WorkspaceEdit};
use settle_lang::ide::index::{Decl, Symbol, SymbolId};
use settle_lang::syntax::token::{Token, WordKind, tokenize, word_kind};

use super::analysis::Analysis;
use super::navigation::references;

/// The name at `offset`, if it can be renamed.
pub fn prepare(a: &Analysis, offset: usize) -> Option<PrepareRenameResponse> {
    let occurrence = a.index.at(0, offset)?;
    let range = a.lines(0)?.range(occurrence.span);
    Some(PrepareRenameResponse::Range(range))
}

/// The edits renaming the name at `offset` to `new_name`, or why it cannot be renamed.
pub fn rename(
    a: &Analysis,
    others: &[&Analysis],
    offset: usize,
    new_name: &str,
) -> Result<WorkspaceEdit, String> {
    let occurrence = a.index.at(0, offset).ok_or("there is no name here to rename")?;
    let symbol = occurrence.symbol;
    if symbol.name() == new_name {
        return Ok(WorkspaceEdit::default());
    }
    if !is_name(new_name) {
        return Err(format!("`{new_name}` is not a name: a name is a word that is not a keyword"));
    }
    if let Some(clash) = clash(a, occurrence.id, symbol, new_name) {
        return Err(clash);
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for location in references(a, others, offset, true) {
        let edit = TextEdit { range: location.range, new_text: new_name.to_string() };
        changes.entry(location.uri).or_default().push(edit);
    }
    Ok(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() })
}

/// Whether `text` is one name token that is no keyword.
fn is_name(text: &str) -> bool {
    let tokens = tokenize(text);
    matches!(tokens.as_slice(), [t] if t.kind == Some(Token::Ident) && t.span.len() == text.len())
        && word_kind(text) == WordKind::Name
}

/// Why renaming `symbol` (`id` in `a`'s index) to `new_name` would change what some name
/// means, if it would.
fn clash(a: &Analysis, id: SymbolId, symbol: &Symbol, new_name: &str) -> Option<String> {
    let taken = |d: &&Decl| d.symbol.name() == new_name;
    let refused = |d: &Decl| {
        let at = a.file_name(d.file);
        Some(format!("`{new_name}` is already declared (in {at}): renaming would confuse the two"))
    };
    // Another member of the same owner: a field of its record, an output of its stage, a
    // variant of its enum.
    let mut siblings = a.index.owners_of(id).flat_map(|owner| a.index.members_of(owner));
    if let Some(d) = siblings.find(|d| taken(d)) {
        return refused(d);
    }
    if a.index.is_global(id) {
        let global = a.index.decls.iter().filter(taken).find(|d| a.index.is_global(d.id));
        if let Some(d) = global {
            return refused(d);
        }
    }
    // A name in a narrower scope than one of the symbol's uses would capture it there; a
    // scoped symbol renamed to a name read in its scope would capture that name.
    let bare = matches!(
        symbol,
        Symbol::Value(_) | Symbol::Local(..) | Symbol::Binding(..) | Symbol::Claim(..)
    );
    let uses = a.index.references_of(id).map(|r| (r.file, r.span.start as usize));
    let decls = a.index.declarations_of(id).map(|d| (d.file, d.name.start as usize));
    for (file, offset) in uses.chain(decls).filter(|_| bare) {
        let visible = a.index.visible(file, offset);
        if let Some(d) = visible.into_iter().find(|d| taken(d) && d.id != id) {
            return refused(d);
        }
    }
    if let Some((file, scope)) = a.index.scope_of(id) {
        let captured = a.index.refs.iter().any(|r| {
            let bare = |s: &Symbol| {
                s.name() == new_name
                    && !matches!(s, Symbol::Field(..) | Symbol::Output(..) | Symbol::Variant(..))
            };
            a.index.symbol(r.id).is_some_and(bare)
                && r.file == file
                && scope.start <= r.span.start
                && r.span.end <= scope.end
        });
        if captured {
            return Some(format!(
                "`{new_name}` is read where this name is visible: renaming would change what it means"
            ));
        }
    }
    None
}
