//! Positions: byte offsets, as spans hold them, to and from LSP positions (lines from 0,
//! columns in UTF-16 code units, as the protocol counts them by default, or in bytes when the
//! client offers UTF-8 and the server chose it).

use std::sync::Arc;

use lsp_types::{Position, Range};
use settle_lang::span::Span;

/// How columns are counted, as negotiated with the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-16 code units: the protocol's default.
    #[default]
    Utf16,
    /// Bytes of UTF-8.
    Utf8,
}

impl Encoding {
    fn width(self, c: char) -> usize {
        match self {
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf8 => c.len_utf8(),
        }
    }
}

/// A file's text with the byte offset where each line starts.
#[derive(Debug, Clone)]
pub struct LineIndex {
    text: Arc<str>,
    starts: Vec<usize>,
    encoding: Encoding,
}

impl LineIndex {
    /// Index the lines of `text`, counting columns as `encoding` says.
    pub fn with(text: Arc<str>, encoding: Encoding) -> Self {
        let starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { text, starts, encoding }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The position of byte `offset` (clamped to the text, moved back to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().map(|c| self.encoding.width(c)).sum());
        Position { line: to_u32(line), character: to_u32(column) }
    }

    /// The byte offset of `position`: past the end of its line, the line's end; past the last
    /// line, the end of the text; inside a surrogate pair, the character's start.
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return self.text.len();
        };
        let line = self.text.get(start..).unwrap_or("");
        let line = line.split('\n').next().unwrap_or("");
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            units += self.encoding.width(c);
            if units > position.character as usize {
                return start + i;
            }
        }
        start + line.len()
    }

    /// The range of `span`.
    pub fn range(&self, span: Span) -> Range {
        Range { start: self.position(span.start as usize), end: self.position(span.end as usize) }
    }

    /// The range of the whole text.
    pub fn whole(&self) -> Range {
        Range { start: Position::new(0, 0), end: self.position(self.text.len()) }
    }

    /// The span of `range`.
    pub fn span(&self, range: Range) -> Span {
        Span::new(self.offset(range.start), self.offset(range.end))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_code_units() {
        // `起` is three bytes and one UTF-16 unit; `𠀀` is four bytes and two units.
        let lines = LineIndex::with("ab\n起付线 x\n𠀀y".into(), Encoding::Utf16);
        assert_eq!(lines.position(0), Position::new(0, 0));
        assert_eq!(lines.position(3), Position::new(1, 0));
        assert_eq!(lines.position(3 + 9 + 1), Position::new(1, 4));
        assert_eq!(lines.position(3 + 9 + 2 + 1 + 4), Position::new(2, 2));
        assert_eq!(lines.position(1000), Position::new(2, 3));
        assert_eq!(lines.position(4), Position::new(1, 0), "inside a character: its start");
    }

    #[test]
    fn columns_count_bytes_in_utf8() {
        let lines = LineIndex::with("ab\n起付线 x\n𠀀y".into(), Encoding::Utf8);
        assert_eq!(lines.position(3 + 9 + 1), Position::new(1, 10));
        assert_eq!(lines.position(3 + 9 + 2 + 1 + 4), Position::new(2, 4));
        assert_eq!(lines.offset(Position::new(1, 10)), 3 + 9 + 1);
        assert_eq!(lines.offset(Position::new(1, 4)), 3 + 3, "inside a character: its start");
    }

    #[test]
    fn positions_map_back_to_offsets() {
        let text = "ab\n起付线 x\n𠀀y";
        let lines = LineIndex::with(text.into(), Encoding::Utf16);
        for (offset, _) in text.char_indices() {
            assert_eq!(lines.offset(lines.position(offset)), offset);
        }
        assert_eq!(lines.offset(Position::new(0, 99)), 2, "past the line's end");
        assert_eq!(lines.offset(Position::new(9, 0)), text.len(), "past the last line");
        assert_eq!(lines.offset(Position::new(2, 1)), text.find('𠀀').expect("pair"));
        assert_eq!(lines.whole().end, Position::new(2, 3));
    }
}
