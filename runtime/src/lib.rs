//! Settle claims with a checked settle policy: the interpreter, the settlement engine, claim
//! I/O, traces and in-file tests.
//!
//! ```
//! use settle_runtime::{Engine, MemberState, load_str};
//!
//! let policy = load_str("example.settle", r#"
//! policy example
//! input claim { id: text, member: text, date: date, total: money }
//! stage basic (pay: money) { pay = claim.total * 90% }
//! stage patient (out_of_pocket: money) { out_of_pocket = claim.total - basic.pay }
//! balance claim.total = basic.pay + patient.out_of_pocket
//! "#).expect("the policy checks");
//! let engine = Engine::new(policy);
//! let claim = engine.claim_from_json(r#"{"id": "c1", "member": "m1", "date": "2024-03-01", "total": "1000"}"#)
//!     .expect("a valid claim");
//! let mut state = MemberState::default(); // kept per member by the caller between claims
//! let settlement = engine.settle_one(&claim, &mut state).expect("settled");
//! assert_eq!(engine.output(&settlement, "basic.pay").as_deref(), Some("900.00"));
//! ```

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod batch;
pub mod closures;
pub mod coverage;
pub mod diff;
pub mod engine;
pub mod field;
pub mod generate;
pub mod interp;
pub mod io;
mod keys;
pub mod period;
pub mod testing;
pub mod trace;
pub mod value;
pub mod windows;

pub use engine::{Backend, Claim, ClaimError, Engine, MemberState, Outcome, Settlement};
pub use settle_compiler::CompileError;
pub use value::Value;

use settle_lang::ir::Policy;
use settle_lang::{Loader, NoLoader, Problems, check_with};

/// Check a policy's text and return its IR, or every problem found.
pub fn load_str(name: &str, text: &str) -> Result<Policy, Box<Problems>> {
    load_with(name, text, &mut NoLoader)
}

/// Check a policy, loading the bases it extends through `loader`.
pub fn load_with(
    name: &str,
    text: &str,
    loader: &mut (dyn Loader + Send),
) -> Result<Policy, Box<Problems>> {
    let checked = check_with(name, text, loader);
    match checked.policy {
        Some(policy) => Ok(policy),
        None => Err(Box::new(checked.problems)),
    }
}

impl Engine {
    /// Build a claim from a JSON object keyed by the input's field names.
    pub fn claim_from_json(&self, json: &str) -> Result<Claim, io::InputError> {
        let rows = io::read_jsonl(self.policy(), json.replace('\n', " ").as_bytes(), "claim")
            .map_err(|e| io::InputError {
                line: 1,
                id: None,
                member: None,
                field: None,
                message: e.to_string(),
            })?;
        match rows.into_iter().next() {
            Some(io::Row::Claim(c)) => Ok(c),
            Some(io::Row::Error(e)) => Err(e),
            None => Err(io::InputError {
                line: 1,
                id: None,
                member: None,
                field: None,
                message: "empty".into(),
            }),
        }
    }

    /// A value of a settlement by name (`basic.pay`, a rule, a `let`), as written in output.
    pub fn output(&self, settlement: &Settlement, name: &str) -> Option<String> {
        let policy = self.policy();
        let v = policy.values.iter().position(|d| d.name == name)?;
        let def = policy.values.get(v)?;
        Some(field::format_value(policy, def.ty, &settlement.value(policy, v)?))
    }
}
