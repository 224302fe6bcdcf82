//! The VS Code extension's files agree with the language: the grammar names every keyword and
//! built-in type the lexer knows, and the extension starts `settle lsp` for `.settle` files.

#![allow(clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

use std::path::Path;

use serde_json::Value;
use settle_lang::syntax::token::{WordKind, word_kind};

fn json(path: &str) -> Value {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode").join(path);
    let text = std::fs::read_to_string(&full).expect("the file exists");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Every word the language reserves or gives a meaning where it stands, and its built-in types.
const WORDS: &[&str] = &[
    "policy", "extends", "enum", "record", "input", "yearly", "param", "let", "rule", "stage",
    "balance", "test", "override", "default", "when", "from", "source", "assumed", "if", "then",
    "else", "and", "or", "not", "true", "false", "in", "for", "where", "expect", "year", "starts",
    "dated", "by", "rounding", "list", "of", "scale", "money", "rate", "int", "bool", "date",
    "text",
];

/// Every `match` regular expression of a grammar, anywhere in it.
fn matches(grammar: &Value, out: &mut Vec<String>) {
    match grammar {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("match", Value::String(s)) => out.push(s.clone()),
                    _ => matches(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| matches(v, out)),
        _ => {}
    }
}

#[test]
fn the_grammar_knows_every_keyword_and_type() {
    let grammar = json("syntaxes/settle.tmLanguage.json");
    assert_eq!(grammar["scopeName"], "source.settle");
    let mut regexes = Vec::new();
    matches(&grammar, &mut regexes);
    for word in WORDS {
        assert_ne!(word_kind(word), WordKind::Name, "`{word}` is a word of the language");
        let listed = regexes.iter().any(|r| {
            r.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|part| part == *word)
        });
        assert!(listed, "the grammar highlights `{word}`");
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

    let configuration = json("language-configuration.json");
    assert_eq!(configuration["comments"]["lineComment"], "//");
    assert_eq!(configuration["comments"]["blockComment"][0], "/*");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    let client = std::fs::read_to_string(root.join("extension.js")).expect("the client");
    assert!(client.contains("args: ['lsp']"), "the client runs `settle lsp`");
}
