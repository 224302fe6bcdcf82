//! The names read in the parts of the bases a derived policy does not check: the items it
//! replaces and the bases' tests.
//!
//! An `override` replaces a base's `let`, rule or stage: the policy settles with the derived
//! version, so the base's is not checked here. Its names are still written in the base file, and
//! finding references or renaming must reach them, so they are resolved for the index by the
//! checker's own expression resolution ([`Checker::infer`]) and their problems are dropped (the
//! base reports them when it is checked alone). A base parameter's names are resolved where
//! parameters are checked.
//!
//! In a chain of overrides (a base, a policy overriding its item, a policy overriding that
//! override), every replaced link is resolved the same way, against the item in force.
//!
//! Values added to a parameter (`override param ratio from ...`) that a more derived policy
//! replaces whole are read with the type of the parameter they were added to.
//!
//! A replaced base stage's outputs and `let`s are declared here, each with its symbol (an output
//! the stage's output of that name, a `let` its own), and the names read in it denote them.
//!
//! Limits: a base stage is resolved against the derived stage's slots (the types its names are
//! read with are theirs); the statements of a stage whose override has neither outputs nor `let`s
//! are left out.

use std::collections::HashMap;

use crate::ast::{self, Item, StageDecl, StageStmt};
use crate::check::{Checker, Global};
use crate::diagnostic::FileId;
use crate::ir;
use crate::resolve::symbols::{Kind, Symbol, SymbolId};
use crate::typeck::expr::Scope;

impl Checker<'_> {
    /// Record the names read in every base `let`, rule and stage that an `override` replaces,
    /// and in every older link of a chain of overrides (parameters included).
    pub(crate) fn resolve_replaced(&mut self) {
        let items = self.items.clone();
        let problems = self.problems.len();
        for m in &items {
            let Some((file, base)) = m.base else { continue };
            if let (Item::Param(p), Item::ParamAdd(added)) = (m.item, base) {
                // Values a base added to its own base's parameter, replaced whole here.
                if p.overrides {
                    self.resolve_replaced_addition(file, added);
                }
                continue;
            }
            // Without `override`, the base's item stays in the policy and is checked there.
            let overrides = match m.item {
                Item::Let(l) => l.overrides,
                Item::Rule(r) => r.overrides,
                Item::Stage(s) => s.overrides,
                _ => false,
            };
            if overrides {
                self.resolve_replaced_item(file, base, m.id);
            }
        }
        for (file, item) in self.superseded.clone() {
            let in_force = match item {
                Item::Param(ast::ParamDecl { name, .. })
                | Item::Let(ast::LetDecl { name, .. })
                | Item::Rule(ast::RuleDecl { name, .. })
                | Item::Stage(ast::StageDecl { name, .. }) => {
                    self.globals.get(&name.name).map(|(id, _)| *id)
                }
                _ => None,
            };
            match item {
                Item::Param(p) => self.resolve_replaced_param(file, p),
                Item::ParamAdd(added) => self.resolve_replaced_addition(file, added),
                _ => self.resolve_replaced_item(file, item, in_force),
            }
        }
        self.problems.truncate(problems);
    }

    /// Resolve values added to a parameter (`override param ratio from ...`) that a more derived
    /// policy replaces, read with the type of the parameter they were added to.
    fn resolve_replaced_addition(&mut self, file: FileId, added: &ast::ParamAddDecl) {
        let Some((_, Item::Param(declared))) = self.added_to(&added.name.name) else { return };
        let values = ast::ParamDecl {
            versions: added.versions.clone(),
            name: added.name.clone(),
            span: added.span,
            ..declared.clone()
        };
        self.resolve_replaced_param(file, &values);
    }

    /// Record the names read in the bases' tests. A base's tests run with the base, whose
    /// values the derived policy may change, so they are not checked here; their names are
    /// resolved against the merged policy for the editor (finding references or renaming from
    /// the derived file reaches them) and their problems are dropped.
    pub(crate) fn resolve_base_tests(&mut self) {
        let problems = self.problems.len();
        for (file, test) in self.base_tests.clone() {
            let _ = self.check_test(file, test);
        }
        self.problems.truncate(problems);
    }

    /// Resolve a replaced `let`, rule or stage of `file`, whose name now denotes `in_force`.
    fn resolve_replaced_item(&mut self, file: FileId, base: &Item, in_force: Option<Global>) {
        let scope = Scope { file, ..Scope::default() };
        match (base, in_force) {
            (Item::Let(l), Some(Global::Value(v))) => {
                let declared = match &l.ty {
                    Some(t) => self.resolve_type(file, t),
                    None => self.slots.get(v).and_then(|s| s.ty),
                };
                let _ = self.infer(&scope, &l.value, declared);
            }
            (Item::Rule(r), _) => {
                let ty = self.resolve_type(file, &r.ty);
                let _ = self.infer(&scope, &r.default.value, ty);
                for e in &r.exceptions {
                    let _ = self.condition(&scope, &e.when);
                    let _ = self.infer(&scope, &e.arm.value, ty);
                }
            }
            (Item::Stage(s), Some(Global::Stage(id))) => self.resolve_replaced_stage(file, s, id),
            _ => {}
        }
    }

    /// Resolve a replaced base stage's statements. Its outputs and `let`s have no slots of their
    /// own, so each name is looked up through a slot of the derived stage (its namesake where
    /// there is one) and recorded as the base's own symbol: an output is the stage's output of
    /// that name (a symbol of its own when the override has no such output), a `let` the base's.
    fn resolve_replaced_stage(&mut self, file: FileId, s: &StageDecl, id: ir::StageId) {
        let Some(info) = self.stages.get(id).cloned() else { return };
        let mut own: HashMap<String, SymbolId> = HashMap::new();
        let mut bound = Vec::new();
        for (output, ty) in &s.outputs {
            let namesake = info.outputs.iter().find(|(n, _)| *n == output.name);
            let symbol = match namesake.and_then(|(_, v)| self.stage_symbol(*v)) {
                Some(symbol) => symbol,
                None => self.symbols.add(Symbol::Output(info.name.clone(), output.name.clone())),
            };
            let extent = output.span.to(ty.span());
            self.symbols.declare(symbol, Kind::Output, file, output.span, extent, false);
            own.insert(output.name.clone(), symbol);
            bound.push(symbol);
        }
        for stmt in &s.body {
            let StageStmt::Let(l) = stmt else { continue };
            let local = Symbol::Local(file, info.name.clone(), l.name.name.clone());
            let symbol = self.symbols.add(local);
            self.symbols.declare(symbol, Kind::Local, file, l.name.span, l.span, false);
            own.entry(l.name.name.clone()).or_insert(symbol);
            bound.push(symbol);
        }
        self.record_scope(file, s.span, bound);
        let Some(any) = info.outputs.first().map(|(_, v)| *v).or(info.locals.first().copied())
        else {
            return;
        };
        let slot_of = |name: &str| {
            info.outputs.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or(any)
        };
        let mut names: HashMap<String, (ir::ValueId, usize)> = HashMap::new();
        for (output, ty) in &s.outputs {
            let _ = self.resolve_type(file, ty);
            names.insert(output.name.clone(), (slot_of(&output.name), 0));
        }
        let mut scope = Scope { file, replaced: own.clone(), ..Scope::default() };
        for (index, stmt) in s.body.iter().enumerate() {
            scope.stage = Some((id, index));
            scope.stage_names = names.clone();
            match stmt {
                StageStmt::Let(l) => {
                    let declared = l.ty.as_ref().and_then(|t| self.resolve_type(file, t));
                    let _ = self.infer(&scope, &l.value, declared);
                    names.insert(l.name.name.clone(), (slot_of(&l.name.name), 0));
                }
                StageStmt::Assign { name, value, .. } => {
                    let output = s.outputs.iter().any(|(o, _)| o.name == name.name);
                    if let Some(&symbol) = own.get(&name.name).filter(|_| output) {
                        self.refer(file, name.span, symbol);
                    }
                    let expect = info
                        .outputs
                        .iter()
                        .find(|(n, _)| *n == name.name)
                        .and_then(|(_, v)| self.slots.get(*v))
                        .and_then(|slot| slot.ty);
                    let _ = self.infer(&scope, value, expect);
                }
            }
        }
    }
}
