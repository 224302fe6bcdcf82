//! The canonical layout of a policy file, computed from its token stream.
//!
//! The formatter keeps every token and every comment, and the author's line breaks; it only
//! rewrites whitespace: indentation by bracket depth (and one level for the continuation lines
//! of an item, such as `from`, `when` and `source` lines), single spaces between words and
//! around operators, none inside parentheses, at most one blank line in a row, and a final
//! newline. Trailing comments on consecutive lines are aligned two spaces after the longest
//! line's code. Formatting a formatted file changes nothing.

use crate::syntax::token::{Tok, Token, WordKind, tokenize, word_kind};

/// The indentation unit.
const INDENT: &str = "    ";

/// Format `source`. The caller makes sure the file parses: the formatter trusts the tokens.
pub fn format(source: &str) -> String {
    let tokens = tokenize(source);
    let lines = split_lines(&tokens);
    // Each output line: its code (indented) and its trailing comment; `None` for a blank line.
    let mut out: Vec<Option<(String, Option<String>)>> = Vec::new();
    // The indentation of the line on which each open bracket was opened.
    let mut open: Vec<usize> = Vec::new();
    let mut blank_pending = false;
    let mut in_item = false;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if blank_pending {
            out.push(None);
            blank_pending = false;
        }
        let lead = first_code(line, &lines, i);
        let closes_first = lead.is_some_and(|t| {
            matches!(t.kind, Some(Token::RBrace | Token::RParen | Token::RBracket))
        });
        let indent = match open.last() {
            Some(&outer) if closes_first => outer,
            Some(&outer) => outer + 1,
            None => {
                let starts_item = lead.is_some_and(|t| {
                    t.kind == Some(Token::Ident) && word_kind(text(source, t)) == WordKind::Item
                });
                if starts_item {
                    in_item = true;
                    0
                } else {
                    usize::from(in_item && lead.is_some())
                }
            }
        };
        let mut code = INDENT.repeat(indent);
        let trailing = match line.split_last() {
            Some((last, rest)) if last.kind == Some(Token::LineComment) && !rest.is_empty() => {
                write_line(&mut code, source, rest);
                Some(text(source, last).to_string())
            }
            _ => {
                write_line(&mut code, source, line);
                None
            }
        };
        out.push(Some((code, trailing)));
        for t in line {
            match t.kind {
                Some(Token::LBrace | Token::LParen | Token::LBracket) => open.push(indent),
                Some(Token::RBrace | Token::RParen | Token::RBracket) => {
                    open.pop();
                }
                _ => {}
            }
        }
    }
    join(&out)
}

/// Join output lines, aligning the trailing comments of each run of consecutive lines.
fn join(lines: &[Option<(String, Option<String>)>]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let Some((code, comment)) = line else {
            out.push('\n');
            i += 1;
            continue;
        };
        if comment.is_none() {
            out.push_str(code);
            out.push('\n');
            i += 1;
            continue;
        }
        let run: Vec<&(String, Option<String>)> = lines
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .map_while(|l| l.as_ref().filter(|(_, c)| c.is_some()))
            .collect();
        let width = run.iter().map(|(c, _)| c.chars().count()).max().unwrap_or(0);
        for (code, comment) in &run {
            out.push_str(code);
            for _ in code.chars().count()..width + 2 {
                out.push(' ');
            }
            out.push_str(comment.as_deref().unwrap_or(""));
            out.push('\n');
        }
        i += run.len().max(1);
    }
    out
}

fn text<'s>(source: &'s str, t: &Tok) -> &'s str {
    source.get(t.span.range()).unwrap_or("")
}

/// The tokens of each line, without spaces and line breaks.
fn split_lines(tokens: &[Tok]) -> Vec<Vec<Tok>> {
    let mut lines = vec![Vec::new()];
    for t in tokens {
        match t.kind {
            Some(Token::Newline) => lines.push(Vec::new()),
            Some(Token::Space) => {}
            _ => {
                if let Some(line) = lines.last_mut() {
                    line.push(*t);
                }
            }
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

/// The first token that is not a comment on this line, or, for a line of comments only, on the
/// next line with code: a comment is indented like the code it stands above.
fn first_code<'a>(line: &'a [Tok], lines: &'a [Vec<Tok>], i: usize) -> Option<&'a Tok> {
    let is_comment = |t: &&Tok| matches!(t.kind, Some(Token::LineComment | Token::BlockComment(_)));
    if let Some(t) = line.iter().find(|t| !is_comment(t)) {
        return Some(t);
    }
    lines.get(i + 1..)?.iter().find_map(|l| l.iter().find(|t| !is_comment(t)))
}

fn write_line(out: &mut String, source: &str, line: &[Tok]) {
    let mut prev: Option<&Tok> = None;
    let mut before_prev: Option<&Tok> = None;
    for t in line {
        if let Some(p) = prev {
            match space_between(source, before_prev, p, t) {
                Gap::None => {}
                Gap::One => out.push(' '),
                Gap::Two => out.push_str("  "),
            }
        }
        out.push_str(text(source, t));
        before_prev = prev;
        prev = Some(t);
    }
}

enum Gap {
    None,
    One,
    Two,
}

fn space_between(source: &str, before: Option<&Tok>, prev: &Tok, next: &Tok) -> Gap {
    use Token::*;
    let (Some(p), Some(n)) = (prev.kind, next.kind) else { return Gap::One };
    if n == LineComment {
        return Gap::Two;
    }
    if matches!(p, LineComment | BlockComment(_)) || matches!(n, BlockComment(_)) {
        return Gap::One;
    }
    let original_space = prev.span.end < next.span.start;
    match (p, n) {
        (LParen | LBracket, _) | (_, RParen | RBracket | Comma | Colon) => Gap::None,
        (Dot, _) | (_, Dot) => Gap::None,
        (LBrace, RBrace) => Gap::None,
        (Minus, _) if is_unary(source, before) => Gap::None,
        (Ident | Str(_), LParen) => {
            if original_space || starts_stage_header(source, prev) {
                Gap::One
            } else {
                Gap::None
            }
        }
        (Ident | RParen | RBracket, LBracket) => Gap::None,
        _ => Gap::One,
    }
}

fn starts_stage_header(source: &str, prev: &Tok) -> bool {
    // `stage name "title" (` keeps a space before the parenthesis even if it was written without.
    let line_start =
        source.get(..prev.span.start as usize).and_then(|s| s.rfind('\n')).map_or(0, |i| i + 1);
    let head = source.get(line_start..prev.span.start as usize).unwrap_or("").trim_start();
    head.starts_with("stage ") || head.starts_with("override stage ")
}

/// Whether a `-` after `before` is a sign rather than a subtraction.
fn is_unary(source: &str, before: Option<&Tok>) -> bool {
    use Token::*;
    let Some(b) = before else { return true };
    match b.kind {
        Some(Ident) => matches!(
            word_kind(text(source, b)),
            WordKind::Keyword | WordKind::Operator | WordKind::Item
        ),
        Some(Number | Percent | Date | MonthDay | Str(_) | RParen | RBracket | RBrace) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_spaces_and_indentation() {
        let src = "policy  a.b\nparam x:money by Level\nfrom 2021-01-01 {a:1,b:-2}\n\n\n\nstage s(pay:money){\npay=min( 1 ,2)*-3 // why\n}\n";
        let want = "policy a.b\nparam x: money by Level\n    from 2021-01-01 { a: 1, b: -2 }\n\nstage s (pay: money) {\n    pay = min(1, 2) * -3  // why\n}\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want);
    }

    #[test]
    fn brackets_opened_on_a_continuation_line_indent_from_it() {
        let src = "param r: rate by Level\nfrom 2021-01-01 {\na: 50%,\nb: 60%,\n}\nlet x = 1\n";
        let want = "param r: rate by Level\n    from 2021-01-01 {\n        a: 50%,\n        b: 60%,\n    }\nlet x = 1\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want);
    }

    #[test]
    fn first_match_arms_additions_and_placed_stages_are_laid_out_like_the_rest() {
        let src = "rule r: money\ndefault 1\nwhen x>2 -> 3\nelse  when x>1->2\noverride param p\nfrom 2024-01-01  assumed {a:1}\noverride input claim{g:bool}\nstage s before t(pay:money){\npay=1\n}\n";
        let want = "rule r: money\n    default 1\n    when x > 2 -> 3\n    else when x > 1 -> 2\noverride param p\n    from 2024-01-01 assumed { a: 1 }\noverride input claim { g: bool }\nstage s before t (pay: money) {\n    pay = 1\n}\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want);
    }

    #[test]
    fn dates_rounding_and_windows_format_once() {
        let src = "monthly m:money=sum(claim.total)\nwhere claim.total>0\nlifetime n=count()\n\
                   let a=claim.date+-1 days\nlet b=round(claim.total,10,down)\n\
                   let c=years_between(claim.birth,claim.date)-(claim.date-claim.birth)\n";
        let want = "monthly m: money = sum(claim.total)\n    where claim.total > 0\n\
                    lifetime n = count()\nlet a = claim.date + -1 days\n\
                    let b = round(claim.total, 10, down)\n\
                    let c = years_between(claim.birth, claim.date) - (claim.date - claim.birth)\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want);
    }

    #[test]
    fn comments_take_the_indentation_of_the_code_below() {
        let src = "rule r: money\n// the default\ndefault 1\n";
        assert_eq!(format(src), "rule r: money\n    // the default\n    default 1\n");
    }
}
