//! In-file tests reading the period their claims make: a test's claims, once settled, are the
//! cases of a period, and its expectations may read what that period computes.
//!
//! - a period value or an aggregate, by its name alone (`point_value`), or with a key
//!   (`group_cost[appendectomy]`, `group_cost[a.group]`): [`super::period`] reads these as
//!   everywhere else, in the test's phase ([`Phase::Test`]);
//! - a case value of one of the test's claims: `a.points`, as a claim's own values are read;
//! - one column of a table's row: `hospitals["hA"].due`, the row of the key in brackets, which
//!   is of the table's key type (a text, or a variant of the key's enum);
//! - a column added up over the table's rows: `sum(hospitals.due)`, for amounts, rates and
//!   counts.
//!
//! A claim's input fields keep their names over case values of the same name (`a.hospital` is
//! the field). Whether the period has the row read is known only once it is settled: a row it
//! does not have fails the test, naming the key.

use crate::ast::{self, ExprKind, Ident};
use crate::check::Checker;
use crate::diagnostic::{Code, Problem, did_you_mean};
use crate::ir::period::{PeriodRead, Table};
use crate::ir::{self, Type};
use crate::span::Span;

use super::expr::{Scope, TExpr};
use super::period::{PeriodName, Phase};
use super::types::Ty;

impl Checker<'_> {
    /// In a test's expectation, `e` read from the test's period: a claim's case value, a table's
    /// row or a column's total, typed; `None` when `e` is none of these (or not in a test), to
    /// be checked as any expression.
    pub(crate) fn test_period_read(&mut self, scope: &Scope, e: &ast::Expr) -> Option<TExpr> {
        if !matches!(scope.period, Some(Phase::Test)) {
            return None;
        }
        let span = e.span;
        match &e.kind {
            ExprKind::Member(base, field) => match &base.kind {
                ExprKind::Name(owner) if self.is_test_claim(scope, owner) => {
                    self.claim_case(scope, owner, field, span)
                }
                ExprKind::Name(owner) if self.is_table(&owner.name) => {
                    Some(self.whole_table(scope, owner))
                }
                ExprKind::Index(table, keys) => {
                    let ExprKind::Name(t) = &table.kind else { return None };
                    if self.is_table(&t.name) {
                        Some(self.row(scope, t, keys, field, span))
                    } else if self.is_undeclared(scope, &t.name) {
                        Some(self.unknown_table(scope, t, span))
                    } else {
                        None
                    }
                }
                _ => None,
            },
            ExprKind::Index(table, _) => {
                let ExprKind::Name(t) = &table.kind else { return None };
                if self.is_table(&t.name) {
                    Some(self.row_without_column(scope, t, span))
                } else if self.is_undeclared(scope, &t.name) {
                    Some(self.unknown_table(scope, t, span))
                } else {
                    None
                }
            }
            ExprKind::Call(func, args) if func.name == "sum" => {
                let [arg] = args.as_slice() else { return None };
                let ExprKind::Member(base, column) = &arg.kind else { return None };
                let ExprKind::Name(t) = &base.kind else { return None };
                if self.is_test_claim(scope, t) || !self.is_table(&t.name) {
                    return None;
                }
                Some(self.total(scope, t, column, span))
            }
            _ => None,
        }
    }

    fn is_test_claim(&self, scope: &Scope, id: &Ident) -> bool {
        scope.claims.iter().any(|(c, _)| *c == id.name)
    }

    /// Whether `name` is declared a table.
    fn is_table(&self, name: &str) -> bool {
        matches!(self.period.names.get(name), Some((PeriodName::Table, _)))
    }

    /// The table called `name`, with its index in the period, once it has checked (one whose
    /// own problems were reported is not there).
    fn table_named(&self, name: &str) -> Option<(usize, Table)> {
        if !self.is_table(name) {
            return None;
        }
        self.period
            .tables
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == name)
            .map(|(i, t)| (i, t.clone()))
    }

    /// Whether `name`, read by key in a policy with tables, is declared nowhere: not a test
    /// claim, a value, a type or a period name. Without a table it is left to the unknown names.
    fn is_undeclared(&self, scope: &Scope, name: &str) -> bool {
        self.period.names.values().any(|(n, _)| *n == PeriodName::Table)
            && !scope.claims.iter().any(|(c, _)| c == name)
            && !self.globals.contains_key(name)
            && !self.period.names.contains_key(name)
            && !self.enum_names.contains_key(name)
            && !self.is_broken(name)
    }

    /// `a.name` where `a` is a claim of the test: its case value, or `None` for what a claim has
    /// (its input fields, values and stages, read as they always are).
    fn claim_case(
        &mut self,
        scope: &Scope,
        label: &Ident,
        field: &Ident,
        span: Span,
    ) -> Option<TExpr> {
        let is_input_field = self
            .input
            .as_ref()
            .and_then(|(r, _)| self.records.get(*r))
            .is_some_and(|r| r.fields.iter().any(|f| f.name == field.name));
        if is_input_field {
            return None;
        }
        let (name, _) = *self.period.names.get(&field.name)?;
        let claim = scope.claims.iter().position(|(c, _)| *c == label.name)?;
        if let Some((_, at)) = scope.claims.get(claim) {
            self.refer(scope.file, label.span, *at);
        }
        let c = match name {
            PeriodName::Case(c) => c,
            PeriodName::Aggregate(_, Some(_)) => {
                return Some(self.not_of_one_claim(
                    scope,
                    label,
                    field,
                    span,
                    format!(
                        "read it with the claim's key, as in `{}[{}.…]`",
                        field.name, label.name
                    ),
                ));
            }
            PeriodName::Aggregate(_, None) | PeriodName::Value(_) => {
                return Some(self.not_of_one_claim(
                    scope,
                    label,
                    field,
                    span,
                    format!("read it by its name alone, as in `expect {} > 0`", field.name),
                ));
            }
            PeriodName::Table => {
                return Some(self.not_of_one_claim(
                    scope,
                    label,
                    field,
                    span,
                    format!(
                        "read the row of the claim's key, as in `{}[{}.…].column`",
                        field.name, label.name
                    ),
                ));
            }
        };
        // A case value whose own problem has been reported has no type.
        let Some(&ty) = self.period.types.get(&field.name) else {
            return Some(TExpr::error(span));
        };
        Some(TExpr::new(ir::ExprKind::Period(PeriodRead::ClaimCase(claim, c)), ty, span))
    }

    fn not_of_one_claim(
        &mut self,
        scope: &Scope,
        label: &Ident,
        field: &Ident,
        span: Span,
        help: String,
    ) -> TExpr {
        self.report(
            Problem::error(
                Code::TestUnknownValue,
                scope.file,
                field.span,
                format!("`{}` is the period's, not a value of claim `{}`", field.name, label.name),
            )
            .label("a value of the whole period")
            .help(help),
        );
        TExpr::error(span)
    }

    /// The key field a table's rows are kept by, as written: `claim.hospital`.
    fn key_field(&self, table: &Table) -> String {
        let field = self
            .input
            .as_ref()
            .and_then(|(r, name)| Some((name, self.records.get(*r)?.fields.get(table.key.field)?)));
        match field {
            Some((record, f)) => format!("{record}.{}", f.name),
            None => "its key".to_string(),
        }
    }

    /// A key of the table's type, as an example: a variant of its enum, or a text.
    fn key_example(&self, table: &Table) -> String {
        match table.key.ty {
            Type::Enum(e) => self
                .enums
                .get(e)
                .and_then(|d| d.variants.first())
                .cloned()
                .unwrap_or_else(|| "…".to_string()),
            _ => "\"…\"".to_string(),
        }
    }

    /// `table[key].column`: one column of the row of `key`.
    fn row(
        &mut self,
        scope: &Scope,
        id: &Ident,
        keys: &[ast::Expr],
        column: &Ident,
        span: Span,
    ) -> TExpr {
        let Some((t, table)) = self.table_named(&id.name) else { return TExpr::error(span) };
        let key = self.row_key(scope, id, &table, keys, span);
        let Some(c) = self.column_named(scope, &table, column) else { return TExpr::error(span) };
        let (Some(key), Some(ty)) = (key, table.columns.get(c).map(|c| c.ty)) else {
            return TExpr::error(span);
        };
        let read = PeriodRead::Row { table: t, key: Box::new(key), column: c };
        TExpr::new(ir::ExprKind::Period(read), ty, span)
    }

    /// The position of the column `column` names in `table`, or the error that it has none.
    fn column_named(&mut self, scope: &Scope, table: &Table, column: &Ident) -> Option<usize> {
        let found = table.columns.iter().position(|c| c.name == column.name);
        if found.is_none() {
            let names = table.columns.iter().map(|c| c.name.as_str());
            let help = match did_you_mean(&column.name, names.clone()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the columns of `{}` are {}",
                    table.name,
                    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            self.report(
                Problem::error(
                    Code::TestUnknownValue,
                    scope.file,
                    column.span,
                    format!("the table `{}` has no column `{}`", table.name, column.name),
                )
                .label("no such column")
                .help(help),
            );
        }
        found
    }

    /// The key of a row read: one, of the table's key type.
    fn row_key(
        &mut self,
        scope: &Scope,
        id: &Ident,
        table: &Table,
        keys: &[ast::Expr],
        span: Span,
    ) -> Option<ir::Expr> {
        let [key] = keys else {
            self.report(
                Problem::error(
                    Code::TypeKeyCount,
                    scope.file,
                    span,
                    format!("a row of `{}` is read with one key", id.name),
                )
                .label("one key")
                .help(format!(
                    "read it as `{}[{}].column`",
                    id.name,
                    self.key_example(table)
                )),
            );
            return None;
        };
        let want = table.key.ty;
        let checked = self.infer(scope, key, Some(want));
        match checked.ty() {
            Ty::Error => None,
            Ty::Known(found) if found == want => {
                self.convert(scope.file, checked, want, &format!("the key of `{}`", id.name))
            }
            found => {
                let (want_name, found_name) = (self.type_name(want), self.ty_name(found));
                let help = match want {
                    Type::Enum(_) => format!(
                        "write a variant of `{want_name}`, as in `{}[{}]`",
                        id.name,
                        self.key_example(table)
                    ),
                    _ => format!(
                        "write the key in quotes, as in `{}[{}]`, or read a claim's field, as in `{}[{}.{}]`",
                        id.name,
                        self.key_example(table),
                        id.name,
                        scope.claims.first().map_or("a", |(c, _)| c.as_str()),
                        self.key_field(table).rsplit('.').next().unwrap_or("…")
                    ),
                };
                self.report(
                    Problem::error(
                        Code::PeriodKey,
                        scope.file,
                        key.span,
                        format!(
                            "the rows of `{}` are kept by `{}`, a `{want_name}`, not a `{found_name}`",
                            id.name,
                            self.key_field(table)
                        ),
                    )
                    .label(format!("this is `{found_name}`"))
                    .help(help),
                );
                None
            }
        }
    }

    /// `table.column` without a row.
    fn whole_table(&mut self, scope: &Scope, id: &Ident) -> TExpr {
        let Some((_, table)) = self.table_named(&id.name) else { return TExpr::error(id.span) };
        self.report(
            Problem::error(
                Code::PeriodKey,
                scope.file,
                id.span,
                format!("`{}` has one row per `{}`", id.name, self.key_field(&table)),
            )
            .label("which row?")
            .help(format!(
                "read one row's column, as in `{}[{}].column`, or a column's total, `sum({}.column)`",
                id.name,
                self.key_example(&table),
                id.name
            )),
        );
        TExpr::error(id.span)
    }

    /// `table[key]` without a column.
    fn row_without_column(&mut self, scope: &Scope, id: &Ident, span: Span) -> TExpr {
        let Some((_, table)) = self.table_named(&id.name) else { return TExpr::error(span) };
        let first = table.columns.first().map_or("column", |c| c.name.as_str());
        self.report(
            Problem::error(
                Code::TypeNotAValue,
                scope.file,
                span,
                format!("a row of `{}` is not a value", id.name),
            )
            .label("a whole row")
            .help(format!(
                "read one of its columns, as in `{}[{}].{first}`",
                id.name,
                self.key_example(&table)
            )),
        );
        TExpr::error(span)
    }

    /// `x[key].column` where `x` is declared nowhere: a misspelt table, most likely.
    fn unknown_table(&mut self, scope: &Scope, id: &Ident, span: Span) -> TExpr {
        let mut tables: Vec<String> = (self.period.names.iter())
            .filter(|(_, (n, _))| *n == PeriodName::Table)
            .map(|(t, _)| t.clone())
            .collect();
        tables.sort();
        let help = match did_you_mean(&id.name, tables.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "the tables are {}",
                tables.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        };
        self.report(
            Problem::error(
                Code::TestUnknownTable,
                scope.file,
                id.span,
                format!("this policy has no table `{}`", id.name),
            )
            .label("no table of this name")
            .help(help),
        );
        TExpr::error(span)
    }

    /// `sum(table.column)`: the column added up over the table's rows.
    fn total(&mut self, scope: &Scope, id: &Ident, column: &Ident, span: Span) -> TExpr {
        let Some((t, table)) = self.table_named(&id.name) else { return TExpr::error(span) };
        let Some(c) = self.column_named(scope, &table, column) else { return TExpr::error(span) };
        let Some(col) = table.columns.get(c) else { return TExpr::error(span) };
        if !matches!(col.ty, Type::Money | Type::Rate | Type::Int) {
            let found = self.type_name(col.ty);
            self.report(
                Problem::error(
                    Code::PeriodUnit,
                    scope.file,
                    column.span,
                    format!("`{}.{}` is `{found}`, which does not add up", table.name, col.name),
                )
                .label(format!("this is `{found}`"))
                .help("add up a column of amounts, rates or counts"),
            );
            return TExpr::error(span);
        }
        TExpr::new(ir::ExprKind::Period(PeriodRead::Total { table: t, column: c }), col.ty, span)
    }
}
