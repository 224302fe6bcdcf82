//! Static analysis of a typed policy: exceptions that never apply or overlap ([`exceptions`]),
//! cycles, reads of later stages and unused declarations ([`order`]).

pub(crate) mod exceptions;
pub(crate) mod order;
