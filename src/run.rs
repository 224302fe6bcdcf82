//! `settle run`, `settle test` and `settle explain`: the commands that settle claims.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use settle_lang::ir::Policy;
use settle_runtime::coverage::Coverage;
use settle_runtime::io::{self, AtomicFile, Format, Row};
use settle_runtime::testing::{TestReport, run_tests};
use settle_runtime::{Engine, Outcome, batch};

use crate::cli::{EXIT_PROBLEMS, EXIT_USAGE, check_file, theme};

/// Claims from which `run` shows a progress bar on a terminal.
const PROGRESS_FROM: usize = 100_000;

/// Check a policy file and return its IR; print its problems and return the exit code if it has
/// errors.
pub fn load(path: &PathBuf) -> Result<(Policy, String), ExitCode> {
    let Some(checked) = check_file(path) else { return Err(ExitCode::from(EXIT_USAGE)) };
    let text = checked.problems.sources.text(0).to_string();
    match checked.policy {
        Some(policy) => {
            if checked.problems.warning_count() > 0 {
                eprint!("{}", checked.problems.render(theme(), 100));
            }
            Ok((policy, text))
        }
        None => {
            eprint!("{}", checked.problems.render(theme(), 100));
            eprintln!(
                "{}: {} errors; nothing settled",
                path.display(),
                checked.problems.error_count()
            );
            Err(ExitCode::from(EXIT_PROBLEMS))
        }
    }
}

/// The claims read by the general path: every record a row, in the encoding `--encoding` names.
pub(crate) fn read_rows(policy: &Policy, claims: &Path) -> Result<Vec<Row>, ExitCode> {
    let usage = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    if crate::parquet::is_parquet(claims) {
        return crate::parquet::read_rows(policy, claims).map_err(|e| usage(&e));
    }
    let file = crate::encoding::open(claims)
        .map_err(|e| usage(&format!("cannot read `{}`: {e}", claims.display())))?;
    let name = claims.display().to_string();
    match Format::of_path(claims) {
        Format::Csv => io::read_csv(policy, file, &name),
        Format::JsonLines => {
            io::read_jsonl(policy, std::io::BufReader::with_capacity(1 << 20, file), &name)
        }
    }
    .map_err(|e| usage(&e))
}

/// `settle run`.
#[expect(clippy::too_many_arguments, reason = "one argument per option of `settle run`")]
pub fn run(
    policy_path: &PathBuf,
    claims: &Path,
    out: Option<&Path>,
    jsonl: Option<bool>,
    threads: Option<usize>,
    jit: bool,
    max_error_rows: Option<usize>,
    providers: Option<&Path>,
) -> ExitCode {
    let started = Instant::now();
    if let Err(code) = crate::parquet::available(&[Some(claims), out]) {
        return code;
    }
    let (policy, _) = match load(policy_path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut providers = match crate::period::providers_target(&policy, policy_path, providers) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // Fail before any work when the output cannot be written.
    let mut target = match out.map(AtomicFile::create).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: cannot write `{}`: {e}",
                out.map(|p| p.display().to_string()).unwrap_or_default()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let jsonl =
        jsonl.unwrap_or_else(|| out.is_some_and(|p| Format::of_path(p) == Format::JsonLines));
    // Reading and settling both run on the pool: `--threads 1` uses one thread throughout.
    let pool = match pool(threads) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let engine = if jit {
        match Engine::compiled(policy.clone()) {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("note: {e}; settling with the interpreter");
                Engine::new(policy)
            }
        }
    } else {
        Engine::new(policy)
    };
    // Closures or compiled code: the fast path, without a value per field.
    // Period settlement reads every claim's settled values, which the fast path does not keep.
    let parquet_out = out.is_some_and(crate::parquet::is_parquet);
    if providers.is_none() {
        let format = match (parquet_out, jsonl) {
            (true, _) => Written::Parquet,
            (false, true) => Written::JsonLines,
            (false, false) => Written::Csv,
        };
        let fast = || run_fast(&engine, claims, target.as_mut(), format, started);
        match in_pool(pool.as_ref(), fast) {
            Fast::Done(done) => {
                if let Some(file) = target {
                    if let Err(e) = file.commit() {
                        eprintln!("error: cannot write the settlements: {e}");
                        return ExitCode::from(EXIT_USAGE);
                    }
                }
                let phases = Phases { started, read: done.read, settled: done.settled };
                print_summary(done.claims, done.errors, &done.totals, &phases);
                return verdict(done.errors, max_error_rows);
            }
            Fast::Failed(code) => return code,
            Fast::General => {}
        }
    }
    let policy = engine.policy().clone();
    let rows = match in_pool(pool.as_ref(), || read_rows(&policy, claims)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let read = started.elapsed();
    let batch = io::claims_of(&rows);
    let bar = progress_bar(batch.len());
    let settle = || {
        engine.settle_batch_with(&batch, &|n| {
            if let Some(b) = &bar {
                b.inc(n)
            }
        })
    };
    let settled = in_pool(pool.as_ref(), settle);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // The period's passes run on the same pool as the claims, so `--threads` bounds them too.
    let period = in_pool(pool.as_ref(), || {
        providers.as_mut().map(|file| crate::period::settle(&engine, &batch, &settled, file))
    });
    let outcomes = io::by_row(&rows, settled);
    let policy = engine.policy();
    let settled_at = started.elapsed();
    let written = in_pool(pool.as_ref(), || match &mut target {
        Some(file) => match file.writer() {
            Some(w) if parquet_out => {
                crate::parquet::write_settlements(policy, &rows, &outcomes, w)
                    .map_err(std::io::Error::other)
            }
            Some(w) => write_rows(policy, &rows, &outcomes, jsonl, w),
            None => Ok(()),
        },
        None => write_rows(policy, &rows, &outcomes, jsonl, &mut std::io::stdout().lock()),
    });
    let committed = written.and_then(|()| target.map_or(Ok(()), AtomicFile::commit));
    if let Err(e) = committed {
        eprintln!("error: cannot write the settlements: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let phases = Phases { read, settled: settled_at, started };
    let errors = summary(policy, &rows, &outcomes, &phases);
    if let Some(done) = period {
        if let Err(code) = crate::period::commit(done, providers) {
            return code;
        }
    }
    // The process ends here: freeing a million claims and settlements one by one would only
    // delay the exit (the operating system takes the memory back whole).
    std::mem::forget(outcomes);
    std::mem::forget(batch);
    std::mem::forget(rows);
    verdict(errors, max_error_rows)
}

/// The exit code of a run that wrote its settlements: success, unless more rows are errors than
/// `--max-error-rows` allows.
fn verdict(errors: usize, max_error_rows: Option<usize>) -> ExitCode {
    match max_error_rows {
        Some(max) if errors > max => {
            eprintln!(
                "error: {errors} error row{}, more than the {max} that --max-error-rows allows",
                if errors == 1 { "" } else { "s" }
            );
            ExitCode::from(EXIT_PROBLEMS)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Input errors listed by `settle run --read-only` before it says how many more there are.
const ERRORS_LISTED: usize = 20;

/// `settle run --read-only`: read the claims as `run` would, report their input errors.
pub fn read_only(policy_path: &PathBuf, claims: &Path, threads: Option<usize>) -> ExitCode {
    let started = Instant::now();
    let (policy, _) = match load(policy_path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let pool = match pool(threads) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let engine = Engine::new(policy);
    let policy = engine.policy();
    let read = in_pool(pool.as_ref(), || -> Result<(usize, Vec<String>), ExitCode> {
        if let Some(table) = read_table(&engine, claims)? {
            let errors = table.input_errors().map(ToString::to_string).collect();
            let count = table.len();
            std::mem::forget(table);
            return Ok((count, errors));
        }
        let rows = read_rows(policy, claims)?;
        let errors = rows
            .iter()
            .filter_map(|r| match r {
                Row::Error(e) => Some(e.to_string()),
                Row::Claim(_) => None,
            })
            .collect();
        let count = rows.len();
        std::mem::forget(rows);
        Ok((count, errors))
    });
    let (count, errors) = match read {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut err = std::io::stderr().lock();
    for e in errors.iter().take(ERRORS_LISTED) {
        let _ = writeln!(err, "{e}");
    }
    if errors.len() > ERRORS_LISTED {
        let _ = writeln!(err, "... and {} more", errors.len() - ERRORS_LISTED);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writeln!(err, "claims   {count}");
    let _ = writeln!(err, "errors   {}", errors.len());
    let _ = writeln!(
        err,
        "time     {elapsed:.3} s, {:.0} claims/s (read only)",
        count as f64 / elapsed.max(1e-9)
    );
    if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) }
}

/// The format the fast path writes settlements in.
#[derive(Clone, Copy)]
enum Written {
    Csv,
    JsonLines,
    Parquet,
}

/// How the fast path ended.
enum Fast {
    /// Settled and written (not yet committed): the summary to print once committed.
    Done(Summary),
    /// An error was reported: the exit code.
    Failed(ExitCode),
    /// The file is for the general path.
    General,
}

/// `settle run` by the batch fast path (`settle_runtime::batch`): the same output, the same
/// summary.
fn run_fast(
    engine: &Engine,
    claims: &Path,
    target: Option<&mut AtomicFile>,
    format: Written,
    started: Instant,
) -> Fast {
    let table = match read_table(engine, claims) {
        Ok(Some(table)) => table,
        Ok(None) => return Fast::General,
        Err(code) => return Fast::Failed(code),
    };
    let read = started.elapsed();
    let bar = progress_bar(table.len() - table.error_rows());
    let Some(settled) = batch::settle_table(engine, table, &|n| {
        if let Some(b) = &bar {
            b.inc(n)
        }
    }) else {
        return Fast::General;
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let settled_at = started.elapsed();
    let write = |out: &mut (dyn Write + Send)| match format {
        Written::JsonLines => batch::write_table_jsonl(engine, &settled, out),
        Written::Csv => batch::write_table_csv(engine, &settled, out),
        Written::Parquet => {
            crate::parquet::write_table(engine, &settled, out).map_err(std::io::Error::other)
        }
    };
    let written = match target {
        Some(file) => match file.writer() {
            Some(w) => write(w),
            None => Ok(()),
        },
        None => write(&mut std::io::BufWriter::new(std::io::stdout())),
    };
    if let Err(e) = written {
        eprintln!("error: cannot write the settlements: {e}");
        return Fast::Failed(ExitCode::from(EXIT_USAGE));
    }
    let totals: Vec<(String, Decimal)> = settled
        .totals
        .iter()
        .map(|(name, fen)| (name.clone(), Decimal::from_i128_with_scale(*fen, 2)))
        .collect();
    let table = settled.table();
    let errors = table.error_rows() + settled.failed();
    let done = Summary { claims: table.len(), errors, totals, read, settled: settled_at };
    // As in the general path: the memory goes back whole at exit.
    std::mem::forget(settled);
    Fast::Done(done)
}

/// The claims read for the batch fast path (`settle_runtime::batch`), CSV, JSON Lines or
/// Parquet, when the policy is one it takes. `Ok(None)`: they are for the general path.
pub(crate) fn read_table(engine: &Engine, claims: &Path) -> Result<Option<batch::Table>, ExitCode> {
    if !batch::supported(engine) {
        return Ok(None);
    }
    if crate::parquet::is_parquet(claims) {
        return crate::parquet::read_table(engine.policy(), claims).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        });
    }
    let file = crate::encoding::open(claims).map_err(|e| {
        eprintln!("error: cannot read `{}`: {e}", claims.display());
        ExitCode::from(EXIT_USAGE)
    })?;
    let (name, policy) = (claims.display().to_string(), engine.policy());
    let table = match Format::of_path(claims) {
        Format::Csv => batch::read_table_from(policy, file, &name, batch::WINDOW),
        Format::JsonLines => batch::read_jsonl_table_from(policy, file, &name, batch::WINDOW),
    };
    table.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// A progress bar for `claims` claims on a terminal, for long inputs.
fn progress_bar(claims: usize) -> Option<ProgressBar> {
    (std::io::stderr().is_terminal() && claims >= PROGRESS_FROM).then(|| {
        let bar = ProgressBar::new(claims as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} claims ({per_sec})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    })
}

/// A pool of `--threads` threads, if given (reading, settling and writing all run on it).
fn pool(threads: Option<usize>) -> Result<Option<rayon::ThreadPool>, ExitCode> {
    let Some(n) = threads else { return Ok(None) };
    rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build().map(Some).map_err(|e| {
        eprintln!("error: cannot start {n} threads: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// Run `work` on `pool`, or on rayon's global pool when there is none.
fn in_pool<T: Send>(pool: Option<&rayon::ThreadPool>, work: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

fn write_rows(
    policy: &Policy,
    rows: &[Row],
    outcomes: &[Option<Outcome>],
    jsonl: bool,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    if jsonl {
        io::write_jsonl(policy, rows, outcomes, w)
    } else {
        io::write_csv(policy, rows, outcomes, w)
    }
}

/// What the fast path settled, for the summary.
struct Summary {
    claims: usize,
    errors: usize,
    totals: Vec<(String, Decimal)>,
    read: Duration,
    settled: Duration,
}

/// When a run started, and how long it had taken when the claims were read and when they were
/// settled: the summary shows each step's time.
struct Phases {
    started: Instant,
    read: Duration,
    settled: Duration,
}

/// Print the summary of a run by the general path; the number of error rows.
fn summary(policy: &Policy, rows: &[Row], outcomes: &[Option<Outcome>], phases: &Phases) -> usize {
    let errors = outcomes
        .iter()
        .zip(rows)
        .filter(|(o, r)| matches!(r, Row::Error(_)) || matches!(o, Some(Err(_))))
        .count();
    let mut totals: Vec<(String, Decimal)> = policy
        .balance
        .iter()
        .flat_map(|b| b.parts.iter())
        .filter_map(|p| policy.values.get(*p).map(|d| (d.name.clone(), Decimal::ZERO)))
        .collect();
    let parts: Vec<usize> = policy.balance.iter().flat_map(|b| b.parts.iter().copied()).collect();
    for s in outcomes.iter().flatten().flatten() {
        for (total, part) in totals.iter_mut().zip(&parts) {
            if let Some(fen) = s.fen(*part) {
                total.1 += Decimal::new(fen, 2);
            }
        }
    }
    print_summary(rows.len(), errors, &totals, phases);
    errors
}

/// The summary at the end of `settle run`: claims, errors, each share's total, time.
fn print_summary(claims: usize, errors: usize, totals: &[(String, Decimal)], phases: &Phases) {
    let elapsed = phases.started.elapsed();
    let per_second = claims as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "claims   {claims}");
    let _ = writeln!(err, "settled  {}", claims - errors);
    let _ = writeln!(err, "errors   {errors}");
    for (name, total) in totals {
        let _ = writeln!(err, "{name:<24} {total:>20.2}");
    }
    let _ = writeln!(
        err,
        "time     {:.3} s (read {:.3} s, settle {:.3} s, write {:.3} s), {:.0} claims/s",
        elapsed.as_secs_f64(),
        phases.read.as_secs_f64(),
        phases.settled.saturating_sub(phases.read).as_secs_f64(),
        elapsed.saturating_sub(phases.settled).as_secs_f64(),
        per_second
    );
}

/// `settle gen`.
pub fn generate(
    policy_path: &PathBuf,
    count: usize,
    seed: u64,
    out: Option<&Path>,
    jsonl: Option<bool>,
    texts: u64,
) -> ExitCode {
    if let Err(code) = crate::parquet::available(&[out]) {
        return code;
    }
    let (policy, _) = match load(policy_path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let jsonl =
        jsonl.unwrap_or_else(|| out.is_some_and(|p| Format::of_path(p) == Format::JsonLines));
    // On a terminal, a bar counts the claims written (their lines) when they go to a file.
    let bar = out.and_then(|_| progress_bar(count));
    let result = match out {
        Some(path) if crate::parquet::is_parquet(path) => {
            AtomicFile::create(path).and_then(|mut file| {
                if let Some(w) = file.writer() {
                    crate::parquet::write_claims(&policy, count, seed, w)
                        .map_err(std::io::Error::other)?;
                }
                file.commit()
            })
        }
        Some(path) => AtomicFile::create(path).and_then(|mut file| {
            if let Some(w) = file.writer() {
                let mut counted = Lines { inner: w, bar: bar.as_ref() };
                settle_runtime::generate::write_with(
                    &policy,
                    count,
                    seed,
                    jsonl,
                    texts,
                    &mut counted,
                )?;
            }
            file.commit()
        }),
        None => settle_runtime::generate::write_with(
            &policy,
            count,
            seed,
            jsonl,
            texts,
            &mut std::io::stdout().lock(),
        ),
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the claims: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A writer that moves a progress bar by the lines written through it.
struct Lines<'a, W> {
    inner: W,
    bar: Option<&'a ProgressBar>,
}

impl<W: Write> Write for Lines<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(bar) = self.bar {
            let lines = buf.get(..n).unwrap_or_default().iter().filter(|b| **b == b'\n').count();
            bar.inc(lines as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `settle test`; with `coverage`, also what the tests reach of each policy.
pub fn test(
    files: &[PathBuf],
    json: bool,
    junit: Option<&Path>,
    coverage: Option<&crate::coverage::Wanted>,
) -> ExitCode {
    let mut reached: Vec<(String, Coverage)> = Vec::new();
    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut broken = false;
    let mut unreadable = false;
    let mut all: Vec<(String, Vec<TestReport>)> = Vec::new();
    for path in files {
        let (policy, text) = match load(path) {
            Ok(p) => p,
            Err(code) => {
                // A file that cannot be read is a usage error (2); one with errors, a problem (1).
                unreadable |= code == ExitCode::from(EXIT_USAGE);
                broken = true;
                continue;
            }
        };
        let engine = Engine::new(policy);
        let reports = run_tests(&engine, &text);
        if coverage.is_some() {
            reached.push((
                path.display().to_string(),
                settle_runtime::coverage::coverage(&engine, &text),
            ));
        }
        for r in &reports {
            if r.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
            if !json {
                print_report(path, r);
            }
        }
        all.push((path.display().to_string(), reports));
    }
    if json {
        let files: Vec<serde_json::Value> = all
            .iter()
            .map(|(f, r)| {
                let coverage =
                    reached.iter().find(|(g, _)| g == f).map(|(_, c)| crate::coverage::json(c));
                match coverage {
                    Some(c) => serde_json::json!({"file": f, "tests": r, "coverage": c}),
                    None => serde_json::json!({"file": f, "tests": r}),
                }
            })
            .collect();
        let value = serde_json::json!({ "files": files, "passed": passed, "failed": failed });
        println!("{value:#}");
    } else {
        println!("\n{passed} passed, {failed} failed");
        for (file, c) in &reached {
            print!("{}", crate::coverage::text(file, c));
        }
    }
    if let Some(lcov) = coverage.and_then(|w| w.lcov.as_deref()) {
        if let Err(e) = crate::files::write_atomic(lcov, crate::coverage::lcov(&reached).as_bytes())
        {
            eprintln!("error: cannot write `{}`: {e}", lcov.display());
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if let Some(path) = junit {
        if let Err(e) = write_junit(path, &all) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if unreadable {
        ExitCode::from(EXIT_USAGE)
    } else if broken || failed > 0 {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(path: &Path, r: &TestReport) {
    if r.passed() {
        println!("test {}:{} \"{}\" ... ok", path.display(), r.line, r.name);
        return;
    }
    println!("test {}:{} \"{}\" ... FAILED", path.display(), r.line, r.name);
    for f in &r.failures {
        println!("  line {}: expect {}", f.line, f.expect);
        println!("    {}", f.detail);
        if let Some(e) = &f.explanation {
            for line in e.to_text().lines() {
                println!("    | {line}");
            }
        }
    }
}

fn write_junit(path: &Path, all: &[(String, Vec<TestReport>)]) -> std::io::Result<()> {
    let escape = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (file, reports) in all {
        let failures = reports.iter().filter(|r| !r.passed()).count();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
            escape(file),
            reports.len()
        ));
        for r in reports {
            xml.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(file),
                escape(&r.name)
            ));
            if r.passed() {
                xml.push_str("/>\n");
                continue;
            }
            xml.push_str(">\n");
            for f in &r.failures {
                xml.push_str(&format!(
                    "      <failure message=\"{}\">line {}: expect {}</failure>\n",
                    escape(&f.detail),
                    f.line,
                    escape(&f.expect)
                ));
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    crate::files::write_atomic(path, xml.as_bytes())
}

/// `settle explain`.
pub fn explain(policy_path: &PathBuf, claims: &Path, id: &str, json: bool) -> ExitCode {
    let (policy, _) = match load(policy_path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rows = match read_rows(&policy, claims) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Some(Row::Error(e)) =
        rows.iter().find(|r| matches!(r, Row::Error(e) if e.id.as_deref() == Some(id)))
    {
        eprintln!("error: claim `{id}` cannot be read: {e}");
        return ExitCode::from(EXIT_PROBLEMS);
    }
    let engine = Engine::new(policy);
    let batch = io::into_claims(rows);
    match settle_runtime::trace::explain(&engine, &batch, id) {
        Ok(e) if json => {
            println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(e) => {
            print!("{}", e.to_text());
            if engine.policy().period.is_empty() {
                return ExitCode::SUCCESS;
            }
            match crate::period::explain(&engine, &batch, id) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("error: the period was not settled: {message}");
                    ExitCode::from(EXIT_PROBLEMS)
                }
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
