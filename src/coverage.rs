//! `settle test --coverage`: what the tests reach, as text, JSON and LCOV.

use std::fmt::Write as _;
use std::path::PathBuf;

use settle_runtime::coverage::{Coverage, Kind};

/// What `--coverage` asks for beyond the report itself.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Where to write LCOV.
    pub lcov: Option<PathBuf>,
}

/// The coverage of one file as text: a line per kind, then every item not reached.
pub fn text(file: &str, c: &Coverage) -> String {
    let mut out = String::new();
    let (reached, all) = (c.items.iter().filter(|i| i.reached).count(), c.items.len());
    let _ = writeln!(out, "\ncoverage of {file}: {reached} of {all} reached");
    for kind in Kind::ALL {
        let (r, n) = c.count(kind);
        if n > 0 {
            let _ = writeln!(out, "  {:<20} {r:>4} of {n}", kind.plural());
        }
    }
    let missing: Vec<_> = c.items.iter().filter(|i| !i.reached).collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "  not reached:");
        for item in missing {
            match item.line {
                Some(line) => {
                    let _ = writeln!(out, "    {file}:{line}: {}", item.name);
                }
                None => {
                    let _ = writeln!(out, "    {} (in a base)", item.name);
                }
            }
        }
    }
    out
}

/// The coverage of one file as JSON: a summary by kind, and every item.
pub fn json(c: &Coverage) -> serde_json::Value {
    let summary: serde_json::Map<String, serde_json::Value> = Kind::ALL
        .iter()
        .map(|k| {
            let (reached, all) = c.count(*k);
            (k.plural().replace(' ', "_"), serde_json::json!({ "reached": reached, "of": all }))
        })
        .collect();
    serde_json::json!({ "summary": summary, "items": c.items })
}

/// Every file's coverage as LCOV: each line holding items, hit when all of them were reached
/// (an editor then marks the lines a test never reached).
pub fn lcov(files: &[(String, Coverage)]) -> String {
    let mut out = String::new();
    for (file, c) in files {
        let mut lines: std::collections::BTreeMap<usize, bool> = std::collections::BTreeMap::new();
        for item in &c.items {
            if let Some(line) = item.line {
                let hit = lines.entry(line).or_insert(true);
                *hit &= item.reached;
            }
        }
        let _ = writeln!(out, "TN:\nSF:{file}");
        for (line, hit) in &lines {
            let _ = writeln!(out, "DA:{line},{}", u8::from(*hit));
        }
        let hit = lines.values().filter(|h| **h).count();
        let _ = writeln!(out, "LH:{hit}\nLF:{}\nend_of_record", lines.len());
    }
    out
}
