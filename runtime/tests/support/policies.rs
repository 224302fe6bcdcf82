//! Every policy file of the repository (`policies/` and `examples/`), checked: for tests that
//! run them all.

use std::path::Path;

use settle_lang::ir::Policy;
use settle_runtime::io::FileLoader;

/// Each policy's path, text and IR, sorted by path.
pub fn all() -> Vec<(String, String, Policy)> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut out = Vec::new();
    let mut stack = vec![root.join("policies"), root.join("examples")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "settle") {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).expect("policy");
                let policy =
                    settle_runtime::load_with(&name, &text, &mut FileLoader).expect("checks");
                out.push((name, text, policy));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 8, "only {} policies found", out.len());
    out
}
