//! `settle run --providers`: the period's tables, once every claim is settled.

use std::path::Path;
use std::process::ExitCode;

use settle_lang::ir::Policy;
use settle_lang::ir::period::ColumnKind;
use settle_runtime::field::format_value;
use settle_runtime::io::AtomicFile;
use settle_runtime::period::{Aggregated, KeyValue, settle_period, write_tables};
use settle_runtime::{Claim, Engine, Outcome};

use crate::cli::{EXIT_PROBLEMS, EXIT_USAGE};

/// The file the tables go to, opened before any work; an error when the policy has no table.
pub fn providers_target(
    policy: &Policy,
    policy_path: &Path,
    providers: Option<&Path>,
) -> Result<Option<AtomicFile>, ExitCode> {
    let Some(path) = providers else { return Ok(None) };
    if policy.period.tables.is_empty() {
        eprintln!(
            "error: `{}` has no `table`: there is no period settlement to write to `{}`",
            policy_path.display(),
            path.display()
        );
        return Err(ExitCode::from(EXIT_USAGE));
    }
    AtomicFile::create(path).map(Some).map_err(|e| {
        eprintln!("error: cannot write `{}`: {e}", path.display());
        ExitCode::from(EXIT_USAGE)
    })
}

/// Settle the period of the settled claims and write its tables to `file`, not yet in place.
pub fn settle(
    engine: &Engine,
    claims: &[&Claim],
    outcomes: &[Outcome],
    file: &mut AtomicFile,
) -> Result<(usize, usize), String> {
    let settled = settle_period(engine, claims, outcomes).map_err(|e| e.to_string())?;
    if let Some(w) = file.writer() {
        write_tables(engine.policy(), &settled, w).map_err(|e| format!("cannot write: {e}"))?;
    }
    Ok((settled.cases.len(), settled.tables.iter().map(|t| t.rows.len()).sum()))
}

/// Put the tables in place when the period settled; else say why and leave no file.
pub fn commit(
    done: Result<(usize, usize), String>,
    file: Option<AtomicFile>,
) -> Result<(), ExitCode> {
    let Some(file) = file else { return Ok(()) };
    match done {
        Ok((cases, rows)) => {
            file.commit().map_err(|e| {
                eprintln!("error: cannot write the period's tables: {e}");
                ExitCode::from(EXIT_USAGE)
            })?;
            eprintln!("period: {cases} cases, {rows} rows written");
            Ok(())
        }
        Err(message) => {
            eprintln!("error: the period was not settled, so no table was written: {message}");
            Err(ExitCode::from(EXIT_PROBLEMS))
        }
    }
}

/// `settle explain` for a policy with period settlement: how the claim's case values were
/// reached (the aggregates and period values they read, then each value) and the rows of its
/// keys in each table (a hospital's payment, its case group).
pub fn explain(engine: &Engine, claims: &[Claim], id: &str) -> Result<String, String> {
    use std::fmt::Write as _;

    let policy = engine.policy();
    let outcomes = engine.settle_batch(claims);
    let settled = settle_period(engine, claims, &outcomes).map_err(|e| e.to_string())?;
    let position = claims.iter().position(|c| &*engine.id_of(c) == id);
    let case = position.and_then(|p| settled.cases.iter().position(|c| *c == p));
    let mut out = String::new();
    let show = |ty, v: &settle_runtime::Value| format_value(policy, ty, v);
    let _ = write!(out, "\nperiod settlement ({} cases", settled.cases.len());
    if let Some(last) = settled.last_date {
        let _ = write!(out, ", parameters in force on {last}");
    }
    out.push_str(")\n");
    for (agg, value) in policy.period.aggregates.iter().zip(&settled.aggregates) {
        match (value, agg.key, position.and_then(|p| claims.get(p))) {
            (Aggregated::One(v), ..) => {
                let _ = writeln!(out, "  {:<24} {}", agg.name, show(agg.ty, v));
            }
            (Aggregated::ByKey(map), Some(key), Some(claim)) => {
                let k = claim.fields.get(key.field).and_then(KeyValue::of_value);
                if let Some((k, v)) = k.and_then(|k| map.get(&k).map(|v| (k, v))) {
                    let name = format!("{}[{}]", agg.name, k.show(policy, key.ty));
                    let _ = writeln!(out, "  {name:<24} {}", show(agg.ty, v));
                }
            }
            _ => {}
        }
    }
    for (def, v) in policy.period.values.iter().zip(&settled.values) {
        let _ = writeln!(out, "  {:<24} {}", def.name, show(def.ty, v));
    }
    let Some(case) = case else {
        let _ = writeln!(out, "  claim `{id}` did not settle, so it is no case of the period");
        return Ok(out);
    };
    let _ = writeln!(out, "case `{id}`");
    if let Some(values) = settled.case_values.get(case) {
        for (def, v) in policy.period.cases.iter().zip(values) {
            let _ = writeln!(out, "  {:<24} {}", def.name, show(def.ty, v));
        }
    }
    let claim = position.and_then(|p| claims.get(p));
    for rows in &settled.tables {
        let Some(table) = policy.period.tables.get(rows.table) else { continue };
        let key = claim.and_then(|c| c.fields.get(table.key.field)).and_then(KeyValue::of_value);
        let Some((k, values)) = rows.rows.iter().find(|(k, _)| Some(k) == key.as_ref()) else {
            continue;
        };
        let _ = writeln!(out, "table `{}`, row {}", table.name, k.show(policy, table.key.ty));
        for (c, v) in table.columns.iter().zip(values) {
            let how = match &c.kind {
                ColumnKind::Fold(_) => "over the row's cases",
                ColumnKind::Share { .. } => "share by largest remainder",
                ColumnKind::Expr(_) => "",
            };
            let _ = writeln!(out, "  {:<24} {:>16}  {how}", c.name, show(c.ty, v));
        }
    }
    Ok(out)
}
