//! Embedding settle at a hospital counter: load a policy once, then settle each claim as it
//! comes, keeping each member's year-to-date state in your own store between claims.
//!
//! Run with `cargo run --example embed`.

use std::collections::HashMap;

use settle_runtime::{Engine, MemberState};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string("policies/dezhou/employee_inpatient.settle")?;
    let policy = settle_runtime::load_str("employee_inpatient.settle", &text)
        .map_err(|problems| problems.render_plain())?;
    let engine = Engine::new(policy);

    // The counter's database of member states, as JSON text.
    let mut store: HashMap<String, String> = HashMap::new();
    let arrivals = [
        r#"{"id": "k1", "member": "m42", "admitted": "2021-08-02", "level": "level2", "total": "23000", "self_paid": "1500", "prepay": "600", "special_drugs": "0", "rare_disease_drugs": "0", "tcm": "0"}"#,
        r#"{"id": "k2", "member": "m42", "admitted": "2021-09-14", "level": "level2", "total": "12000", "self_paid": "700", "prepay": "300", "special_drugs": "0", "rare_disease_drugs": "0", "tcm": "1000"}"#,
        r#"{"id": "k3", "member": "m42", "admitted": "2021-11-30", "level": "level3", "total": "9000", "self_paid": "0", "prepay": "0", "special_drugs": "0", "rare_disease_drugs": "0", "tcm": "0"}"#,
    ];
    for json in arrivals {
        let claim = engine.claim_from_json(json)?;
        let member = engine.member_of(&claim).to_string();
        let mut state: MemberState = match store.get(&member) {
            Some(saved) => serde_json::from_str(saved)?,
            None => MemberState::default(),
        };
        let settlement = engine.settle_one(&claim, &mut state).map_err(|e| e.to_string())?;
        store.insert(member, serde_json::to_string(&state)?);
        println!(
            "{}: deductible {}, basic insurance {}, patient {}",
            engine.id_of(&claim),
            engine.output(&settlement, "deductible_due").unwrap_or_default(),
            engine.output(&settlement, "basic.pay").unwrap_or_default(),
            engine.output(&settlement, "patient.out_of_pocket").unwrap_or_default(),
        );
    }
    println!("state kept for m42: {}", store.get("m42").map_or("", String::as_str));
    Ok(())
}
