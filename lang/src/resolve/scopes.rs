//! The scopes name resolution uses, recorded once for the editor: which names can be read
//! without a dot, where, and what can follow each name and a dot.
//!
//! The checker records a scope where it binds names (a stage's outputs and `let`s, a fold's
//! variable, a test's claims) and, once every name is declared, its namespaces: the top-level
//! values and types, and the members of each owner (an enum's variants, a record's or the input's
//! fields, a stage's outputs, what a test's claim holds). Completion, rename and the lookups of
//! the index read this record ([`crate::ide::index::Index::visible`],
//! [`crate::ide::index::Index::members_of`]) instead of working scopes out again from the syntax.
//!
//! Limits: period settlement's names (read in `period`, `case` and `table` items) are not
//! recorded.

use crate::check::{Checker, Decl, Global};
use crate::diagnostic::FileId;
use crate::ide::index::Symbol;
use crate::ir;
use crate::span::Span;

/// The scopes the checker used, as symbols; the index gives each its id.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// The names read without a dot anywhere: the value namespace, then the types, each in
    /// declaration order.
    pub globals: Vec<Symbol>,
    /// Names read without a dot only inside a range of a file: (file, range, names bound there).
    pub within: Vec<(FileId, Span, Vec<Symbol>)>,
    /// What can follow each owner and a dot.
    pub members: Vec<(Symbol, Vec<Symbol>)>,
    /// What can follow any claim of a test and a dot.
    pub claim: Vec<Symbol>,
    /// The input record, read by its name.
    pub input: Option<Symbol>,
}

impl Checker<'_> {
    /// Record that `names` can be read without a dot inside `range` of `file`.
    pub(crate) fn record_scope(&mut self, file: FileId, range: Span, names: Vec<Symbol>) {
        self.resolved.scopes.within.push((file, range, names));
    }

    /// Record the scope of a stage's body: the outputs and `let`s it binds by name, each once
    /// (outputs first, then `let`s, in the order written).
    pub(crate) fn record_stage_scope(
        &mut self,
        file: FileId,
        range: Span,
        stage: ir::StageId,
        names: impl IntoIterator<Item = (String, ir::ValueId)>,
    ) {
        let Some(stage_name) = self.stages.get(stage).map(|s| s.name.clone()) else { return };
        let mut bound: Vec<(u8, u32, Symbol)> = names
            .into_iter()
            .filter_map(|(name, value)| {
                let slot = self.slots.get(value)?;
                let at = slot.decl.span.start;
                match slot.kind {
                    ir::ValueKind::Output(_) => {
                        Some((0, at, Symbol::Output(stage_name.clone(), name)))
                    }
                    ir::ValueKind::StageLocal(_) => {
                        Some((1, at, Symbol::Local(file, stage_name.clone(), name)))
                    }
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
        let in_order = |mut named: Vec<(Decl, Symbol)>| -> Vec<Symbol> {
            named.sort_by_key(|(d, _)| (d.file, d.span.start));
            named.into_iter().map(|(_, s)| s).collect()
        };
        let values: Vec<(Decl, Symbol)> =
            self.globals.iter().map(|(n, (_, d))| (*d, Symbol::Value(n.clone()))).collect();
        let types: Vec<(Decl, Symbol)> = self
            .enum_names
            .iter()
            .map(|(n, (_, d))| (*d, n))
            .chain(self.record_names.iter().map(|(n, (_, d))| (*d, n)))
            .filter(|(_, n)| self.input.as_ref().is_none_or(|(_, input)| input != *n))
            .map(|(d, n)| (d, Symbol::Type(n.clone())))
            .collect();
        let mut globals = in_order(values);
        globals.extend(in_order(types));

        let mut members = Vec::new();
        for e in &self.enums {
            let variants = e.variants.iter().map(|v| Symbol::Variant(e.name.clone(), v.clone()));
            members.push((Symbol::Type(e.name.clone()), variants.collect()));
        }
        let input = self.input.as_ref().map(|(id, _)| *id);
        let fields = |r: &ir::RecordDef| -> Vec<Symbol> {
            r.fields.iter().map(|f| Symbol::Field(r.name.clone(), f.name.clone())).collect()
        };
        for (id, r) in self.records.iter().enumerate() {
            let owner = if Some(id) == input {
                Symbol::Value(r.name.clone())
            } else {
                Symbol::Type(r.name.clone())
            };
            members.push((owner, fields(r)));
        }
        for s in &self.stages {
            let outputs = s.outputs.iter().map(|(n, _)| Symbol::Output(s.name.clone(), n.clone()));
            members.push((Symbol::Value(s.name.clone()), outputs.collect()));
        }

        // A claim holds the input's fields, and every `let`, rule, accumulator and stage.
        let mut claim = input.and_then(|id| self.records.get(id)).map(fields).unwrap_or_default();
        let settled: Vec<(Decl, Symbol)> = self
            .globals
            .iter()
            .filter(|(_, (g, _))| matches!(g, Global::Value(_) | Global::Acc(_) | Global::Stage(_)))
            .map(|(n, (_, d))| (*d, Symbol::Value(n.clone())))
            .collect();
        claim.extend(in_order(settled));

        let scopes = &mut self.resolved.scopes;
        scopes.globals = globals;
        scopes.members = members;
        scopes.claim = claim;
        scopes.input = self.input.as_ref().map(|(_, name)| Symbol::Value(name.clone()));
    }
}
