//! Source text to syntax tree: the token stream (`token`) and the grammar (`parse`).

pub mod parse;
pub mod token;
