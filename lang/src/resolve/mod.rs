//! Name resolution's declarations: the header, enums, records, the input, and the value
//! namespace of parameters, `let`s, rules, accumulators and stages, each given its id once;
//! duplicates and redeclarations are reported here; the arena of symbols, each handed out once
//! where it is declared and recorded with every name resolved to it ([`symbols`]); and the names
//! read in the parts of the bases the policy does not check (the items an `override` replaces,
//! every link of a chain of overrides, the bases' tests), recorded for the editor
//! ([`replaced`]); the scopes it resolves in, recorded once for the editor ([`scopes`]).

pub(crate) mod decls;
pub(crate) mod replaced;
pub(crate) mod scopes;
pub(crate) mod symbols;
