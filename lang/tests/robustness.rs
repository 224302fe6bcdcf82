//! No input panics the checker or the formatter, and formatting keeps every token.
//!
//! The corpus is every policy in `policies/` and `examples/`; the property tests mutate those
//! files (insertions of tokens and random bytes, deletions, truncations, invalid UTF-8) and
//! check each mutant.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use settle_lang::syntax::token::{Token, tokenize};
use settle_lang::{Code, NoLoader, check_bytes, format::format};

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["policies", "examples"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t))).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "settle") {
            out.push(path);
        }
    }
}

/// The tokens of a text that are not whitespace, as strings.
fn significant(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| !matches!(t.kind, Some(Token::Space | Token::Newline)))
        .map(|t| text.get(t.span.range()).unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_corpus_is_not_empty() {
    assert!(corpus().len() >= 2, "no policies found");
}

#[test]
fn formatting_is_idempotent_and_keeps_every_token() {
    for (path, text) in corpus() {
        let once = format(&text);
        assert_eq!(format(&once), once, "{} formats differently twice", path.display());
        assert_eq!(
            significant(&once),
            significant(&text),
            "{} lost or changed a token",
            path.display()
        );
    }
}

#[test]
fn policy_files_are_formatted() {
    for (path, text) in corpus() {
        assert_eq!(format(&text), text, "{} is not formatted: run `settle fmt`", path.display());
    }
}

#[test]
fn formatting_does_not_change_what_the_checker_finds() {
    for (path, text) in corpus() {
        let name = path.to_string_lossy();
        let before = check_bytes(&name, text.as_bytes(), &mut NoLoader);
        let after = check_bytes(&name, format(&text).as_bytes(), &mut NoLoader);
        let codes =
            |c: &settle_lang::Checked| c.problems.list.iter().map(|p| p.code).collect::<Vec<_>>();
        assert_eq!(codes(&before), codes(&after), "{name}");
    }
}

/// One edit to a file.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "/*",
    "*/",
    "//",
    "->",
    "==",
    "=",
    ".",
    "..",
    ":",
    ",",
    "%",
    "-",
    "+",
    "*",
    "/",
    "when",
    "default",
    "from",
    "source",
    "param",
    "rule",
    "stage",
    "let",
    "yearly",
    "test",
    "expect",
    "override",
    "extends",
    "policy",
    "input",
    "enum",
    "balance",
    "in",
    "not",
    "and",
    "or",
    "if",
    "then",
    "else",
    "for",
    "where",
    "sum(",
    "count()",
    "min(",
    "max(",
    "segmented(",
    "2023-02-30",
    "2021-07-01",
    "99999999999999999999999999999999",
    "85%",
    "0",
    "_",
    "level9",
    "起付线",
    "\n",
    "\t",
    "　",
    "，",
    "\u{feff}",
];

fn mutation(len: usize) -> impl Strategy<Value = Mutation> {
    let len = len.max(1);
    prop_oneof![
        (0..len, prop::sample::select(FRAGMENTS))
            .prop_map(|(at, f)| Mutation::Insert(at, f.as_bytes().to_vec())),
        (0..len, prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (0..len, 1..64usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (0..len).prop_map(Mutation::Truncate),
        (0..len, 1..200usize).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn apply(text: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Insert(at, b) => {
                let at = (*at).min(len);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = (*at).min(len);
                let end = (at + n).min(len);
                bytes.drain(at..end);
            }
            Mutation::Truncate(at) => bytes.truncate((*at).min(len)),
            Mutation::Duplicate(at, n) => {
                let at = (*at).min(len);
                let end = (at + n).min(len);
                let copy: Vec<u8> = bytes.get(at..end).unwrap_or(&[]).to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_policies_never_panic(
        pick in any::<prop::sample::Index>(),
        seeds in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let files = corpus();
        let (path, text) = pick.get(&files);
        let strategies: Vec<Mutation> = seeds
            .iter()
            .map(|(i, kind)| {
                let at = i.index(text.len().max(1));
                match kind % 5 {
                    0 => Mutation::Insert(at, FRAGMENTS.get(usize::from(*kind) % FRAGMENTS.len()).unwrap_or(&"{").as_bytes().to_vec()),
                    1 => Mutation::Insert(at, vec![*kind, kind.wrapping_mul(31), 0xff]),
                    2 => Mutation::Delete(at, usize::from(*kind % 40) + 1),
                    3 => Mutation::Truncate(at),
                    _ => Mutation::Duplicate(at, usize::from(*kind) + 1),
                }
            })
            .collect();
        let bytes = apply(text.as_bytes(), &strategies);
        let checked = check_bytes(&path.to_string_lossy(), &bytes, &mut NoLoader);
        // A file without syntax errors formats to itself's tokens, and formats stably.
        let syntax_ok = !checked.problems.list.iter().any(|p| p.code.as_str().starts_with("settle::syntax"));
        if syntax_ok {
            let text = checked.problems.sources.text(0).to_string();
            let once = format(&text);
            prop_assert_eq!(format(&once), once.clone());
            prop_assert_eq!(significant(&once), significant(&text));
        }
        // Rendering every problem must not panic either.
        let _ = checked.problems.render_plain();
        let _ = checked.problems.to_json();
        // Every fix offered edits whole characters inside its file.
        for fix in checked.problems.list.iter().flat_map(|p| &p.fixes) {
            let file = checked.problems.sources.text(fix.file);
            let (start, end) = (fix.span.start as usize, fix.span.end as usize);
            prop_assert!(start <= end && end <= file.len());
            prop_assert!(file.is_char_boundary(start) && file.is_char_boundary(end));
        }
    }

    #[test]
    fn random_edits_of_the_sketch_never_panic(edits in prop::collection::vec(mutation(3000), 1..10)) {
        let files = corpus();
        let Some((_, text)) = files.iter().find(|(p, _)| p.ends_with("sketch.settle")) else {
            return Ok(());
        };
        let bytes = apply(text.as_bytes(), &edits);
        let checked = check_bytes("sketch.settle", &bytes, &mut NoLoader);
        let _ = checked.problems.render_plain();
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let checked = check_bytes("noise.settle", &bytes, &mut NoLoader);
        let _ = checked.problems.render_plain();
    }
}

/// Each hostile shape is refused by the limit that guards against it, with that limit's code
/// (a chain of `else if` is bounded by the operators an item may hold, `if` being one).
#[test]
fn hostile_shapes_are_refused_with_a_message() {
    let cases = [
        (
            format!("policy a\nlet x = {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            Code::SyntaxTooDeep,
        ),
        (format!("policy a\nlet x = {}1", "-".repeat(100_000)), Code::SyntaxTooDeep),
        (format!("policy a\nlet x = {}1", "not ".repeat(50_000)), Code::SyntaxTooDeep),
        (format!("policy a\nlet x = 1{}", " + 1".repeat(100_000)), Code::SyntaxTooLong),
        (
            format!("policy a\nlet x = {}", "if true then 1 else ".repeat(20_000) + "1"),
            Code::SyntaxTooLong,
        ),
        ("policy a\n".to_string() + &"param p: money = 1\n".repeat(20_000), Code::NameDuplicate),
        ("x".repeat(5 << 20), Code::SyntaxTooLarge),
    ];
    for (source, code) in cases {
        let checked = check_bytes("hostile.settle", source.as_bytes(), &mut NoLoader);
        let codes: Vec<Code> = checked.problems.list.iter().map(|p| p.code).collect();
        assert!(
            codes.contains(&code),
            "{code} expected for {}..., found {:?}",
            source.get(..40).unwrap_or(""),
            codes.iter().take(5).collect::<Vec<_>>()
        );
    }
}

/// The names visible at an offset are found in time linear in the names declared: in a file of
/// 20,000 parameters, ten look-ups (one per completion request) take less time than checking
/// the file once. Each look-up used to compare every name with every name kept before it, and
/// the fuzz target `check`, which asks at every seventh offset, spent most of its time there.
#[test]
fn names_visible_in_a_file_of_many_parameters_are_found_quickly() {
    let source: String = std::iter::once("policy a\n".to_string())
        .chain((0..20_000).map(|i| format!("param p{i}: money = 1\n")))
        .collect();
    let started = std::time::Instant::now();
    let checked = check_bytes("many.settle", source.as_bytes(), &mut NoLoader);
    let checking = started.elapsed();
    let started = std::time::Instant::now();
    for offset in (0..10).map(|i| i * source.len() / 10) {
        assert_eq!(checked.index.visible(0, offset).len(), 20_000);
    }
    let looking_up = started.elapsed();
    assert!(looking_up < checking, "ten look-ups took {looking_up:?}, checking {checking:?}");
}
