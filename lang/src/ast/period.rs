//! The syntax of period settlement: aggregates over a period's cases, values of the period and
//! of each case, and the tables written per hospital or case group.

use super::{Expr, Ident, Text, TypeExpr};
use crate::span::Span;

/// `period ...`, `case ...` or `table ...`.
#[derive(Debug, Clone, PartialEq)]
pub enum PeriodItem {
    /// `period name = sum(e) by claim.group where c`, or `period name = expression`
    Period(PeriodDecl),
    /// `case name = expression`
    Case(CaseDecl),
    /// `table name "title" by claim.hospital { column = ... }`
    Table(TableDecl),
}

impl PeriodItem {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            PeriodItem::Period(d) => d.span,
            PeriodItem::Case(d) => d.span,
            PeriodItem::Table(d) => d.span,
        }
    }

    /// The name it declares.
    pub fn name(&self) -> &Ident {
        match self {
            PeriodItem::Period(d) => &d.name,
            PeriodItem::Case(d) => &d.name,
            PeriodItem::Table(d) => &d.name,
        }
    }
}

/// `period name[: type] = value [by key] [where filter]`: an aggregate when `value` is a call
/// of `count`, `sum` or `average`, else a value computed once per period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodDecl {
    /// Its name.
    pub name: Ident,
    /// An optional type annotation.
    pub ty: Option<TypeExpr>,
    /// The fold or the expression.
    pub value: Expr,
    /// The claim field the aggregate is kept by (`by claim.group`).
    pub key: Option<Expr>,
    /// Which cases an aggregate folds.
    pub filter: Option<Expr>,
    /// The whole declaration.
    pub span: Span,
}

/// `case name[: type] = value`: a value of each case, computed after the period's aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDecl {
    /// Its name.
    pub name: Ident,
    /// An optional type annotation.
    pub ty: Option<TypeExpr>,
    /// Its value.
    pub value: Expr,
    /// The whole declaration.
    pub span: Span,
}

/// `table name "title" by claim.hospital { ... }`: one row per key.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    /// Its name.
    pub name: Ident,
    /// Its title.
    pub title: Option<Text>,
    /// The claim field whose values are the rows.
    pub key: Expr,
    /// Its columns, in order.
    pub columns: Vec<ColumnDecl>,
    /// The whole declaration.
    pub span: Span,
}

/// `name[: type] = value [where filter]`: one column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    /// Its name.
    pub name: Ident,
    /// An optional type annotation.
    pub ty: Option<TypeExpr>,
    /// A fold over the row's cases, a `share`, or an expression of earlier columns.
    pub value: Expr,
    /// Which of the row's cases a fold reads.
    pub filter: Option<Expr>,
    /// The whole column.
    pub span: Span,
}
