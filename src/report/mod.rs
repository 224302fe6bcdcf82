//! `settle diff` and `settle test --snapshot`: what a rule change moves.

mod html;
mod snapshot;

pub use html::{Provenance, html};
pub use snapshot::snapshot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use settle_lang::ir::Policy;
use settle_runtime::batch;
use settle_runtime::diff::{Impact, impact, impact_of_shares, share_names};
use settle_runtime::io::{self, Format, Row};
use settle_runtime::period::compare::{TableChange, compare};
use settle_runtime::period::{PeriodSettlement, settle_period};
use settle_runtime::{Engine, Outcome};

use crate::cli::{EXIT_PROBLEMS, EXIT_USAGE};
use crate::run::load;

/// The claims that moved most, listed in reports.
const MOVERS: usize = 10;

/// Settle `rows` with `engine`, one outcome per row (`None` for unreadable records).
fn settle_rows(engine: &Engine, rows: &[Row]) -> Vec<Option<Outcome>> {
    io::by_row(rows, engine.settle_batch(&io::claims_of(rows)))
}

/// The policy compiled, or interpreted when the JIT does not compile it.
fn engine(policy: Policy) -> Engine {
    Engine::compiled(policy.clone()).unwrap_or_else(|_| Engine::new(policy))
}

/// The output formats of `settle diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    /// Aligned tables for a terminal.
    Text,
    /// The report as JSON.
    Json,
    /// A self-contained page with charts.
    Html,
}

/// `settle diff`.
pub fn diff(
    base: &PathBuf,
    reform: &PathBuf,
    claims: &Path,
    format: DiffFormat,
    out: Option<&Path>,
) -> ExitCode {
    let (base_policy, _) = match load(base) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (reform_policy, _) = match load(reform) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (b, r) = (engine(base_policy), engine(reform_policy));
    let mut report = match fast_impact(&b, &r, claims) {
        Ok(Some(report)) => report,
        Ok(None) => match general_impact(&b, &r, claims) {
            Ok(report) => report,
            Err(code) => return code,
        },
        Err(code) => return code,
    };
    with_trails(&mut report, &b, &r, claims);
    if !(b.policy().period.tables.is_empty() && r.policy().period.tables.is_empty()) {
        match providers(&b, &r, claims) {
            Ok(changes) => report.providers = changes,
            Err(code) => return code,
        }
    }
    let text = match format {
        DiffFormat::Text => text(&report),
        DiffFormat::Json => {
            serde_json::to_string_pretty(&report).map(|s| s + "\n").unwrap_or_default()
        }
        DiffFormat::Html => {
            html(&report, &provenance(&[("base", base), ("reform", reform), ("claims", claims)]))
        }
    };
    match out {
        Some(path) => {
            if let Err(e) = crate::files::write_atomic(path, text.as_bytes()) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

/// The rule trail of each of the largest movers: the records of their members picked from the
/// claims file (one pass, nothing else kept), settled again under both policies.
fn with_trails(report: &mut Impact, b: &Engine, r: &Engine, claims: &Path) {
    let members: std::collections::HashSet<&str> =
        report.movers.iter().map(|m| m.member.as_str()).collect();
    if members.is_empty() {
        return;
    }
    let Some(picked) = member_records(b.policy(), claims, &members) else { return };
    let name = claims.display().to_string();
    let rows = |engine: &Engine| match Format::of_path(claims) {
        Format::Csv => io::read_csv_bytes(engine.policy(), &picked, &name).ok(),
        Format::JsonLines => io::read_jsonl(engine.policy(), &picked[..], &name).ok(),
    };
    let (Some(base_rows), Some(reform_rows)) = (rows(b), rows(r)) else { return };
    let trails: Vec<_> = report
        .movers
        .iter()
        .map(|m| settle_runtime::diff::trail(b, r, &base_rows, &reform_rows, &m.id))
        .collect();
    for (m, t) in report.movers.iter_mut().zip(trails) {
        m.trail = t;
    }
}

/// The records of `members` in a claims file, with the CSV header: a small file of the same
/// format. `None` when the file cannot be read.
fn member_records(
    policy: &Policy,
    claims: &Path,
    members: &std::collections::HashSet<&str>,
) -> Option<Vec<u8>> {
    // Ids and headers are read as the claim readers read them: spaces trimmed by one rule.
    use settle_runtime::field::{trim, trim_str};
    let member = policy.input_record()?.fields.get(policy.member_field)?.name.clone();
    let file = crate::encoding::open(claims).ok()?;
    let mut out = Vec::new();
    match Format::of_path(claims) {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let header = reader.byte_headers().ok()?.clone();
            let at = header.iter().position(|h| trim(h) == member.as_bytes())?;
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_byte_record(&header).ok()?;
            for record in reader.byte_records().flatten() {
                let who = record.get(at).and_then(|m| std::str::from_utf8(trim(m)).ok());
                if who.is_some_and(|w| members.contains(w)) {
                    writer.write_byte_record(&record).ok()?;
                }
            }
            writer.flush().ok()?;
        }
        Format::JsonLines => {
            use std::io::BufRead;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.ok()?;
                let value: Option<serde_json::Value> = serde_json::from_str(&line).ok();
                let who = value.as_ref().and_then(|v| v.get(&member)).and_then(|m| m.as_str());
                if who.is_some_and(|w| members.contains(trim_str(w))) {
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
        }
    }
    Some(out)
}

/// The files a report was made from, with their SHA-256, and when and by what it was made.
fn provenance(files: &[(&'static str, &Path)]) -> Provenance {
    use sha2::{Digest, Sha256};
    let files = files
        .iter()
        .map(|(role, path)| {
            let (hash, bytes) = match std::fs::File::open(path) {
                Ok(mut file) => {
                    let mut hasher = Sha256::new();
                    let bytes = std::io::copy(&mut file, &mut hasher).unwrap_or(0);
                    let hex: String =
                        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                    (hex, bytes)
                }
                Err(e) => (format!("unreadable: {e}"), 0),
            };
            (*role, path.display().to_string(), hash, bytes)
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = settle_lang::date::Date(i32::try_from(now / 86_400).unwrap_or(0));
    let (h, m, s) = (now % 86_400 / 3600, now % 3600 / 60, now % 60);
    Provenance {
        files,
        made: format!("{day} {h:02}:{m:02}:{s:02} UTC"),
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// The report by the general path: every claim read into values under each policy.
fn general_impact(b: &Engine, r: &Engine, claims: &Path) -> Result<Impact, ExitCode> {
    let base_rows = crate::run::read_rows(b.policy(), claims)?;
    let reform_rows = crate::run::read_rows(r.policy(), claims)?;
    same_count(base_rows.len(), reform_rows.len(), claims)?;
    let before = settle_rows(b, &base_rows);
    let after = settle_rows(r, &reform_rows);
    Ok(impact(b, r, &base_rows, &before, &after, MOVERS))
}

/// The report by the batch fast path (`settle_runtime::batch`), when both policies take it: the
/// file read and settled under the reform, then under the base, keeping only each claim's shares
/// (each policy's own) of the reform. `Ok(None)`: for the general path.
fn fast_impact(b: &Engine, r: &Engine, claims: &Path) -> Result<Option<Impact>, ExitCode> {
    if !(batch::supported(b) && batch::supported(r)) {
        return Ok(None);
    }
    let shares = |engine: &Engine| -> Result<Option<batch::Shares>, ExitCode> {
        let Some(table) = crate::run::read_table(engine, claims)? else { return Ok(None) };
        let names = share_names(engine.policy());
        Ok(batch::settle_shares(engine, table, &names, &|_| {}))
    };
    let Some(after) = shares(r)?.map(batch::Shares::without_table) else { return Ok(None) };
    let Some(before) = shares(b)? else { return Ok(None) };
    same_count(before.len(), after.len(), claims)?;
    Ok(Some(impact_of_shares(b, r, &before, &after, MOVERS)))
}

/// The hospitals' payments under both policies: each period settled by the general path (as
/// `settle run --providers` does) and its tables compared.
fn providers(b: &Engine, r: &Engine, claims: &Path) -> Result<Vec<TableChange>, ExitCode> {
    let settle = |engine: &Engine| -> Result<PeriodSettlement, ExitCode> {
        let rows = crate::run::read_rows(engine.policy(), claims)?;
        let batch = io::claims_of(&rows);
        let outcomes = engine.settle_batch(&batch);
        settle_period(engine, &batch, &outcomes).map_err(|e| {
            eprintln!("error: the period was not settled under `{}`: {e}", engine.policy().name);
            ExitCode::from(EXIT_PROBLEMS)
        })
    };
    Ok(compare(b.policy(), &settle(b)?, r.policy(), &settle(r)?))
}

/// An error when the two policies read a different number of records from the claims.
fn same_count(base: usize, reform: usize, claims: &Path) -> Result<(), ExitCode> {
    if base == reform {
        return Ok(());
    }
    eprintln!(
        "error: the two policies read a different number of claims from `{}`",
        claims.display()
    );
    Err(ExitCode::from(EXIT_USAGE))
}

fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let mut w = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let n = cell.chars().count();
            match w.get_mut(i) {
                Some(x) if *x < n => *x = n,
                Some(_) => {}
                None => w.push(n),
            }
        }
    }
    w
}

/// Rows as an aligned table: the first column left-aligned, the others right-aligned.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let w = widths(rows);
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = w.get(i).copied().unwrap_or(0);
            if i == 0 {
                let _ = write!(line, "  {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The report as text.
pub fn text(r: &Impact) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} -> {}", r.base, r.reform);
    let _ = writeln!(
        out,
        "{} claims, {} affected; not settled: {} under the base, {} under the reform",
        r.claims, r.affected, r.errors.0, r.errors.1
    );
    let _ = writeln!(out, "\nshares (over the {} claims settled under both)", r.settled_both);
    let mut rows = vec![vec!["share".into(), "base".into(), "reform".into(), "change".into()]];
    let or_none = |s: &Option<String>| s.clone().unwrap_or_else(|| ABSENT.into());
    rows.extend(
        r.shares
            .iter()
            .map(|s| vec![share_label(s), or_none(&s.base), or_none(&s.reform), s.change.clone()]),
    );
    table(&mut out, &rows);
    if r.shares.iter().any(|s| s.base.is_none() || s.reform.is_none()) {
        let _ = writeln!(out, "  ({ABSENT}: the policy's balance has no such share)");
    }
    let _ = writeln!(
        out,
        "\nthe funds pay {} {} in total (every payer of each side: all shares but the patient's)",
        r.fund_change.trim_start_matches('-'),
        more_or_less(&r.fund_change)
    );
    let (only_base, only_reform) = r.settled_one_side;
    if only_base + only_reform > 0 {
        let _ = writeln!(
            out,
            "\nsettled under one side only: {only_base} under the base (the funds pay {} for them there), {only_reform} under the reform (the funds pay {})",
            r.one_side_funds.0, r.one_side_funds.1
        );
        let mut rows = vec![vec![
            "claim".into(),
            "member".into(),
            "line".into(),
            "settles under".into(),
            "funds".into(),
        ]];
        for c in &r.one_sided {
            rows.push(vec![
                c.id.clone(),
                c.member.clone(),
                c.line.to_string(),
                c.settles_under.into(),
                c.funds.clone(),
            ]);
        }
        table(&mut out, &rows);
        if r.one_sided.len() < only_base + only_reform {
            let _ = writeln!(out, "  (the first {} listed)", r.one_sided.len());
        }
    }
    for f in &r.by_field {
        let _ = writeln!(out, "\nby {}", f.field);
        let mut head = vec![f.field.clone(), "claims".into(), "affected".into()];
        head.extend(r.shares.iter().map(share_label));
        let mut rows = vec![head];
        for v in &f.rows {
            let mut row = vec![v.variant.clone(), v.claims.to_string(), v.affected.to_string()];
            row.extend(v.changes.iter().cloned());
            rows.push(row);
        }
        table(&mut out, &rows);
    }
    if !r.movers.is_empty() {
        let _ = writeln!(out, "\nlargest movers (change of the funds' payments)");
        let mut rows = vec![vec![
            "claim".into(),
            "member".into(),
            "line".into(),
            "funds".into(),
            "shares before -> after".into(),
        ]];
        for m in &r.movers {
            let shares: Vec<String> = m
                .shares
                .iter()
                .filter(|(_, b, a)| b != a)
                .map(|(n, b, a)| format!("{n} {b} -> {a}"))
                .collect();
            rows.push(vec![
                m.id.clone(),
                m.member.clone(),
                m.line.to_string(),
                m.fund_change.clone(),
                shares.join(", "),
            ]);
        }
        table(&mut out, &rows);
        let trails: Vec<_> = r.movers.iter().filter(|m| !m.trail.is_empty()).collect();
        if !trails.is_empty() {
            let _ = writeln!(
                out,
                "\nwhat moved them (values of the claim that differ, base -> reform)"
            );
            for m in trails {
                let moved: Vec<String> =
                    m.trail.iter().map(|(n, b, a)| format!("{n} {b} -> {a}")).collect();
                let _ = writeln!(out, "  {}: {}", m.id, moved.join(", "));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nthe funds' changes claim by claim add up to {}: {} the change of the totals ({})",
        r.per_claim_fund_change,
        if r.reconciled { "equal to" } else { "NOT equal to" },
        r.fund_change
    );
    for t in &r.providers {
        providers_text(&mut out, t);
    }
    out
}

/// The rows of a period's table shown as text at the most: those that moved most.
const PROVIDER_ROWS: usize = 20;

/// What moved in one compared table of the period: the columns in which some row moved, and
/// the rows in which some column moved, ordered by the change of the last moved column (usually
/// what the fund pays the hospital), largest first, then by key.
pub(crate) struct MovedRows<'t> {
    /// Positions in [`TableChange::columns`].
    pub columns: Vec<usize>,
    pub rows: Vec<&'t settle_runtime::period::compare::RowChange>,
}

pub(crate) fn moved_rows(t: &TableChange) -> MovedRows<'_> {
    use settle_runtime::period::compare::Moved;
    let columns: Vec<usize> = (0..t.columns.len())
        .filter(|&c| {
            t.rows.iter().any(|row| row.columns.get(c).is_some_and(|m| m.base != m.reform))
        })
        .collect();
    let last = columns.last().copied().unwrap_or_default();
    let change = |moved: &[Moved]| {
        moved
            .get(last)
            .and_then(|m| m.change.parse::<rust_decimal::Decimal>().ok())
            .unwrap_or_default()
    };
    let mut rows: Vec<_> =
        t.rows.iter().filter(|row| row.columns.iter().any(|m| m.base != m.reform)).collect();
    rows.sort_by_key(|row| std::cmp::Reverse(change(&row.columns).abs()));
    MovedRows { columns, rows }
}

/// One compared table of the period: the columns that moved, for the rows that moved (see
/// [`moved_rows`]), then the columns added up over every row.
fn providers_text(out: &mut String, t: &TableChange) {
    use settle_runtime::period::compare::Moved;
    let MovedRows { columns: moved_columns, rows: moved } = moved_rows(t);
    if moved_columns.is_empty() {
        let _ = writeln!(
            out,
            "\nperiod table `{}` by {}: no amount moved ({} rows; {})",
            t.table,
            t.key,
            t.rows.len(),
            t.columns.join(", ")
        );
        return;
    }
    let _ = writeln!(out, "\nperiod table `{}` by {}: amounts under each policy", t.table, t.key);
    let mut header = vec![t.key.clone()];
    for &c in &moved_columns {
        let name = t.columns.get(c).map_or("", String::as_str);
        header.extend([format!("{name} base"), format!("{name} reform"), format!("{name} change")]);
    }
    let or_none = |s: &Option<String>| s.clone().unwrap_or_else(|| ABSENT.into());
    let cells = |key: &str, moved: &[Moved]| {
        let mut row = vec![key.to_string()];
        for m in moved_columns.iter().filter_map(|&c| moved.get(c)) {
            row.extend([or_none(&m.base), or_none(&m.reform), m.change.clone()]);
        }
        row
    };
    let mut rows = vec![header];
    rows.extend(moved.iter().take(PROVIDER_ROWS).map(|row| cells(&row.key, &row.columns)));
    rows.push(cells("(all rows)", &t.totals));
    table(out, &rows);
    let _ = writeln!(
        out,
        "  {} of {} rows moved{}",
        moved.len(),
        t.rows.len(),
        if moved.len() > PROVIDER_ROWS {
            format!("; the {PROVIDER_ROWS} that moved most are shown (every row: --format json)")
        } else {
            String::new()
        }
    );
}

/// Written for a share a policy's balance does not have.
const ABSENT: &str = "-";

/// A share's name, marked when it is the patient's.
fn share_label(s: &settle_runtime::diff::ShareChange) -> String {
    if s.fund { s.name.clone() } else { format!("{} (patient)", s.name) }
}

/// "more" or "less", by the sign of a change.
fn more_or_less(change: &str) -> &'static str {
    if change.starts_with('-') { "less" } else { "more" }
}
