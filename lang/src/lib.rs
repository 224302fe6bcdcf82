//! The settle language front end: tokens, grammar, syntax tree, checker, diagnostics and IR.
//!
//! The pipeline, one call each:
//! - [`syntax::parse::parse`]: source text to a [`ast::Module`] (pest grammar, with recovery);
//! - [`check()`] / [`check_with`]: modules to a checked [`ir::Policy`] and every [`Problems`];
//! - [`lower::schedule`]: the evaluation order stored in the IR;
//! - [`format::format`]: the canonical layout of a file, from its [`syntax::token`] stream.

pub mod ast;
mod check;
pub mod date;
pub mod diagnostic;
pub mod format;
pub mod index;
pub mod ir;
pub mod lower;
pub mod span;
pub mod syntax;

pub use check::{Checked, Loader, NoLoader, check, check_bytes, check_with};
pub use diagnostic::{Code, Problem, Problems, Severity};
