//! The token stream of a policy file, comments and whitespace kept.
//!
//! The formatter works on these tokens, editors highlight them, and a lexical pass over them
//! reports what the grammar would describe poorly: unterminated strings and comments, stray
//! characters, and nesting too deep to parse safely.

use logos::Logos;

use crate::diagnostic::{Code, FileId, Problem};
use crate::span::Span;

/// The deepest nesting of brackets and prefix operators the parser accepts.
pub const MAX_DEPTH: usize = 64;

/// The most operators one item may hold (a chain of operators nests as deep as it is long).
pub const MAX_OPERATORS: usize = 1024;

/// The kinds of token.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Spaces and tabs.
    #[regex(r"[ \t\r\u{feff}\u{3000}]+")]
    Space,
    /// A line break.
    #[token("\n")]
    Newline,
    /// `// ...`
    #[regex(r"//[^\n]*")]
    LineComment,
    /// `/* ... */`; `false` when the file ends first.
    #[token("/*", block_comment)]
    BlockComment(bool),
    /// `"..."`; `false` when the line ends first.
    #[token("\"", string)]
    Str(bool),
    /// `2023-05-01`
    #[regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")]
    Date,
    /// `01-01`
    #[regex(r"[0-9]{2}-[0-9]{2}")]
    MonthDay,
    /// `85%`
    #[regex(r"[0-9][0-9_]*(\.[0-9]+)?%")]
    Percent,
    /// `12_000.50`
    #[regex(r"[0-9][0-9_]*(\.[0-9]+)?")]
    Number,
    /// A name or a keyword.
    #[regex(r"[\p{XID_Start}_][\p{XID_Continue}]*")]
    Ident,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `,`
    #[token(",")]
    Comma,
    /// `:`
    #[token(":")]
    Colon,
    /// `.`
    #[token(".")]
    Dot,
    /// `..`
    #[token("..")]
    DotDot,
    /// `->`
    #[token("->")]
    Arrow,
    /// `==`, `!=`, `<=`, `>=`, `<`, `>`
    #[regex(r"==|!=|<=|>=|<|>")]
    Compare,
    /// `=`
    #[token("=")]
    Assign,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
}

fn block_comment(lex: &mut logos::Lexer<Token>) -> bool {
    match lex.remainder().find("*/") {
        Some(end) => {
            lex.bump(end + 2);
            true
        }
        None => {
            lex.bump(lex.remainder().len());
            false
        }
    }
}

fn string(lex: &mut logos::Lexer<Token>) -> bool {
    let rest = lex.remainder();
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\n' => {
                lex.bump(i);
                return false;
            }
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                lex.bump(i + 1);
                return true;
            }
            _ => escaped = false,
        }
    }
    lex.bump(rest.len());
    false
}

/// A token with its span; `kind` is `None` for a character no token starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    /// What it is, or `None` for a stray character.
    pub kind: Option<Token>,
    /// Where it is.
    pub span: Span,
}

/// Split `source` into tokens, whitespace and comments included; never fails.
pub fn tokenize(source: &str) -> Vec<Tok> {
    Token::lexer(source)
        .spanned()
        .map(|(kind, range)| Tok { kind: kind.ok(), span: Span::new(range.start, range.end) })
        .collect()
}

/// What a name-like token is, for highlighting and formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordKind {
    /// Starts an item: `policy`, `param`, `rule`, ...
    Item,
    /// Other reserved or contextual keywords: `when`, `from`, `if`, ...
    Keyword,
    /// `and`, `or`, `not`, `in`
    Operator,
    /// `true`, `false`
    Literal,
    /// `money`, `rate`, ...
    Type,
    /// Anything else.
    Name,
}

/// Classify a word.
pub fn word_kind(word: &str) -> WordKind {
    match word {
        "policy" | "extends" | "year" | "dated" | "rounding" | "enum" | "record" | "input"
        | "yearly" | "lifetime" | "monthly" | "quarterly" | "rolling" | "episode" | "param"
        | "let" | "rule" | "stage" | "balance" | "test" | "override" | "period" | "case"
        | "table" => WordKind::Item,
        "starts" | "by" | "default" | "when" | "from" | "source" | "assumed" | "if" | "then"
        | "else" | "for" | "where" | "expect" | "list" | "of" | "scale" => WordKind::Keyword,
        "and" | "or" | "not" | "in" => WordKind::Operator,
        "true" | "false" => WordKind::Literal,
        "money" | "rate" | "int" | "bool" | "date" | "text" => WordKind::Type,
        _ => WordKind::Name,
    }
}

/// Report unterminated strings and comments, stray characters, and nesting deeper than
/// [`MAX_DEPTH`]. Returns whether the file is safe to hand to the parser.
pub fn check_tokens(source: &str, tokens: &[Tok], file: FileId, out: &mut Vec<Problem>) -> bool {
    let mut safe = true;
    let mut depth = 0usize;
    let mut prefix_run = 0usize;
    let mut stray: Option<Span> = None;
    let mut operators = 0usize;
    let mut line_start = true;
    let flush_stray = |stray: &mut Option<Span>, out: &mut Vec<Problem>| {
        if let Some(span) = stray.take() {
            let text = source.get(span.range()).unwrap_or("");
            out.push(invalid_character(file, span, text));
        }
    };
    for tok in tokens {
        let Some(kind) = tok.kind else {
            stray = Some(stray.map_or(tok.span, |s| s.to(tok.span)));
            continue;
        };
        flush_stray(&mut stray, out);
        match kind {
            Token::Str(false) => out.push(
                Problem::error(
                    Code::SyntaxUnterminatedString,
                    file,
                    tok.span,
                    "unterminated string",
                )
                .label("this string has no closing `\"`")
                .help("close the string with `\"` on the same line"),
            ),
            Token::BlockComment(false) => out.push(
                Problem::error(
                    Code::SyntaxUnterminatedComment,
                    file,
                    Span::new(tok.span.start as usize, tok.span.start as usize + 2),
                    "unterminated comment",
                )
                .label("this comment is never closed")
                .help("close the comment with `*/`"),
            ),
            Token::LBrace | Token::LParen | Token::LBracket => depth += 1,
            Token::RBrace | Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
        let word = source.get(tok.span.range()).unwrap_or("");
        if line_start && kind == Token::Ident && word_kind(word) == WordKind::Item {
            operators = 0;
        }
        line_start = kind == Token::Newline;
        if matches!(kind, Token::Plus | Token::Minus | Token::Star | Token::Slash | Token::Compare)
            || (kind == Token::Ident && matches!(word, "and" | "or" | "if"))
        {
            operators += 1;
            if operators == MAX_OPERATORS + 1 && safe {
                safe = false;
                out.push(
                    Problem::error(Code::SyntaxTooLong, file, tok.span, "item too long")
                        .label(format!("more than {MAX_OPERATORS} operators in one item"))
                        .help("split the computation into several `let`s"),
                );
            }
        }
        let is_prefix = matches!(kind, Token::Minus)
            || (kind == Token::Ident
                && matches!(source.get(tok.span.range()), Some("not" | "if" | "then" | "else")));
        if is_prefix {
            prefix_run += 1;
        } else if !matches!(kind, Token::Space | Token::Newline | Token::LineComment) {
            prefix_run = 0;
        }
        if depth + prefix_run > MAX_DEPTH && safe {
            safe = false;
            out.push(
                Problem::error(Code::SyntaxTooDeep, file, tok.span, "expression nested too deeply")
                    .label(format!("more than {MAX_DEPTH} levels deep here"))
                    .help("split the expression into `let`s"),
            );
        }
    }
    flush_stray(&mut stray, out);
    safe
}

fn invalid_character(file: FileId, span: Span, text: &str) -> Problem {
    let help = match text.chars().next() {
        Some('，') => {
            "write a comma as `,` (a full-width `，` is not punctuation here)".to_string()
        }
        Some('：') => {
            "write a colon as `:` (a full-width `：` is not punctuation here)".to_string()
        }
        Some('“' | '”') => "write strings between plain double quotes `\"...\"`".to_string(),
        Some('（' | '）') => "write parentheses as `(` and `)`".to_string(),
        Some('％') => "write a percentage with a plain `%`".to_string(),
        Some('!') => "write `not` for negation and `!=` for inequality".to_string(),
        Some('&' | '|') => "write `and` and `or`".to_string(),
        Some(';') => "statements end at the end of the line: remove the `;`".to_string(),
        _ => "remove it, or put it in a comment or a string".to_string(),
    };
    Problem::error(
        Code::SyntaxInvalidCharacter,
        file,
        span,
        format!("unexpected character `{}`", text.escape_debug()),
    )
    .label("not part of the language")
    .help(help)
}
