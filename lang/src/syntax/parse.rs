//! From source text to a [`Module`]: the pest grammar, item by item, with recovery.
//!
//! The file is parsed one top-level item at a time. When an item fails, the error is reported
//! and parsing resumes at the next line that starts an item in the first column, so one run
//! reports a syntax error in every broken item, not just the first.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::OnceLock;

use pest::Parser;
use pest::error::InputLocation;
use pest::iterators::{Pair, Pairs};
use pest_derive::Parser;
use rust_decimal::Decimal;

use super::token::{Tok, Token, WordKind, check_tokens, tokenize, word_kind};
use crate::ast::*;
use crate::date::{Date, DateUnit, valid_month_day};
use crate::diagnostic::{Code, FileId, Problem};
use crate::limits::{MONEY_LIMIT_TEXT, MONEY_LIMIT_YUAN, RATE_LIMIT, RATE_LIMIT_TEXT};
use crate::span::Span;

mod period;

/// The largest policy file accepted, in bytes.
pub const MAX_FILE_SIZE: usize = 4 << 20;

#[derive(Parser)]
#[grammar = "syntax/settle.pest"]
struct SettleParser;

/// Parse a policy file. Problems found are appended to `problems`; the module holds every item
/// that parsed.
pub fn parse(source: &str, file: FileId, problems: &mut Vec<Problem>) -> Module {
    if source.len() > MAX_FILE_SIZE {
        problems.push(
            Problem::error(
                Code::SyntaxTooLarge,
                file,
                Span::new(0, 0),
                format!("policy file is too large ({} bytes)", source.len()),
            )
            .label("the file starts here")
            .help(format!(
                "a policy file may hold at most {} MiB; split it with `extends`",
                MAX_FILE_SIZE >> 20
            )),
        );
        return Module::default();
    }
    let tokens = tokenize(source);
    let lexical_start = problems.len();
    if !check_tokens(source, &tokens, file, problems) {
        return Module::default();
    }
    let lexical: Vec<Span> =
        problems.get(lexical_start..).unwrap_or(&[]).iter().map(Problem::span).collect();
    let chunks = chunks(source, &tokens);
    let parts: Vec<Part> = if chunks.len() > 1 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(from, to)| {
                    let tokens = &tokens;
                    std::thread::Builder::new()
                        .stack_size(PARSE_STACK)
                        .spawn_scoped(scope, move || parse_range(source, tokens, file, from, to))
                })
                .collect();
            handles
                .into_iter()
                .zip(&chunks)
                .map(|(h, &(from, to))| match h {
                    Ok(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    Err(_) => parse_range(source, &tokens, file, from, to),
                })
                .collect()
        })
    } else {
        vec![parse_range(source, &tokens, file, 0, source.len())]
    };
    let mut items = Vec::new();
    let mut broken = Vec::new();
    for part in parts {
        items.extend(part.items);
        problems.extend(part.problems);
        for failure in part.failures {
            let item_span = Span::new(failure.pos, failure.resume);
            broken.push(broken_item(source, &tokens, item_span));
            if lexical.iter().any(|s| s.start >= item_span.start && s.start < item_span.end) {
                continue;
            }
            problems.push(syntax_error(source, &tokens, file, &failure));
        }
    }
    Module { items, broken }
}

/// The stack of each parsing thread: as deep as the checker's own.
const PARSE_STACK: usize = 64 << 20;

/// Files larger than this are parsed in chunks on several threads.
const PARALLEL_FROM: usize = 16 << 10;

/// Ranges of the file to parse independently: split before items that start a line at bracket
/// depth 0, one range per available core, for large files only.
fn chunks(source: &str, tokens: &[Tok]) -> Vec<(usize, usize)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if source.len() < PARALLEL_FROM || threads < 2 {
        return vec![(0, source.len())];
    }
    let target = source.len() / threads;
    let mut cuts = vec![0];
    let mut depth = 0usize;
    let mut line_start = true;
    for t in tokens {
        let start = t.span.start as usize;
        if line_start
            && depth == 0
            && t.kind == Some(Token::Ident)
            && word_kind(source.get(t.span.range()).unwrap_or("")) == WordKind::Item
            && start >= cuts.last().copied().unwrap_or(0) + target
            && cuts.len() < threads
        {
            cuts.push(start);
        }
        match t.kind {
            Some(Token::LBrace | Token::LParen | Token::LBracket) => depth += 1,
            Some(Token::RBrace | Token::RParen | Token::RBracket) => {
                depth = depth.saturating_sub(1)
            }
            _ => {}
        }
        line_start = t.kind == Some(Token::Newline);
    }
    let mut ranges: Vec<(usize, usize)> =
        cuts.iter().zip(cuts.iter().skip(1)).map(|(a, b)| (*a, *b)).collect();
    ranges.push((cuts.last().copied().unwrap_or(0), source.len()));
    ranges
}

/// What one range of the file parsed to.
struct Part {
    items: Vec<Item>,
    problems: Vec<Problem>,
    failures: Vec<Failure>,
}

/// An item that did not parse: where it starts, where the error is, where parsing resumed, and
/// the named rules pest tried where it failed.
struct Failure {
    pos: usize,
    at: usize,
    resume: usize,
    positives: Vec<Rule>,
}

/// Parse the items that start in `from..to`.
fn parse_range(source: &str, tokens: &[Tok], file: FileId, from: usize, to: usize) -> Part {
    let builder = Builder { file, problems: RefCell::new(Vec::new()), source, tokens };
    let mut items = Vec::new();
    let mut failures = Vec::new();
    let mut pos = from;
    // An item belongs to the range it starts in: after an item, the spaces and comments up to
    // the next one are skipped before asking whether it starts before `to` (else the next
    // range's first item would be parsed here too).
    while next_code(tokens, pos).is_some_and(|start| start < to) {
        let rest = source.get(pos..).unwrap_or("");
        match SettleParser::parse(Rule::item_alone, rest) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pos + pair.as_span().end();
                if let Some(item) = builder.item(pair, pos) {
                    items.push(item);
                }
                if end <= pos {
                    break;
                }
                pos = end;
            }
            Err(error) => {
                let at = pos
                    + match error.location {
                        InputLocation::Pos(p) => p,
                        InputLocation::Span((p, _)) => p,
                    };
                let resume = next_item_start(source, tokens, at.max(pos + 1));
                let positives = match error.variant {
                    pest::error::ErrorVariant::ParsingError { positives, .. } => positives,
                    pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
                };
                failures.push(Failure { pos, at, resume, positives });
                if resume <= pos {
                    break;
                }
                pos = resume;
            }
        }
    }
    Part { items, problems: builder.problems.into_inner(), failures }
}

/// The keyword and name of an item that did not parse, such as (`rule`, `due`).
fn broken_item(source: &str, tokens: &[Tok], span: Span) -> Broken {
    let mut words = tokens
        .iter()
        .filter(|t| {
            t.span.start >= span.start && t.span.end <= span.end && t.kind == Some(Token::Ident)
        })
        .map(|t| source.get(t.span.range()).unwrap_or("").to_string())
        .filter(|w| w != "override");
    let keyword = words.next().unwrap_or_default();
    let name = words.next();
    Broken { keyword, name, span }
}

/// Where the first token after byte `pos` that is not a space, line end or comment starts;
/// `None` when only those follow.
fn next_code(tokens: &[Tok], pos: usize) -> Option<usize> {
    let first = tokens.partition_point(|t| (t.span.end as usize) <= pos);
    tokens
        .get(first..)
        .unwrap_or(&[])
        .iter()
        .find(|t| {
            !matches!(
                t.kind,
                Some(
                    Token::Space | Token::Newline | Token::LineComment | Token::BlockComment(true)
                )
            )
        })
        .map(|t| (t.span.start as usize).max(pos))
}

/// The byte offset of the next line after `from` whose first token, in the first column, starts
/// an item; the end of the file if none does.
fn next_item_start(source: &str, tokens: &[Tok], from: usize) -> usize {
    let mut line_start = false;
    for tok in tokens {
        if (tok.span.start as usize) < from {
            line_start = tok.kind == Some(Token::Newline);
            continue;
        }
        if line_start
            && tok.kind == Some(Token::Ident)
            && word_kind(source.get(tok.span.range()).unwrap_or("")) == WordKind::Item
        {
            return tok.span.start as usize;
        }
        line_start = tok.kind == Some(Token::Newline);
    }
    source.len()
}

fn syntax_error(source: &str, tokens: &[Tok], file: FileId, failure: &Failure) -> Problem {
    let (item_start, at) = (failure.pos, failure.at);
    let found_tok = tokens.iter().find(|t| {
        t.span.start as usize >= at
            && !matches!(t.kind, Some(Token::Space | Token::Newline | Token::LineComment))
    });
    let (found, span) = match found_tok {
        Some(t) => {
            let text = source.get(t.span.range()).unwrap_or("");
            let shown: String = text.chars().take(24).collect();
            (format!("`{}`", shown.escape_debug()), t.span)
        }
        None => ("the end of the file".to_string(), Span::new(source.len(), source.len())),
    };
    let mut expected = describe_expected(source, failure);
    let found_word = found_tok.and_then(|t| source.get(t.span.range())).unwrap_or("");
    let mut help = item_help(source, tokens, item_start);
    let starts_line = found_tok.is_some_and(|t| {
        source
            .get(..t.span.start as usize)
            .is_none_or(|before| before.is_empty() || before.ends_with('\n'))
    });
    if starts_line
        && found_tok.is_some_and(|t| t.kind == Some(Token::Ident))
        && word_kind(found_word) == WordKind::Item
    {
        help = format!(
            "`{found_word}` starts a new item, but the one above is not finished: is a closing `}}` or `)` missing?"
        );
    } else if found_word == "=" && expected.iter().any(|e| e == "`==`") {
        help = "to compare two values write `==`; a single `=` gives a value a name".to_string();
    } else if is_reserved(found_word) && expected.iter().any(|e| e == "a name") {
        help = format!("`{found_word}` is a reserved word; choose another name");
    }
    if expected.is_empty() {
        expected.push("something else".to_string());
    }
    let message = format!("expected {}, found {found}", join_or(&expected));
    Problem::error(Code::SyntaxUnexpected, file, span, message)
        .label(format!("expected {} here", join_or(&expected)))
        .help(help)
}

fn is_reserved(word: &str) -> bool {
    SettleParser::parse(Rule::ident, word).map_or(!word.is_empty(), |p| p.as_str() != word)
        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What the grammar accepts where an item failed, in words.
///
/// pest names the rules it tried ([`Failure::positives`]), keywords included, but not the
/// punctuation the grammar writes as bare strings. That comes from [`accepted_punctuation`],
/// which asks the grammar itself. pest's process-wide error-detail switch is never touched, so
/// checks running at the same time cannot disturb each other's messages.
fn describe_expected(source: &str, failure: &Failure) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    fn push(out: &mut Vec<String>, s: String) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    let mut operators = false;
    let names = failure.positives.contains(&Rule::ident);
    for rule in &failure.positives {
        let name = format!("{rule:?}");
        match (name.strip_prefix("k_"), describe_rule(*rule)) {
            (Some("and" | "or" | "in"), _) | (_, Some(Described::Operator)) => operators = true,
            // A word such as `by` or `list` is a keyword only where it stands: where a name
            // is expected, it would be read as that name.
            (Some(word), _) if names && !is_reserved(word) => {}
            (Some(word), _) => push(&mut out, format!("`{word}`")),
            (None, Some(Described::Text(s))) => push(&mut out, s.to_string()),
            (None, None) => {}
        }
    }
    for text in accepted_punctuation(source, failure.pos, failure.at) {
        // `.` and `[` after a value are the `member` and `index` operators.
        if !matches!(text, "." | "[") {
            push(&mut out, format!("`{text}`"));
        }
    }
    // `==` may stand wherever an infix operator may.
    if failure.positives.contains(&Rule::infix) {
        push(&mut out, "`==`".to_string());
    }
    if out.len() > 1 {
        // A call's `(` is possible after any name, and rarely what was meant.
        out.retain(|e| e != "`(`");
    }
    if out.len() > 5 {
        out.truncate(5);
    }
    if operators && out.len() < 5 {
        push(&mut out, "an operator".to_string());
    }
    out
}

/// The punctuation of the grammar that may stand at `at`, in the item that starts at
/// `item_start`: each candidate is put at `at` and the item parsed again; a candidate is
/// accepted when the parse gets past it. Only failing items pay for this.
fn accepted_punctuation(source: &str, item_start: usize, at: usize) -> Vec<&'static str> {
    let Some(before) = source.get(item_start..at) else { return Vec::new() };
    let mut probe = String::with_capacity(before.len() + 4);
    grammar_punctuation()
        .iter()
        .copied()
        .filter(|word| {
            probe.clear();
            probe.push_str(before);
            probe.push_str(word);
            probe.push(' ');
            match SettleParser::parse(Rule::item_alone, &probe) {
                Ok(_) => true,
                Err(e) => {
                    let reached = match e.location {
                        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
                    };
                    reached >= before.len() + word.len()
                }
            }
        })
        .collect()
}

/// The punctuation written as bare strings in the grammar's rules, read from the grammar once.
/// Left out: atomic and silent rules (comments, escapes, the characters of literals), and rules
/// that are one string, such as `eq = { "==" }`, which pest names itself.
fn grammar_punctuation() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let grammar: &'static str = include_str!("settle.pest");
        let mut words: Vec<&'static str> = Vec::new();
        // Inside an atomic or silent rule written over several lines, up to its closing `}`.
        let mut skipping = false;
        for line in grammar.lines() {
            let line = line.split("//").next().unwrap_or("");
            if skipping {
                skipping = line.trim() != "}";
                continue;
            }
            if line.contains("@{") || line.contains("_{") {
                skipping = !line.trim_end().ends_with('}');
                continue;
            }
            let pieces: Vec<&'static str> = line.split('"').collect();
            let one_string = pieces.len() == 3
                && pieces.first().is_some_and(|p| p.trim_end().ends_with('{'))
                && pieces.get(2).is_some_and(|p| p.trim() == "}");
            if one_string {
                continue;
            }
            for (i, piece) in pieces.into_iter().enumerate() {
                if i % 2 == 1
                    && !piece.is_empty()
                    && piece.chars().all(|c| c.is_ascii_punctuation())
                {
                    words.push(piece);
                }
            }
        }
        words.sort_unstable();
        words.dedup();
        words
    })
}

enum Described {
    Text(&'static str),
    Operator,
}

fn describe_rule(rule: Rule) -> Option<Described> {
    use Described::{Operator, Text};
    Some(match rule {
        Rule::expr
        | Rule::primary
        | Rule::paren
        | Rule::if_expr
        | Rule::call
        | Rule::set_lit
        | Rule::neg
        | Rule::not
        | Rule::percent
        | Rule::number
        | Rule::boolean => Text("an expression"),
        Rule::ident => Text("a name"),
        Rule::dotted_name => Text("a policy name"),
        Rule::string => Text("a string"),
        Rule::date => Text("a date like `2023-05-01`"),
        Rule::month_day => Text("a month and day like `01-01`"),
        Rule::type_expr | Rule::list_type | Rule::param_type | Rule::scale_type => Text("a type"),
        Rule::value | Rule::table_value | Rule::scale_value | Rule::scalar => Text("a value"),
        Rule::policy_decl
        | Rule::extends_decl
        | Rule::year_decl
        | Rule::dated_decl
        | Rule::rounding_decl
        | Rule::enum_decl
        | Rule::record_decl
        | Rule::input_decl
        | Rule::input_add
        | Rule::yearly_decl
        | Rule::param_decl
        | Rule::param_add
        | Rule::let_decl
        | Rule::rule_decl
        | Rule::stage_decl
        | Rule::balance_decl
        | Rule::test_decl => Text("an item such as `param`, `rule` or `stage`"),
        Rule::source => Text("`source`"),
        Rule::exception => Text("`when`"),
        Rule::default_arm => Text("`default`"),
        Rule::dated_value => Text("`from`"),
        Rule::test_claim => Text("a claim"),
        Rule::expect => Text("`expect`"),
        Rule::where_clause => Text("`where`"),
        Rule::table_entry | Rule::wildcard => Text("a key such as `level1: 450`"),
        Rule::bracket => Text("a bracket such as `0 .. 100_000: 60%`"),
        Rule::bound => Text("a bound: an amount or a money parameter"),
        Rule::variant => Text("a variant"),
        Rule::field => Text("a field `name: type`"),
        Rule::output_decl => Text("an output `name: type`"),
        Rule::stage_let | Rule::assign => Text("a `let` or an output `name = ...`"),
        Rule::field_init => Text("a field `name: value`"),
        Rule::record_lit | Rule::list_lit => Text("a value"),
        Rule::assumed => Text("`assumed`"),
        Rule::infix | Rule::member | Rule::index | Rule::duration => Operator,
        _ => return None,
    })
}

fn item_help(source: &str, tokens: &[Tok], item_start: usize) -> String {
    let word = tokens
        .iter()
        .find(|t| t.span.start as usize >= item_start && t.kind == Some(Token::Ident))
        .and_then(|t| source.get(t.span.range()))
        .unwrap_or("");
    match word {
        "policy" => "a policy starts with `policy name.of.policy`",
        "year" => "write the start of the medical year as `year starts 01-01`",
        "dated" => "name the date field that decides the parameters: `dated by claim.date`",
        "enum" => "an enum lists its variants in braces: `enum Level { level1, level2 }`",
        "input" | "record" => "declare fields as `name: type`, one per line, inside braces",
        "yearly" | "lifetime" | "monthly" | "quarterly" | "rolling" | "episode" => {
            "an accumulator reads `yearly name = sum(stage.output) where condition` (or `lifetime ...`)"
        }
        "param" => {
            "a parameter reads `param name: type = value` or has dated lines \
             `from 2021-07-01 value`; tables are `{ key: value }`, scales `{ 0 .. 100: 50% }`"
        }
        "let" => "a `let` reads `let name = expression`",
        "rule" => "a rule reads `rule name: type`, then `default value`, then lines `when condition -> value`",
        "stage" => "a stage reads `stage name (output: type) { output = expression }`",
        "balance" => "write `balance claim.total = stage.pay + ... + patient.out_of_pocket`",
        "test" => "a test holds claims `claim a { field: value }` and lines `expect a.stage.output == value`",
        "override" => "`override` comes before a `param`, `let`, `rule` or `stage` of the base policy",
        _ => "each item starts on its own line with `policy`, `enum`, `input`, `param`, `let`, `rule`, `stage`, `balance` or `test`",
    }
    .to_string()
}

/// How tightly an operator binds, loosest first: `or`, `and`, `not`, the comparisons and `in`,
/// `+` and `-`, `*` and `/`, the sign, then `.`, `[...]` and `days` after an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    None,
    Or,
    And,
    Not,
    Comparison,
    Sum,
    Product,
    Negation,
    Postfix,
}

/// The operator an `infix` pair's text writes, and its precedence.
fn infix_op(text: &str) -> (BinaryOp, Precedence) {
    use Precedence::{And, Comparison, Or, Product, Sum};
    match text {
        "or" => (BinaryOp::Or, Or),
        "and" => (BinaryOp::And, And),
        "==" => (BinaryOp::Eq, Comparison),
        "!=" => (BinaryOp::Ne, Comparison),
        "<" => (BinaryOp::Lt, Comparison),
        "<=" => (BinaryOp::Le, Comparison),
        ">" => (BinaryOp::Gt, Comparison),
        ">=" => (BinaryOp::Ge, Comparison),
        "in" => (BinaryOp::In, Comparison),
        "+" => (BinaryOp::Add, Sum),
        "-" => (BinaryOp::Sub, Sum),
        "*" => (BinaryOp::Mul, Product),
        _ => (BinaryOp::Div, Product),
    }
}

/// Turns pest pairs into AST nodes, offsetting spans by where the item's slice starts.
struct Builder<'t> {
    file: FileId,
    problems: RefCell<Vec<Problem>>,
    /// The file's text and tokens, to trim trailing spaces and comments off spans.
    source: &'t str,
    tokens: &'t [Tok],
}

type P<'i> = Pair<'i, Rule>;

/// The children of a pair, keywords left out.
type Kids<'i> = std::iter::Filter<Pairs<'i, Rule>, fn(&P<'i>) -> bool>;

fn kids(pair: P<'_>) -> Kids<'_> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::k_policy
            | Rule::k_extends
            | Rule::k_year
            | Rule::k_starts
            | Rule::k_dated
            | Rule::k_by
            | Rule::k_rounding
            | Rule::k_enum
            | Rule::k_record
            | Rule::k_input
            | Rule::k_list
            | Rule::k_of
            | Rule::k_yearly
            | Rule::k_lifetime
            | Rule::k_monthly
            | Rule::k_quarterly
            | Rule::k_rolling
            | Rule::k_episode
            | Rule::k_after
            | Rule::k_param
            | Rule::k_scale
            | Rule::k_from
            | Rule::k_assumed
            | Rule::k_let
            | Rule::k_rule
            | Rule::k_default
            | Rule::k_when
            | Rule::k_stage
            | Rule::k_balance
            | Rule::k_before
            | Rule::k_test
            | Rule::k_expect
            | Rule::k_source
            | Rule::k_override
            | Rule::k_where
            | Rule::k_not
            | Rule::k_or
            | Rule::k_and
            | Rule::k_in
            | Rule::k_for
            | Rule::k_if
            | Rule::k_then
            | Rule::k_else
            | Rule::k_true
            | Rule::k_false
            | Rule::k_period
            | Rule::k_case
            | Rule::k_table
    )
}

impl Builder<'_> {
    /// The span of a pair, without the spaces and comments pest leaves at its end.
    fn span(&self, pair: &P<'_>, base: usize) -> Span {
        let s = pair.as_span();
        let (start, end) = (base + s.start(), base + s.end());
        // Most pairs end on their last token: a last byte that is ASCII and neither a space nor
        // the `/` that closes a block comment ends a token of code (a line comment is followed
        // by its line feed, unless it ends the file).
        let last_byte = self.source.as_bytes().get(end.wrapping_sub(1)).copied();
        if end > start
            && end < self.source.len()
            && last_byte.is_some_and(|b| b.is_ascii() && !b" \t\r\n/".contains(&b))
        {
            return Span::new(start, end);
        }
        let last = self.tokens.partition_point(|t| (t.span.start as usize) < end);
        let trimmed = self
            .tokens
            .get(..last)
            .unwrap_or(&[])
            .iter()
            .rev()
            .take_while(|t| t.span.start as usize >= start)
            .find(|t| {
                !matches!(
                    t.kind,
                    Some(
                        Token::Space | Token::Newline | Token::LineComment | Token::BlockComment(_)
                    )
                )
            })
            .map_or(end, |t| (t.span.end as usize).min(end));
        Span::new(start, trimmed)
    }

    fn report(&self, problem: Problem) {
        self.problems.borrow_mut().push(problem);
    }

    fn item(&self, pair: P<'_>, base: usize) -> Option<Item> {
        let span = self.span(&pair, base);
        let rule = pair.as_rule();
        let window = match pair.clone().into_inner().next().map(|k| k.as_rule()) {
            Some(Rule::k_lifetime) => Window::Lifetime,
            Some(Rule::k_monthly) => Window::Month,
            Some(Rule::k_quarterly) => Window::Quarter,
            _ => Window::Year,
        };
        let mut inner = kids(pair);
        Some(match rule {
            Rule::policy_decl => {
                let name = inner.next()?;
                Item::Policy {
                    name: self.ident(name, base),
                    title: inner.next().map(|p| self.text(p, base)),
                    span,
                }
            }
            Rule::extends_decl => Item::Extends { path: self.text(inner.next()?, base), span },
            Rule::year_decl => {
                let md = inner.next()?;
                let md_span = self.span(&md, base);
                let text = md.as_str();
                let month = text.get(0..2).and_then(|m| m.parse().ok()).unwrap_or(0);
                let day = text.get(3..5).and_then(|d| d.parse().ok()).unwrap_or(0);
                if !valid_month_day(month, day) {
                    self.report(
                        Problem::error(
                            Code::SyntaxBadDate,
                            self.file,
                            md_span,
                            format!("`{text}` is not a day of the year"),
                        )
                        .label("month and day out of range")
                        .help("write the month then the day, as in `01-01` or `07-01`"),
                    );
                }
                Item::YearStart { month, day, span }
            }
            Rule::dated_decl => Item::DatedBy { field: self.expr(inner.next()?, base), span },
            Rule::rounding_decl => Item::Rounding { mode: self.ident(inner.next()?, base), span },
            Rule::enum_decl => {
                let name = self.ident(inner.next()?, base);
                let variants = inner
                    .filter_map(|v| {
                        let mut vi = kids(v);
                        let id = self.ident(vi.next()?, base);
                        Some((id, vi.next().map(|t| self.text(t, base))))
                    })
                    .collect();
                Item::Enum(EnumDecl { name, variants, span })
            }
            Rule::record_decl | Rule::input_decl => {
                let name = self.ident(inner.next()?, base);
                let fields = inner.filter_map(|f| self.field(f, base)).collect();
                let decl = RecordDecl { name, fields, span };
                if rule == Rule::input_decl { Item::Input(decl) } else { Item::Record(decl) }
            }
            Rule::input_add => {
                let name = self.ident(inner.next()?, base);
                let fields = inner.filter_map(|f| self.field(f, base)).collect();
                Item::InputAdd(RecordDecl { name, fields, span })
            }
            Rule::yearly_decl => {
                let mut inner = inner.peekable();
                let (window, length) = match inner.next_if(|p| p.as_rule() == Rule::window_head) {
                    Some(head) => self.window_head(head, base)?,
                    None => (window, None),
                };
                let group = inner
                    .next_if(|p| p.as_rule() == Rule::group_key)
                    .and_then(|key| kids(key).next().map(|e| self.expr(e, base)));
                let name = self.ident(inner.next()?, base);
                let mut ty = None;
                let mut fold = None;
                let mut filter = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::type_ann => ty = self.type_ann(p, base),
                        Rule::expr => fold = Some(self.expr(p, base)),
                        Rule::where_clause => filter = self.where_clause(p, base),
                        _ => {}
                    }
                }
                Item::Yearly(YearlyDecl {
                    name,
                    window,
                    length,
                    group,
                    ty,
                    fold: fold?,
                    filter,
                    span,
                })
            }
            Rule::param_decl => Item::Param(self.param(inner, base, span)?),
            Rule::param_add => {
                let name = self.ident(inner.next()?, base);
                let versions = inner.map(|d| self.dated_version(d, base)).collect::<Option<_>>()?;
                Item::ParamAdd(ParamAddDecl { name, versions, span })
            }
            Rule::let_decl => Item::Let(self.let_decl(inner, base, span)?),
            Rule::rule_decl => Item::Rule(self.rule(inner, base, span)?),
            Rule::stage_decl => Item::Stage(self.stage(inner, base, span)?),
            Rule::balance_decl => {
                let total = self.expr(inner.next()?, base);
                let parts = self.expr(inner.next()?, base);
                Item::Balance { total, parts, span }
            }
            Rule::test_decl => Item::Test(self.test(inner, base, span)?),
            Rule::period_decl | Rule::case_decl | Rule::table_decl => {
                Item::Period(self.period_item(rule, inner, base, span)?)
            }
            _ => return None,
        })
    }

    fn ident(&self, pair: P<'_>, base: usize) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair, base) }
    }

    fn text(&self, pair: P<'_>, base: usize) -> Text {
        let raw = pair.as_str();
        let body = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let mut value = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(other) => value.push(other),
                    None => {}
                }
            } else {
                value.push(c);
            }
        }
        Text { value, span: self.span(&pair, base) }
    }

    fn field(&self, pair: P<'_>, base: usize) -> Option<FieldDecl> {
        let mut inner = kids(pair);
        let name = self.ident(inner.next()?, base);
        let ty = self.type_expr(inner.next()?, base)?;
        let doc = inner.next().map(|t| self.text(t, base));
        Some(FieldDecl { name, ty, doc })
    }

    fn type_expr(&self, pair: P<'_>, base: usize) -> Option<TypeExpr> {
        let inner = kids(pair).next()?;
        Some(match inner.as_rule() {
            Rule::list_type => {
                let span = self.span(&inner, base);
                TypeExpr::List(self.ident(kids(inner).next()?, base), span)
            }
            _ => TypeExpr::Named(self.ident(inner, base)),
        })
    }

    fn type_ann(&self, pair: P<'_>, base: usize) -> Option<TypeExpr> {
        self.type_expr(kids(pair).next()?, base)
    }

    /// `rolling 12 months` or `episode 60 days after claim.discharged`: the window as far as
    /// the words say (an unknown unit read as days), and the length as written for the checker.
    fn window_head(&self, pair: P<'_>, base: usize) -> Option<(Window, Option<WindowLength>)> {
        let episode =
            pair.clone().into_inner().next().map(|k| k.as_rule()) == Some(Rule::k_episode);
        let mut inner = kids(pair);
        let number = inner.next()?;
        let count = number.as_str().replace('_', "").parse::<u32>().ok();
        let count_span = self.span(&number, base);
        let unit = self.ident(inner.next()?, base);
        let end = inner.next().map(|p| self.ident(p, base));
        let n = count.unwrap_or(0);
        let window = if episode {
            Window::Episode { gap: n, end: None }
        } else {
            let unit = if matches!(unit.name.as_str(), "month" | "months") {
                DateUnit::Months
            } else {
                DateUnit::Days
            };
            Window::Rolling { length: n, unit }
        };
        Some((window, Some(WindowLength { count, count_span, unit, end })))
    }

    fn where_clause(&self, pair: P<'_>, base: usize) -> Option<Expr> {
        Some(self.expr(kids(pair).next()?, base))
    }

    fn sources<'i>(
        &self,
        pairs: &mut std::iter::Peekable<impl Iterator<Item = P<'i>>>,
        base: usize,
    ) -> Vec<Text> {
        let mut out = Vec::new();
        while let Some(p) = pairs.next_if(|p| p.as_rule() == Rule::source) {
            if let Some(s) = kids(p).next() {
                out.push(self.text(s, base));
            }
        }
        out
    }

    fn param(&self, inner: Kids<'_>, base: usize, span: Span) -> Option<ParamDecl> {
        let mut inner = inner.peekable();
        let overrides = inner.next_if(|p| p.as_rule() == Rule::override_kw).is_some();
        let name = self.ident(inner.next()?, base);
        let ty_pair = inner.next()?;
        let mut ty_inner = kids(ty_pair);
        let first = ty_inner.next()?;
        let ty = if first.as_rule() == Rule::scale_type {
            let span = self.span(&first, base);
            ParamType::Scale { span, by: kids(first).next().map(|k| self.ident(k, base)) }
        } else {
            ParamType::Value {
                ty: self.type_expr(first, base)?,
                keys: ty_inner.map(|k| self.ident(k, base)).collect(),
            }
        };
        let sources = self.sources(&mut inner, base);
        let body = inner.next()?;
        let body_span = self.span(&body, base);
        let mut body = kids(body).peekable();
        let mut versions = Vec::new();
        if body.peek().map(Pair::as_rule) == Some(Rule::value) {
            let value = self.value(body.next()?, base)?;
            let sources = self.sources(&mut body, base);
            versions.push(Version {
                from: None,
                from_assumed: false,
                value,
                sources,
                span: body_span,
            });
        } else {
            for dated in body {
                versions.push(self.dated_version(dated, base)?);
            }
        }
        Some(ParamDecl { overrides, name, ty, sources, versions, span })
    }

    /// `from 2021-07-01 assumed VALUE source "..."`
    fn dated_version(&self, dated: P<'_>, base: usize) -> Option<Version> {
        let span = self.span(&dated, base);
        let mut d = kids(dated).peekable();
        let date_pair = d.next()?;
        let date = self.date(&date_pair, base);
        let from_assumed = d.next_if(|p| p.as_rule() == Rule::assumed).is_some();
        let value = self.value(d.next()?, base)?;
        let sources = self.sources(&mut d, base);
        Some(Version {
            from: date.map(|x| (x, self.span(&date_pair, base))),
            from_assumed,
            value,
            sources,
            span,
        })
    }

    fn value(&self, pair: P<'_>, base: usize) -> Option<Value> {
        let inner = kids(pair).next()?;
        let span = self.span(&inner, base);
        Some(match inner.as_rule() {
            Rule::table_value => Value::Table {
                entries: inner
                    .into_inner()
                    .filter_map(|e| {
                        let mut ei = kids(e);
                        let key = ei.next()?;
                        let key_span = self.span(&key, base);
                        let key = (key.as_rule() == Rule::ident).then(|| self.ident(key, base));
                        Some(TableEntry { key, key_span, value: self.value(ei.next()?, base)? })
                    })
                    .collect(),
                span,
            },
            Rule::scale_value => Value::Scale {
                brackets: kids(inner).filter_map(|b| self.bracket(b, base)).collect(),
                span,
            },
            _ => Value::Scalar(self.scalar(inner, base)?),
        })
    }

    fn bracket(&self, pair: P<'_>, base: usize) -> Option<Bracket> {
        let span = self.span(&pair, base);
        let mut inner = kids(pair);
        let lower = self.bound(inner.next()?, base)?;
        let next = inner.next()?;
        let (upper, rate) = if next.as_rule() == Rule::bound {
            (Some(self.bound(next, base)?), inner.next()?)
        } else {
            (None, next)
        };
        Some(Bracket { lower, upper, rate: self.scalar(rate, base)?, span })
    }

    fn scalar(&self, pair: P<'_>, base: usize) -> Option<Scalar> {
        let span = self.span(&pair, base);
        let mut negative = false;
        let mut lit = None;
        let mut assumed = false;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::neg => negative = true,
                Rule::assumed => assumed = true,
                _ => lit = Some(self.literal(&p, base)?),
            }
        }
        let mut lit = lit?;
        if negative {
            match &mut lit {
                Literal::Number { value, .. } | Literal::Percent(value) => *value = -*value,
                _ => {}
            }
        }
        Some(Scalar { lit, assumed, span })
    }

    fn bound(&self, pair: P<'_>, base: usize) -> Option<Bound> {
        let inner = kids(pair).next()?;
        Some(if inner.as_rule() == Rule::number {
            Bound::Amount(self.number(&inner, base), self.span(&inner, base))
        } else {
            Bound::Param(self.ident(inner, base))
        })
    }

    fn number(&self, pair: &P<'_>, base: usize) -> Decimal {
        let text = pair.as_str().trim_end_matches('%').replace('_', "");
        Decimal::from_str(&text).unwrap_or_else(|_| {
            self.report(
                Problem::error(
                    Code::SyntaxBadNumber,
                    self.file,
                    self.span(pair, base),
                    format!("the number `{}` is too large", pair.as_str()),
                )
                .label("more than 28 digits")
                .help("amounts are yuan with at most two decimals; rates at most six"),
            );
            Decimal::ZERO
        })
    }

    /// Report a literal with more decimals than its unit keeps.
    fn precision(&self, pair: &P<'_>, base: usize, value: Decimal, decimals: u32, help: &str) {
        if value.normalize().scale() > decimals {
            self.report(
                Problem::error(
                    Code::SyntaxBadNumber,
                    self.file,
                    self.span(pair, base),
                    format!("`{}` has more than {decimals} decimals", pair.as_str()),
                )
                .label("too precise")
                .help(help),
            );
        }
    }

    /// Report a literal beyond the magnitude its unit allows.
    fn magnitude(&self, pair: &P<'_>, base: usize, value: Decimal, limit: Decimal, help: &str) {
        if value.abs() > limit {
            self.report(
                Problem::error(
                    Code::SyntaxBadNumber,
                    self.file,
                    self.span(pair, base),
                    format!("`{}` is too large", pair.as_str()),
                )
                .label("beyond the largest value")
                .help(help),
            );
        }
    }

    fn date(&self, pair: &P<'_>, base: usize) -> Option<Date> {
        let date = Date::parse(pair.as_str());
        if date.is_none() {
            self.report(
                Problem::error(
                    Code::SyntaxBadDate,
                    self.file,
                    self.span(pair, base),
                    format!("`{}` is not a date", pair.as_str()),
                )
                .label("no such day")
                .help("write dates as `YYYY-MM-DD`, a day that exists, such as `2023-05-01`"),
            );
        }
        date
    }

    fn literal(&self, pair: &P<'_>, base: usize) -> Option<Literal> {
        Some(match pair.as_rule() {
            Rule::number => {
                let value = self.number(pair, base);
                self.precision(
                    pair,
                    base,
                    value,
                    2,
                    "amounts are exact to the fen: at most two decimals",
                );
                self.magnitude(
                    pair,
                    base,
                    value,
                    Decimal::from(MONEY_LIMIT_YUAN),
                    &format!("amounts are at most {MONEY_LIMIT_TEXT}"),
                );
                Literal::Number { value, decimals: pair.as_str().contains('.') }
            }
            Rule::percent => {
                let value =
                    self.number(pair, base).checked_div(Decimal::ONE_HUNDRED).unwrap_or_default();
                self.precision(
                    pair,
                    base,
                    value,
                    6,
                    "a rate keeps six decimals: `12.3456%` is the finest",
                );
                self.magnitude(
                    pair,
                    base,
                    value,
                    Decimal::from(RATE_LIMIT),
                    &format!("rates are at most {RATE_LIMIT_TEXT}"),
                );
                Literal::Percent(value)
            }
            Rule::date => Literal::Date(self.date(pair, base).unwrap_or(Date(0))),
            Rule::string => Literal::Text(self.text(pair.clone(), base).value),
            Rule::boolean => Literal::Bool(pair.as_str() == "true"),
            _ => return None,
        })
    }

    fn let_decl(&self, inner: Kids<'_>, base: usize, span: Span) -> Option<LetDecl> {
        let mut inner = inner.peekable();
        let overrides = inner.next_if(|p| p.as_rule() == Rule::override_kw).is_some();
        let name = self.ident(inner.next()?, base);
        let ty = match inner.next_if(|p| p.as_rule() == Rule::type_ann) {
            Some(p) => Some(self.type_ann(p, base)?),
            None => None,
        };
        let value = self.expr(inner.next()?, base);
        Some(LetDecl { overrides, name, ty, value, span })
    }

    fn arm(&self, pair: P<'_>, base: usize) -> Option<Arm> {
        let span = self.span(&pair, base);
        let mut inner = kids(pair).peekable();
        let value = self.expr(inner.next()?, base);
        let sources = self.sources(&mut inner, base);
        Some(Arm { value, sources, span })
    }

    fn rule(&self, inner: Kids<'_>, base: usize, span: Span) -> Option<RuleDecl> {
        let mut inner = inner.peekable();
        let overrides = inner.next_if(|p| p.as_rule() == Rule::override_kw).is_some();
        let name = self.ident(inner.next()?, base);
        let ty = self.type_expr(inner.next()?, base)?;
        let sources = self.sources(&mut inner, base);
        let default = self.arm(inner.next()?, base)?;
        let mut exceptions = Vec::new();
        for e in inner {
            let mut ei = kids(e).peekable();
            let ordered = ei.next_if(|p| p.as_rule() == Rule::ordered).is_some();
            let when = self.expr(ei.next()?, base);
            let value = self.expr(ei.next()?, base);
            let sources = self.sources(&mut ei, base);
            let arm_span = value.span.to(sources.last().map_or(value.span, |s| s.span));
            exceptions.push(Exception {
                ordered,
                when,
                arm: Arm { value, sources, span: arm_span },
            });
        }
        Some(RuleDecl { overrides, name, ty, sources, default, exceptions, span })
    }

    fn stage(&self, inner: Kids<'_>, base: usize, span: Span) -> Option<StageDecl> {
        let mut inner = inner.peekable();
        let overrides = inner.next_if(|p| p.as_rule() == Rule::override_kw).is_some();
        let name = self.ident(inner.next()?, base);
        let title = inner.next_if(|p| p.as_rule() == Rule::string).map(|p| self.text(p, base));
        let before = inner
            .next_if(|p| p.as_rule() == Rule::placement)
            .and_then(|p| kids(p).next())
            .map(|p| self.ident(p, base));
        let mut outputs = Vec::new();
        let mut body = Vec::new();
        let mut sources = Vec::new();
        for p in inner {
            let pspan = self.span(&p, base);
            match p.as_rule() {
                Rule::output_decl => {
                    let mut oi = kids(p);
                    let id = self.ident(oi.next()?, base);
                    outputs.push((id, self.type_expr(oi.next()?, base)?));
                }
                Rule::stage_let => {
                    body.push(StageStmt::Let(self.let_decl(kids(p), base, pspan)?))
                }
                Rule::assign => {
                    let mut ai = kids(p);
                    let name = self.ident(ai.next()?, base);
                    let value = self.expr(ai.next()?, base);
                    body.push(StageStmt::Assign { name, value, span: pspan });
                }
                Rule::source => {
                    if let Some(s) = kids(p).next() {
                        sources.push(self.text(s, base));
                    }
                }
                _ => {}
            }
        }
        Some(StageDecl { overrides, name, title, before, outputs, body, sources, span })
    }

    fn test(&self, inner: Kids<'_>, base: usize, span: Span) -> Option<TestDecl> {
        let mut inner = inner;
        let name = self.text(inner.next()?, base);
        let mut claims = Vec::new();
        let mut expects = Vec::new();
        for p in inner {
            let pspan = self.span(&p, base);
            match p.as_rule() {
                Rule::test_claim => {
                    let mut ci = kids(p);
                    let record = self.ident(ci.next()?, base);
                    let label = self.ident(ci.next()?, base);
                    let fields = self.record_lit(ci.next()?, base);
                    claims.push(TestClaim { record, label, fields, span: pspan });
                }
                Rule::expect => expects.push(self.expr(kids(p).next()?, base)),
                _ => {}
            }
        }
        Some(TestDecl { name, claims, expects, span })
    }

    fn record_lit(&self, pair: P<'_>, base: usize) -> Vec<FieldInit> {
        kids(pair)
            .filter_map(|f| {
                let mut fi = kids(f);
                let name = self.ident(fi.next()?, base);
                let v = fi.next()?;
                let vspan = self.span(&v, base);
                let value = if v.as_rule() == Rule::list_lit {
                    FieldValue::List(
                        kids(v)
                            .map(|r| {
                                let rspan = self.span(&r, base);
                                (self.record_lit(r, base), rspan)
                            })
                            .collect(),
                        vspan,
                    )
                } else {
                    FieldValue::Expr(self.expr(v, base))
                };
                Some(FieldInit { name, value })
            })
            .collect()
    }

    /// An expression: its operands and operators as the grammar reads them (prefixes, an
    /// operand, postfixes, then infix operators each followed by the same), grouped by
    /// precedence climbing ([`Precedence`]).
    fn expr(&self, pair: P<'_>, base: usize) -> Expr {
        let span = self.span(&pair, base);
        let mut parts = pair.into_inner().peekable();
        // The grammar puts an operand after every prefix and infix operator, so the climb
        // always finds one.
        self.climb(&mut parts, base, Precedence::None)
            .unwrap_or(Expr { kind: ExprKind::Lit(Literal::Bool(false)), span })
    }

    /// The operand at the front of `parts` with every operator that binds tighter than `floor`:
    /// prefixes first (each taking what binds tighter than itself), then postfixes and infix
    /// operators while they bind tighter than `floor`; an infix operator's right side takes
    /// what binds tighter than the operator (so `a - b - c` is `(a - b) - c`).
    fn climb<'i>(
        &self,
        parts: &mut std::iter::Peekable<Pairs<'i, Rule>>,
        base: usize,
        floor: Precedence,
    ) -> Option<Expr> {
        let first = parts.next()?;
        let mut lhs = match first.as_rule() {
            Rule::neg | Rule::not => {
                let (op, level) = if first.as_rule() == Rule::neg {
                    (UnaryOp::Neg, Precedence::Negation)
                } else {
                    (UnaryOp::Not, Precedence::Not)
                };
                let start = self.span(&first, base);
                // No infix operator shares a prefix's level: its operand takes every operator
                // that binds tighter (`not a == b` is `not (a == b)`, `-a * b` is `(-a) * b`).
                let rhs = self.climb(parts, base, level)?;
                Expr { span: start.to(rhs.span), kind: ExprKind::Unary(op, Box::new(rhs)) }
            }
            _ => self.primary(first, base),
        };
        while let Some(next) = parts.peek() {
            let level = match next.as_rule() {
                Rule::infix => infix_op(next.as_str()).1,
                _ => Precedence::Postfix,
            };
            if level <= floor {
                break;
            }
            let Some(op) = parts.next() else { break };
            lhs = if op.as_rule() == Rule::infix {
                let (op, level) = infix_op(op.as_str());
                let rhs = self.climb(parts, base, level)?;
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span }
            } else {
                self.postfix(lhs, op, base)
            };
        }
        Some(lhs)
    }

    /// `lhs.name`, `lhs[keys]` or `lhs days`.
    fn postfix(&self, lhs: Expr, op: P<'_>, base: usize) -> Expr {
        let span = lhs.span.to(self.span(&op, base));
        let kind = match op.as_rule() {
            Rule::member => match kids(op).next() {
                Some(id) => ExprKind::Member(Box::new(lhs), self.ident(id, base)),
                None => return lhs,
            },
            Rule::duration => {
                let unit = match kids(op).next().map(|k| k.as_rule()) {
                    Some(Rule::k_months) => DateUnit::Months,
                    _ => DateUnit::Days,
                };
                ExprKind::Duration(Box::new(lhs), unit)
            }
            _ => ExprKind::Index(Box::new(lhs), kids(op).map(|e| self.expr(e, base)).collect()),
        };
        Expr { kind, span }
    }

    fn primary(&self, pair: P<'_>, base: usize) -> Expr {
        let span = self.span(&pair, base);
        let kind = match pair.as_rule() {
            Rule::ident => ExprKind::Name(self.ident(pair, base)),
            Rule::paren => match kids(pair).next() {
                Some(e) => ExprKind::Paren(Box::new(self.expr(e, base))),
                None => ExprKind::Lit(Literal::Bool(false)),
            },
            Rule::if_expr => {
                let mut i = kids(pair).map(|e| self.expr(e, base));
                match (i.next(), i.next(), i.next()) {
                    (Some(c), Some(a), Some(b)) => {
                        ExprKind::If(Box::new(c), Box::new(a), Box::new(b))
                    }
                    _ => ExprKind::Lit(Literal::Bool(false)),
                }
            }
            Rule::set_lit => ExprKind::Set(kids(pair).map(|e| self.expr(e, base)).collect()),
            Rule::call => {
                let mut i = kids(pair).peekable();
                let Some(func) = i.next().map(|f| self.ident(f, base)) else {
                    return Expr { kind: ExprKind::Lit(Literal::Bool(false)), span };
                };
                // Past the name (spaces and comments trimmed), only a call's arguments follow.
                if span.end <= func.span.end {
                    return Expr { kind: ExprKind::Name(func), span };
                }
                match i.peek().map(|p| p.as_rule()) {
                    Some(Rule::comprehension) => {
                        match i.next().and_then(|c| self.comprehension(func.clone(), c, base)) {
                            Some(kind) => kind,
                            None => ExprKind::Call(func, Vec::new()),
                        }
                    }
                    _ => ExprKind::Call(func, i.map(|e| self.expr(e, base)).collect()),
                }
            }
            _ => match self.literal(&pair, base) {
                Some(lit) => ExprKind::Lit(lit),
                None => ExprKind::Lit(Literal::Bool(false)),
            },
        };
        Expr { kind, span }
    }

    fn comprehension(&self, func: Ident, pair: P<'_>, base: usize) -> Option<ExprKind> {
        let mut i = kids(pair);
        let body = self.expr(i.next()?, base);
        let var = self.ident(i.next()?, base);
        let list = self.expr(i.next()?, base);
        let filter = match i.next() {
            Some(w) => Some(Box::new(self.where_clause(w, base)?)),
            None => None,
        };
        Some(ExprKind::Fold { func, body: Box::new(body), var, list: Box::new(list), filter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Module {
        let mut problems = Vec::new();
        let module = parse(src, 0, &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
        module
    }

    #[test]
    fn the_grammars_punctuation_is_read_from_the_grammar() {
        assert_eq!(
            grammar_punctuation(),
            ["(", ")", ",", "->", ".", "..", ":", "=", "[", "]", "{", "}"]
        );
    }

    #[test]
    fn the_reserved_words_and_only_they_are_refused_as_names() {
        let reserved = [
            "and", "assumed", "balance", "default", "extends", "expect", "enum", "else", "from",
            "false", "for", "input", "if", "in", "let", "not", "override", "or", "policy", "param",
            "record", "rule", "stage", "source", "test", "then", "true", "when", "where", "yearly",
        ];
        for word in reserved {
            assert!(is_reserved(word), "`{word}` is a name");
        }
        let names = [
            "ands",
            "an",
            "cap",
            "claim",
            "cases",
            "gamma",
            "hen",
            "jet",
            "key",
            "max",
            "quota",
            "used",
            "value",
            "xray",
            "zone",
            "year",
            "by",
            "list",
            "money",
            "iff",
            "letter",
            "_and",
            "Policy",
            "yearly_cap",
            "unit",
            "vat",
        ];
        for word in names {
            assert!(!is_reserved(word), "`{word}` is refused as a name");
        }
    }

    #[test]
    fn parses_the_main_items() {
        let m = parse_ok(
            "policy a.b \"标题\"\nyear starts 01-01\nenum Level { level1 \"一级\", level2 }\n\
             input claim { id: text\n member: text\n date: date }\n\
             param cap: money\n  from 2021-01-01 80_000\n  from 2021-07-01 150_000 source \"x\"\n\
             rule d: money\n  default 1\n  when 2 > 1 -> 3\n",
        );
        assert_eq!(m.items.len(), 6);
        let Some(Item::Param(p)) = m.items.get(4) else { panic!("not a param") };
        assert_eq!(p.versions.len(), 2);
        assert_eq!(p.versions.get(1).map(|v| v.sources.len()), Some(1));
    }

    #[test]
    fn precedence_of_operators() {
        let m = parse_ok("let x = 1 + 2 * 3 > 4 and not y");
        let Some(Item::Let(l)) = m.items.first() else { panic!("not a let") };
        let ExprKind::Binary(BinaryOp::And, lhs, _) = &l.value.kind else { panic!("not and") };
        assert!(matches!(lhs.kind, ExprKind::Binary(BinaryOp::Gt, _, _)));
    }

    #[test]
    fn recovers_at_the_next_item() {
        let mut problems = Vec::new();
        let m = parse("let x = 1 +\nlet y = 2\nparam p: money = \nlet z = 3\n", 0, &mut problems);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(m.items.len(), 2, "{:#?}", m.items);
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    #[test]
    fn chunked_parsing_equals_parsing_in_one_piece() {
        let mut src = String::from("policy big\n");
        for i in 0..600 {
            src.push_str(&format!(
                "param p{i}: money by Level\n    from 2021-01-01 {{ a: 1, b: 2 }}\nlet l{i} = p{i}[claim.level] * 2\n"
            ));
            if i == 300 {
                src.push_str("rule broken: money\n    when x = 1 -> 2\n");
            }
        }
        assert!(src.len() > PARALLEL_FROM);
        let tokens = tokenize(&src);
        let whole = parse_range(&src, &tokens, 0, 0, src.len());
        let mut problems = Vec::new();
        let module = parse(&src, 0, &mut problems);
        assert_eq!(module.items, whole.items);
        assert_eq!(whole.failures.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(module.broken.len(), 1);
    }
}
