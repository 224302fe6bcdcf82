//! The VS Code extension's files agree with the language: its TextMate grammar compiles under
//! the engine VS Code uses (vscode-textmate over Oniguruma, run by Node) and highlights every
//! keyword of the language's grammar and every built-in type in context; the extension starts
//! `settle lsp` for `.settle` files and offers its commands and settings.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode")
}

fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).expect("the file exists");
    serde_json::from_str(&text).expect("valid JSON")
}

/// A policy using every word of the language where it stands.
const SAMPLE: &str = r#"policy t.sample "标题"
extends "base.settle"
year starts 01-01
dated by claim.date
rounding half_up
enum Level { level1 "一级", level2 }
record Item { kind: text, amount: money }
input claim { id: text, member: text, date: date, total: money, items: list of Item }
yearly admissions: int = count() where claim.total > 0
lifetime ever = count()
monthly this_month: money = sum(claim.total)
quarterly this_quarter = count()
rolling 12 months recent = count()
episode 60 days after claim.date stay = count()
monthly by claim.member shared = count()
period all_cost = sum(claim.total)
case weight: rate = claim.total / all_cost
table members "成员" by claim.member {
    n = count()
}
override param cap: money
    from 2021-07-01 150_000 assumed source "doc"
param ratio: rate by Level = { level1: 90%, _: 80% }
param s: scale = { 0 .. 100: 50% }
let x: bool = not true or false and claim.level in {level1}
rule due: money
    default 450
    when x -> if x then 1 else 0
    else when x -> 2
let later = claim.date + 30 days - (day(claim.date) - 1) days + 2 months
let age = years_between(claim.date, later) + year(later) + month(later)
let shown = round(claim.total, yuan, down)
stage basic (pay: money) {
    pay = min(claim.total, sum(i.amount for i in claim.items where i.amount > 0))
}
stage help "救助" before basic (pay: money) {
    pay = 0
}
balance claim.total = basic.pay
test "t" {
    claim a { member: "m" }
    expect a.basic.pay == 1
}
/* a block comment */
// a line comment
"#;

/// Every keyword of the language's grammar (its `k_` rules), and the built-in types.
fn words() -> Vec<String> {
    let grammar = include_str!("../lang/src/syntax/settle.pest");
    let mut words: Vec<String> = grammar
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("k_")?.split('"').nth(1).map(String::from))
        .collect();
    words.extend(["money", "rate", "int", "bool", "date", "text"].map(String::from));
    words
}

#[test]
fn the_grammar_compiles_and_highlights_every_keyword_and_type() {
    let node_modules = root().join("node_modules/vscode-textmate");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node || !node_modules.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must compile the grammar: install Node and run `npm install` in editors/vscode"
        );
        eprintln!("skipped: needs Node and `npm install` in editors/vscode");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("editors-grammar");
    std::fs::create_dir_all(&dir).expect("a folder");
    let sample = dir.join("sample.settle");
    std::fs::write(&sample, SAMPLE).expect("written");
    let out = Command::new("node")
        .arg(root().join("test/grammar.js"))
        .arg(&sample)
        .output()
        .expect("node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["errors"], Value::Array(Vec::new()), "every pattern compiles");
    assert!(seen["regexes"].as_u64().expect("a count") >= 20);

    let tokens: Vec<(String, String)> = seen["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .flat_map(|line| line.as_array().expect("tokens").iter())
        .map(|t| (t[0].as_str().expect("text").into(), t[1].as_str().expect("scope").into()))
        .collect();
    let scope = |text: &str| -> Vec<&str> {
        tokens.iter().filter(|(t, _)| t == text).map(|(_, s)| s.as_str()).collect()
    };
    for word in words() {
        let scopes = scope(&word);
        assert!(
            scopes.iter().any(|s| *s != "source.settle"),
            "`{word}` is highlighted somewhere in the sample: {scopes:?}"
        );
    }
    assert_eq!(scope("// a line comment"), ["comment.line.double-slash.settle"]);
    assert!(scope("标题").contains(&"string.quoted.double.settle"));
    assert!(scope("150_000").iter().all(|s| s.starts_with("constant.numeric")), "{tokens:?}");
    assert!(scope("90%").iter().all(|s| s.starts_with("constant.numeric")), "{tokens:?}");
    assert_eq!(scope("min"), ["support.function.settle"]);
    for function in ["round", "years_between", "month", "day"] {
        assert_eq!(scope(function), ["support.function.settle"], "{function}");
    }
    // `year starts` is the item, `year(later)` the function.
    assert_eq!(scope("year"), ["keyword.other.settle", "support.function.settle"]);
    assert_eq!(scope("days"), ["keyword.control.settle"; 3]);
    assert_eq!(scope("after"), ["keyword.control.settle"]);
    assert_eq!(scope("before"), ["keyword.control.settle"]);
    assert_eq!(scope("救助"), ["string.quoted.double.settle"]);
    for window in
        ["lifetime", "monthly", "quarterly", "rolling", "episode", "period", "case", "table"]
    {
        let scopes = scope(window);
        assert!(
            !scopes.is_empty() && scopes.iter().all(|s| *s == "keyword.other.settle"),
            "{window}: {scopes:?}"
        );
    }
}

#[test]
fn the_extension_starts_the_server_for_settle_files() {
    let package = json("package.json");
    let language = &package["contributes"]["languages"][0];
    assert_eq!(language["id"], "settle");
    assert_eq!(language["extensions"][0], ".settle");
    let grammar = &package["contributes"]["grammars"][0];
    assert_eq!(grammar["scopeName"], "source.settle");
    let vsce = package["devDependencies"]["@vscode/vsce"].as_str().expect("vsce");
    assert!(vsce.starts_with("~3.9"), "vsce stays on 3.9.x for Node 20: {vsce}");

    // Format on save, a restart command, the protocol's trace, the server's executable.
    let on_save = &package["contributes"]["configurationDefaults"]["[settle]"];
    assert_eq!(on_save["editor.formatOnSave"], true);
    let commands: Vec<&str> = package["contributes"]["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    assert!(commands.contains(&"settle.restartServer"), "{commands:?}");
    let settings = &package["contributes"]["configuration"]["properties"];
    assert_eq!(settings["settle.trace.server"]["default"], "off");
    assert_eq!(settings["settle.path"]["default"], "settle");

    let configuration = json("language-configuration.json");
    assert_eq!(configuration["comments"]["lineComment"], "//");
    assert_eq!(configuration["comments"]["blockComment"][0], "/*");

    let client = std::fs::read_to_string(root().join("extension.js")).expect("the client");
    assert!(client.contains("args: ['lsp']"), "the client runs `settle lsp`");
    assert!(client.contains("'settle.restartServer'"), "the client registers the restart");
}
