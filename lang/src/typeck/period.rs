//! Period settlement: `period` aggregates and values, `case` values and `table`s, checked in
//! an order where what each reads is known, lowered to [`ir::period::Period`].
//!
//! The phases are kept apart here: a claim's own values (`let`s, rules, stages, accumulators,
//! the balance, a test claim's fields) never read a period name (`settle::period::in_claim`); a
//! value of the period reads no claim; a case value is read only where one case is at hand. A
//! test's expectations read the period its claims make ([`super::period_tests`]).
//! Dependencies between period items are found on the syntax, before any is typed, so that
//! each is checked after everything it reads; a cycle is `settle::order::cycle`.

use std::collections::HashMap;

use crate::ast::period::{ColumnDecl, PeriodDecl, PeriodItem, TableDecl};
use crate::ast::{self, ExprKind, Ident, Item};
use crate::check::{Checker, Decl};
use crate::diagnostic::{Code, FileId, Problem};
use crate::ir::period::{
    Aggregate, Column, ColumnKind, Fold, Folding, Key, Named, PeriodRead, Step, Table,
};
use crate::ir::{self, Type};
use crate::span::Span;

use super::expr::{Scope, TExpr};
use super::types::Ty;

/// What a period name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeriodName {
    /// An aggregate, with the type of its key if it has one.
    Aggregate(usize, Option<Type>),
    /// A value of the period.
    Value(usize),
    /// A value of each case.
    Case(usize),
    /// A table: not a value.
    Table,
}

/// Where a period expression stands: what it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// For one case: a `case` value, a fold's body or filter. Reads what a claim has too.
    Case,
    /// Once per period: a `period` value, a `share`'s amount.
    Once,
    /// A table's column: the earlier columns by name, with their index and type.
    Row(Vec<(String, usize, Type)>),
    /// A test's expectation, once the test's claims are settled as a period: reads the
    /// aggregates and period values, each claim's case values (`a.points`) and the tables' rows
    /// ([`super::period_tests`]).
    Test,
}

/// Period settlement while it is checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeriodState {
    /// Every name declared by `period`, `case` and `table`, with where it is declared.
    pub names: HashMap<String, (PeriodName, Decl)>,
    /// The types known so far, by name.
    pub(super) types: HashMap<String, Type>,
    /// Each aggregate, period value and case value once it checks, by the id its name has.
    aggregates: Vec<Option<Aggregate>>,
    values: Vec<Option<Named>>,
    cases: Vec<Option<Named>>,
    /// The tables that check, the evaluation order, and whether every table checked.
    pub(super) tables: Vec<Table>,
    order: Vec<Step>,
    broken_table: bool,
}

impl PeriodState {
    /// The IR, when every item checked.
    pub(crate) fn finished(&mut self) -> Option<ir::period::Period> {
        if self.broken_table {
            return None;
        }
        Some(ir::period::Period {
            aggregates: self.aggregates.iter().cloned().collect::<Option<_>>()?,
            values: self.values.iter().cloned().collect::<Option<_>>()?,
            cases: self.cases.iter().cloned().collect::<Option<_>>()?,
            tables: std::mem::take(&mut self.tables),
            order: std::mem::take(&mut self.order),
        })
    }
}

/// A `period` or `case` item with its file and id, for ordering.
#[derive(Clone, Copy)]
struct Node<'a> {
    item: &'a PeriodItem,
    file: FileId,
    name: PeriodName,
}

/// Whether `e` is a fold over the period's cases: `count()`, `sum(e)` or `average(e)`.
fn fold_call(e: &ast::Expr) -> Option<(&Ident, &[ast::Expr])> {
    match &e.kind {
        ExprKind::Call(func, args) if matches!(func.name.as_str(), "count" | "sum" | "average") => {
            Some((func, args))
        }
        ExprKind::Paren(inner) => fold_call(inner),
        _ => None,
    }
}

/// Every name `e` reads, in order.
fn names_read<'e>(e: &'e ast::Expr, out: &mut Vec<&'e Ident>) {
    match &e.kind {
        ExprKind::Lit(_) => {}
        ExprKind::Name(id) => out.push(id),
        ExprKind::Member(b, _) | ExprKind::Unary(_, b) | ExprKind::Paren(b) => names_read(b, out),
        ExprKind::Duration(b, _) => names_read(b, out),
        ExprKind::Index(b, keys) => {
            names_read(b, out);
            keys.iter().for_each(|k| names_read(k, out));
        }
        ExprKind::Call(_, args) | ExprKind::Set(args) => {
            args.iter().for_each(|a| names_read(a, out))
        }
        ExprKind::Fold { body, list, filter, .. } => {
            names_read(body, out);
            names_read(list, out);
            if let Some(f) = filter {
                names_read(f, out);
            }
        }
        ExprKind::If(c, a, b) => {
            names_read(c, out);
            names_read(a, out);
            names_read(b, out);
        }
        ExprKind::Binary(_, a, b) => {
            names_read(a, out);
            names_read(b, out);
        }
    }
}

impl Checker<'_> {
    /// Give every `period`, `case` and `table` its name and id, before any expression is
    /// checked, so that a claim's value reading one is told why it cannot.
    pub(crate) fn declare_period(&mut self) {
        let items = self.items.clone();
        for m in &items {
            let Item::Period(item) = m.item else { continue };
            let id = item.name();
            let name = match item {
                PeriodItem::Period(d) if fold_call(&d.value).is_some() || d.key.is_some() => {
                    self.period.aggregates.push(None);
                    PeriodName::Aggregate(self.period.aggregates.len() - 1, None)
                }
                PeriodItem::Period(_) => {
                    self.period.values.push(None);
                    PeriodName::Value(self.period.values.len() - 1)
                }
                PeriodItem::Case(_) => {
                    self.period.cases.push(None);
                    PeriodName::Case(self.period.cases.len() - 1)
                }
                PeriodItem::Table(_) => PeriodName::Table,
            };
            // A symbol the index does not record yet (period names are not indexed).
            let symbol = self.symbols.add(crate::resolve::symbols::Symbol::Value(id.name.clone()));
            let decl = Decl { file: m.file, span: id.span, extent: item.span(), symbol };
            let first = self
                .globals
                .get(&id.name)
                .map(|(_, d)| *d)
                .or_else(|| self.period.names.get(&id.name).map(|(_, d)| *d));
            if let Some(first) = first {
                self.report(
                    Problem::error(
                        Code::NameDuplicate,
                        m.file,
                        id.span,
                        format!("`{}` is declared twice", id.name),
                    )
                    .label("declared again here")
                    .also(first.file, first.span, "first declared here")
                    .help("give each value of the policy its own name"),
                );
                continue;
            }
            self.period.names.insert(id.name.clone(), (name, decl));
        }
    }

    /// Check period settlement's items and build its IR.
    pub(crate) fn check_period(&mut self) {
        let items = self.items.clone();
        let mut nodes: Vec<Node<'_>> = Vec::new();
        let mut tables: Vec<(&TableDecl, FileId)> = Vec::new();
        for m in &items {
            let Item::Period(item) = m.item else { continue };
            let declared = self.period.names.get(&item.name().name).map(|(n, d)| (*n, *d));
            // A duplicate keeps the first declaration's name: only that one is checked.
            let Some((name, decl)) = declared.filter(|(_, d)| d.span == item.name().span) else {
                continue;
            };
            if decl.file != m.file {
                continue;
            }
            match item {
                PeriodItem::Table(t) => tables.push((t, m.file)),
                _ => nodes.push(Node { item, file: m.file, name }),
            }
        }
        let Some(order) = self.period_order(&nodes) else { return };
        for i in order {
            let Some(node) = nodes.get(i).copied() else { continue };
            let step = match (node.item, node.name) {
                (PeriodItem::Period(d), PeriodName::Aggregate(a, _)) => {
                    self.check_aggregate(d, node.file, a);
                    Step::Aggregate(a)
                }
                (PeriodItem::Period(d), PeriodName::Value(v)) => {
                    let expr =
                        self.period_expr(node.file, &d.name, d.ty.as_ref(), &d.value, Phase::Once);
                    if let Some(e) = &expr {
                        self.reads_no_claim(node.file, &d.name, e);
                    }
                    self.set_named(false, v, &d.name, d.span, expr);
                    Step::Value(v)
                }
                (PeriodItem::Case(d), PeriodName::Case(c)) => {
                    let expr =
                        self.period_expr(node.file, &d.name, d.ty.as_ref(), &d.value, Phase::Case);
                    self.set_named(true, c, &d.name, d.span, expr);
                    Step::Case(c)
                }
                _ => continue,
            };
            self.period.order.push(step);
        }
        for (t, file) in tables {
            self.check_table(t, file);
        }
    }

    /// The items in an order where each comes after the items it reads; `None` after reporting
    /// a cycle.
    fn period_order(&mut self, nodes: &[Node<'_>]) -> Option<Vec<usize>> {
        let index: HashMap<&str, usize> =
            nodes.iter().enumerate().map(|(i, n)| (n.item.name().name.as_str(), i)).collect();
        let reads: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                let mut names = Vec::new();
                match n.item {
                    PeriodItem::Period(d) => {
                        names_read(&d.value, &mut names);
                        if let Some(f) = &d.filter {
                            names_read(f, &mut names);
                        }
                    }
                    PeriodItem::Case(d) => names_read(&d.value, &mut names),
                    PeriodItem::Table(_) => {}
                }
                names.iter().filter_map(|id| index.get(id.name.as_str()).copied()).collect()
            })
            .collect();
        // Depth-first: 0 new, 1 on the stack, 2 placed.
        let mut state = vec![0u8; nodes.len()];
        let mut order = Vec::with_capacity(nodes.len());
        for start in 0..nodes.len() {
            if state.get(start) != Some(&0) {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                let next = reads.get(v).and_then(|r| r.get(*i)).copied();
                *i += 1;
                match next {
                    Some(d) if state.get(d) == Some(&0) => {
                        if let Some(s) = state.get_mut(d) {
                            *s = 1;
                        }
                        stack.push((d, 0));
                    }
                    Some(d) if state.get(d) == Some(&1) => {
                        let from = stack.iter().position(|(x, _)| *x == d).unwrap_or(0);
                        let cycle: Vec<usize> =
                            stack.get(from..).unwrap_or(&[]).iter().map(|(x, _)| *x).collect();
                        self.report_period_cycle(nodes, &cycle);
                        return None;
                    }
                    Some(_) => {}
                    None => {
                        if let Some(s) = state.get_mut(v) {
                            *s = 2;
                        }
                        order.push(v);
                        stack.pop();
                    }
                }
            }
        }
        Some(order)
    }

    fn report_period_cycle(&mut self, nodes: &[Node<'_>], cycle: &[usize]) {
        let mut members = cycle.iter().filter_map(|i| nodes.get(*i));
        let Some(first) = members.next() else { return };
        let name = &first.item.name().name;
        let mut problem = Problem::error(
            Code::OrderCycle,
            first.file,
            first.item.name().span,
            format!("`{name}` reads itself through the period's values"),
        )
        .label("part of a cycle");
        for n in members {
            let other = n.item.name();
            problem =
                problem.also(n.file, other.span, format!("`{}` is part of the cycle", other.name));
        }
        self.report(problem.help(
            "an aggregate cannot fold a case value that reads the aggregate itself: compute the case value from values known before it",
        ));
    }

    /// The claim field of `by claim.FIELD`: an enum or text field of the input.
    fn period_key(&mut self, file: FileId, key: &ast::Expr, of: &str) -> Option<Key> {
        let scope = Scope { file, ..Scope::default() };
        let checked = self.infer(&scope, key, None);
        let field = match &checked {
            TExpr::Typed(e) => match e.kind {
                ir::ExprKind::Field(f) if matches!(e.ty, Type::Enum(_) | Type::Text) => {
                    Some(Key { field: f, ty: e.ty })
                }
                _ => None,
            },
            TExpr::Error(_) => return None,
            TExpr::Number(_) => None,
        };
        if field.is_none() {
            self.report(
                Problem::error(
                    Code::PeriodKey,
                    file,
                    key.span,
                    format!("`{of}` must be kept by a field of the claim"),
                )
                .label("not an enum or text field of the claim")
                .help("key it by an enum or text field of the input, as in `by claim.group` or `by claim.hospital`"),
            );
        }
        field
    }

    fn check_aggregate(&mut self, d: &PeriodDecl, file: FileId, a: usize) {
        let key = match &d.key {
            Some(k) => match self.period_key(file, k, &d.name.name) {
                Some(key) => Some(key),
                None => return,
            },
            None => None,
        };
        let declared = match &d.ty {
            Some(t) => match self.resolve_type(file, t) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let Some((folding, ty)) =
            self.folding(file, &d.name, &d.value, d.filter.as_ref(), declared)
        else {
            return;
        };
        if let Some(slot) = self.period.aggregates.get_mut(a) {
            *slot = Some(Aggregate { name: d.name.name.clone(), ty, folding, key, span: d.span });
        }
        self.period.types.insert(d.name.name.clone(), ty);
        if let Some((PeriodName::Aggregate(_, keyed), _)) = self.period.names.get_mut(&d.name.name)
        {
            *keyed = key.map(|k| k.ty);
        }
    }

    /// A fold over cases, `count()`, `sum(e)`, `average(e)`, with its filter, and its type.
    fn folding(
        &mut self,
        file: FileId,
        name: &Ident,
        value: &ast::Expr,
        filter: Option<&ast::Expr>,
        declared: Option<Type>,
    ) -> Option<(Folding, Type)> {
        let scope = Scope { file, period: Some(Phase::Case), ..Scope::default() };
        let Some((func, args)) = fold_call(value) else {
            self.report(
                Problem::error(
                    Code::TypeNotAFold,
                    file,
                    value.span,
                    format!("`{}` is kept by a key but folds no cases", name.name),
                )
                .label("not a fold")
                .help("write `count()`, `sum(value)` or `average(value)` before `by`"),
            );
            return None;
        };
        let fold = match (func.name.as_str(), args.len()) {
            ("count", 0) => Fold::Count,
            ("sum", 1) => Fold::Sum,
            ("average", 1) => Fold::Average,
            (f, _) => {
                self.report(
                    Problem::error(
                        Code::TypeArity,
                        file,
                        value.span,
                        format!(
                            "`{f}` over the period's cases takes {}",
                            if f == "count" { "no value" } else { "one value" }
                        ),
                    )
                    .label("wrong number of values")
                    .help("write `count()`, `sum(value)` or `average(value)`"),
                );
                return None;
            }
        };
        let filter = match filter {
            Some(f) => Some(self.condition(&scope, f)?),
            None => None,
        };
        let (body, ty) = match args.first() {
            None => (None, Type::Int),
            Some(arg) => {
                let t = self.infer(&scope, arg, None);
                let of = match t.ty() {
                    Ty::Known(t) => t,
                    Ty::Number => Type::Money,
                    Ty::Error => return None,
                };
                if !matches!(of, Type::Money | Type::Rate | Type::Int) {
                    let found = self.type_name(of);
                    self.report(
                        Problem::error(
                            Code::PeriodUnit,
                            file,
                            arg.span,
                            format!("cannot add up `{found}` values over the period"),
                        )
                        .label(format!("this is `{found}`"))
                        .help("fold amounts, rates or counts; count cases with `count() where condition`"),
                    );
                    return None;
                }
                let body = self.convert(file, t, of, "the folded value")?;
                let ty = match (fold, of) {
                    (Fold::Average, Type::Int) => Type::Rate,
                    _ => of,
                };
                (Some(body), ty)
            }
        };
        if let Some(d) = declared.filter(|d| *d != ty) {
            let (want, found) = (self.type_name(d), self.type_name(ty));
            self.report(
                Problem::error(
                    Code::PeriodUnit,
                    file,
                    value.span,
                    format!("`{}` is declared `{want}` but folds to `{found}`", name.name),
                )
                .label(format!("this is `{found}`"))
                .help(match fold {
                    Fold::Count => "`count()` counts cases: declare it `int`".to_string(),
                    Fold::Average if found == "rate" => {
                        "an average of counts is a `rate`".to_string()
                    }
                    _ => format!("declare it `{found}`, or fold a `{want}` value"),
                }),
            );
            return None;
        }
        Some((Folding { fold, body, filter }, ty))
    }

    /// A `period` value's or a `case` value's expression, of its declared or inferred type.
    fn period_expr(
        &mut self,
        file: FileId,
        name: &Ident,
        ty: Option<&ast::TypeExpr>,
        value: &ast::Expr,
        phase: Phase,
    ) -> Option<ir::Expr> {
        let scope = Scope { file, period: Some(phase), ..Scope::default() };
        let declared = match ty {
            Some(t) => Some(self.resolve_type(file, t)?),
            None => None,
        };
        let expr = match declared {
            Some(t) => self.expr_of(&scope, value, t, &format!("`{}`", name.name))?,
            None => {
                let t = self.infer(&scope, value, None);
                let ty = match t.ty() {
                    Ty::Known(t) => t,
                    Ty::Number => Type::Money,
                    Ty::Error => return None,
                };
                self.convert(file, t, ty, "the value")?
            }
        };
        self.period.types.insert(name.name.clone(), expr.ty);
        Some(expr)
    }

    fn set_named(
        &mut self,
        case: bool,
        id: usize,
        name: &Ident,
        span: Span,
        expr: Option<ir::Expr>,
    ) {
        let Some(expr) = expr else { return };
        let list = if case { &mut self.period.cases } else { &mut self.period.values };
        if let Some(slot) = list.get_mut(id) {
            *slot = Some(Named { name: name.name.clone(), ty: expr.ty, span, expr });
        }
    }

    /// Report a period value that reads a claim: it is computed once, for no claim.
    fn reads_no_claim(&mut self, file: FileId, name: &Ident, e: &ir::Expr) {
        let mut at = None;
        e.walk(&mut |x| {
            if at.is_none()
                && matches!(
                    x.kind,
                    ir::ExprKind::Field(_) | ir::ExprKind::Value(_) | ir::ExprKind::Acc(_)
                )
            {
                at = Some(x.span);
            }
        });
        if let Some(span) = at {
            self.report(
                Problem::error(
                    Code::PeriodPhase,
                    file,
                    span,
                    format!("`{}` is computed once per period and cannot read a claim", name.name),
                )
                .label("a value of one claim")
                .help("fold it over the period's cases first, as in `period total = sum(claim.total)`, or make it a `case` value"),
            );
        }
    }

    fn check_table(&mut self, t: &TableDecl, file: FileId) {
        let Some(key) = self.period_key(file, &t.key, &t.name.name) else { return };
        let mut columns: Vec<Column> = Vec::new();
        let mut known: Vec<(String, usize, Type)> = Vec::new();
        let mut ok = true;
        for c in &t.columns {
            if known.iter().any(|(n, ..)| *n == c.name.name) {
                self.report(
                    Problem::error(
                        Code::NameDuplicate,
                        file,
                        c.name.span,
                        format!("the table `{}` has two columns `{}`", t.name.name, c.name.name),
                    )
                    .label("declared again here")
                    .help("give each column its own name"),
                );
                ok = false;
                continue;
            }
            match self.column(file, c, &known) {
                Some(col) => {
                    known.push((col.name.clone(), columns.len(), col.ty));
                    columns.push(col);
                }
                None => ok = false,
            }
        }
        if !ok {
            self.period.broken_table = true;
            return;
        }
        {
            self.period.tables.push(Table {
                name: t.name.name.clone(),
                title: t.title.as_ref().map(|x| x.value.clone()),
                key,
                columns,
                span: t.span,
            });
        }
    }

    fn column(
        &mut self,
        file: FileId,
        c: &ColumnDecl,
        known: &[(String, usize, Type)],
    ) -> Option<Column> {
        let declared = match &c.ty {
            Some(t) => Some(self.resolve_type(file, t)?),
            None => None,
        };
        if fold_call(&c.value).is_some() {
            let (folding, ty) =
                self.folding(file, &c.name, &c.value, c.filter.as_ref(), declared)?;
            return Some(Column { name: c.name.name.clone(), ty, kind: ColumnKind::Fold(folding) });
        }
        if let Some(f) = &c.filter {
            self.report(
                Problem::error(
                    Code::TypeNotAFold,
                    file,
                    f.span,
                    format!("`{}` folds no cases, so `where` has nothing to choose", c.name.name),
                )
                .label("a condition on cases")
                .help("put the condition on a fold, as in `cases = count() where claim.total > 0`"),
            );
            return None;
        }
        if let ExprKind::Call(func, args) = &c.value.kind {
            if func.name == "share" {
                return self.share(file, c, args, known, declared);
            }
        }
        let scope = Scope { file, period: Some(Phase::Row(known.to_vec())), ..Scope::default() };
        let expr = match declared {
            Some(t) => self.expr_of(&scope, &c.value, t, &format!("`{}`", c.name.name))?,
            None => {
                let t = self.infer(&scope, &c.value, None);
                let ty = match t.ty() {
                    Ty::Known(t) => t,
                    Ty::Number => Type::Money,
                    Ty::Error => return None,
                };
                self.convert(file, t, ty, "the column")?
            }
        };
        Some(Column { name: c.name.name.clone(), ty: expr.ty, kind: ColumnKind::Expr(expr) })
    }

    /// `share(amount, weight)`: a `money` period value split over the rows by a column.
    fn share(
        &mut self,
        file: FileId,
        c: &ColumnDecl,
        args: &[ast::Expr],
        known: &[(String, usize, Type)],
        declared: Option<Type>,
    ) -> Option<Column> {
        let bad = |this: &mut Self, span: Span, label: &str| {
            this.report(
                Problem::error(
                    Code::PeriodShare,
                    file,
                    span,
                    format!("`{}` must split an amount over the rows by an earlier column", c.name.name),
                )
                .label(label.to_string())
                .help("write `share(amount, column)`: a `money` value of the period, then a column of amounts, rates or counts above this one"),
            );
        };
        let [amount, weight] = args else {
            bad(self, c.value.span, "`share` takes an amount and a column");
            return None;
        };
        let scope = Scope { file, period: Some(Phase::Once), ..Scope::default() };
        let amount = self.expr_of(&scope, amount, Type::Money, "the amount shared")?;
        let column = match &weight.kind {
            ExprKind::Name(id) => known.iter().find(|(n, ..)| *n == id.name),
            _ => None,
        };
        let Some(&(_, index, ty)) = column else {
            bad(self, weight.span, "not a column of this table above this one");
            return None;
        };
        if !matches!(ty, Type::Money | Type::Rate | Type::Int) {
            bad(self, weight.span, "a column that is no amount, rate or count");
            return None;
        }
        if let Some(d) = declared.filter(|d| *d != Type::Money) {
            let want = self.type_name(d);
            self.report(
                Problem::error(
                    Code::PeriodUnit,
                    file,
                    c.value.span,
                    format!("`{}` is declared `{want}` but a share is `money`", c.name.name),
                )
                .label("an amount")
                .help("declare it `money`"),
            );
            return None;
        }
        Some(Column {
            name: c.name.name.clone(),
            ty: Type::Money,
            kind: ColumnKind::Share { amount, weight: index },
        })
    }

    /// A name read in an expression, if it is one of period settlement's: its typed read, or
    /// an error where the phase cannot read it. Columns of the table being checked first.
    pub(crate) fn period_name(&mut self, scope: &Scope, id: &Ident) -> Option<TExpr> {
        let span = id.span;
        if let Some(Phase::Row(cols)) = &scope.period {
            if let Some(&(_, index, ty)) = cols.iter().find(|(n, ..)| *n == id.name) {
                return Some(TExpr::new(ir::ExprKind::Period(PeriodRead::Column(index)), ty, span));
            }
        }
        let (name, _) = *self.period.names.get(&id.name)?;
        let Some(phase) = scope.period.clone() else {
            self.in_claim(scope.file, &id.name, span);
            return Some(TExpr::error(span));
        };
        let ty = self.period.types.get(&id.name).copied();
        let read = match name {
            PeriodName::Aggregate(_, Some(key)) => {
                let key = self.type_name(key);
                self.report(
                    Problem::error(
                        Code::PeriodKey,
                        scope.file,
                        span,
                        format!("`{}` has one value per `{key}`", id.name),
                    )
                    .label("which one?")
                    .help(format!("read it with a key, as in `{}[claim.…]`", id.name)),
                );
                return Some(TExpr::error(span));
            }
            PeriodName::Aggregate(a, None) => PeriodRead::Aggregate(a, None),
            PeriodName::Value(v) => PeriodRead::Value(v),
            PeriodName::Case(c) if phase == Phase::Case => PeriodRead::Case(c),
            PeriodName::Case(_) => {
                let help = match (&phase, scope.claims.first()) {
                    (Phase::Test, Some((first, _))) => {
                        format!("read it of one claim of the test, as in `{first}.{}`", id.name)
                    }
                    _ => format!("fold it over the cases, as in `sum({})`", id.name),
                };
                self.report(
                    Problem::error(
                        Code::PeriodPhase,
                        scope.file,
                        span,
                        format!(
                            "`{}` is a value of each case, read here where there is no one case",
                            id.name
                        ),
                    )
                    .label("a value of one case")
                    .help(help),
                );
                return Some(TExpr::error(span));
            }
            PeriodName::Table => {
                let help = match phase {
                    Phase::Test => format!(
                        "read a column of one of its rows, as in `{}[key].column`, or a column's total, `sum({}.column)`",
                        id.name, id.name
                    ),
                    _ => "a table is written out; read the aggregates and values it is made of"
                        .to_string(),
                };
                self.report(
                    Problem::error(
                        Code::TypeNotAValue,
                        scope.file,
                        span,
                        format!("`{}` is a table, not a value", id.name),
                    )
                    .label("a table")
                    .help(help),
                );
                return Some(TExpr::error(span));
            }
        };
        Some(match ty {
            Some(t) => TExpr::new(ir::ExprKind::Period(read), t, span),
            // Its own problem has been reported.
            None => TExpr::error(span),
        })
    }

    /// `name[key]` where `name` is an aggregate kept by a key: its typed read, else `None`.
    pub(crate) fn period_index(
        &mut self,
        scope: &Scope,
        base: &ast::Expr,
        keys: &[ast::Expr],
        span: Span,
    ) -> Option<TExpr> {
        let ExprKind::Name(id) = &base.kind else { return None };
        let (name, _) = *self.period.names.get(&id.name)?;
        let Some(phase) = scope.period.clone() else {
            self.in_claim(scope.file, &id.name, id.span);
            return Some(TExpr::error(span));
        };
        let PeriodName::Aggregate(a, Some(key_ty)) = name else {
            self.report(
                Problem::error(
                    Code::PeriodKey,
                    scope.file,
                    span,
                    format!("`{}` is not kept by a key", id.name),
                )
                .label("read with a key")
                .help(format!("read it by its name alone, `{}`", id.name)),
            );
            return Some(TExpr::error(span));
        };
        let [key] = keys else {
            self.report(
                Problem::error(
                    Code::TypeKeyCount,
                    scope.file,
                    span,
                    format!("`{}` is read with one key", id.name),
                )
                .label("one key")
                .help(format!("read it as `{}[claim.…]`", id.name)),
            );
            return Some(TExpr::error(span));
        };
        // A test's key may read its claims (`group_cost[a.group]`).
        let key_scope = Scope {
            file: scope.file,
            claims: scope.claims.clone(),
            period: Some(phase),
            ..Scope::default()
        };
        let what = format!("the key of `{}`", id.name);
        let key = self.expr_of(&key_scope, key, key_ty, &what)?;
        let ty = self.period.types.get(&id.name).copied();
        Some(match ty {
            Some(t) => TExpr::new(
                ir::ExprKind::Period(PeriodRead::Aggregate(a, Some(Box::new(key)))),
                t,
                span,
            ),
            None => TExpr::error(span),
        })
    }

    fn in_claim(&mut self, file: FileId, name: &str, span: Span) {
        self.report(
            Problem::error(
                Code::PeriodInClaim,
                file,
                span,
                format!("`{name}` is known only once every claim of the period is settled"),
            )
            .label("read while one claim is settled")
            .help(format!(
                "a claim's `let`s, rules, stages, accumulators and a test claim's fields cannot read the period's values; read `{name}` in a `case` value, a `period` value, a `table` or a test's `expect`"
            )),
        );
    }
}
