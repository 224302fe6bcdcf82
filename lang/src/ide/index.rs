//! Where each name of a policy is declared and where it is read, across the files it extends.
//!
//! The index is built from parsed modules (the policy's own first, then its bases, as
//! [`crate::Checked::modules`] holds them) without the checker, so it serves files with errors
//! too: what resolves is indexed, the rest is left out. Editors use it to go to a definition,
//! find references, highlight names and complete them.
//!
//! Names resolve as the checker resolves them: a fold's variable first, then the current
//! stage's `let`s and outputs, then a test's claims, then top-level names; a bare name that is
//! none of these is an enum variant, of the enum the context expects (the other side of a
//! comparison, a table's key, a rule's type, a test claim's field) or of the only enum that has
//! it.

use std::collections::HashMap;

use crate::ast::{
    BinaryOp, Expr, ExprKind, FieldInit, FieldValue, Ident, Item, Module, ParamType, StageDecl,
    StageStmt, TypeExpr, Value,
};
use crate::diagnostic::FileId;
use crate::span::Span;

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
    /// A fold's variable: the file and the span where it is bound, its name.
    Binding(FileId, Span, String),
    /// A claim of a test: the file and the span of its label, the label.
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

/// Where a declared name can be read without a dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Everywhere in the policy: top-level names and types.
    Global,
    /// Inside this span of the declaring file: a stage's `let`s and outputs, a fold's variable,
    /// a test's claims.
    Within(Span),
    /// Through its owner only (`claim.total`, `Level.level1`), or where the context names it
    /// (bare variants).
    Member,
}

/// One declaration of a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
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
    /// Where its name can be read.
    pub visibility: Visibility,
    /// Whether it is an `override` of a base's declaration.
    pub overrides: bool,
}

/// A place where a symbol is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What is read.
    pub symbol: Symbol,
    /// The file it is read in.
    pub file: FileId,
    /// Where the name is written.
    pub span: Span,
}

/// A name found at a position: its symbol, where it is written, and whether it is declared
/// there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence<'a> {
    /// The symbol.
    pub symbol: &'a Symbol,
    /// The name's span.
    pub span: Span,
    /// Whether this is a declaration (else a reference).
    pub declaration: bool,
}

/// Every declaration and every resolved reference of a policy and its bases.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Declarations in module order (the policy's own first), then source order.
    pub decls: Vec<Decl>,
    /// References in module order, then source order.
    pub refs: Vec<Reference>,
    /// The record each fold variable ranges over.
    binding_records: HashMap<Symbol, String>,
    /// Every name's position, sorted: (file, start, end, declaration?, position in its list).
    positions: Vec<(FileId, u32, u32, bool, usize)>,
}

impl Index {
    /// Index `modules`: the policy's own module first, then its bases.
    pub fn new(modules: &[(FileId, Module)]) -> Index {
        let tables = Tables::new(modules);
        let mut walker = Walker { t: &tables, file: 0, index: Index::default() };
        for (file, module) in modules {
            walker.file = *file;
            for item in &module.items {
                walker.item(item);
            }
        }
        let mut index = walker.index;
        let decls = index.decls.iter().enumerate().map(|(i, d)| (d.file, d.name, true, i));
        let refs = index.refs.iter().enumerate().map(|(i, r)| (r.file, r.span, false, i));
        index.positions = decls.chain(refs).map(|(f, s, d, i)| (f, s.start, s.end, d, i)).collect();
        index.positions.sort_unstable();
        index
    }

    /// The name at byte `offset` of `file`: a name whose span contains the offset, or ends at it.
    pub fn at(&self, file: FileId, offset: usize) -> Option<Occurrence<'_>> {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let after = self.positions.partition_point(|&(f, start, ..)| (f, start) <= (file, offset));
        let candidates = self.positions.get(after.saturating_sub(2)..after).unwrap_or(&[]);
        let hit = candidates
            .iter()
            .rev()
            .find(|&&(f, start, end, ..)| f == file && start <= offset && offset < end)
            .or_else(|| {
                candidates.iter().rev().find(|&&(f, _, end, ..)| f == file && offset == end)
            })?;
        let &(_, start, end, declaration, i) = hit;
        let symbol =
            if declaration { &self.decls.get(i)?.symbol } else { &self.refs.get(i)?.symbol };
        Some(Occurrence { symbol, span: Span { start, end }, declaration })
    }

    /// Every declaration of `symbol`, the most derived first: an `override` before the base's
    /// declaration it replaces.
    pub fn declarations(&self, symbol: &Symbol) -> impl Iterator<Item = &Decl> + '_ {
        let symbol = symbol.clone();
        self.decls.iter().filter(move |d| d.symbol == symbol)
    }

    /// The declaration in force: the most derived one.
    pub fn definition(&self, symbol: &Symbol) -> Option<&Decl> {
        self.declarations(symbol).next()
    }

    /// Every place `symbol` is read, in every file.
    pub fn references(&self, symbol: &Symbol) -> impl Iterator<Item = &Reference> + '_ {
        let symbol = symbol.clone();
        self.refs.iter().filter(move |r| r.symbol == symbol)
    }

    /// What kind of declaration introduces `symbol`.
    pub fn kind(&self, symbol: &Symbol) -> Option<Kind> {
        self.definition(symbol).map(|d| d.kind)
    }

    /// The names that can be read without a dot at `offset` of `file`: the innermost scopes
    /// first, then top-level names; each symbol once, by its declaration in force.
    pub fn visible(&self, file: FileId, offset: usize) -> Vec<&Decl> {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let mut scoped: Vec<&Decl> = self
            .decls
            .iter()
            .filter(|d| match d.visibility {
                Visibility::Within(span) => {
                    d.file == file && span.start <= offset && offset <= span.end
                }
                _ => false,
            })
            .collect();
        scoped.sort_by_key(|d| match d.visibility {
            Visibility::Within(span) => span.len(),
            _ => usize::MAX,
        });
        let global = self.decls.iter().filter(|d| d.visibility == Visibility::Global);
        let mut out: Vec<&Decl> = Vec::new();
        for d in scoped.into_iter().chain(global) {
            if !out.iter().any(|o| o.symbol.name() == d.symbol.name()) {
                out.push(d);
            }
        }
        out
    }

    /// The symbol a bare `name` denotes at `offset` of `file`, if it is declared.
    pub fn resolve(&self, file: FileId, offset: usize, name: &str) -> Option<&Symbol> {
        let visible = self.visible(file, offset);
        if let Some(d) = visible.iter().find(|d| d.symbol.name() == name) {
            return Some(&d.symbol);
        }
        let ty = Symbol::Type(name.to_string());
        self.definition(&ty).map(|d| &d.symbol)
    }

    /// What can follow `symbol` and a dot: an input's fields, a stage's outputs, an enum's
    /// variants, a record's fields, the fields of a fold variable's record; for a test's claim,
    /// the input's fields and every value and stage.
    pub fn members(&self, symbol: &Symbol) -> Vec<&Decl> {
        fn push<'a>(d: &'a Decl, out: &mut Vec<&'a Decl>) {
            if !out.iter().any(|o| o.symbol == d.symbol) {
                out.push(d);
            }
        }
        let mut out: Vec<&Decl> = Vec::new();
        let owner = match (symbol, self.kind(symbol)) {
            (Symbol::Value(n), Some(Kind::Input | Kind::Stage)) | (Symbol::Type(n), _) => {
                Some(n.as_str())
            }
            (Symbol::Binding(..), _) => self.binding_records.get(symbol).map(String::as_str),
            (Symbol::Claim(..), _) => self.input_name(),
            _ => None,
        };
        for d in &self.decls {
            match &d.symbol {
                Symbol::Field(r, _) | Symbol::Output(r, _) | Symbol::Variant(r, _)
                    if Some(r.as_str()) == owner =>
                {
                    push(d, &mut out);
                }
                _ => {}
            }
        }
        if matches!(symbol, Symbol::Claim(..)) {
            for d in &self.decls {
                if matches!(d.kind, Kind::Let | Kind::Rule | Kind::Yearly | Kind::Stage) {
                    push(d, &mut out);
                }
            }
        }
        out
    }

    /// The record a fold variable ranges over.
    pub fn binding_record(&self, symbol: &Symbol) -> Option<&str> {
        self.binding_records.get(symbol).map(String::as_str)
    }

    /// The input record's name.
    pub fn input_name(&self) -> Option<&str> {
        self.decls.iter().find(|d| d.kind == Kind::Input).map(|d| d.symbol.name())
    }
}

/// A type as far as name resolution needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty<'m> {
    Unknown,
    Enum(&'m str),
    Record(&'m str),
    List(&'m str),
    Input,
    Stage(&'m str),
    Claim,
}

impl<'m> Ty<'m> {
    fn enum_name(self) -> Option<&'m str> {
        match self {
            Ty::Enum(e) => Some(e),
            _ => None,
        }
    }
}

/// What a top-level value name is.
#[derive(Debug, Clone, Copy)]
struct ValueInfo<'m> {
    kind: Kind,
    /// The declared type: of the value, or of a table's cells.
    ty: Option<&'m TypeExpr>,
    /// A table's key enums.
    keys: &'m [Ident],
}

/// Every name declared at the top of the policy and its bases, the most derived first.
#[derive(Debug, Default)]
struct Tables<'m> {
    values: HashMap<&'m str, ValueInfo<'m>>,
    enums: HashMap<&'m str, Vec<&'m str>>,
    records: HashMap<&'m str, Vec<(&'m str, &'m TypeExpr)>>,
    stages: HashMap<&'m str, Vec<(&'m str, &'m TypeExpr)>>,
    input: Option<&'m str>,
}

impl<'m> Tables<'m> {
    fn new(modules: &'m [(FileId, Module)]) -> Self {
        let mut t = Tables::default();
        for item in modules.iter().flat_map(|(_, m)| &m.items) {
            let value = |kind, ty, keys| ValueInfo { kind, ty, keys };
            let (name, info) = match item {
                Item::Enum(d) => {
                    let variants = d.variants.iter().map(|(v, _)| v.name.as_str()).collect();
                    t.enums.entry(&d.name.name).or_insert(variants);
                    continue;
                }
                Item::Record(d) => {
                    let fields = d.fields.iter().map(|f| (f.name.name.as_str(), &f.ty)).collect();
                    t.records.entry(&d.name.name).or_insert(fields);
                    continue;
                }
                Item::Input(d) => {
                    let fields = d.fields.iter().map(|f| (f.name.name.as_str(), &f.ty)).collect();
                    t.records.entry(&d.name.name).or_insert(fields);
                    t.input = t.input.or(Some(&d.name.name));
                    (&d.name, value(Kind::Input, None, &[][..]))
                }
                Item::Yearly(d) => (&d.name, value(Kind::Yearly, d.ty.as_ref(), &[])),
                Item::Param(d) => match &d.ty {
                    ParamType::Value { ty, keys } => (&d.name, value(Kind::Param, Some(ty), keys)),
                    ParamType::Scale(_) => (&d.name, value(Kind::Param, None, &[])),
                },
                Item::Let(d) => (&d.name, value(Kind::Let, d.ty.as_ref(), &[])),
                Item::Rule(d) => (&d.name, value(Kind::Rule, Some(&d.ty), &[])),
                Item::Stage(d) => {
                    let outputs = d.outputs.iter().map(|(n, ty)| (n.name.as_str(), ty)).collect();
                    t.stages.entry(&d.name.name).or_insert(outputs);
                    (&d.name, value(Kind::Stage, None, &[]))
                }
                _ => continue,
            };
            t.values.entry(&name.name).or_insert(info);
        }
        t
    }

    fn ty(&self, ty: Option<&'m TypeExpr>) -> Ty<'m> {
        match ty {
            Some(TypeExpr::Named(id)) => {
                if let Some((name, _)) = self.enums.get_key_value(id.name.as_str()) {
                    Ty::Enum(name)
                } else if let Some((name, _)) = self.records.get_key_value(id.name.as_str()) {
                    Ty::Record(name)
                } else {
                    Ty::Unknown
                }
            }
            Some(TypeExpr::List(id, _)) => match self.records.get_key_value(id.name.as_str()) {
                Some((name, _)) => Ty::List(name),
                None => Ty::Unknown,
            },
            None => Ty::Unknown,
        }
    }

    fn field(&self, record: &str, field: &str) -> Option<(&'m str, Ty<'m>)> {
        let (name, ty) = self.records.get(record)?.iter().find(|(n, _)| *n == field)?;
        Some((name, self.ty(Some(ty))))
    }

    fn has_variant(&self, enum_name: &str, variant: &str) -> bool {
        self.enums.get(enum_name).is_some_and(|vs| vs.contains(&variant))
    }
}

/// The names a stage body reads without a dot.
#[derive(Debug)]
struct StageScope<'m> {
    locals: Vec<(&'m str, Symbol, Ty<'m>)>,
}

/// The names in scope while walking one item.
#[derive(Debug, Default)]
struct Scope<'m> {
    stage: Option<StageScope<'m>>,
    vars: Vec<(&'m str, Symbol, Ty<'m>)>,
    claims: Vec<(&'m str, Symbol)>,
}

struct Walker<'t, 'm> {
    t: &'t Tables<'m>,
    file: FileId,
    index: Index,
}

impl<'m> Walker<'_, 'm> {
    fn declare(&mut self, symbol: Symbol, kind: Kind, name: Span, extent: Span, vis: Visibility) {
        self.declare_override(symbol, kind, name, extent, vis, false);
    }

    fn declare_override(
        &mut self,
        symbol: Symbol,
        kind: Kind,
        name: Span,
        extent: Span,
        visibility: Visibility,
        overrides: bool,
    ) {
        let file = self.file;
        self.index.decls.push(Decl { symbol, kind, file, name, extent, visibility, overrides });
    }

    fn refer(&mut self, symbol: Symbol, span: Span) {
        self.index.refs.push(Reference { symbol, file: self.file, span });
    }

    fn type_ref(&mut self, ty: &TypeExpr) {
        let id = match ty {
            TypeExpr::Named(id) | TypeExpr::List(id, _) => id,
        };
        if self.t.enums.contains_key(id.name.as_str())
            || self.t.records.contains_key(id.name.as_str())
        {
            self.refer(Symbol::Type(id.name.clone()), id.span);
        }
    }

    fn item(&mut self, item: &'m Item) {
        let mut sc = Scope::default();
        match item {
            Item::Policy { .. }
            | Item::Extends { .. }
            | Item::YearStart { .. }
            | Item::Rounding { .. } => {}
            Item::DatedBy { field, .. } => {
                self.expr(&mut sc, field, None);
            }
            Item::Enum(d) => {
                let name = &d.name.name;
                self.declare(
                    Symbol::Type(name.clone()),
                    Kind::Enum,
                    d.name.span,
                    d.span,
                    Visibility::Global,
                );
                for (v, label) in &d.variants {
                    let extent = label.as_ref().map_or(v.span, |l| v.span.to(l.span));
                    let symbol = Symbol::Variant(name.clone(), v.name.clone());
                    self.declare(symbol, Kind::Variant, v.span, extent, Visibility::Member);
                }
            }
            Item::Record(d) | Item::Input(d) => {
                let input = matches!(item, Item::Input(_));
                let (symbol, kind) = if input {
                    (Symbol::Value(d.name.name.clone()), Kind::Input)
                } else {
                    (Symbol::Type(d.name.name.clone()), Kind::Record)
                };
                self.declare(symbol, kind, d.name.span, d.span, Visibility::Global);
                for f in &d.fields {
                    let extent = f.doc.as_ref().map_or(f.ty.span(), |doc| doc.span);
                    let symbol = Symbol::Field(d.name.name.clone(), f.name.name.clone());
                    let extent = f.name.span.to(extent);
                    self.declare(symbol, Kind::Field, f.name.span, extent, Visibility::Member);
                    self.type_ref(&f.ty);
                }
            }
            Item::Yearly(d) => {
                let symbol = Symbol::Value(d.name.name.clone());
                self.declare(symbol, Kind::Yearly, d.name.span, d.span, Visibility::Global);
                if let Some(ty) = &d.ty {
                    self.type_ref(ty);
                }
                self.expr(&mut sc, &d.fold, None);
                if let Some(filter) = &d.filter {
                    self.expr(&mut sc, filter, None);
                }
            }
            Item::Param(d) => {
                let symbol = Symbol::Value(d.name.name.clone());
                let (name, extent) = (d.name.span, d.span);
                self.declare_override(
                    symbol,
                    Kind::Param,
                    name,
                    extent,
                    Visibility::Global,
                    d.overrides,
                );
                let mut keys = Vec::new();
                if let ParamType::Value { ty, keys: key_idents } = &d.ty {
                    self.type_ref(ty);
                    for k in key_idents {
                        if self.t.enums.contains_key(k.name.as_str()) {
                            self.refer(Symbol::Type(k.name.clone()), k.span);
                        }
                        keys.push(k.name.as_str());
                    }
                }
                for version in &d.versions {
                    self.table(&version.value, &keys);
                }
            }
            Item::Let(d) => {
                let symbol = Symbol::Value(d.name.name.clone());
                let (name, extent) = (d.name.span, d.span);
                self.declare_override(
                    symbol,
                    Kind::Let,
                    name,
                    extent,
                    Visibility::Global,
                    d.overrides,
                );
                if let Some(ty) = &d.ty {
                    self.type_ref(ty);
                }
                let expect = self.t.ty(d.ty.as_ref()).enum_name();
                self.expr(&mut sc, &d.value, expect);
            }
            Item::Rule(d) => {
                let symbol = Symbol::Value(d.name.name.clone());
                let (name, extent) = (d.name.span, d.span);
                self.declare_override(
                    symbol,
                    Kind::Rule,
                    name,
                    extent,
                    Visibility::Global,
                    d.overrides,
                );
                self.type_ref(&d.ty);
                let expect = self.t.ty(Some(&d.ty)).enum_name();
                self.expr(&mut sc, &d.default.value, expect);
                for exception in &d.exceptions {
                    self.expr(&mut sc, &exception.when, None);
                    self.expr(&mut sc, &exception.arm.value, expect);
                }
            }
            Item::Stage(d) => self.stage(d),
            Item::Balance { total, parts, .. } => {
                self.expr(&mut sc, total, None);
                self.expr(&mut sc, parts, None);
            }
            Item::Test(d) => {
                let input = self.t.input;
                for c in &d.claims {
                    let symbol = Symbol::Claim(self.file, c.label.span, c.label.name.clone());
                    let vis = Visibility::Within(d.span);
                    self.declare(symbol.clone(), Kind::Claim, c.label.span, c.span, vis);
                    if Some(c.record.name.as_str()) == input {
                        self.refer(Symbol::Value(c.record.name.clone()), c.record.span);
                    }
                    self.field_inits(&c.fields, input);
                    sc.claims.push((&c.label.name, symbol));
                }
                for e in &d.expects {
                    self.expr(&mut sc, e, None);
                }
            }
        }
    }

    fn stage(&mut self, d: &'m StageDecl) {
        let stage = &d.name.name;
        let vis = Visibility::Within(d.span);
        let symbol = Symbol::Value(stage.clone());
        let (name, extent) = (d.name.span, d.span);
        self.declare_override(symbol, Kind::Stage, name, extent, Visibility::Global, d.overrides);
        let mut locals = Vec::new();
        for (output, ty) in &d.outputs {
            let symbol = Symbol::Output(stage.clone(), output.name.clone());
            let extent = output.span.to(ty.span());
            self.declare(symbol.clone(), Kind::Output, output.span, extent, vis);
            self.type_ref(ty);
            locals.push((output.name.as_str(), symbol, self.t.ty(Some(ty))));
        }
        for stmt in &d.body {
            if let StageStmt::Let(l) = stmt {
                let symbol = Symbol::Local(self.file, stage.clone(), l.name.name.clone());
                self.declare(symbol.clone(), Kind::Local, l.name.span, l.span, vis);
                locals.push((l.name.name.as_str(), symbol, self.t.ty(l.ty.as_ref())));
            }
        }
        let mut sc = Scope { stage: Some(StageScope { locals }), ..Scope::default() };
        for stmt in &d.body {
            match stmt {
                StageStmt::Let(l) => {
                    if let Some(ty) = &l.ty {
                        self.type_ref(ty);
                    }
                    let expect = self.t.ty(l.ty.as_ref()).enum_name();
                    self.expr(&mut sc, &l.value, expect);
                }
                StageStmt::Assign { name, value, .. } => {
                    let output = self
                        .t
                        .stages
                        .get(stage.as_str())
                        .and_then(|outs| outs.iter().find(|(n, _)| *n == name.name))
                        .map(|(_, ty)| self.t.ty(Some(ty)));
                    if output.is_some() {
                        self.refer(Symbol::Output(stage.clone(), name.name.clone()), name.span);
                    }
                    let expect = output.and_then(Ty::enum_name);
                    self.expr(&mut sc, value, expect);
                }
            }
        }
    }

    /// The keys of a parameter's table, variants of its key enums by nesting depth.
    fn table(&mut self, value: &'m Value, keys: &[&'m str]) {
        let Value::Table { entries, .. } = value else { return };
        let (first, rest) = match keys.split_first() {
            Some((first, rest)) => (Some(*first), rest),
            None => (None, &[][..]),
        };
        for entry in entries {
            if let (Some(key), Some(e)) = (&entry.key, first) {
                if self.t.has_variant(e, &key.name) {
                    self.refer(Symbol::Variant(e.to_string(), key.name.clone()), key.span);
                }
            }
            self.table(&entry.value, rest);
        }
    }

    /// A test claim's field values, or a list item's, of `record`.
    fn field_inits(&mut self, fields: &'m [FieldInit], record: Option<&'m str>) {
        for init in fields {
            let field = record.and_then(|r| Some((r, self.t.field(r, &init.name.name)?)));
            if let Some((r, (name, _))) = field {
                self.refer(Symbol::Field(r.to_string(), name.to_string()), init.name.span);
            }
            let ty = field.map_or(Ty::Unknown, |(_, (_, ty))| ty);
            match &init.value {
                FieldValue::Expr(e) => {
                    self.expr(&mut Scope::default(), e, ty.enum_name());
                }
                FieldValue::List(items, _) => {
                    let item_record = match ty {
                        Ty::List(r) => Some(r),
                        _ => None,
                    };
                    for (inits, _) in items {
                        self.field_inits(inits, item_record);
                    }
                }
            }
        }
    }

    /// Whether `e` is a bare name that is no value: an enum variant waiting for its context.
    fn is_bare(&self, sc: &Scope<'m>, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Name(id) => {
                let n = id.name.as_str();
                !sc.vars.iter().any(|(v, ..)| *v == n)
                    && !sc.stage.as_ref().is_some_and(|s| s.locals.iter().any(|(l, ..)| *l == n))
                    && !sc.claims.iter().any(|(c, _)| *c == n)
                    && !self.t.values.contains_key(n)
            }
            ExprKind::Paren(inner) => self.is_bare(sc, inner),
            _ => false,
        }
    }

    fn expr(&mut self, sc: &mut Scope<'m>, e: &'m Expr, expect: Option<&'m str>) -> Ty<'m> {
        match &e.kind {
            ExprKind::Lit(_) => Ty::Unknown,
            ExprKind::Name(id) => self.name(sc, id, expect),
            ExprKind::Member(base, field) => self.member(sc, base, field),
            ExprKind::Index(base, keys) => {
                let info = match &base.kind {
                    ExprKind::Name(id) => self.t.values.get(id.name.as_str()).copied(),
                    _ => None,
                };
                self.expr(sc, base, None);
                let key_enums = info.map_or(&[][..], |i| i.keys);
                for (i, key) in keys.iter().enumerate() {
                    let expect = key_enums.get(i).map(|k| k.name.as_str());
                    self.expr(sc, key, expect);
                }
                self.t.ty(info.and_then(|i| i.ty))
            }
            ExprKind::Call(func, args) => {
                let passes = matches!(func.name.as_str(), "min" | "max" | "abs");
                let mut first = Ty::Unknown;
                for (i, arg) in args.iter().enumerate() {
                    let t = self.expr(sc, arg, if passes { expect } else { None });
                    if i == 0 && passes {
                        first = t;
                    }
                }
                first
            }
            ExprKind::Fold { body, var, list, filter, .. } => {
                let record = match self.expr(sc, list, None) {
                    Ty::List(r) => Some(r),
                    _ => None,
                };
                let symbol = Symbol::Binding(self.file, var.span, var.name.clone());
                let vis = Visibility::Within(e.span);
                self.declare(symbol.clone(), Kind::Binding, var.span, e.span, vis);
                if let Some(r) = record {
                    self.index.binding_records.insert(symbol.clone(), r.to_string());
                }
                sc.vars.push((&var.name, symbol, record.map_or(Ty::Unknown, Ty::Record)));
                self.expr(sc, body, None);
                if let Some(filter) = filter {
                    self.expr(sc, filter, None);
                }
                sc.vars.pop();
                Ty::Unknown
            }
            ExprKind::If(c, a, b) => {
                self.expr(sc, c, None);
                let ta = self.expr(sc, a, expect);
                let tb = self.expr(sc, b, expect.or(ta.enum_name()));
                if ta == Ty::Unknown { tb } else { ta }
            }
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(sc, inner, expect),
            ExprKind::Binary(op, l, r) => {
                if op.is_comparison() && self.is_bare(sc, l) {
                    let tr = self.expr(sc, r, None);
                    self.expr(sc, l, tr.enum_name());
                    Ty::Unknown
                } else if op.is_comparison() || *op == BinaryOp::In {
                    let tl = self.expr(sc, l, None);
                    self.expr(sc, r, tl.enum_name());
                    Ty::Unknown
                } else {
                    let tl = self.expr(sc, l, expect);
                    self.expr(sc, r, expect);
                    tl
                }
            }
            ExprKind::Set(items) => {
                for item in items {
                    self.expr(sc, item, expect);
                }
                Ty::Unknown
            }
        }
    }

    fn name(&mut self, sc: &Scope<'m>, id: &'m Ident, expect: Option<&'m str>) -> Ty<'m> {
        let n = id.name.as_str();
        if let Some((_, symbol, ty)) = sc.vars.iter().rev().find(|(v, ..)| *v == n) {
            let (symbol, ty) = (symbol.clone(), *ty);
            self.refer(symbol, id.span);
            return ty;
        }
        if let Some((_, symbol, ty)) =
            sc.stage.as_ref().and_then(|s| s.locals.iter().find(|(l, ..)| *l == n))
        {
            let (symbol, ty) = (symbol.clone(), *ty);
            self.refer(symbol, id.span);
            return ty;
        }
        if let Some((_, symbol)) = sc.claims.iter().find(|(c, _)| *c == n) {
            self.refer(symbol.clone(), id.span);
            return Ty::Claim;
        }
        if let Some((name, info)) = self.t.values.get_key_value(n) {
            self.refer(Symbol::Value(id.name.clone()), id.span);
            return match info.kind {
                Kind::Input => Ty::Input,
                Kind::Stage => Ty::Stage(name),
                Kind::Param if !info.keys.is_empty() => Ty::Unknown,
                _ => self.t.ty(info.ty),
            };
        }
        let owner = match expect.filter(|e| self.t.has_variant(e, n)) {
            Some(e) => Some(e),
            None => {
                let mut owners = self.t.enums.iter().filter(|(_, vs)| vs.contains(&n));
                match (owners.next(), owners.next()) {
                    (Some((e, _)), None) => Some(*e),
                    _ => None,
                }
            }
        };
        match owner {
            Some(e) => {
                self.refer(Symbol::Variant(e.to_string(), id.name.clone()), id.span);
                Ty::Enum(e)
            }
            None => Ty::Unknown,
        }
    }

    fn member(&mut self, sc: &mut Scope<'m>, base: &'m Expr, field: &'m Ident) -> Ty<'m> {
        if let ExprKind::Name(b) = &base.kind {
            if self.is_bare(sc, base) {
                if let Some((e, _)) = self.t.enums.get_key_value(b.name.as_str()) {
                    self.refer(Symbol::Type(b.name.clone()), b.span);
                    if self.t.has_variant(e, &field.name) {
                        let symbol = Symbol::Variant(b.name.clone(), field.name.clone());
                        self.refer(symbol, field.span);
                    }
                    return Ty::Enum(e);
                }
            }
        }
        let f = field.name.as_str();
        match self.expr(sc, base, None) {
            Ty::Input | Ty::Claim => {
                let input = self.t.input;
                if let Some((r, (name, ty))) = input.and_then(|r| Some((r, self.t.field(r, f)?))) {
                    self.refer(Symbol::Field(r.to_string(), name.to_string()), field.span);
                    return ty;
                }
                // A test claim's computed values: `a.deductible_due`, `a.basic.pay`.
                let Some((name, info)) = self.t.values.get_key_value(f) else { return Ty::Unknown };
                if !matches!(info.kind, Kind::Let | Kind::Rule | Kind::Yearly | Kind::Stage) {
                    return Ty::Unknown;
                }
                self.refer(Symbol::Value(field.name.clone()), field.span);
                match info.kind {
                    Kind::Stage => Ty::Stage(name),
                    _ => self.t.ty(info.ty),
                }
            }
            Ty::Stage(s) => {
                let output = self.t.stages.get(s).and_then(|o| o.iter().find(|(n, _)| *n == f));
                match output {
                    Some((name, ty)) => {
                        let ty = self.t.ty(Some(ty));
                        self.refer(Symbol::Output(s.to_string(), name.to_string()), field.span);
                        ty
                    }
                    None => Ty::Unknown,
                }
            }
            Ty::Record(r) => match self.t.field(r, f) {
                Some((name, ty)) => {
                    self.refer(Symbol::Field(r.to_string(), name.to_string()), field.span);
                    ty
                }
                None => Ty::Unknown,
            },
            Ty::Unknown | Ty::Enum(_) | Ty::List(_) => Ty::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Loader, check_with};

    /// Bases held in memory, by path.
    struct Files(Vec<(&'static str, &'static str)>);

    impl Loader for Files {
        fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
            let (name, text) = self.0.iter().find(|(n, _)| *n == path).ok_or("no such file")?;
            Ok(((*name).to_string(), (*text).to_string()))
        }
    }

    const POLICY: &str = r#"policy t.inpatient
enum Level { primary "基层", level1 "一级" }
enum Group { none, low }
enum Kind { drug, none }
record Item { kind: Kind, amount: money }
input claim { id: text, member: text, date: date, level: Level, group: Group, total: money, items: list of Item }
yearly admissions = count()
param deductible: money by Level = { primary: 200, level1: 450 }
param cap: money = 1_000
let drugs = sum(i.amount for i in claim.items where i.kind == drug)
rule due: money
    default deductible[claim.level]
    when claim.group == none -> 0
    when admissions >= 1 -> cap
stage basic (pay: money) {
    let eligible = max(claim.total - due, 0)
    pay = eligible - drugs
}
balance claim.total = basic.pay
test "one" {
    claim a { member: "m", date: 2023-01-01, level: level1, group: none, items: [{ kind: none, amount: 5 }] }
    expect a.basic.pay == 0 and a.due == 450 and a.level == Level.level1
}
"#;

    fn index(text: &'static str, bases: Vec<(&'static str, &'static str)>) -> Index {
        let checked = check_with("main.settle", text, &mut Files(bases));
        Index::new(&checked.modules)
    }

    /// The symbol at the `n`th occurrence (from 0) of `needle` in `text`.
    fn at<'a>(index: &'a Index, text: &str, needle: &str, n: usize) -> &'a Symbol {
        let offset = text.match_indices(needle).nth(n).map(|(i, _)| i).expect("needle");
        index.at(0, offset).expect("a name there").symbol
    }

    fn texts(text: &str, spans: impl Iterator<Item = Span>) -> Vec<String> {
        spans.map(|s| format!("{}@{}", &text[s.range()], s.start)).collect()
    }

    #[test]
    fn top_level_names_resolve_to_their_declaration() {
        let index = index(POLICY, vec![]);
        let deductible = at(&index, POLICY, "deductible", 1);
        assert_eq!(deductible, &Symbol::Value("deductible".into()));
        let decl = index.definition(deductible).expect("declared");
        assert_eq!(decl.kind, Kind::Param);
        assert_eq!(&POLICY[decl.name.range()], "deductible");
        assert_eq!(decl.name.start as usize, POLICY.find("deductible").expect("declared"));
        assert_eq!(index.references(deductible).count(), 1);
        let basic = Symbol::Value("basic".into());
        assert_eq!(index.references(&basic).count(), 2, "balance and test");
    }

    #[test]
    fn members_resolve_through_their_owner() {
        let index = index(POLICY, vec![]);
        assert_eq!(at(&index, POLICY, "level]", 0), &Symbol::Field("claim".into(), "level".into()));
        assert_eq!(at(&index, POLICY, "pay ==", 0), &Symbol::Output("basic".into(), "pay".into()));
        assert_eq!(at(&index, POLICY, "a.basic", 0), &Symbol::Claim(0, label_span(), "a".into()));
        assert_eq!(at(&index, POLICY, "due == 450", 0), &Symbol::Value("due".into()));
        assert_eq!(
            at(&index, POLICY, "level == Level", 0),
            &Symbol::Field("claim".into(), "level".into())
        );
        assert_eq!(
            at(&index, POLICY, "level1\n", 0),
            &Symbol::Variant("Level".into(), "level1".into())
        );
        assert_eq!(at(&index, POLICY, "Level.level1", 0), &Symbol::Type("Level".into()));
    }

    fn label_span() -> Span {
        let start = POLICY.find("claim a").expect("claim") + "claim ".len();
        Span::new(start, start + 1)
    }

    #[test]
    fn bare_variants_take_the_enum_their_context_expects() {
        let index = index(POLICY, vec![]);
        // `none` is a `Group` and a `Kind`: the comparison and the fields decide.
        assert_eq!(
            at(&index, POLICY, "none -> 0", 0),
            &Symbol::Variant("Group".into(), "none".into())
        );
        assert_eq!(
            at(&index, POLICY, "none, items", 0),
            &Symbol::Variant("Group".into(), "none".into())
        );
        assert_eq!(
            at(&index, POLICY, "none, amount", 0),
            &Symbol::Variant("Kind".into(), "none".into())
        );
        assert_eq!(at(&index, POLICY, "drug)", 0), &Symbol::Variant("Kind".into(), "drug".into()));
        assert_eq!(
            at(&index, POLICY, "primary: 200", 0),
            &Symbol::Variant("Level".into(), "primary".into())
        );
        let level1 = Symbol::Variant("Level".into(), "level1".into());
        assert_eq!(index.references(&level1).count(), 3, "table key, test field, qualified");
    }

    #[test]
    fn stage_lets_and_fold_variables_are_scoped() {
        let index = index(POLICY, vec![]);
        let eligible = at(&index, POLICY, "eligible - drugs", 0).clone();
        assert!(matches!(&eligible, Symbol::Local(0, s, n) if s == "basic" && n == "eligible"));
        let decl = index.definition(&eligible).expect("declared");
        assert_eq!(decl.kind, Kind::Local);
        let i = at(&index, POLICY, "i.amount", 0).clone();
        assert_eq!(index.kind(&i), Some(Kind::Binding));
        assert_eq!(index.binding_record(&i), Some("Item"));
        assert_eq!(index.references(&i).count(), 2);
        assert_eq!(
            at(&index, POLICY, "amount for", 0),
            &Symbol::Field("Item".into(), "amount".into())
        );

        let in_stage = POLICY.find("pay = eligible").expect("stage");
        let names: Vec<&str> = index.visible(0, in_stage).iter().map(|d| d.symbol.name()).collect();
        assert_eq!(names.get(..2), Some(&["pay", "eligible"][..]));
        assert!(names.contains(&"deductible") && names.contains(&"claim"));
        let outside = POLICY.find("balance").expect("balance");
        let names: Vec<&str> = index.visible(0, outside).iter().map(|d| d.symbol.name()).collect();
        assert!(!names.contains(&"eligible") && !names.contains(&"i"));
    }

    #[test]
    fn members_list_what_can_follow_a_dot() {
        let index = index(POLICY, vec![]);
        let names = |s: &Symbol| -> Vec<String> {
            index.members(s).iter().map(|d| d.symbol.name().to_string()).collect()
        };
        assert_eq!(
            names(&Symbol::Value("claim".into())),
            ["id", "member", "date", "level", "group", "total", "items"]
        );
        assert_eq!(names(&Symbol::Type("Level".into())), ["primary", "level1"]);
        assert_eq!(names(&Symbol::Value("basic".into())), ["pay"]);
        let a = index.resolve(0, POLICY.find("expect").expect("test"), "a").expect("a").clone();
        let of_a = names(&a);
        assert!(of_a.contains(&"total".to_string()) && of_a.contains(&"due".to_string()));
        assert!(of_a.contains(&"basic".to_string()) && !of_a.contains(&"cap".to_string()));
    }

    #[test]
    fn an_override_and_its_base_are_one_symbol() {
        const BASE: &str = "policy base
enum Level { primary, level1 }
input claim { id: text, member: text, date: date, level: Level, total: money }
param ratio: rate by Level = { primary: 90%, level1: 80% }
stage basic (pay: money) {
    pay = claim.total * ratio[claim.level]
}
balance claim.total = basic.pay
";
        const CITY: &str = "policy city
extends \"base.settle\"
override param ratio: rate by Level = { primary: 95%, level1: 80% }
test \"t\" {
    claim a { member: \"m\", date: 2023-01-01, level: primary, total: 100 }
    expect a.basic.pay == 95
}
";
        let index = index(CITY, vec![("base.settle", BASE)]);
        let ratio = Symbol::Value("ratio".into());
        let decls: Vec<(FileId, bool)> =
            index.declarations(&ratio).map(|d| (d.file, d.overrides)).collect();
        assert_eq!(decls, [(0, true), (1, false)]);
        let refs: Vec<FileId> = index.references(&ratio).map(|r| r.file).collect();
        assert_eq!(refs, [1]);
        let pay = at(&index, CITY, "pay ==", 0);
        let decl = index.definition(pay).expect("declared in the base");
        assert_eq!((decl.file, &BASE[decl.name.range()]), (1, "pay"));
        let primary = at(&index, CITY, "primary: 95", 0);
        let uses: Vec<FileId> = index.references(primary).map(|r| r.file).collect();
        assert_eq!(uses, [0, 0, 1]);
        let in_city =
            texts(CITY, index.references(primary).filter(|r| r.file == 0).map(|r| r.span));
        assert_eq!(in_city.len(), 2);
    }

    #[test]
    fn a_broken_item_leaves_the_others_indexed() {
        const BROKEN: &str = "policy b
input claim { id: text, member: text, date: date, total: money }
let half = claim.total *
let whole = claim.total
";
        let index = index(BROKEN, vec![]);
        assert_eq!(
            at(&index, BROKEN, "total\n", 0),
            &Symbol::Field("claim".into(), "total".into())
        );
        assert!(index.definition(&Symbol::Value("half".into())).is_none());
        assert_eq!(index.resolve(0, 0, "whole"), Some(&Symbol::Value("whole".into())));
        assert!(index.at(0, BROKEN.find("*").expect("operator")).is_none());
    }
}
