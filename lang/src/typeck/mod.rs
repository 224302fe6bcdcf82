//! Types with units: expressions resolved and typed into IR ([`expr`]), the unit rules of each
//! operator ([`types`]), the proportion `x * a / b` rounded once ([`proportion`]), parameters'
//! values, tables and scales ([`params`]), `let`s, accumulators, rules, stages and the balance
//! in inference order ([`values`]), group totals' keys ([`groups`]), and in-file tests
//! ([`tests`]), which may read the period their claims make ([`period_tests`]).

pub(crate) mod expr;
pub(crate) mod groups;
pub(crate) mod params;
pub(crate) mod period;
pub(crate) mod period_tests;
pub(crate) mod proportion;
pub(crate) mod tests;
pub(crate) mod types;
pub(crate) mod values;
pub(crate) mod windows;
