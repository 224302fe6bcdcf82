//! What the command-line tests share: running `settle`, and scratch directories.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run the `settle` binary from the repository root.
pub fn settle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_settle"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the settle binary runs")
}

/// Run the `settle` binary from the repository root, with the environment variable `CI` set to
/// `ci` or removed.
pub fn settle_with_ci(args: &[&str], ci: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_settle"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    match ci {
        Some(v) => command.env("CI", v),
        None => command.env_remove("CI"),
    };
    command.output().expect("the settle binary runs")
}

/// A scratch directory `target/<group>/<name>`, emptied first, as an absolute path.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(group).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    std::fs::canonicalize(&dir).expect("the directory exists")
}
