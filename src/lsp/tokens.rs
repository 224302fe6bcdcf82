//! Semantic tokens: the logos token stream classified, names by what they resolve to.

use lsp_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
};
use settle_lang::ide::index::Kind;
use settle_lang::syntax::token::{Token, WordKind, tokenize, word_kind};

use super::analysis::Analysis;

/// The token types, in the order of their indices in the legend.
const TYPES: [SemanticTokenType; 14] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::STRUCT,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
];

/// The token modifiers, in the order of their bits.
const MODIFIERS: [SemanticTokenModifier; 3] = [
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::READONLY,
    SemanticTokenModifier::DEFAULT_LIBRARY,
];

const DECLARATION: u32 = 1;
const READONLY: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;

/// The legend the server announces.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend { token_types: TYPES.to_vec(), token_modifiers: MODIFIERS.to_vec() }
}

fn type_index(ty: &SemanticTokenType) -> u32 {
    TYPES.iter().position(|t| t == ty).map_or(0, |i| u32::try_from(i).unwrap_or(0))
}

/// Every classified token of the document, encoded relative to the one before; a token across
/// lines (a block comment) is one token per line.
pub fn semantic_tokens(a: &Analysis) -> SemanticTokens {
    let Some(lines) = a.lines(0) else { return SemanticTokens::default() };
    let text = lines.text();
    let tokens = tokenize(text);
    let mut data = Vec::new();
    let (mut last_line, mut last_start) = (0u32, 0u32);
    for (i, tok) in tokens.iter().enumerate() {
        let Some(kind) = tok.kind else { continue };
        let word = text.get(tok.span.range()).unwrap_or("");
        let class = match kind {
            Token::Space | Token::Newline => None,
            Token::LineComment | Token::BlockComment(_) => Some((SemanticTokenType::COMMENT, 0)),
            Token::Str(_) => Some((SemanticTokenType::STRING, 0)),
            Token::Date | Token::MonthDay | Token::Percent | Token::Number => {
                Some((SemanticTokenType::NUMBER, 0))
            }
            Token::Compare
            | Token::Plus
            | Token::Minus
            | Token::Star
            | Token::Slash
            | Token::Arrow
            | Token::Assign => Some((SemanticTokenType::OPERATOR, 0)),
            Token::Ident => {
                let called = tokens
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().find(|t| t.kind != Some(Token::Space)))
                    .is_some_and(|t| t.kind == Some(Token::LParen));
                name(a, tok.span.start as usize, word, called)
            }
            _ => None,
        };
        let Some((ty, modifiers)) = class else { continue };
        let start = lines.position(tok.span.start as usize);
        let end = lines.position(tok.span.end as usize);
        for line in start.line..=end.line {
            let from = if line == start.line { start.character } else { 0 };
            let to = if line == end.line {
                end.character
            } else {
                let next = lines.offset(lsp_types::Position::new(line + 1, 0));
                lines.position(next.saturating_sub(1)).character
            };
            if to <= from {
                continue;
            }
            let delta_line = line - last_line;
            let delta_start = if delta_line == 0 { from - last_start } else { from };
            data.push(SemanticToken {
                delta_line,
                delta_start,
                length: to - from,
                token_type: type_index(&ty),
                token_modifiers_bitset: modifiers,
            });
            (last_line, last_start) = (line, from);
        }
    }
    SemanticTokens { result_id: None, data }
}

/// A word: what it resolves to, else a keyword, a built-in type or a function.
fn name(a: &Analysis, offset: usize, word: &str, called: bool) -> Option<(SemanticTokenType, u32)> {
    if let Some(o) = a.index.at(0, offset).filter(|o| o.span.start as usize == offset) {
        let declaration = if o.declaration { DECLARATION } else { 0 };
        let (ty, modifiers) = match a.index.kind_of(o.id)? {
            Kind::Enum => (SemanticTokenType::ENUM, 0),
            Kind::Variant => (SemanticTokenType::ENUM_MEMBER, 0),
            Kind::Record | Kind::Input => (SemanticTokenType::STRUCT, 0),
            Kind::Field | Kind::Output => (SemanticTokenType::PROPERTY, 0),
            Kind::Param => (SemanticTokenType::VARIABLE, READONLY),
            Kind::Let | Kind::Rule | Kind::Yearly | Kind::Local => (SemanticTokenType::VARIABLE, 0),
            Kind::Stage => (SemanticTokenType::NAMESPACE, 0),
            Kind::Binding | Kind::Claim => (SemanticTokenType::PARAMETER, 0),
        };
        return Some((ty, modifiers | declaration));
    }
    match word_kind(word) {
        WordKind::Item | WordKind::Keyword | WordKind::Operator | WordKind::Literal => {
            Some((SemanticTokenType::KEYWORD, 0))
        }
        WordKind::Type => Some((SemanticTokenType::TYPE, DEFAULT_LIBRARY)),
        WordKind::Name if called => Some((SemanticTokenType::FUNCTION, DEFAULT_LIBRARY)),
        WordKind::Name => None,
    }
}
