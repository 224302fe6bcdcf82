//! Going to a definition, finding references (in the bases a policy extends and in the open
//! policies extending it), and the outline of a document.

use lsp_types::{DocumentSymbol, Location, SymbolKind};
use settle_lang::ast::Item;
use settle_lang::ide::index::{Decl, Kind};
use settle_lang::span::Span;

use super::analysis::Analysis;
use super::hover::detail;

/// Where the name at `offset` is declared. On an `override`'s own name, the base's
/// declaration it replaces; elsewhere, the declaration in force.
pub fn definition(a: &Analysis, offset: usize) -> Option<Location> {
    let occurrence = a.index.at(0, offset)?;
    let decls: Vec<&Decl> = a.index.declarations_of(occurrence.id).collect();
    let target = if occurrence.declaration {
        let here = decls.iter().position(|d| d.file == 0 && d.name == occurrence.span)?;
        decls.get(here + 1).or(decls.get(here))
    } else {
        decls.first()
    }?;
    a.location(target.file, target.name)
}

/// Every place the name at `offset` is read, and its declarations when asked: in the document
/// and its bases, and in `others` (other open documents' checks) that read a file declaring it,
/// such as the policies extending the document.
pub fn references(
    a: &Analysis,
    others: &[&Analysis],
    offset: usize,
    declarations: bool,
) -> Vec<Location> {
    let Some(occurrence) = a.index.at(0, offset) else { return Vec::new() };
    let declared_in: Vec<&lsp_types::Url> =
        a.index.declarations_of(occurrence.id).filter_map(|d| a.uri(d.file)).collect();
    let sharing = others.iter().copied().filter(|b| declared_in.iter().any(|u| b.reads(u)));
    let mut out: Vec<Location> = Vec::new();
    for b in std::iter::once(a).chain(sharing) {
        let map = |file| b.file_of(a.uri(file)?);
        let Some(symbol) = occurrence.symbol.remap(map) else { continue };
        let refs = b.index.references(&symbol).map(|r| (r.file, r.span));
        let decls: Vec<(usize, Span)> = if declarations {
            b.index.declarations(&symbol).map(|d| (d.file, d.name)).collect()
        } else {
            Vec::new()
        };
        for (file, span) in decls.into_iter().chain(refs) {
            if let Some(location) = b.location(file, span) {
                if !out.contains(&location) {
                    out.push(location);
                }
            }
        }
    }
    out
}

/// The outline of the document: its declarations, with enum variants, fields, stage outputs
/// and stage `let`s inside their owners, and its tests.
pub fn symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let Some(lines) = a.lines(0) else { return Vec::new() };
    let own: Vec<&Decl> = a.index.decls.iter().filter(|d| d.file == 0).collect();
    let symbol = |d: &Decl, children: Option<Vec<DocumentSymbol>>| {
        #[expect(deprecated, reason = "the protocol's structure still has the field")]
        DocumentSymbol {
            name: d.symbol.name().to_string(),
            detail: detail(a, d),
            kind: symbol_kind(d.kind),
            tags: None,
            deprecated: None,
            range: lines.range(d.extent),
            selection_range: lines.range(d.name),
            children,
        }
    };
    let mut out = Vec::new();
    let Some(module) = a.module(0) else { return out };
    for item in &module.items {
        let span = item.span();
        if let Item::Test(t) = item {
            #[expect(deprecated, reason = "the protocol's structure still has the field")]
            out.push(DocumentSymbol {
                name: t.name.value.clone(),
                detail: Some("test".into()),
                kind: SymbolKind::EVENT,
                tags: None,
                deprecated: None,
                range: lines.range(span),
                selection_range: lines.range(t.name.span),
                children: None,
            });
            continue;
        }
        let Some(head) = own.iter().find(|d| is_item(d.kind) && d.extent == span) else {
            continue;
        };
        let children: Vec<DocumentSymbol> = own
            .iter()
            .filter(|d| {
                matches!(d.kind, Kind::Variant | Kind::Field | Kind::Output | Kind::Local)
                    && span.start <= d.name.start
                    && d.name.end <= span.end
            })
            .map(|d| symbol(d, None))
            .collect();
        out.push(symbol(head, (!children.is_empty()).then_some(children)));
    }
    out
}

fn is_item(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Enum
            | Kind::Record
            | Kind::Input
            | Kind::Param
            | Kind::Let
            | Kind::Rule
            | Kind::Yearly
            | Kind::Stage
    )
}

/// How an outline or a completion list shows a kind of declaration.
pub fn symbol_kind(kind: Kind) -> SymbolKind {
    match kind {
        Kind::Enum => SymbolKind::ENUM,
        Kind::Variant => SymbolKind::ENUM_MEMBER,
        Kind::Record | Kind::Input => SymbolKind::STRUCT,
        Kind::Field | Kind::Output => SymbolKind::FIELD,
        Kind::Param => SymbolKind::CONSTANT,
        Kind::Rule => SymbolKind::FUNCTION,
        Kind::Stage => SymbolKind::MODULE,
        Kind::Let | Kind::Yearly | Kind::Local | Kind::Binding | Kind::Claim => {
            SymbolKind::VARIABLE
        }
    }
}
