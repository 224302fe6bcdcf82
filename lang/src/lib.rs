//! The settle language front end: tokens, grammar, syntax tree, checker, diagnostics and IR.

pub mod ast;
pub mod date;
pub mod diagnostic;
pub mod span;
pub mod syntax;
