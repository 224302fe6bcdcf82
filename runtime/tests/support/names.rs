//! A policy's input fields and enum variants by name, for tests that build claims by hand.

use settle_runtime::Engine;

/// The position of the input field `name`.
pub fn field(engine: &Engine, name: &str) -> usize {
    let input = engine.policy().input_record().expect("input");
    input.fields.iter().position(|f| f.name == name).expect("a field of the input")
}

/// The number of the variant `name` of the enum `enum_name`.
pub fn variant(engine: &Engine, enum_name: &str, name: &str) -> u32 {
    let e = engine.policy().enums.iter().find(|e| e.name == enum_name).expect("the enum");
    e.variants.iter().position(|v| v == name).expect("the variant") as u32
}
