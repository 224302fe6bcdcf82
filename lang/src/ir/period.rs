//! Period settlement in the IR: what is computed once every claim of a period is settled.
//!
//! A claim's values never read anything here. The engine settles the claims first, then walks
//! [`Period::order`]: each step is an aggregate folded over every case, a value computed once,
//! or a value computed for every case, and each reads only steps before it.

use super::{Expr, Type};
use crate::span::Span;

/// An index into [`Period::aggregates`].
pub type AggregateId = usize;
/// An index into [`Period::values`].
pub type PeriodValueId = usize;
/// An index into [`Period::cases`].
pub type CaseId = usize;

/// Everything a policy computes over a period.
#[derive(Debug, Clone, Default)]
pub struct Period {
    /// Folds over every case: `period name = sum(e) by claim.group`.
    pub aggregates: Vec<Aggregate>,
    /// Values computed once: `period point_value = budget / all_points`.
    pub values: Vec<Named>,
    /// Values of each case: `case points = ...`.
    pub cases: Vec<Named>,
    /// The tables written, one row per key.
    pub tables: Vec<Table>,
    /// The aggregates and values in an order where each reads only steps before it.
    pub order: Vec<Step>,
}

impl Period {
    /// Whether the policy settles a period at all.
    pub fn is_empty(&self) -> bool {
        self.aggregates.is_empty()
            && self.values.is_empty()
            && self.cases.is_empty()
            && self.tables.is_empty()
    }
}

/// One step of the period's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Fold an aggregate over every case.
    Aggregate(AggregateId),
    /// Compute a period value once.
    Value(PeriodValueId),
    /// Compute a case value for every case.
    Case(CaseId),
}

/// How an aggregate or a column folds its cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fold {
    /// Number of cases.
    Count,
    /// Sum of a value.
    Sum,
    /// Sum divided by the number of cases, rounded once.
    Average,
}

/// The claim field an aggregate or a table is kept by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The input field.
    pub field: usize,
    /// Its type: an enum or text.
    pub ty: Type,
}

/// A fold over the cases: what each case contributes and which cases count.
#[derive(Debug, Clone)]
pub struct Folding {
    /// Which fold.
    pub fold: Fold,
    /// The value of each case (`None` for `count`).
    pub body: Option<Expr>,
    /// Which cases count.
    pub filter: Option<Expr>,
}

/// An aggregate: a fold over every case, one value or one per key.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// The fold.
    pub folding: Folding,
    /// The key it is kept by, if any.
    pub key: Option<Key>,
    /// Where it is declared.
    pub span: Span,
}

/// A period value or a case value.
#[derive(Debug, Clone)]
pub struct Named {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its value.
    pub expr: Expr,
    /// Where it is declared.
    pub span: Span,
}

/// A table: one row per key that has a case.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: Option<String>,
    /// The key of its rows.
    pub key: Key,
    /// Its columns, in order; each reads only columns before it.
    pub columns: Vec<Column>,
    /// Where it is declared.
    pub span: Span,
}

/// A column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// How it is computed.
    pub kind: ColumnKind,
}

/// How a column is computed.
#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// A fold over the row's cases.
    Fold(Folding),
    /// `share(amount, weight)`: the amount, a period expression, split over the rows in
    /// proportion to an earlier column, by largest remainder.
    Share {
        /// The amount split.
        amount: Expr,
        /// The column of the weights.
        weight: usize,
    },
    /// An expression of earlier columns, period values and parameters.
    Expr(Expr),
}

/// A read of period settlement's values in an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum PeriodRead {
    /// An aggregate: overall, or the value of the key computed by the expression.
    Aggregate(AggregateId, Option<Box<Expr>>),
    /// A period value.
    Value(PeriodValueId),
    /// A case value of the case being computed.
    Case(CaseId),
    /// A column of the row being computed.
    Column(usize),
    /// In a test: a case value of one of the test's claims, by its place in the test.
    ClaimCase(usize, CaseId),
    /// In a test: one column of a table's row, the row of the key the expression computes.
    Row {
        /// The table, an index into [`Period::tables`].
        table: usize,
        /// The row's key: a variant or a text, of the table's key type.
        key: Box<Expr>,
        /// The column.
        column: usize,
    },
    /// In a test: a column of a table added up over its rows (`sum(hospitals.due)`).
    Total {
        /// The table, an index into [`Period::tables`].
        table: usize,
        /// The column: an amount, a rate or a count.
        column: usize,
    },
}

impl PeriodRead {
    /// The expression this read computes before reading: an aggregate's key or a row's key.
    pub fn key(&self) -> Option<&Expr> {
        match self {
            PeriodRead::Aggregate(_, key) => key.as_deref(),
            PeriodRead::Row { key, .. } => Some(key),
            PeriodRead::Value(_)
            | PeriodRead::Case(_)
            | PeriodRead::Column(_)
            | PeriodRead::ClaimCase(..)
            | PeriodRead::Total { .. } => None,
        }
    }

    /// The key, free to change (the same one as [`PeriodRead::key`]).
    pub fn key_mut(&mut self) -> Option<&mut Expr> {
        match self {
            PeriodRead::Aggregate(_, key) => key.as_deref_mut(),
            PeriodRead::Row { key, .. } => Some(key),
            PeriodRead::Value(_)
            | PeriodRead::Case(_)
            | PeriodRead::Column(_)
            | PeriodRead::ClaimCase(..)
            | PeriodRead::Total { .. } => None,
        }
    }
}
