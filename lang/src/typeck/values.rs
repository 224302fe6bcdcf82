//! Computed values: `let`s, accumulators, rules, stages, the balance and the dating field.

use std::collections::HashMap;

use crate::ast::{self, ExprKind, Item, StageStmt};
use crate::diagnostic::{Code, Problem, did_you_mean};
use crate::ir::{self, FoldKind, Type};
use crate::span::Span;

use super::expr::{Scope, TExpr};
use super::types::Ty;
use crate::check::{Checker, Global, Merged};

/// A `let` or `yearly` whose type may depend on others.
#[derive(Clone, Copy)]
enum Node<'a> {
    Let(&'a ast::LetDecl, usize, ir::ValueId),
    Yearly(&'a ast::YearlyDecl, usize, ir::AccId),
}

impl Checker<'_> {
    /// Check `let`s and accumulators in an order where each one's type is known before it is
    /// read, then rules.
    pub(crate) fn check_values(&mut self) {
        let items = self.items.clone();
        let mut nodes: Vec<Node<'_>> = Vec::new();
        for m in &items {
            match (m.item, m.id) {
                (Item::Let(l), Some(Global::Value(v))) if self.declares(&l.name.name, m) => {
                    nodes.push(Node::Let(l, m.file, v));
                }
                (Item::Yearly(y), Some(Global::Acc(a))) => nodes.push(Node::Yearly(y, m.file, a)),
                _ => {}
            }
        }
        // Types known without looking at the body.
        for node in &nodes {
            match *node {
                Node::Let(l, file, v) => {
                    if let Some(ty) = &l.ty {
                        let ty = self.resolve_type(file, ty);
                        if let Some(slot) = self.slots.get_mut(v) {
                            slot.ty = ty;
                        }
                    }
                }
                Node::Yearly(y, file, a) => {
                    let ty = match &y.ty {
                        Some(ty) => self.resolve_type(file, ty),
                        None => is_count(&y.fold).then_some(Type::Int),
                    };
                    if let Some(slot) = self.accs.get_mut(a) {
                        slot.ty = ty;
                    }
                }
            }
        }
        for i in self.inference_order(&nodes) {
            let Some(node) = nodes.get(i).copied() else { continue };
            match node {
                Node::Let(l, file, v) => self.check_let(l, file, v),
                Node::Yearly(y, file, a) => self.check_yearly(y, file, a),
            }
        }
        for m in &items {
            if let (Item::Rule(r), Some(Global::Value(v))) = (m.item, m.id) {
                if self.declares(&r.name.name, m) {
                    self.check_rule(r, m.file, v);
                }
            }
        }
    }

    /// Whether `name` denotes the merged item `m` (and not another item of that name, of
    /// which `m` is a duplicate).
    fn declares(&self, name: &str, m: &Merged<'_>) -> bool {
        m.id.is_some() && self.globals.get(name).map(|(g, _)| *g) == m.id
    }

    /// Order the nodes so that an unannotated one comes after those it reads; report cycles.
    fn inference_order(&mut self, nodes: &[Node<'_>]) -> Vec<usize> {
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match n {
                Node::Let(l, ..) => (l.name.name.as_str(), i),
                Node::Yearly(y, ..) => (y.name.name.as_str(), i),
            })
            .collect();
        let edges: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                let mut names = Vec::new();
                match n {
                    Node::Let(l, ..) => free_names(&l.value, &mut Vec::new(), &mut names),
                    Node::Yearly(y, ..) => {
                        free_names(&y.fold, &mut Vec::new(), &mut names);
                        if let Some(f) = &y.filter {
                            free_names(f, &mut Vec::new(), &mut names);
                        }
                    }
                }
                let mut out: Vec<usize> = names
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .filter(|&j| match nodes.get(j) {
                        // Reading an accumulator gives a value from earlier claims: only its
                        // type matters, and a declared or counted one is known already.
                        Some(Node::Yearly(y, ..)) => y.ty.is_none() && !is_count(&y.fold),
                        Some(Node::Let(..)) => true,
                        None => false,
                    })
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect();
        // Iterative depth-first search: 0 unvisited, 1 on the stack, 2 done.
        let mut state = vec![0u8; nodes.len()];
        let mut order = Vec::new();
        let mut in_cycle = vec![false; nodes.len()];
        for start in 0..nodes.len() {
            if state.get(start) != Some(&0) {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let succ = edges.get(node).and_then(|e| e.get(*next)).copied();
                *next += 1;
                match succ {
                    Some(s) if state.get(s) == Some(&0) => {
                        if let Some(st) = state.get_mut(s) {
                            *st = 1;
                        }
                        stack.push((s, 0));
                    }
                    Some(s) if state.get(s) == Some(&1) => {
                        // INVARIANT: a node in state 1 is on the stack.
                        let Some(pos) = stack.iter().position(|(n, _)| *n == s) else { continue };
                        let cycle: Vec<usize> =
                            stack.get(pos..).unwrap_or(&[]).iter().map(|(n, _)| *n).collect();
                        if !cycle.iter().any(|c| in_cycle.get(*c) == Some(&true)) {
                            self.report_cycle(nodes, &cycle);
                        }
                        for c in cycle {
                            if let Some(x) = in_cycle.get_mut(c) {
                                *x = true;
                            }
                        }
                    }
                    Some(_) => {}
                    None => {
                        if let Some(st) = state.get_mut(node) {
                            *st = 2;
                        }
                        order.push(node);
                        stack.pop();
                    }
                }
            }
        }
        order.retain(|n| in_cycle.get(*n) != Some(&true));
        order
    }

    fn report_cycle(&mut self, nodes: &[Node<'_>], cycle: &[usize]) {
        let parts: Vec<(String, usize, Span, bool)> = cycle
            .iter()
            .filter_map(|i| nodes.get(*i))
            .map(|n| match n {
                Node::Let(l, file, _) => (l.name.name.clone(), *file, l.name.span, false),
                Node::Yearly(y, file, _) => (y.name.name.clone(), *file, y.name.span, true),
            })
            .collect();
        let Some((first, file, span, _)) = parts.first().cloned() else { return };
        let names: Vec<String> = parts.iter().map(|(n, ..)| format!("`{n}`")).collect();
        let has_yearly = parts.iter().any(|p| p.3);
        let mut problem = Problem::error(
            Code::OrderCycle,
            file,
            span,
            if parts.len() == 1 {
                format!("`{first}` is defined in terms of itself")
            } else {
                format!("{} are defined in terms of each other", names.join(" and "))
            },
        )
        .label("the cycle starts here");
        for (name, f, s, _) in parts.iter().skip(1) {
            problem = problem.also(*f, *s, format!("`{name}` is part of the cycle"));
        }
        self.report(problem.help(if has_yearly {
            "give the accumulator a type, as in `yearly burden: money = sum(...)`, so it need not be inferred"
        } else {
            "every value must be computable from the claim, parameters and earlier values"
        }));
    }

    fn check_let(&mut self, l: &ast::LetDecl, file: usize, v: ir::ValueId) {
        let scope = Scope { file, ..Scope::default() };
        let declared = self.slots.get(v).and_then(|s| s.ty);
        let body = match declared {
            Some(ty) => self.expr_of(&scope, &l.value, ty, &format!("`{}`", l.name.name)),
            None if l.ty.is_some() => None,
            None => {
                let t = self.infer(&scope, &l.value, None);
                let ty = match t.ty() {
                    Ty::Known(t) => Some(t),
                    Ty::Number => Some(Type::Money),
                    Ty::Error => None,
                };
                match ty {
                    Some(ty) => {
                        if let Some(slot) = self.slots.get_mut(v) {
                            slot.ty = Some(ty);
                        }
                        self.convert(file, t, ty, "the value")
                    }
                    None => None,
                }
            }
        };
        if let (Some(body), Some(slot)) = (body, self.slots.get_mut(v)) {
            slot.body = Some(ir::Body::Expr(body));
        }
    }

    fn check_yearly(&mut self, y: &ast::YearlyDecl, file: usize, a: ir::AccId) {
        let scope = Scope { file, ..Scope::default() };
        let window = self.window(y, file);
        let ExprKind::Call(func, args) = &y.fold.kind else {
            self.report(
                Problem::error(
                    Code::TypeNotAFold,
                    file,
                    y.fold.span,
                    format!("`{}` must fold earlier claims", y.name.name),
                )
                .label("not a fold")
                .help("write `count()`, `sum(value)`, `min(value)` or `max(value)`, optionally followed by `where condition`"),
            );
            return;
        };
        let fold = match (func.name.as_str(), args.len()) {
            ("count", 0) => FoldKind::Count,
            ("sum", 1) => FoldKind::Sum,
            ("min", 1) => FoldKind::Min,
            ("max", 1) => FoldKind::Max,
            (name, _) => {
                let known = matches!(name, "count" | "sum" | "min" | "max");
                self.report(
                    Problem::error(
                        Code::TypeNotAFold,
                        file,
                        y.fold.span,
                        if known {
                            format!(
                                "`{name}` over earlier claims takes {}",
                                if name == "count" { "no value" } else { "one value" }
                            )
                        } else {
                            format!("`{name}` cannot fold earlier claims")
                        },
                    )
                    .label("not a fold")
                    .help("write `count()`, `sum(value)`, `min(value)` or `max(value)`"),
                );
                return;
            }
        };
        let declared = self.accs.get(a).and_then(|x| x.ty);
        let value = match args.first() {
            None => None,
            Some(arg) => {
                let t = self.infer(&scope, arg, declared);
                let ty = match (declared, t.ty()) {
                    (Some(d), _) => d,
                    (None, Ty::Known(t)) => t,
                    (None, Ty::Number) => Type::Money,
                    (None, Ty::Error) => return,
                };
                if !matches!(ty, Type::Money | Type::Rate | Type::Int) {
                    let name = self.type_name(ty);
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            file,
                            arg.span,
                            format!("cannot fold `{name}` values"),
                        )
                        .label(format!("this is `{name}`"))
                        .help("accumulate amounts, rates or counts"),
                    );
                    return;
                }
                if let Some(slot) = self.accs.get_mut(a) {
                    slot.ty = Some(ty);
                }
                match self.convert(file, t, ty, &format!("`{}`", y.name.name)) {
                    Some(e) => Some(e),
                    None => return,
                }
            }
        };
        if fold == FoldKind::Count {
            if let Some(d) = declared.filter(|d| *d != Type::Int) {
                let name = self.type_name(d);
                self.report(
                    Problem::error(
                        Code::TypeMismatch,
                        file,
                        y.fold.span,
                        format!("`count()` is an `int`, not `{name}`"),
                    )
                    .label("counts claims")
                    .help(format!(
                        "declare it as `{} {}: int`",
                        y.window.keyword(),
                        y.name.name
                    )),
                );
                return;
            }
        }
        let filter = match &y.filter {
            Some(f) => match self.condition(&scope, f) {
                Some(c) => Some(c),
                None => return,
            },
            None => None,
        };
        let Some(ty) = self.accs.get(a).and_then(|x| x.ty) else { return };
        let Some(window) = window else { return };
        if let Some(slot) = self.accs.get_mut(a) {
            slot.def = Some(ir::Accumulator {
                name: y.name.name.clone(),
                window,
                ty,
                fold,
                value,
                filter,
                group: None,
                span: y.name.span,
            });
        }
    }

    fn check_rule(&mut self, r: &ast::RuleDecl, file: usize, v: ir::ValueId) {
        let Some(ty) = self.slots.get(v).and_then(|s| s.ty) else { return };
        let scope = Scope { file, ..Scope::default() };
        let what = format!("rule `{}`", r.name.name);
        let default = self.expr_of(&scope, &r.default.value, ty, &what);
        let mut exceptions = Vec::new();
        let mut ok = default.is_some();
        // The conditions as written, each `else when` arm's guarded below by those above it.
        let mut written: Vec<ir::Expr> = Vec::new();
        let mut shadowed = Vec::new();
        for e in &r.exceptions {
            let when = self.condition(&scope, &e.when);
            let value = self.expr_of(&scope, &e.arm.value, ty, &what);
            if let Some(when) = &when {
                written.push(when.clone());
            }
            let when = match when {
                Some(when) if e.ordered && ok => {
                    let above = written.len().saturating_sub(1);
                    let guarded = first_match(when, written.get(..above).unwrap_or(&[]));
                    shadowed.push(self.is_shadowed(file, &r.name.name, e, &written, &guarded));
                    Some(guarded)
                }
                other => {
                    shadowed.push(false);
                    other
                }
            };
            match (when, value) {
                (Some(when), Some(value)) => exceptions.push(ir::RuleException {
                    when,
                    value,
                    text: self.source_text(file, e.when.span),
                    sources: e.arm.sources.iter().map(|s| s.value.clone()).collect(),
                    span: e.when.span,
                }),
                _ => ok = false,
            }
        }
        if ok {
            self.check_exceptions(file, &r.name.name, &exceptions, &shadowed);
        }
        if let (true, Some(default), Some(slot)) = (ok, default, self.slots.get_mut(v)) {
            slot.sources.extend(r.default.sources.iter().map(|s| s.value.clone()));
            slot.body = Some(ir::Body::Rule { default, exceptions });
        }
    }

    /// Whether an `else when` arm is reached by no claim because the arms above take every
    /// claim it matches (its own condition satisfiable, its guarded one not): warned about.
    fn is_shadowed(
        &mut self,
        file: usize,
        rule: &str,
        arm: &ast::Exception,
        written: &[ir::Expr],
        guarded: &ir::Expr,
    ) -> bool {
        let Some(own) = written.last() else { return false };
        if !self.provably_never(own) && self.provably_never(guarded) {
            self.report(
                Problem::warning(
                    Code::RuleShadowedArm,
                    file,
                    arm.when.span,
                    format!("this arm of `{rule}` is never reached"),
                )
                .label("every claim it matches is taken by an arm above")
                .help("move it above the arm that covers it, or remove it"),
            );
            return true;
        }
        false
    }

    /// The text of a span of a merged file, with runs of whitespace made single spaces.
    pub(crate) fn source_text(&self, file: usize, span: Span) -> String {
        let text = self.file_text(file).get(span.range()).unwrap_or("");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Check every stage's statements in order.
    pub(crate) fn check_stages(&mut self) {
        let items = self.items.clone();
        for m in &items {
            if let (Item::Stage(s), Some(Global::Stage(id))) = (m.item, m.id) {
                if self.declares(&s.name.name, m) {
                    self.check_stage(s, m.file, id);
                }
            }
        }
    }

    fn check_stage(&mut self, s: &ast::StageDecl, file: usize, id: ir::StageId) {
        let Some(info) = self.stages.get(id).cloned() else { return };
        let mut names: HashMap<String, (ir::ValueId, usize)> = HashMap::new();
        let mut name_spans: HashMap<String, Span> = HashMap::new();
        for (name, v) in &info.outputs {
            names.insert(name.clone(), (*v, usize::MAX));
            if let Some(slot) = self.slots.get(*v) {
                name_spans.insert(name.clone(), slot.decl.span);
            }
        }
        let mut assigned: HashMap<String, Span> = HashMap::new();
        for (index, stmt) in s.body.iter().enumerate() {
            match stmt {
                StageStmt::Let(l) => {
                    let Some(v) = self.local_at(&info, id, index) else { continue };
                    if let Some(first) = name_spans.get(&l.name.name) {
                        self.report(crate::resolve::decls::duplicate(
                            file,
                            &l.name.name,
                            l.name.span,
                            *first,
                        ));
                        continue;
                    }
                    name_spans.insert(l.name.name.clone(), l.name.span);
                    names.insert(l.name.name.clone(), (v, index));
                }
                StageStmt::Assign { name, span, .. } => {
                    if let Some(first) = assigned.get(&name.name) {
                        self.report(
                            Problem::error(
                                Code::StageOutputTwice,
                                file,
                                *span,
                                format!("output `{}` is set twice", name.name),
                            )
                            .label("set again here")
                            .with(*first, "first set here")
                            .help("set each output once; use `if ... then ... else` to choose between values"),
                        );
                        continue;
                    }
                    match names.get_mut(&name.name) {
                        Some(entry) if info.outputs.iter().any(|(n, _)| *n == name.name) => {
                            entry.1 = index;
                            assigned.insert(name.name.clone(), *span);
                        }
                        Some(_) => {
                            self.report(
                                Problem::error(
                                    Code::StageNotAnOutput,
                                    file,
                                    name.span,
                                    format!("`{}` is a `let` of this stage, not an output", name.name),
                                )
                                .label("cannot be set again")
                                .help("a `let` is set once where it is declared; declare an output in the stage's parentheses"),
                            );
                        }
                        None => {
                            let outs: Vec<&str> =
                                info.outputs.iter().map(|(n, _)| n.as_str()).collect();
                            let help = match did_you_mean(&name.name, outs.iter().copied()) {
                                Some(o) => format!("did you mean `{o}`?"),
                                None => format!(
                                    "declare it among the outputs: `stage {} ({}: money)`, or use `let {}` for a value of this stage only",
                                    info.name, name.name, name.name
                                ),
                            };
                            self.report(
                                Problem::error(
                                    Code::StageNotAnOutput,
                                    file,
                                    name.span,
                                    format!(
                                        "`{}` is not an output of stage `{}`",
                                        name.name, info.name
                                    ),
                                )
                                .label("not declared as an output")
                                .help(help),
                            );
                        }
                    }
                }
            }
        }
        for (name, v) in &info.outputs {
            if !assigned.contains_key(name) {
                let span = self.slots.get(*v).map_or(s.name.span, |x| x.decl.span);
                let ty = self
                    .slots
                    .get(*v)
                    .and_then(|x| x.ty)
                    .map(|t| self.type_name(t))
                    .unwrap_or_default();
                self.report(
                    Problem::error(
                        Code::StageOutputUnset,
                        file,
                        span,
                        format!("output `{}.{name}` is never set", info.name),
                    )
                    .label("declared, never set")
                    .help(format!(
                        "set it in the stage body: `{name} = ...` (a `{ty}`), or remove it"
                    )),
                );
            }
        }
        let mut scope =
            Scope { file, stage: Some((id, 0)), stage_names: names, ..Scope::default() };
        let bound: Vec<ir::ValueId> = scope.stage_names.values().map(|(v, _)| *v).collect();
        self.record_stage_scope(file, s.span, bound);
        let mut done: Vec<String> = Vec::new();
        for (index, stmt) in s.body.iter().enumerate() {
            scope.stage = Some((id, index));
            match stmt {
                StageStmt::Let(l) => {
                    let Some(v) = self.local_at(&info, id, index) else { continue };
                    if scope.stage_names.get(&l.name.name).map(|(x, _)| *x) != Some(v) {
                        continue;
                    }
                    self.check_stage_let(&scope, l, v);
                }
                StageStmt::Assign { name, value, .. } => {
                    let output = info.outputs.iter().find(|(n, _)| *n == name.name);
                    if let Some(symbol) = output.and_then(|(_, v)| self.stage_symbol(*v)) {
                        self.refer(scope.file, name.span, symbol);
                    }
                    if done.contains(&name.name) {
                        continue;
                    }
                    let Some(&(v, at)) = scope.stage_names.get(&name.name) else { continue };
                    if at != index {
                        continue;
                    }
                    done.push(name.name.clone());
                    let Some(ty) = self.slots.get(v).and_then(|x| x.ty) else { continue };
                    let body = self.expr_of(
                        &scope,
                        value,
                        ty,
                        &format!("output `{}.{}`", info.name, name.name),
                    );
                    if let (Some(body), Some(slot)) = (body, self.slots.get_mut(v)) {
                        slot.body = Some(ir::Body::Expr(body));
                        slot.position = Some((id, index));
                    }
                }
            }
        }
    }

    /// The stage `let` the declaration pass made of statement `index` of stage `stage`.
    fn local_at(
        &self,
        info: &crate::check::StageInfo,
        stage: ir::StageId,
        index: usize,
    ) -> Option<ir::ValueId> {
        let set = info.statements.get(index).copied().flatten();
        let local = |v: &ir::ValueId| {
            self.slots
                .get(*v)
                .is_some_and(|s| matches!(s.kind, ir::ValueKind::StageLocal(st) if st == stage))
        };
        set.filter(local)
    }

    fn check_stage_let(&mut self, scope: &Scope, l: &ast::LetDecl, v: ir::ValueId) {
        let declared = match &l.ty {
            Some(t) => match self.resolve_type(scope.file, t) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let t = self.infer(scope, &l.value, declared);
        let ty = match (declared, t.ty()) {
            (Some(d), _) => d,
            (None, Ty::Known(t)) => t,
            (None, Ty::Number) => Type::Money,
            (None, Ty::Error) => return,
        };
        let body = self.convert(scope.file, t, ty, &format!("`{}`", l.name.name));
        if let Some(slot) = self.slots.get_mut(v) {
            slot.ty = Some(ty);
            slot.body = body.map(ir::Body::Expr);
        }
    }

    /// Check the `balance` line, required once there are stages.
    pub(crate) fn check_balance(&mut self) {
        let items = self.items.clone();
        let Some(m) = items.iter().find(|m| matches!(m.item, Item::Balance { .. })) else {
            if let Some(first) =
                self.stages.first().map(|s| s.decl).filter(|_| !self.is_broken("balance"))
            {
                self.report(
                    Problem::error(
                        Code::PolicyMissingBalance,
                        first.file,
                        first.span,
                        "the policy does not say how a claim's total is shared",
                    )
                    .label("the payer chain starts here")
                    .help("add a line such as `balance claim.total = basic.pay + patient.out_of_pocket`: the engine checks it for every claim"),
                );
            }
            return;
        };
        let Item::Balance { total, parts, .. } = m.item else { return };
        let scope = Scope { file: m.file, ..Scope::default() };
        let total = self.expr_of(&scope, total, Type::Money, "the balance's total");
        let mut terms = Vec::new();
        flatten_sum(parts, &mut terms);
        let mut values = Vec::new();
        for term in terms {
            match self.infer(&scope, term, Some(Type::Money)) {
                TExpr::Typed(ir::Expr { kind: ir::ExprKind::Value(v), ty: Type::Money, .. })
                    if matches!(self.slots.get(v).map(|s| s.kind), Some(ir::ValueKind::Output(_))) =>
                {
                    if values.contains(&v) {
                        self.report(
                            Problem::error(Code::BalanceTerm, m.file, term.span, "this share is counted twice")
                                .label("already in the balance")
                                .help("list each stage output once"),
                        );
                    }
                    values.push(v);
                }
                TExpr::Error(_) => {}
                _ => self.report(
                    Problem::error(
                        Code::BalanceTerm,
                        m.file,
                        term.span,
                        "each share of the balance must be a `money` stage output",
                    )
                    .label("not a stage output")
                    .help("write shares as `stage.output`, such as `basic.pay`; compute other values in a stage"),
                ),
            }
        }
        if let Some(total) = total {
            self.balance = Some(ir::Balance { total, parts: values });
        }
    }

    /// Resolve `dated by`, or the input's `date` field.
    pub(crate) fn check_dated_by(&mut self) {
        let Some((input, input_name)) = self.input.clone() else { return };
        let fields = self.records.get(input).map(|r| r.fields.clone()).unwrap_or_default();
        let items = self.items.clone();
        match items.iter().find(|m| matches!(m.item, Item::DatedBy { .. })) {
            Some(m) => {
                let Item::DatedBy { field, .. } = m.item else { return };
                let found = match &field.kind {
                    ExprKind::Member(base, f) => match &base.kind {
                        ExprKind::Name(b) if b.name == input_name => {
                            fields.iter().position(|x| x.name == f.name)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match found {
                    Some(i) if fields.get(i).map(|f| f.ty) == Some(Type::Date) => {
                        self.dated_field = Some(i)
                    }
                    _ => {
                        let dates: Vec<String> = fields
                            .iter()
                            .filter(|f| f.ty == Type::Date)
                            .map(|f| format!("`{input_name}.{}`", f.name))
                            .collect();
                        self.report(
                            Problem::error(
                                Code::PolicyBadDatedField,
                                m.file,
                                field.span,
                                "`dated by` must name a date field of the input",
                            )
                            .label("not a date field of the claim")
                            .help(if dates.is_empty() {
                                format!("add a date field to `{input_name}`")
                            } else {
                                format!("the date fields are {}", dates.join(", "))
                            }),
                        );
                    }
                }
            }
            None => match fields.iter().position(|f| f.name == "date" && f.ty == Type::Date) {
                Some(i) => self.dated_field = Some(i),
                None if self.is_broken("dated") => {}
                None => {
                    let (file, span) = self
                        .record_names
                        .get(&input_name)
                        .map_or((0, Span::default()), |(_, d)| (d.file, d.span));
                    self.report(
                        Problem::error(
                            Code::PolicyBadDatedField,
                            file,
                            span,
                            "the policy does not say which date decides the parameters in force",
                        )
                        .label("no `date` field")
                        .help(format!("add `dated by {input_name}.admitted` (a `date` field), or a field `date: date`")),
                    );
                }
            },
        }
    }
}

fn is_count(e: &ast::Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(f, args) if f.name == "count" && args.is_empty())
}

fn flatten_sum<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Expr>) {
    match &e.kind {
        ExprKind::Binary(ast::BinaryOp::Add, a, b) => {
            flatten_sum(a, out);
            flatten_sum(b, out);
        }
        ExprKind::Paren(inner) => flatten_sum(inner, out),
        _ => out.push(e),
    }
}

/// The names an expression reads, except those bound by its folds.
fn free_names(e: &ast::Expr, bound: &mut Vec<String>, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Lit(_) => {}
        ExprKind::Name(id) => {
            if !bound.contains(&id.name) {
                out.push(id.name.clone());
            }
        }
        ExprKind::Member(b, _) => free_names(b, bound, out),
        ExprKind::Index(b, keys) => {
            free_names(b, bound, out);
            keys.iter().for_each(|k| free_names(k, bound, out));
        }
        ExprKind::Call(_, args) | ExprKind::Set(args) => {
            args.iter().for_each(|a| free_names(a, bound, out))
        }
        ExprKind::Fold { body, var, list, filter, .. } => {
            free_names(list, bound, out);
            bound.push(var.name.clone());
            free_names(body, bound, out);
            if let Some(f) = filter {
                free_names(f, bound, out);
            }
            bound.pop();
        }
        ExprKind::If(c, a, b) => {
            free_names(c, bound, out);
            free_names(a, bound, out);
            free_names(b, bound, out);
        }
        ExprKind::Unary(_, x) | ExprKind::Paren(x) | ExprKind::Duration(x, _) => {
            free_names(x, bound, out)
        }
        ExprKind::Binary(_, a, b) => {
            free_names(a, bound, out);
            free_names(b, bound, out);
        }
    }
}

/// `when` guarded by `not` of each condition above it: the arm of a first match.
fn first_match(when: ir::Expr, above: &[ir::Expr]) -> ir::Expr {
    above.iter().fold(when, |guarded, earlier| {
        let span = guarded.span;
        let not = ir::Expr {
            kind: ir::ExprKind::Not(Box::new(earlier.clone())),
            ty: Type::Bool,
            span: earlier.span,
        };
        ir::Expr {
            kind: ir::ExprKind::Binary(ir::BinOp::And, Box::new(guarded), Box::new(not)),
            ty: Type::Bool,
            span,
        }
    })
}
