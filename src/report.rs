//! `settle diff` and `settle test --snapshot`: what a rule change moves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use settle_lang::ir::Policy;
use settle_runtime::batch;
use settle_runtime::diff::{Impact, impact, impact_of_shares, share_names};
use settle_runtime::io::{self, Format, Row};
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

fn read(policy: &Policy, claims: &Path) -> Result<Vec<Row>, ExitCode> {
    io::read_claims(policy, claims, Format::of_path(claims)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })
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
    let report = match fast_impact(&b, &r, claims) {
        Ok(Some(report)) => report,
        Ok(None) => match general_impact(&b, &r, claims) {
            Ok(report) => report,
            Err(code) => return code,
        },
        Err(code) => return code,
    };
    let text = match format {
        DiffFormat::Text => text(&report),
        DiffFormat::Json => {
            serde_json::to_string_pretty(&report).map(|s| s + "\n").unwrap_or_default()
        }
        DiffFormat::Html => html(&report),
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

/// The report by the general path: every claim read into values under each policy.
fn general_impact(b: &Engine, r: &Engine, claims: &Path) -> Result<Impact, ExitCode> {
    let base_rows = read(b.policy(), claims)?;
    let reform_rows = read(r.policy(), claims)?;
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
    }
    let _ = writeln!(
        out,
        "\nthe funds' changes claim by claim add up to {}: {} the change of the totals ({})",
        r.per_claim_fund_change,
        if r.reconciled { "equal to" } else { "NOT equal to" },
        r.fund_change
    );
    out
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A bar chart as inline SVG: labels and signed values.
fn bars(title: &str, items: &[(String, f64)]) -> String {
    let height = 22 * items.len().max(1) + 40;
    let max = items.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max).max(1e-9);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 640 {height}\" width=\"640\" height=\"{height}\" role=\"img\">",
        escape(title)
    );
    let zero = 330.0;
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 20 + i * 22;
        let w = v.abs() / max * 180.0;
        let x = if *v < 0.0 { zero - w } else { zero };
        let class = if *v < 0.0 { "down" } else { "up" };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" class=\"label\">{}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" class=\"{class}\"/><text x=\"{:.1}\" y=\"{}\" class=\"value\">{:.2}</text>",
            y + 13,
            escape(label),
            if *v < 0.0 { x - 4.0 } else { x + w + 4.0 },
            y + 13,
            v
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{zero}\" y1=\"10\" x2=\"{zero}\" y2=\"{}\" class=\"axis\"/></svg></figure>",
        height - 10
    );
    svg
}

/// A histogram of per-claim changes as inline SVG.
fn histogram(title: &str, changes: &[f64]) -> String {
    let n = 20;
    let (lo, hi) = changes.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let (lo, hi) = if changes.is_empty() {
        (0.0, 1.0)
    } else if (hi - lo).abs() < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let step = (hi - lo) / n as f64;
    let mut counts = vec![0usize; n];
    for v in changes {
        let i = (((v - lo) / step) as usize).min(n - 1);
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 640 240\" width=\"640\" height=\"240\" role=\"img\">",
        escape(title)
    );
    for (i, c) in counts.iter().enumerate() {
        let h = *c as f64 / top as f64 * 180.0;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"28\" height=\"{h:.1}\" class=\"up\"><title>{:.2} to {:.2}: {c} claims</title></rect>",
            20 + i * 30,
            200.0 - h,
            lo + step * i as f64,
            lo + step * (i + 1) as f64
        );
    }
    let _ = write!(
        svg,
        "<text x=\"20\" y=\"225\" class=\"label\">{lo:.2}</text><text x=\"620\" y=\"225\" class=\"label\" text-anchor=\"end\">{hi:.2}</text></svg></figure>"
    );
    svg
}

/// The report as a self-contained page: tables and inline SVG charts, no script.
pub fn html(r: &Impact) -> String {
    let number = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} &rarr; {}</h1><p>{} claims, <strong>{} affected</strong>; not settled: {} under the base, {} under the reform. The funds pay <strong>{}</strong> {} in total.</p>",
        escape(&r.base),
        escape(&r.reform),
        r.claims,
        r.affected,
        r.errors.0,
        r.errors.1,
        escape(r.fund_change.trim_start_matches('-')),
        more_or_less(&r.fund_change)
    );
    let (only_base, only_reform) = r.settled_one_side;
    if only_base + only_reform > 0 {
        let _ = write!(
            body,
            "<p>Settled under one side only: {only_base} under the base (the funds pay {} for them there), {only_reform} under the reform (the funds pay {}).</p>",
            escape(&r.one_side_funds.0),
            escape(&r.one_side_funds.1)
        );
    }
    body.push_str(
        "<h2>Shares</h2><table><tr><th>share</th><th>base</th><th>reform</th><th>change</th></tr>",
    );
    for s in &r.shares {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&share_label(s)),
            escape(s.base.as_deref().unwrap_or(ABSENT)),
            escape(s.reform.as_deref().unwrap_or(ABSENT)),
            escape(&s.change)
        );
    }
    body.push_str("</table>");
    let changes: Vec<f64> = r.changes.iter().map(|c| number(c)).collect();
    body.push_str(&histogram("Change of the funds' payments per affected claim (yuan)", &changes));
    for f in &r.by_field {
        let items: Vec<(String, f64)> = f
            .rows
            .iter()
            .map(|v| {
                let funds = v.changes.iter().zip(&r.shares).filter(|(_, s)| s.fund);
                (v.variant.clone(), funds.map(|(c, _)| number(c)).sum())
            })
            .collect();
        body.push_str(&bars(&format!("Change of the funds' payments by {}", f.field), &items));
    }
    if !r.movers.is_empty() {
        body.push_str("<h2>Largest movers</h2><table><tr><th>claim</th><th>member</th><th>line</th><th>funds</th><th>shares before &rarr; after</th></tr>");
        for m in &r.movers {
            let shares: Vec<String> = m
                .shares
                .iter()
                .filter(|(_, b, a)| b != a)
                .map(|(n, b, a)| format!("{} {} &rarr; {}", escape(n), escape(b), escape(a)))
                .collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.id),
                escape(&m.member),
                m.line,
                escape(&m.fund_change),
                shares.join("<br>")
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<p class=\"note\">{}</p>",
        if r.reconciled {
            format!(
                "The funds' changes claim by claim add up to {}, equal to the change of the totals.",
                escape(&r.per_claim_fund_change)
            )
        } else {
            format!(
                "The funds' changes claim by claim add up to {}, NOT equal to the change of the totals ({}).",
                escape(&r.per_claim_fund_change),
                escape(&r.fund_change)
            )
        }
    );
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} &rarr; {}</title><style>\
         body{{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:1.5em 0}}figcaption{{font-weight:600}}\
         .up{{fill:#3b7dd8}}.down{{fill:#d8633b}}.label,.value{{font-size:12px}}.axis{{stroke:#888}}.note{{color:#555}}\
         </style></head><body>{body}</body></html>\n",
        escape(&r.base),
        escape(&r.reform)
    )
}

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
    let rows = match read(&policy, claims) {
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
