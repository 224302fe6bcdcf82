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
    let assumed: Vec<_> =
        c.items.iter().filter(|i| i.assumed_start && i.kind == Kind::Version).collect();
    if !assumed.is_empty() {
        let _ = writeln!(out, "  assumed start dates (the source does not say when these begin):");
        for item in assumed {
            let reached = if item.reached { "reached" } else { "not reached" };
            match item.line {
                Some(line) => {
                    let _ = writeln!(out, "    {file}:{line}: {}: {reached}", item.name);
                }
                None => {
                    let _ = writeln!(out, "    {} (in a base): {reached}", item.name);
                }
            }
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
    let mut summary: serde_json::Map<String, serde_json::Value> = Kind::ALL
        .iter()
        .map(|k| {
            let (reached, all) = c.count(*k);
            (k.plural().replace(' ', "_"), serde_json::json!({ "reached": reached, "of": all }))
        })
        .collect();
    let assumed = c.items.iter().filter(|i| i.assumed_start && i.kind == Kind::Version);
    let (reached, all) = assumed.fold((0, 0), |(r, n), i| (r + usize::from(i.reached), n + 1));
    summary
        .insert("assumed_starts".to_string(), serde_json::json!({ "reached": reached, "of": all }));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

    use settle_runtime::Engine;
    use settle_runtime::coverage::coverage;

    /// A cap whose second value starts on a date the source does not give, reached by one claim;
    /// a deductible whose assumed start no claim reaches.
    const ASSUMED: &str = r#"policy cov.assumed
dated by claim.date

input claim { id: text, member: text, date: date, total: money }

param cap: money
    from 2024-01-01 100
    from 2024-07-01 assumed 200

param deductible: money
    from 2024-01-01 10
    from 2025-01-01 assumed 20

stage basic (pay: money) {
    pay = min(max(claim.total - deductible, 0), cap)
}

stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}

balance claim.total = basic.pay + patient.out_of_pocket

test "after the assumed start" {
    claim a { member: "m", date: 2024-08-01, total: 500 }
    expect a.basic.pay == 200.00
}
"#;

    #[test]
    fn a_version_whose_start_is_assumed_is_shown_as_such() {
        let checked = settle_lang::check("assumed.settle", ASSUMED);
        let engine = Engine::new(checked.policy.expect("the policy checks"));
        let c = coverage(&engine, ASSUMED);

        let text = super::text("assumed.settle", &c);
        assert!(
            text.contains(
                "  assumed start dates (the source does not say when these begin):\n    \
                 assumed.settle:8: param `cap` from 2024-07-01 (assumed start): reached\n    \
                 assumed.settle:12: param `deductible` from 2025-01-01 (assumed start): not \
                 reached\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "assumed.settle:12: param `deductible` from 2025-01-01 (assumed start)\n"
            ),
            "not reached, and named assumed: {text}"
        );

        let json = super::json(&c);
        assert_eq!(json["summary"]["assumed_starts"], serde_json::json!({"reached": 1, "of": 2}));
        let assumed: Vec<(&str, bool)> = json["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["assumed_start"] == true)
            .map(|i| (i["name"].as_str().expect("a name"), i["reached"] == true))
            .collect();
        assert_eq!(
            assumed,
            [
                ("param `cap` from 2024-07-01 (assumed start)", true),
                ("param `deductible` from 2025-01-01 (assumed start)", false),
            ]
        );
        let plain = json["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["name"].as_str().is_some_and(|n| n.contains("from 2024-01-01")));
        assert!(
            plain.clone().count() == 2 && plain.into_iter().all(|i| i["assumed_start"] == false)
        );
    }

    /// Values added to a base's parameter (`override param cap from ...`) have their own line;
    /// the base's versions, written in the base, have none.
    #[test]
    fn an_added_version_has_its_line_and_the_bases_versions_none() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/coverage-added");
        std::fs::create_dir_all(&dir).expect("a folder");
        let base = ASSUMED.replace("policy cov.assumed", "policy cov.base");
        let base = base.get(..base.find("test \"").expect("a test")).expect("the items");
        std::fs::write(dir.join("base.settle"), base).expect("written");
        let reform = "policy cov.reform\nextends \"base.settle\"\n\noverride param cap\n    \
                      from 2025-01-01 assumed 300\n\ntest \"t\" {\n    claim a { member: \"m\", \
                      date: 2025-02-01, total: 500 }\n    expect a.basic.pay == 300.00\n}\n";
        let path = dir.join("reform.settle");
        std::fs::write(&path, reform).expect("written");
        let name = path.display().to_string();
        let checked = settle_lang::check_with(&name, reform, &mut settle_runtime::io::FileLoader);
        let engine = Engine::new(checked.policy.expect("the reform checks"));
        let c = coverage(&engine, reform);
        let versions: Vec<(&str, Option<usize>)> = c
            .items
            .iter()
            .filter(|i| i.name.starts_with("param `cap`"))
            .map(|i| (i.name.as_str(), i.line))
            .collect();
        assert_eq!(
            versions,
            [
                ("param `cap` from 2024-01-01", None),
                ("param `cap` from 2024-07-01 (assumed start)", None),
                ("param `cap` from 2025-01-01 (assumed start)", Some(5)),
            ]
        );
    }
}
