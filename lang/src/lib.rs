//! The settle language front end: tokens, grammar, syntax tree, checker, diagnostics and IR.
//!
//! The pipeline, one call each:
//! - [`syntax::parse::parse`]: source text to a [`ast::Module`] (pest grammar, with recovery);
//! - [`check()`] / [`check_with`]: modules to a checked [`ir::Policy`] and every [`Problems`];
//! - [`lower::schedule`]: the evaluation order stored in the IR;
//! - [`format::format`]: the canonical layout of a file, from its [`syntax::token`] stream.
//!
//! The checker's phases, one folder each: `syntax/` (tokens, grammar, AST building),
//! `resolve/` (declarations and ids), `typeck/` (expressions, types with units, parameters,
//! values, in-file tests), `analysis/` (exceptions, order, unused items), `lower/` (the
//! evaluation order) and [`ide`] (what editors ask: names declared and read). `check.rs` drives
//! them and holds the checker's state.

mod analysis;
pub mod ast;
mod check;
pub mod date;
pub mod diagnostic;
pub mod format;
pub mod ide;
pub mod ir;
pub mod limits;
pub mod lower;
mod resolve;
pub mod span;
pub mod syntax;
mod typeck;

pub use check::{Checked, Loader, NoLoader, check, check_bytes, check_with};
pub use diagnostic::{Code, Fix, Problem, Problems, Severity};
