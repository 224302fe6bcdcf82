//! Completion: after a dot, the owner's fields, outputs or variants; elsewhere the names in
//! scope, the variants (those of the enum the context expects first), the functions, and at
//! the start of a line the keywords; after `:` in a declaration, the types.

use lsp_types::{CompletionItem, CompletionItemKind};
use settle_lang::ide::index::{Decl, Kind, SymbolId};
use settle_lang::syntax::token::{Tok, Token, WordKind, tokenize, word_kind};

use super::analysis::Analysis;
use super::hover::detail;
use super::signature::{ROUND_MODES, ROUND_UNITS, open_call};

/// The functions of the language, with how they are called.
const FUNCTIONS: &[(&str, &str)] = &[
    ("min", "min(a, b, ...): the smallest"),
    ("max", "max(a, b, ...): the largest"),
    ("abs", "abs(a): the absolute value"),
    ("segmented", "segmented(scale, amount): each bracket's part at its rate, summed"),
    ("rate_at", "rate_at(scale, amount): the rate of the bracket holding the amount"),
    ("count", "count() or count(x for x in list where ...)"),
    ("sum", "sum(value) or sum(x.value for x in list where ...)"),
    ("any", "any(condition for x in list)"),
    ("all", "all(condition for x in list)"),
    ("round", "round(x, unit) or round(x, unit, mode): money rounded to a unit"),
    ("year", "year(d): the year of a date"),
    ("month", "month(d): the month of a date, 1 to 12"),
    ("day", "day(d): the day of a date's month, 1 to 31"),
    ("years_between", "years_between(from, to): the whole years between two dates"),
];

/// Words that begin an item or one of its lines.
const LINE_KEYWORDS: &[&str] = &[
    "policy",
    "extends",
    "year",
    "dated",
    "rounding",
    "enum",
    "record",
    "input",
    "yearly",
    "lifetime",
    "monthly",
    "quarterly",
    "param",
    "let",
    "rule",
    "stage",
    "balance",
    "test",
    "override",
    "source",
    "from",
    "default",
    "when",
    "expect",
];

const TYPES: &[&str] = &["money", "rate", "int", "bool", "date", "text"];

/// The completions at `offset` of the document, those starting with the word being typed.
pub fn completion(a: &Analysis, offset: usize) -> Vec<CompletionItem> {
    let text = a.text(0);
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = word_start(text, offset);
    let prefix = text.get(start..offset).unwrap_or("");
    let before = text.get(..start).unwrap_or("");
    let mut items = if before.ends_with('.') {
        after_dot(a, text, start.saturating_sub(1))
    } else if let Some(words) = contextual(text, start) {
        words
    } else {
        in_scope(a, text, start)
    };
    items.retain(|i| i.label.starts_with(prefix));
    items
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn word_start(text: &str, end: usize) -> usize {
    let before = text.get(..end).unwrap_or("");
    before.char_indices().rev().take_while(|(_, c)| is_word_char(*c)).last().map_or(end, |(i, _)| i)
}

/// The owner before the dot at `dot` (a chain such as `a.basic`), resolved, and its members.
fn after_dot(a: &Analysis, text: &str, dot: usize) -> Vec<CompletionItem> {
    let mut words: Vec<(usize, &str)> = Vec::new();
    let mut end = dot;
    loop {
        let start = word_start(text, end);
        if start == end {
            break;
        }
        words.insert(0, (start, text.get(start..end).unwrap_or("")));
        match text.get(..start) {
            Some(b) if b.ends_with('.') => end = start - 1,
            _ => break,
        }
    }
    let Some((&(start, first_word), rest)) = words.split_first() else { return Vec::new() };
    let owner = match a.index.at(0, start).filter(|o| o.span.start as usize == start) {
        Some(o) => Some(o.id),
        None => {
            let visible = a.index.visible(0, start).into_iter();
            visible.filter(|d| d.symbol.name() == first_word).map(|d| d.id).next()
        }
    };
    let mut members = match owner {
        Some(id) => Some(a.index.members_of(id)),
        // Any claim of a test has the same members, even one not indexed yet.
        None if is_test_claim(a, text, first_word) => Some(a.index.claim_members()),
        None => None,
    };
    for (_, word) in rest {
        members = members.and_then(|m| {
            m.iter().find(|d| d.symbol.name() == *word).map(|d| a.index.members_of(d.id))
        });
    }
    members.unwrap_or_default().into_iter().map(|d| item(a, d, "1")).collect()
}

/// Whether a test of the document has a claim labelled `label` (`claim a { ... }`), even in a
/// test that does not parse yet.
fn is_test_claim(a: &Analysis, text: &str, label: &str) -> bool {
    let Some(input) = a.index.input_name() else { return false };
    let words = significant(text, text.len());
    words.windows(3).any(|w| match w {
        [r, l, b] => {
            r.kind == Some(Token::Ident)
                && word(text, r) == input
                && word(text, l) == label
                && b.kind == Some(Token::LBrace)
        }
        _ => false,
    })
}

/// The tokens of `text` before `end`, without spaces and comments.
fn significant(text: &str, end: usize) -> Vec<Tok> {
    tokenize(text.get(..end).unwrap_or(""))
        .into_iter()
        .filter(|t| {
            !matches!(
                t.kind,
                Some(Token::Space | Token::Newline | Token::LineComment | Token::BlockComment(_))
            )
        })
        .collect()
}

fn word<'t>(text: &'t str, tok: &Tok) -> &'t str {
    text.get(tok.span.range()).unwrap_or("")
}

/// The names that can be written at `start`.
fn in_scope(a: &Analysis, text: &str, start: usize) -> Vec<CompletionItem> {
    let line_start = text.get(..start).and_then(|b| b.rfind('\n')).map_or(0, |i| i + 1);
    let at_line_start = text.get(line_start..start).is_some_and(|s| s.trim().is_empty());
    let tokens = significant(text, start);
    let previous = tokens.last().map(|t| (t.kind, word(text, t)));
    let in_test = current_item(text, &tokens) == Some("test");
    let mut items = Vec::new();
    let typing_type = match previous {
        Some((Some(Token::Colon), _)) => !in_test && !in_table(&tokens),
        Some((Some(Token::Ident), w)) => matches!(w, "by" | "of"),
        _ => false,
    };
    if typing_type {
        items.extend(TYPES.iter().map(|t| keyword(t, CompletionItemKind::KEYWORD, "type")));
        for d in &a.index.decls {
            if matches!(d.kind, Kind::Enum | Kind::Record) && !has(&items, d.symbol.name()) {
                items.push(item(a, d, "1"));
            }
        }
        return items;
    }
    let expected = expected_enum(a, text, &tokens, in_test);
    if at_line_start {
        items.extend(LINE_KEYWORDS.iter().map(|k| keyword(k, CompletionItemKind::KEYWORD, "")));
        if current_item(text, &tokens) == Some("rule") {
            let doc = "an arm taken only when no arm above applies";
            items.push(keyword("else when", CompletionItemKind::KEYWORD, doc));
        }
    }
    for d in a.index.visible(0, start) {
        items.push(item(a, d, "1"));
    }
    for d in &a.index.decls {
        if d.kind == Kind::Variant && !items.iter().any(|i| same_variant(i, a, d)) {
            let first = expected.contains(&d.id);
            items.push(item(a, d, if first { "0" } else { "2" }));
        }
    }
    items.extend(FUNCTIONS.iter().map(|(f, doc)| keyword(f, CompletionItemKind::FUNCTION, doc)));
    items
}

/// The words that alone fit at `start`, when the tokens before it ask for one of a few: a
/// unit or a mode in `round(`, `assumed` after a `from` date, `before` after a stage's name
/// and title, `days` or `months` after a count added to a date.
fn contextual(text: &str, start: usize) -> Option<Vec<CompletionItem>> {
    let kw = |(w, doc): &(&str, &str)| keyword(w, CompletionItemKind::KEYWORD, doc);
    match open_call(text, start) {
        Some(("round", 1)) => return Some(ROUND_UNITS.iter().map(kw).collect()),
        Some(("round", 2)) => return Some(ROUND_MODES.iter().map(kw).collect()),
        _ => {}
    }
    let tokens = significant(text, start);
    let kinds = |n: usize| tokens.iter().rev().take(n).map(|t| (t.kind, word(text, t)));
    let last: Vec<_> = kinds(3).collect();
    match last.as_slice() {
        [(Some(Token::Date), _), (Some(Token::Ident), "from"), ..] => {
            Some(vec![kw(&("assumed", "the date is not given by the source"))])
        }
        [(Some(Token::Ident), _), (Some(Token::Ident), "stage"), ..]
        | [(Some(Token::Str(true)), _), (Some(Token::Ident), _), (Some(Token::Ident), "stage")] => {
            Some(vec![kw(&("before", "runs before the stage named next"))])
        }
        [(Some(Token::Number), _), (Some(Token::Plus | Token::Minus), _), ..] => Some(vec![
            kw(&("days", "a number of calendar days")),
            kw(&("months", "a number of calendar months")),
        ]),
        _ => None,
    }
}

fn has(items: &[CompletionItem], label: &str) -> bool {
    items.iter().any(|i| i.label == label)
}

fn same_variant(i: &CompletionItem, a: &Analysis, d: &Decl) -> bool {
    i.label == d.symbol.name() && i.detail == detail(a, d)
}

/// The keyword of the item the tokens end in: the last item keyword standing first on its line.
fn current_item<'t>(text: &'t str, tokens: &[Tok]) -> Option<&'t str> {
    tokens.iter().enumerate().rev().find_map(|(i, t)| {
        let w = word(text, t);
        let first_on_line = match i.checked_sub(1).and_then(|p| tokens.get(p)) {
            Some(prev) => text.get(prev.span.end as usize..t.span.start as usize)?.contains('\n'),
            None => true,
        };
        (t.kind == Some(Token::Ident) && first_on_line && word_kind(w) == WordKind::Item)
            .then_some(w)
    })
}

/// Whether the tokens end inside an open `{`: a table, where `:` is followed by a value.
fn in_table(tokens: &[Tok]) -> bool {
    let mut depth = 0i32;
    for t in tokens.iter().rev() {
        match t.kind {
            Some(Token::RBrace) => depth += 1,
            Some(Token::LBrace) if depth == 0 => return true,
            Some(Token::LBrace) => depth -= 1,
            _ => {}
        }
    }
    false
}

/// The variants of the enum a value written here must belong to: after `x ==` or `x !=`, the
/// type of `x`; in a test, after `field:`, the field's type.
fn expected_enum(a: &Analysis, text: &str, tokens: &[Tok], in_test: bool) -> Vec<SymbolId> {
    expected_decl(a, text, tokens, in_test)
        .and_then(|decl| {
            // The type's name as its detail shows it, resolved among the enums.
            let ty = detail(a, decl)?;
            let enum_name = ty.split(' ').next()?;
            let mut enums = a.index.decls.iter().filter(|d| d.kind == Kind::Enum);
            let found = enums.find(|d| d.symbol.name() == enum_name)?;
            Some(a.index.members_of(found.id).iter().map(|v| v.id).collect())
        })
        .unwrap_or_default()
}

/// The declaration of the name before `==`, `!=` or (in a test) `:`.
fn expected_decl<'a>(
    a: &'a Analysis,
    text: &str,
    tokens: &[Tok],
    in_test: bool,
) -> Option<&'a Decl> {
    let (last, before) = tokens.split_last()?;
    match last.kind {
        Some(Token::Compare) if matches!(word(text, last), "==" | "!=") => {
            let name = before.last().filter(|t| t.kind == Some(Token::Ident))?;
            let start = name.span.start as usize;
            let id = a.index.at(0, start).filter(|o| o.span == name.span)?.id;
            a.index.declarations_of(id).next()
        }
        Some(Token::Colon) if in_test => {
            // A field of the input, by the name written before the colon.
            let name = before.last().filter(|t| t.kind == Some(Token::Ident))?;
            let fields = a.index.members_of(a.index.input()?);
            fields.into_iter().find(|d| d.symbol.name() == word(text, name))
        }
        _ => None,
    }
}

fn item(a: &Analysis, d: &Decl, rank: &str) -> CompletionItem {
    CompletionItem {
        label: d.symbol.name().to_string(),
        kind: Some(completion_kind(d.kind)),
        detail: detail(a, d),
        sort_text: Some(format!("{rank}{}", d.symbol.name())),
        ..CompletionItem::default()
    }
}

fn keyword(label: &str, kind: CompletionItemKind, doc: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: (!doc.is_empty()).then(|| doc.to_string()),
        sort_text: Some(format!("3{label}")),
        ..CompletionItem::default()
    }
}

fn completion_kind(kind: Kind) -> CompletionItemKind {
    match kind {
        Kind::Enum => CompletionItemKind::ENUM,
        Kind::Variant => CompletionItemKind::ENUM_MEMBER,
        Kind::Record | Kind::Input => CompletionItemKind::STRUCT,
        Kind::Field | Kind::Output => CompletionItemKind::FIELD,
        Kind::Param => CompletionItemKind::CONSTANT,
        Kind::Rule => CompletionItemKind::VALUE,
        Kind::Stage => CompletionItemKind::MODULE,
        Kind::Let | Kind::Yearly | Kind::Local | Kind::Binding | Kind::Claim => {
            CompletionItemKind::VARIABLE
        }
    }
}
