//! The arena of symbols: every name the checker declares is given a [`SymbolId`] once, where it
//! is declared, and every name it resolves is recorded with that id.
//!
//! Ids are handed out from the ids the checker already has: the value namespace's parameters,
//! `let`s, rules, accumulators, stages and the input each get one with their declaration (an
//! `override` and the base's declarations it replaces share it), enums and records with their
//! type, variants and fields by their enum's or record's id and their index, a stage's outputs
//! and `let`s with their slots, a fold's variable where the fold binds it, a test's claims where
//! the test binds them. A reference is recorded as (file, span, id) when the name is resolved,
//! and the scopes the checker resolves in ([`super::scopes`]) list ids too. The editor's index
//! ([`crate::ide::index::Index`]) takes the arena as it is built.
//!
//! A [`Symbol`] is what an id denotes: its kind and qualified name, for display and for finding
//! the same declaration in another index. Two documents checked separately have unrelated
//! arenas, so across documents the qualified name is the honest identity ([`Symbol::remap`],
//! [`crate::ide::index::Index::id`]); within one arena nothing compares names or spans to find
//! a symbol.

use crate::diagnostic::FileId;
use crate::ir;
use crate::span::Span;

use super::scopes::Scopes;

/// What a name denotes. Top-level names are one symbol across a policy and its bases, so that an
/// `override` and the declaration it replaces are the same symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    /// A top-level value: a parameter, `let`, rule, `yearly` value, stage, or the input record.
    Value(String),
    /// An enum or a record type.
    Type(String),
    /// A field of a record or of the input: the record's name, the field's.
    Field(String, String),
    /// A stage's output: the stage's name, the output's.
    Output(String, String),
    /// A stage's own `let`: the file and the stage it is declared in, its name.
    Local(FileId, String, String),
    /// An enum variant: the enum's name, the variant's.
    Variant(String, String),
    /// A fold's variable: the file and the span where it is bound, its name. The span tells two
    /// variables of one name apart across documents; within an index the id is the identity.
    Binding(FileId, Span, String),
    /// A claim of a test: the file and the span of its label, the label (the span as for
    /// [`Symbol::Binding`]).
    Claim(FileId, Span, String),
}

impl Symbol {
    /// The name as written where the symbol is read without a dot.
    pub fn name(&self) -> &str {
        match self {
            Symbol::Value(n) | Symbol::Type(n) => n,
            Symbol::Field(_, n)
            | Symbol::Output(_, n)
            | Symbol::Local(_, _, n)
            | Symbol::Variant(_, n)
            | Symbol::Binding(_, _, n)
            | Symbol::Claim(_, _, n) => n,
        }
    }

    /// The same symbol as seen from an index whose file ids differ: `map` turns this index's
    /// file ids into the other's (`None` when the other index did not read that file).
    pub fn remap(&self, map: impl Fn(FileId) -> Option<FileId>) -> Option<Symbol> {
        Some(match self {
            Symbol::Local(f, s, n) => Symbol::Local(map(*f)?, s.clone(), n.clone()),
            Symbol::Binding(f, span, n) => Symbol::Binding(map(*f)?, *span, n.clone()),
            Symbol::Claim(f, span, n) => Symbol::Claim(map(*f)?, *span, n.clone()),
            other => other.clone(),
        })
    }
}

/// A symbol of one checked policy: its place in the arena, handed out once where the checker
/// declares it. Ids of two checks are unrelated: across them, compare [`Symbol`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(usize);

impl SymbolId {
    /// The id at position `index` of the arena.
    pub(crate) fn at(index: usize) -> SymbolId {
        SymbolId(index)
    }

    /// Its position in the arena.
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// What kind of declaration introduces a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `enum Level { ... }`
    Enum,
    /// A variant of an enum.
    Variant,
    /// `record Item { ... }`
    Record,
    /// `input claim { ... }`
    Input,
    /// A field of a record or of the input.
    Field,
    /// `param`
    Param,
    /// A top-level `let`.
    Let,
    /// `rule`
    Rule,
    /// `yearly`
    Yearly,
    /// `stage`
    Stage,
    /// A stage's output.
    Output,
    /// A `let` inside a stage.
    Local,
    /// The variable of a fold over a list.
    Binding,
    /// A claim of a test.
    Claim,
}

/// One declaration of a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    /// Its symbol's id.
    pub id: SymbolId,
    /// What it declares.
    pub symbol: Symbol,
    /// What kind of declaration it is.
    pub kind: Kind,
    /// The file it is in.
    pub file: FileId,
    /// Where its name is written.
    pub name: Span,
    /// The whole declaration.
    pub extent: Span,
    /// Whether it is an `override` of a base's declaration.
    pub overrides: bool,
}

/// A place where a symbol is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The file it is read in.
    pub file: FileId,
    /// Where the name is written.
    pub span: Span,
    /// What is read.
    pub id: SymbolId,
}

/// Every symbol the checker declared, each declaration, each name it resolved and the scopes it
/// resolved them in.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    /// What each id denotes; an id is a position here.
    pub denotes: Vec<Symbol>,
    /// Every declaration, in the order the checker declared them.
    pub decls: Vec<Decl>,
    /// Every name resolved, in the order the checker resolved them.
    pub refs: Vec<Reference>,
    /// The record each fold variable ranges over.
    pub binding_records: Vec<(SymbolId, String)>,
    /// The scopes names were resolved in.
    pub scopes: Scopes,
    /// Each enum's variants, by the enum's id and the variant's index.
    variants: Vec<Vec<SymbolId>>,
    /// Each record's fields, by the record's id and the field's index.
    fields: Vec<Vec<SymbolId>>,
}

impl Symbols {
    /// A new symbol denoting `symbol`.
    pub fn add(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId::at(self.denotes.len());
        self.denotes.push(symbol);
        id
    }

    /// What `id` denotes.
    pub fn symbol(&self, id: SymbolId) -> Option<&Symbol> {
        self.denotes.get(id.index())
    }

    /// Record a declaration of `id` in `file`: its name at `name`, the whole of it at `extent`,
    /// and whether it is an `override` of a base's.
    pub fn declare(
        &mut self,
        id: SymbolId,
        kind: Kind,
        file: FileId,
        name: Span,
        extent: Span,
        overrides: bool,
    ) {
        let Some(symbol) = self.symbol(id).cloned() else { return };
        self.decls.push(Decl { id, symbol, kind, file, name, extent, overrides });
    }

    /// Record that `span` of `file` names `id`.
    pub fn refer(&mut self, file: FileId, span: Span, id: SymbolId) {
        self.refs.push(Reference { file, span, id });
    }

    /// The symbols of an enum's variants, in order, kept under the enum's id.
    pub fn set_variants(&mut self, id: ir::EnumId, variants: Vec<SymbolId>) {
        set(&mut self.variants, id, variants);
    }

    /// The symbol of variant `index` of enum `id`.
    pub fn variant(&self, id: ir::EnumId, index: usize) -> Option<SymbolId> {
        self.variants.get(id)?.get(index).copied()
    }

    /// Every variant of enum `id`.
    pub fn variants(&self, id: ir::EnumId) -> &[SymbolId] {
        self.variants.get(id).map_or(&[], Vec::as_slice)
    }

    /// Add symbols of a record's fields, in order, after those it has.
    pub fn add_fields(&mut self, id: ir::RecordId, fields: Vec<SymbolId>) {
        if self.fields.len() <= id {
            self.fields.resize_with(id + 1, Vec::new);
        }
        if let Some(known) = self.fields.get_mut(id) {
            known.extend(fields);
        }
    }

    /// The symbol of field `index` of record `id`.
    pub fn field(&self, id: ir::RecordId, index: usize) -> Option<SymbolId> {
        self.fields.get(id)?.get(index).copied()
    }

    /// Every field of record `id`.
    pub fn fields(&self, id: ir::RecordId) -> &[SymbolId] {
        self.fields.get(id).map_or(&[], Vec::as_slice)
    }
}

fn set(table: &mut Vec<Vec<SymbolId>>, at: usize, ids: Vec<SymbolId>) {
    if table.len() <= at {
        table.resize_with(at + 1, Vec::new);
    }
    if let Some(slot) = table.get_mut(at) {
        *slot = ids;
    }
}
