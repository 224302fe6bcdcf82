//! `settle test --snapshot`: every settlement of a claims corpus compared with the one kept in
//! git, claim by claim.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use settle_runtime::io;

use super::{engine, settle_rows};
use crate::cli::{EXIT_PROBLEMS, EXIT_USAGE};
use crate::run::load;

/// `settle test POLICY --claims FILE --snapshot DIR [--accept] [--ci]`: compare every settlement
/// row with the stored snapshot. A missing snapshot is written, or with `ci` fails.
pub fn snapshot(
    policy_path: &PathBuf,
    claims: &Path,
    dir: &Path,
    accept: bool,
    ci: bool,
) -> ExitCode {
    let (policy, _) = match load(policy_path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rows = match crate::run::read_rows(&policy, claims) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let engine = engine(policy);
    let outcomes = settle_rows(&engine, &rows);
    let mut current = Vec::new();
    if let Err(e) = io::write_csv(engine.policy(), &rows, &outcomes, &mut current) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let current = String::from_utf8_lossy(&current).into_owned();
    let file = dir.join(snapshot_name(policy_path, claims));
    let stored = std::fs::read_to_string(&file).ok();
    if stored.is_none() && ci && !accept {
        eprintln!(
            "error: no snapshot `{}` for these claims; a snapshot must be committed to be checked \
             (run without --ci and without the CI variable, or with --accept, to write it)",
            file.display()
        );
        return ExitCode::from(EXIT_PROBLEMS);
    }
    if accept || stored.is_none() {
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| crate::files::write_atomic(&file, current.as_bytes()));
        return match written {
            Ok(()) => {
                eprintln!(
                    "{}: snapshot {} ({} claims)",
                    file.display(),
                    if stored.is_some() { "updated" } else { "written" },
                    rows.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", file.display());
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let stored = stored.unwrap_or_default();
    let moved = compare(&stored, &current);
    if moved.is_empty() {
        println!("{}: {} claims as in the snapshot", file.display(), rows.len());
        return ExitCode::SUCCESS;
    }
    println!("{}: {} claims moved", file.display(), moved.len());
    for line in &moved {
        println!("  {line}");
    }
    println!("run again with --accept to take the new settlements as the snapshot");
    ExitCode::from(EXIT_PROBLEMS)
}

/// The snapshot's file name: the policy's and the claims file's paths (relative to the working
/// directory when inside it), so that two claims files of one name in different folders keep
/// snapshots of their own. `policies/dezhou/a.settle` and `claims/x.csv` give
/// `policies+dezhou+a__claims+x.csv`.
fn snapshot_name(policy: &Path, claims: &Path) -> String {
    let here = std::env::current_dir().ok().and_then(|d| std::fs::canonicalize(d).ok());
    let flat = |p: &Path| {
        let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let shown = here.as_ref().and_then(|h| full.strip_prefix(h).ok()).unwrap_or(&full);
        let shown = shown.with_extension("");
        let parts: Vec<String> = shown
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        parts.join("+")
    };
    format!("{}__{}.csv", flat(policy), flat(claims))
}

/// A row's key in a snapshot: the claim id and its occurrence among rows of that id (from 1).
type Key = (String, usize);

/// A settlement CSV's rows by claim id: the header, and each row under (id, its occurrence among
/// rows of that id), so that a claim added or removed elsewhere in the file moves nothing else.
fn rows_by_id(text: &str) -> (Vec<String>, Vec<(Key, Vec<String>)>) {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> =
        reader.headers().map(|h| h.iter().map(str::to_string).collect()).unwrap_or_default();
    let id = header.iter().position(|h| h == "id").unwrap_or(1);
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let rows = reader
        .records()
        .flatten()
        .map(|r| {
            let row: Vec<String> = r.iter().map(str::to_string).collect();
            let key = row.get(id).cloned().unwrap_or_default();
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            ((key, *n), row)
        })
        .collect();
    (header, rows)
}

/// The claims whose rows differ between two settlement CSVs, with the fields that moved; a
/// claim's line is not compared (it moves when claims are added above it).
fn compare(stored: &str, current: &str) -> Vec<String> {
    let (old_header, old_rows) = rows_by_id(stored);
    let (new_header, new_rows) = rows_by_id(current);
    let mut out = Vec::new();
    if old_header != new_header {
        out.push(format!("columns: {} -> {}", old_header.join(","), new_header.join(",")));
    }
    let line_of = |header: &[String]| header.iter().position(|h| h == "line");
    let (old_line, new_line) = (line_of(&old_header), line_of(&new_header));
    let name = |(id, n): &Key| {
        if *n == 1 { id.clone() } else { format!("{id} (occurrence {n})") }
    };
    let old: std::collections::HashMap<&Key, &Vec<String>> =
        old_rows.iter().map(|(k, r)| (k, r)).collect();
    for (key, row) in &new_rows {
        let line = new_line.and_then(|l| row.get(l)).cloned().unwrap_or_default();
        match old.get(key) {
            None => out.push(format!("claim {} (line {line}): new", name(key))),
            Some(before) => {
                let fields: Vec<String> = new_header
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != new_line)
                    .filter_map(|(i, field)| {
                        let j = old_header.iter().position(|h| h == field)?;
                        let (a, b) = (before.get(j)?, row.get(i)?);
                        (a != b).then(|| format!("{field} {a} -> {b}"))
                    })
                    .collect();
                if !fields.is_empty() {
                    out.push(format!("claim {} (line {line}): {}", name(key), fields.join(", ")));
                }
            }
        }
    }
    let new_keys: std::collections::HashSet<&Key> = new_rows.iter().map(|(k, _)| k).collect();
    for (key, row) in &old_rows {
        if !new_keys.contains(key) {
            let line = old_line.and_then(|l| row.get(l)).cloned().unwrap_or_default();
            out.push(format!("claim {} (was line {line}): gone", name(key)));
        }
    }
    out
}
