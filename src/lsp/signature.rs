//! Signature help for the built-in functions: inside the parentheses of a call, what the
//! function takes and which argument the cursor is in.

use lsp_types::{
    Documentation, ParameterInformation, ParameterLabel, SignatureHelp, SignatureInformation,
};
use settle_lang::syntax::token::{Token, tokenize};

use super::analysis::Analysis;

/// Each built-in function: its name, its arguments, what it does.
const SIGNATURES: &[(&str, &[&str], &str)] = &[
    ("min", &["a", "b", "..."], "the smallest of two or more values of one type"),
    ("max", &["a", "b", "..."], "the largest of two or more values of one type"),
    ("abs", &["x"], "an amount, rate or count without its sign"),
    (
        "segmented",
        &["scale", "amount"],
        "the amount paid bracket by bracket, each part at its bracket's rate (分段累计)",
    ),
    ("rate_at", &["scale", "amount"], "the rate of the bracket the amount falls in"),
    (
        "sum",
        &["value for item in list where condition"],
        "the sum of a value over a claim's list; `yearly name = sum(value)` sums earlier claims",
    ),
    (
        "count",
        &["item for item in list where condition"],
        "how many items of a claim's list meet the condition; `yearly n = count()` counts earlier claims",
    ),
    ("any", &["condition for item in list"], "whether some item of the list meets the condition"),
    ("all", &["condition for item in list"], "whether every item of the list meets the condition"),
    (
        "round",
        &["amount", "unit", "mode"],
        "the amount rounded to a multiple of the unit (`fen`, `jiao`, `yuan` or a whole number \
         of yuan such as `10`), by the policy's rounding mode or the mode written (`half_up`, \
         `half_even`, `down`, `up`)",
    ),
    ("year", &["date"], "the year of a date, an `int`"),
    ("month", &["date"], "the month of a date, an `int` from 1 to 12"),
    ("day", &["date"], "the day of the month of a date, an `int` from 1 to 31"),
    (
        "years_between",
        &["from", "to"],
        "the whole years from `from` to `to`: how many anniversaries of `from` fall on or \
         before `to` (an age is `years_between(claim.birth, claim.date)`)",
    ),
];

/// The units `round` rounds to, with what each is.
pub const ROUND_UNITS: &[(&str, &str)] =
    &[("fen", "0.01 yuan"), ("jiao", "0.1 yuan"), ("yuan", "1 yuan")];

/// The modes `round` may name, with what each does.
pub const ROUND_MODES: &[(&str, &str)] = &[
    ("half_up", "to the nearest; a half away from zero"),
    ("half_even", "to the nearest; a half to the even neighbour"),
    ("down", "toward zero"),
    ("up", "away from zero"),
];

/// The call of a built-in function `name`: its signature as written and what it does.
pub fn builtin(name: &str) -> Option<(String, &'static str)> {
    let (name, params, doc) = SIGNATURES.iter().find(|(n, ..)| *n == name)?;
    Some((format!("{name}({})", params.join(", ")), doc))
}

/// The signature of the built-in function whose call encloses `offset`, if any.
pub fn signature_help(a: &Analysis, offset: usize) -> Option<SignatureHelp> {
    let (name, commas) = open_call(a.text(0), offset)?;
    let (name, params, doc) = SIGNATURES.iter().find(|(n, ..)| *n == name)?;
    let label = format!("{name}({})", params.join(", "));
    let parameters = params
        .iter()
        .map(|p| ParameterInformation {
            label: ParameterLabel::Simple((*p).to_string()),
            documentation: None,
        })
        .collect();
    let last = u32::try_from(params.len().saturating_sub(1)).unwrap_or(0);
    // `min` and `max` take any number of values: past the second, the `...` stays active.
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label,
            documentation: Some(Documentation::String((*doc).to_string())),
            parameters: Some(parameters),
            active_parameter: None,
        }],
        active_signature: Some(0),
        active_parameter: Some(commas.min(last)),
    })
}

/// The innermost call whose parentheses enclose `offset`: the name before its `(` and how many
/// of its commas come before `offset`.
pub fn open_call(text: &str, offset: usize) -> Option<(&str, u32)> {
    // The open calls before the cursor: (function name, commas so far), innermost last.
    let mut open: Vec<(Option<&str>, u32)> = Vec::new();
    let mut previous: Option<&str> = None;
    for tok in tokenize(text) {
        if tok.span.start as usize >= offset {
            break;
        }
        let word = text.get(tok.span.range()).unwrap_or("");
        match tok.kind {
            Some(Token::LParen) => open.push((previous, 0)),
            Some(Token::RParen) => {
                open.pop();
            }
            Some(Token::Comma) => {
                if let Some((_, commas)) = open.last_mut() {
                    *commas += 1;
                }
            }
            _ => {}
        }
        if !matches!(tok.kind, Some(Token::Space | Token::Newline | Token::LineComment)) {
            previous = (tok.kind == Some(Token::Ident)).then_some(word);
        }
    }
    let (name, commas) = open.last().copied()?;
    Some((name?, commas))
}
