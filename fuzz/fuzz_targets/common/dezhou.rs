//! The Dezhou employee policy's engine, built once, for targets that settle claims with a real
//! policy.

use std::sync::OnceLock;

use settle_runtime::Engine;

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let text = include_str!("../../../policies/dezhou/employee_inpatient.settle");
        match settle_runtime::load_str("employee_inpatient.settle", text) {
            Ok(policy) => Engine::new(policy),
            Err(problems) => panic!("{}", problems.render_plain()),
        }
    })
}
