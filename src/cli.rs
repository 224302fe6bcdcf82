//! The command line: argument parsing and one function per command.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::GraphicalTheme;
use serde::Serialize;
use settle_lang::diagnostic::JsonProblem;
use settle_lang::{Checked, check_bytes};

use crate::files::{FileLoader, write_atomic};

/// Exit code: the files have errors (or warnings, with `--deny-warnings`), or tests failed.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: bad usage, or a file could not be read or written.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "settle",
    version,
    about = "Check, format, test and run medical-insurance reimbursement policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour in diagnostics: `auto` (on a terminal, unless `NO_COLOR` is set), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    /// The text encoding of claims files: `utf-8`, `gbk` (as Excel saves CSV on Chinese
    /// Windows) or `utf-16`.
    #[arg(long, value_enum, default_value_t = crate::encoding::Encoding::Utf8, global = true)]
    encoding: crate::encoding::Encoding,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Color {
    Auto,
    Always,
    Never,
}

/// The `--color` chosen, for [`theme`].
static COLOR: std::sync::OnceLock<Color> = std::sync::OnceLock::new();

/// How diagnostics are drawn on standard error: in colour on a terminal unless `NO_COLOR` is set
/// (<https://no-color.org>), or as `--color` says.
pub fn theme() -> GraphicalTheme {
    let color = match COLOR.get().copied().unwrap_or(Color::Auto) {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check policy files: syntax, names, types with units, tables, scales, dates, exceptions.
    Check {
        /// Policy files to check; a directory stands for every `.settle` file under it, `-` for
        /// standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output for people (`text`, also `human`) or for tools (`json`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Settle a file of claims with a policy.
    Run {
        /// The policy.
        policy: PathBuf,
        /// The claims: CSV with a header, or JSON Lines (`.jsonl`).
        #[arg(long)]
        claims: PathBuf,
        /// Where to write the settlements (written whole or not at all); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Output format; by default the `--out` file's extension decides, else CSV.
        #[arg(long, value_enum)]
        format: Option<DataFormat>,
        /// Threads settling members in parallel (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// The backend.
        #[arg(long, value_enum, default_value_t = Backend::Jit)]
        backend: Backend,
        /// Only read the claims and report their input errors (line, field, why); settle and
        /// write nothing. Exits with 1 when a claim is in error.
        #[arg(long, conflicts_with_all = ["out", "format", "backend", "max_error_rows", "providers"])]
        read_only: bool,
        /// Exit with 1 (after writing every row) when more than this many rows are errors, so
        /// that CI fails on a claims file that mostly does not settle. Without it, error rows
        /// do not change the exit code.
        #[arg(long, value_name = "N")]
        max_error_rows: Option<usize>,
        /// For a policy with period settlement: where to write its tables (one row per hospital
        /// or case group, CSV), written whole or not at all.
        #[arg(long, value_name = "FILE")]
        providers: Option<PathBuf>,
    },
    /// Generate realistic claims for a policy's input, the same bytes for the same seed.
    Gen {
        /// The policy.
        policy: PathBuf,
        /// How many claims.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write them (written whole or not at all); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Output format; by default the `--out` file's extension decides, else CSV.
        #[arg(long, value_enum)]
        format: Option<DataFormat>,
        /// How many distinct values each text field takes (`t0`, `t1`, ...): a region's
        /// hospitals, say.
        #[arg(long, default_value_t = settle_runtime::generate::TEXTS, value_parser = clap::value_parser!(u64).range(1..))]
        texts: u64,
    },
    /// What a rule change moves: settle a corpus under a base and a reform, report the change.
    Diff {
        /// The policy in force.
        base: PathBuf,
        /// The changed policy (usually one that `extends` the base).
        reform: PathBuf,
        /// The claims to settle under both.
        #[arg(long)]
        claims: PathBuf,
        /// Text for a terminal, JSON for tools, HTML for a self-contained report page.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Where to write the report (whole or not at all); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the tests written in policy files, or compare a corpus's settlements with a snapshot.
    Test {
        /// Policy files; a directory stands for every `.settle` file under it.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// With `--snapshot`: the claims to settle.
        #[arg(long, requires = "snapshot")]
        claims: Option<PathBuf>,
        /// Compare every settlement of `--claims` with the snapshot kept in this directory.
        #[arg(long, requires = "claims")]
        snapshot: Option<PathBuf>,
        /// With `--snapshot`: take the new settlements as the snapshot.
        #[arg(long, requires = "snapshot")]
        accept: bool,
        /// With `--snapshot`: a missing snapshot fails instead of being written (also when the
        /// `CI` environment variable is set), so that a snapshot never committed cannot pass.
        #[arg(long, requires = "snapshot", conflicts_with = "accept")]
        ci: bool,
        /// Output for people (`text`, also `human`) or for tools (`json`); the in-file tests only.
        #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "snapshot")]
        format: Format,
        /// Also write a JUnit XML report for CI; the in-file tests only.
        #[arg(long, conflicts_with = "snapshot")]
        junit: Option<PathBuf>,
        /// Also report which rule defaults and exceptions, parameter versions, table cells, scale
        /// brackets and stages the tests reach (in the text or JSON output).
        #[arg(long, conflicts_with = "snapshot")]
        coverage: bool,
        /// With `--coverage`: also write it as LCOV (one line per item, hit or not) for editors.
        #[arg(long, requires = "coverage", value_name = "FILE")]
        lcov: Option<PathBuf>,
    },
    /// Explain one claim's settlement: inputs, year to date, parameters and sources, rules, stages.
    Explain {
        /// The policy.
        policy: PathBuf,
        /// The claims file holding the claim and the member's earlier claims.
        #[arg(long)]
        claims: PathBuf,
        /// The claim's id.
        #[arg(long)]
        claim: String,
        /// Output for people (`text`) or for tools (`json`).
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
    },
    /// Format policy files in place, keeping comments.
    Fmt {
        /// Policy files to format; a directory stands for every `.settle` file under it, `-` for
        /// standard input (written formatted to standard output).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; fail if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Serve editors over standard input and output (the Language Server Protocol).
    Lsp,
    /// The hospital counter's settlement service over HTTP/JSON, members' claims kept in SQLite
    /// or PostgreSQL.
    Serve {
        /// The directory of the policies to serve (every `.settle` file under it).
        #[arg(long)]
        policies: PathBuf,
        /// The SQLite file holding settled claims (created if absent), or a `postgres://` URL of
        /// a database shared by several instances.
        #[arg(long)]
        store: PathBuf,
        /// The address to listen on; port 0 picks a free one (printed on standard output).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The clients' API keys, one `client scope,scope sha256-hex-of-key` a line; without it
        /// the service listens on a loopback address only.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Request logs (standard error) as JSON Lines instead of text; `SETTLE_LOG` filters them.
        #[arg(long)]
        log_json: bool,
    },
}

/// One vocabulary for every command's `--format`: `text` for people (`human` is accepted too),
/// `json` for tools.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    #[value(alias = "human")]
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DataFormat {
    Csv,
    Jsonl,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ExplainFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// Native code compiled once with Cranelift (falls back to the interpreter, with a note,
    /// for a policy it does not compile).
    Jit,
    /// The interpreter over exact decimals.
    Interp,
}

/// Run the command line and return the process's exit code.
/// Exit status of a command whose reader closed its standard output (128 + SIGPIPE, as the shell
/// reports a tool stopped by the signal).
const EXIT_READER_GONE: i32 = 141;

/// A reader that stops early (`settle test --format json | head`) closes the pipe; the standard
/// library then panics inside `print!` rather than returning the error to each call. Stop instead,
/// quietly and at once, as Unix tools do; every other panic keeps the default report.
fn stop_quietly_when_the_reader_goes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(EXIT_READER_GONE);
        }
        report(info);
    }));
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                let args: Vec<String> = std::env::args().skip(1).collect();
                if let Some(hint) = hint(&args) {
                    eprintln!("\nhint: {hint}");
                }
            }
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let _ = COLOR.set(cli.color);
    stop_quietly_when_the_reader_goes();
    if !matches!(cli.command, Command::Serve { .. }) {
        // On Ctrl-C, SIGTERM or SIGHUP, remove any output still being written, then stop: the
        // output path keeps its previous content or stays absent. The service writes no such
        // output and reloads its policies on SIGHUP instead.
        let _ = ctrlc::set_handler(|| {
            settle_runtime::io::remove_partial_files();
            std::process::exit(130);
        });
    }
    crate::encoding::choose(cli.encoding);
    match cli.command {
        Command::Check { files, format, deny_warnings } => check(&files, format, deny_warnings),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Run { policy, claims, threads, read_only: true, .. } => {
            crate::run::read_only(&policy, &claims, threads)
        }
        Command::Run {
            policy,
            claims,
            out,
            format,
            threads,
            backend,
            max_error_rows,
            providers,
            ..
        } => crate::run::run(
            &policy,
            &claims,
            out.as_deref(),
            format.map(|f| f == DataFormat::Jsonl),
            threads,
            backend == Backend::Jit,
            max_error_rows,
            providers.as_deref(),
        ),
        Command::Gen { policy, count, seed, out, format, texts } => crate::run::generate(
            &policy,
            count,
            seed,
            out.as_deref(),
            format.map(|f| f == DataFormat::Jsonl),
            texts,
        ),
        Command::Test { files, claims: Some(claims), snapshot: Some(dir), accept, ci, .. } => {
            let ci = ci || std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
            snapshot_all(&expand(&files), &claims, &dir, accept, ci)
        }
        Command::Test { files, format, junit, coverage, lcov, .. } => {
            let wanted = coverage.then_some(crate::coverage::Wanted { lcov });
            let files = expand(&files);
            crate::run::test(&files, format == Format::Json, junit.as_deref(), wanted.as_ref())
        }
        Command::Diff { base, reform, claims, format, out } => crate::report::diff(
            &base,
            &reform,
            &claims,
            match format {
                ReportFormat::Text => crate::report::DiffFormat::Text,
                ReportFormat::Json => crate::report::DiffFormat::Json,
                ReportFormat::Html => crate::report::DiffFormat::Html,
            },
            out.as_deref(),
        ),
        Command::Explain { policy, claims, claim, format } => {
            crate::run::explain(&policy, &claims, &claim, format == ExplainFormat::Json)
        }
        Command::Lsp => crate::lsp::main(),
        Command::Serve { policies, store, listen, keys, log_json } => {
            crate::serve::main(&policies, &store, &listen, keys.as_deref(), log_json)
        }
    }
}

/// `settle test --snapshot` for each policy; the worst exit code.
fn snapshot_all(
    files: &[PathBuf],
    claims: &std::path::Path,
    dir: &std::path::Path,
    accept: bool,
    ci: bool,
) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    for f in files {
        let c = crate::report::snapshot(f, claims, dir, accept, ci);
        if c == ExitCode::from(EXIT_USAGE) || code == ExitCode::SUCCESS {
            code = c;
        }
    }
    code
}

/// Read and check one file; `None` (after a message) when it cannot be read.
pub fn check_file(path: &PathBuf) -> Option<Checked> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        return match std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
            Ok(_) => Some(check_bytes("<stdin>", &bytes, &mut FileLoader)),
            Err(e) => {
                eprintln!("error: cannot read standard input: {e}");
                None
            }
        };
    }
    match std::fs::read(path) {
        Ok(bytes) => Some(check_bytes(&path.to_string_lossy(), &bytes, &mut FileLoader)),
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", path.display());
            None
        }
    }
}

#[derive(Serialize)]
struct JsonReport {
    files: Vec<JsonFile>,
    errors: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct JsonFile {
    file: String,
    errors: usize,
    warnings: usize,
    problems: Vec<JsonProblem>,
}

fn check(files: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let mut unreadable = false;
    let mut report = JsonReport { files: Vec::new(), errors: 0, warnings: 0 };
    let theme = theme();
    for path in &expand(files) {
        let Some(checked) = check_file(path) else {
            unreadable = true;
            continue;
        };
        let problems = &checked.problems;
        report.errors += problems.error_count();
        report.warnings += problems.warning_count();
        match format {
            Format::Json => report.files.push(JsonFile {
                file: path.to_string_lossy().into_owned(),
                errors: problems.error_count(),
                warnings: problems.warning_count(),
                problems: problems.to_json(),
            }),
            Format::Text => {
                eprint!("{}", problems.render(theme.clone(), 100));
                let summary = match (problems.error_count(), problems.warning_count()) {
                    (0, 0) => "ok".to_string(),
                    (e, w) => format!("{} and {}", count(e, "error"), count(w, "warning")),
                };
                eprintln!("{}: {summary}", path.display());
            }
        }
    }
    if format == Format::Json {
        let mut out = std::io::stdout().lock();
        if serde_json::to_writer_pretty(&mut out, &report).is_err() || writeln!(out).is_err() {
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if unreadable {
        ExitCode::from(EXIT_USAGE)
    } else if report.errors > 0 || (deny_warnings && report.warnings > 0) {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

/// The files named: a directory stands for every `.settle` file under it (sorted, hidden
/// folders and `target` skipped), `-` for standard input.
fn expand(files: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "settle") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            walk(f, &mut out);
        } else {
            out.push(f.clone());
        }
    }
    out
}

/// A hint for a command line clap refused, for the common slips: a claims file given without
/// `--claims`, and `--format human`/`text` where the command says `text`/`human`.
fn hint(args: &[String]) -> Option<String> {
    let command = args.first()?.as_str();
    if !matches!(command, "run" | "explain" | "diff" | "test")
        || args.iter().any(|a| a == "--claims")
    {
        return None;
    }
    let claims = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-') && (a.ends_with(".csv") || a.ends_with(".jsonl")))?;
    Some(format!("claims are given with `--claims`: `settle {command} ... --claims {claims}`"))
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    let mut unformatted = 0;
    for path in &expand(files) {
        let Some(checked) = check_file(path) else {
            code = ExitCode::from(EXIT_USAGE);
            continue;
        };
        let syntax_errors: Vec<_> = checked
            .problems
            .list
            .iter()
            .filter(|p| p.code.as_str().starts_with("settle::syntax"))
            .collect();
        if !syntax_errors.is_empty() || checked.modules.is_empty() {
            eprint!("{}", checked.problems.render(theme(), 100));
            eprintln!("{}: not formatted: fix the syntax errors first", path.display());
            code = ExitCode::from(EXIT_PROBLEMS);
            continue;
        }
        let source = checked.problems.sources.text(0);
        let formatted = settle_lang::format::format(source);
        if path.as_os_str() == "-" && !check_only {
            print!("{formatted}");
            continue;
        }
        if formatted == source {
            continue;
        }
        if check_only {
            unformatted += 1;
            eprintln!("{}: not formatted", path.display());
            continue;
        }
        if let Err(e) = write_atomic(path, formatted.as_bytes()) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            code = ExitCode::from(EXIT_USAGE);
        }
    }
    if unformatted > 0 && code == ExitCode::SUCCESS {
        code = ExitCode::from(EXIT_PROBLEMS);
    }
    code
}
