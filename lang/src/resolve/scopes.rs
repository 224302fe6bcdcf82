//! The scopes name resolution uses, recorded once for the editor: which names can be read
//! without a dot, where, and what can follow each name and a dot.
//!
//! The checker records a scope where it binds names (a stage's outputs and `let`s, a fold's
//! variable, a test's claims) and, once every name is declared, its namespaces: the top-level
//! values and types, and the members of each owner (an enum's variants, a record's or the input's
//! fields, a stage's outputs, what a test's claim holds), every name by its symbol id
//! ([`super::symbols`]). Completion, rename and the lookups of the index read this record ([`crate::ide::index::Index::visible`],
//! [`crate::ide::index::Index::members_of`]) instead of working scopes out again from the syntax.
//!
//! Limits: period settlement's names (read in `period`, `case` and `table` items) are not
//! recorded.

use crate::check::{Checker, Decl, Global};
use crate::diagnostic::FileId;
use crate::ir;
use crate::span::Span;

use super::symbols::SymbolId;

/// The scopes the checker used, by symbol id.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// The names read without a dot anywhere: the value namespace, then the types, each in
    /// declaration order.
    pub globals: Vec<SymbolId>,
    /// Names read without a dot only inside a range of a file: (file, range, names bound there).
    pub within: Vec<(FileId, Span, Vec<SymbolId>)>,
    /// What can follow each owner and a dot.
    pub members: Vec<(SymbolId, Vec<SymbolId>)>,
    /// What can follow any claim of a test and a dot.
    pub claim: Vec<SymbolId>,
    /// The input record, read by its name.
    pub input: Option<SymbolId>,
}

impl Checker<'_> {
    /// Record that `names` can be read without a dot inside `range` of `file`.
    pub(crate) fn record_scope(&mut self, file: FileId, range: Span, names: Vec<SymbolId>) {
        self.symbols.scopes.within.push((file, range, names));
    }

    /// Record the scope of a stage's body: the outputs and `let`s it binds, each once (outputs
    /// first, then `let`s, in the order written).
    pub(crate) fn record_stage_scope(
        &mut self,
        file: FileId,
        range: Span,
        names: impl IntoIterator<Item = ir::ValueId>,
    ) {
        let mut bound: Vec<(u8, u32, SymbolId)> = names
            .into_iter()
            .filter_map(|value| {
                let slot = self.slots.get(value)?;
                let at = slot.decl.span.start;
                match slot.kind {
                    ir::ValueKind::Output(_) => Some((0, at, slot.decl.symbol)),
                    ir::ValueKind::StageLocal(_) => Some((1, at, slot.decl.symbol)),
                    ir::ValueKind::Let | ir::ValueKind::Rule => None,
                }
            })
            .collect();
        bound.sort_by_key(|&(kind, at, _)| (kind, at));
        self.record_scope(file, range, bound.into_iter().map(|(.., s)| s).collect());
    }

    /// Record the namespaces the declaration pass built: the top-level values and types, and
    /// the members of enums, records, the input, stages and test claims.
    pub(crate) fn record_namespaces(&mut self) {
        let in_order = |mut named: Vec<Decl>| -> Vec<SymbolId> {
            named.sort_by_key(|d| (d.file, d.span.start));
            named.into_iter().map(|d| d.symbol).collect()
        };
        let values: Vec<Decl> = self.globals.values().map(|(_, d)| *d).collect();
        let input = self.input.as_ref().map(|(id, _)| *id);
        let types: Vec<Decl> = self
            .enum_names
            .values()
            .map(|(_, d)| *d)
            .chain(self.record_names.values().filter(|(r, _)| Some(*r) != input).map(|(_, d)| *d))
            .collect();
        let mut globals = in_order(values);
        globals.extend(in_order(types));

        let mut members = Vec::new();
        for (_, (id, d)) in self.enum_names.iter() {
            members.push((d.symbol, self.symbols.variants(*id).to_vec()));
        }
        for (_, (id, d)) in self.record_names.iter() {
            members.push((d.symbol, self.symbols.fields(*id).to_vec()));
        }
        for s in &self.stages {
            let outputs = s.outputs.iter().filter_map(|(_, v)| self.slots.get(*v));
            members.push((s.decl.symbol, outputs.map(|slot| slot.decl.symbol).collect()));
        }

        // A claim holds the input's fields, and every `let`, rule, accumulator and stage.
        let mut claim = input.map(|id| self.symbols.fields(id).to_vec()).unwrap_or_default();
        let settled: Vec<Decl> = self
            .globals
            .values()
            .filter(|(g, _)| matches!(g, Global::Value(_) | Global::Acc(_) | Global::Stage(_)))
            .map(|(_, d)| *d)
            .collect();
        claim.extend(in_order(settled));

        let input = self.input.as_ref().and_then(|(_, name)| self.globals.get(name));
        let input = input.map(|(_, d)| d.symbol);
        let scopes = &mut self.symbols.scopes;
        scopes.globals = globals;
        scopes.members = members;
        scopes.claim = claim;
        scopes.input = input;
    }
}
