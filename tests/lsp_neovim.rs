//! `settle lsp` with a real editor: Neovim's built-in client, run headless by
//! `tests/neovim/client.lua` on the editor tests' copy of the Dezhou employee policy
//! (`tests/editor/`). Diagnostics appear for the broken file and clear once the client applies
//! the server's quick fix; hover, definition and inlay hints answer; a rename applied by the
//! client renames every use and the policy still checks. Skipped, with a message, where `nvim`
//! is not installed, unless `CI` is set: there it fails.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long Neovim may take for the whole session.
const DEADLINE: Duration = Duration::from_secs(120);

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// The position of the first `needle` in `text`: line from 0, column in UTF-16 units, as
/// `line:character`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("the needle");
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column = before.rsplit('\n').next().map_or(0, |l| l.encode_utf16().count());
    (line, column)
}

#[test]
fn neovim_fixes_renames_and_gets_hover_definition_and_hints() {
    let Some(nvim) = on_path("nvim") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "`nvim` is not on PATH, and CI must run the end-to-end editor test: install Debian's \
             `neovim` package"
        );
        eprintln!(
            "skipped: `nvim` is not on PATH; install Debian's `neovim` package (`apt-get install \
             neovim`) to run the end-to-end editor test"
        );
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = repo.join("target").join("lsp-neovim");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let dir = std::fs::canonicalize(&dir).expect("the directory exists");

    let policy =
        std::fs::read_to_string(repo.join("tests/editor/dezhou/employee_inpatient.settle"))
            .expect("the policy");
    assert!(policy.contains("default deductible[claim.level]"));
    let broken =
        policy.replace("default deductible[claim.level]", "default deductable[claim.level]");
    let file = dir.join("employee_inpatient.settle");
    std::fs::write(&file, &broken).expect("write the policy");
    let result = dir.join("result.json");

    let (hover_line, hover_column) = position(&broken, "basic_cap - basic_paid");
    let (decl_line, _) = position(&broken, "param basic_cap: money");
    let mut child = Command::new(&nvim)
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!("luafile {}", repo.join("tests/neovim/client.lua").display()))
        .env("SETTLE_BIN", env!("CARGO_BIN_EXE_settle"))
        .env("SETTLE_POLICY", &file)
        .env("SETTLE_RESULT", &result)
        .env("SETTLE_HOVER", format!("{hover_line}:{hover_column}"))
        .env("SETTLE_DEFINITION", format!("{hover_line}:{hover_column}"))
        .env("SETTLE_RENAME", format!("{hover_line}:{hover_column}"))
        .env("SETTLE_NEW_NAME", "basic_fund_cap")
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nvim starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("nvim runs") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nvim did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "nvim exits cleanly: {status}");
    let text = std::fs::read_to_string(&result).expect("the client wrote its result");
    let seen: Value = serde_json::from_str(&text).expect("json");
    assert!(seen.get("error").is_none(), "the client script failed: {}", seen["error"]);

    // Diagnostics appear for the broken file, with the code and help of `settle check`.
    assert_eq!(seen["appeared"], true, "{seen:#}");
    let broken = seen["broken"].as_array().expect("diagnostics");
    assert_eq!(broken.len(), 1, "{seen:#}");
    let (line, column) = position(&policy, "deductible[claim.level]");
    assert_eq!(broken[0]["line"], line);
    assert_eq!(broken[0]["col"], column);
    assert_eq!(broken[0]["code"], "settle::name::unknown");
    assert_eq!(broken[0]["message"], "unknown name `deductable`\nhelp: did you mean `deductible`?");

    // The server's quick fix, applied by the client, clears them.
    assert_eq!(seen["actions"][0], "replace with `deductible`", "{seen:#}");
    assert_eq!(seen["cleared"], true, "{seen:#}");

    // Hover shows the parameter's dated values and sources, the one in force today marked.
    let hover = seen["hover"].as_str().expect("a hover");
    assert!(hover.contains("param basic_cap: money"), "{hover}");
    assert!(hover.contains("**from 2020-01-01**: 80000.00"), "{hover}");
    assert!(
        hover.contains("**from 2021-07-01** (assumed start) (in force today): 150000.00"),
        "{hover}"
    );
    assert!(hover.contains("source: Dezhou press conference 2021-07-28"), "{hover}");

    // Definition goes to the declaration.
    let definition = &seen["definition"];
    let uri = definition["uri"].as_str().expect("a location");
    assert!(uri.ends_with("/lsp-neovim/employee_inpatient.settle"), "{uri}");
    assert_eq!(definition["range"]["start"]["line"], decl_line);
    assert_eq!(definition["range"]["start"]["character"], "param ".len());
    // Inlay hints: the type of each `let` written without one.
    let hints = seen["hints"].as_array().expect("hints");
    let (burden_line, _) = position(&policy, "let burden =");
    assert!(
        hints.iter().any(|h| h["line"] == burden_line && h["label"] == ": money"),
        "{hints:#?}"
    );

    // The rename, applied by the client: every use renamed, the policy still checks.
    let renamed = seen["renamed"].as_str().expect("the renamed text");
    let uses = whole_words(&policy, "basic_cap");
    assert!(uses >= 2, "{uses}");
    assert_eq!(whole_words(renamed, "basic_fund_cap"), uses);
    assert_eq!(whole_words(renamed, "basic_cap"), 0);
    let hover = seen["renamed_hover"].as_str().expect("a hover after the rename");
    assert!(hover.contains("param basic_fund_cap: money"), "{hover}");
    assert_eq!(seen["after_rename"], Value::Array(Vec::new()), "{seen:#}");
    assert_eq!(seen["stopped"], true, "the server stops when the client asks");
}

/// How many times `word` stands in `text` as a whole name.
fn whole_words(text: &str, word: &str) -> usize {
    let name = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + word.len()..].chars().next();
            !before.is_some_and(name) && !after.is_some_and(name)
        })
        .count()
}
