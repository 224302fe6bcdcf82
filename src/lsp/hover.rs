//! Hover: what a name is. Its type; for a parameter every dated value with its sources and the
//! one in force today; for a rule its default and exceptions; for the rest its declaration.

use std::fmt::Write;
use std::path::Path;

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};
use rust_decimal::Decimal;
use settle_lang::ast::{self, Item, ParamDecl, ParamType, RuleDecl, StageStmt, TypeExpr};
use settle_lang::date::Date;
use settle_lang::diagnostic::FileId;
use settle_lang::ide::index::{Decl, Kind};
use settle_lang::ir::{self, Const, ParamValue, Policy, Type};
use settle_lang::syntax::token::{Token, tokenize};
use settle_runtime::Value;
use settle_runtime::io::format_value;

use super::analysis::Analysis;
use super::signature;

/// The hover for the name at `offset` of the document, if there is a name there.
pub fn hover(a: &Analysis, offset: usize, today: Date) -> Option<Hover> {
    let Some(occurrence) = a.index.at(0, offset) else { return builtin(a, offset) };
    let decl = a.index.declarations_of(occurrence.id).next()?;
    let value = describe(a, decl, today)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
        range: a.lines(0).map(|l| l.range(occurrence.span)),
    })
}

/// The hover for a built-in function named at `offset` (`round(`, `years_between(`, ...), or
/// for a unit or mode written in a call of `round`.
fn builtin(a: &Analysis, offset: usize) -> Option<Hover> {
    let text = a.text(0);
    let tok = tokenize(text).into_iter().find(|t| t.span.range().contains(&offset))?;
    if tok.kind != Some(Token::Ident) {
        return None;
    }
    let word = text.get(tok.span.range())?;
    let after = text.get(tok.span.end as usize..)?.trim_start_matches([' ', '\t']);
    let mut out = Text::default();
    if after.starts_with('(') {
        let (label, doc) = signature::builtin(word)?;
        out.code(&label);
        out.block(doc);
    } else {
        let (call, commas) = signature::open_call(text, offset)?;
        let table = match (call, commas) {
            ("round", 1) => signature::ROUND_UNITS,
            ("round", 2) => signature::ROUND_MODES,
            _ => return None,
        };
        let (_, doc) = table.iter().find(|(w, _)| *w == word)?;
        let what = if commas == 1 { "a unit of `round`" } else { "a mode of `round`" };
        out.code(word);
        out.block(&format!("{what}: {doc}"));
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: out.0 }),
        range: a.lines(0).map(|l| l.range(tok.span)),
    })
}

/// A Markdown text built block by block.
#[derive(Debug, Default)]
struct Text(String);

impl Text {
    fn block(&mut self, block: &str) {
        if !self.0.is_empty() {
            self.0.push_str("\n\n");
        }
        self.0.push_str(block);
    }

    fn code(&mut self, code: &str) {
        self.block(&format!("```settle\n{code}\n```"));
    }

    fn sources(&mut self, what: &str, sources: &[ast::Text]) {
        for s in sources {
            self.block(&format!("{what}: {}", s.value));
        }
    }
}

fn describe(a: &Analysis, decl: &Decl, today: Date) -> Option<String> {
    let mut out = Text::default();
    let item = a.item(decl)?;
    let name = decl.symbol.name();
    match (decl.kind, item) {
        (Kind::Param, Item::Param(p)) => param(a, decl.file, p, today, &mut out),
        (Kind::Param, Item::ParamAdd(p)) => added(a, decl.file, p, &mut out),
        (Kind::Rule, Item::Rule(r)) => rule(a, decl.file, r, &mut out),
        (Kind::Let, Item::Let(l)) => {
            let ty = value_type(a, name, l.ty.as_ref());
            out.code(&format!("let {name}{ty} = {}", compact(a.source(decl.file, l.value.span))));
        }
        (Kind::Yearly, Item::Yearly(y)) => {
            let ty = a
                .checked
                .policy
                .as_ref()
                .and_then(|p| {
                    let acc = p.accumulators.iter().find(|acc| acc.name == name)?;
                    Some(format!(": {}", type_name(p, acc.ty)))
                })
                .or_else(|| y.ty.as_ref().map(|t| format!(": {}", type_text(t))))
                .unwrap_or_default();
            let mut body = compact(a.source(decl.file, y.fold.span));
            if let Some(filter) = &y.filter {
                let _ = write!(body, " where {}", compact(a.source(decl.file, filter.span)));
            }
            let after = y.length.as_ref().and_then(|l| l.end.as_ref());
            let after = after.map(|e| format!(" after {}", e.name)).unwrap_or_default();
            out.code(&format!("{}{after} {name}{ty} = {body}", y.window.declared()));
            let over = match y.window {
                ast::Window::Year => "earlier claims of the medical year",
                ast::Window::Month => "earlier claims of the calendar month",
                ast::Window::Quarter => "earlier claims of the calendar quarter",
                ast::Window::Lifetime => "every earlier claim",
                ast::Window::Rolling { .. } => {
                    "earlier claims of the look-back up to the claim's date"
                }
                ast::Window::Episode { .. } => "earlier claims of the episode the claim continues",
            };
            out.block(&format!("over this member's {over}: its value before the current claim"));
        }
        (Kind::Stage, Item::Stage(s)) => {
            out.code(&stage_head(s));
            out.sources("source", &s.sources);
        }
        (Kind::Output, Item::Stage(s)) => {
            let ty = s.outputs.iter().find(|(o, _)| o.span == decl.name).map(|(_, t)| t)?;
            out.code(&format!("{}.{name}: {}", s.name.name, type_text(ty)));
            let set = s.body.iter().find_map(|stmt| match stmt {
                StageStmt::Assign { name: n, value, .. } if n.name == name => Some(value),
                _ => None,
            });
            if let Some(value) = set {
                out.code(&format!("{name} = {}", compact(a.source(decl.file, value.span))));
            }
            out.block(&format!("an output of stage `{}`", s.name.name));
        }
        (Kind::Local, Item::Stage(s)) => {
            let l = s.body.iter().find_map(|stmt| match stmt {
                StageStmt::Let(l) if l.name.span == decl.name => Some(l),
                _ => None,
            })?;
            let ty = value_type(a, &format!("{}.{name}", s.name.name), l.ty.as_ref());
            out.code(&format!("let {name}{ty} = {}", compact(a.source(decl.file, l.value.span))));
            out.block(&format!("a value of stage `{}`", s.name.name));
        }
        (Kind::Enum | Kind::Record | Kind::Input, _) => out.code(a.source(decl.file, decl.extent)),
        (Kind::Field, Item::Record(r) | Item::Input(r) | Item::InputAdd(r)) => {
            let f = r.fields.iter().find(|f| f.name.span == decl.name)?;
            out.code(&format!("{}.{name}: {}", r.name.name, type_text(&f.ty)));
            if let Some(doc) = &f.doc {
                out.block(&doc.value);
            }
        }
        (Kind::Variant, Item::Enum(e)) => {
            let (_, label) = e.variants.iter().find(|(v, _)| v.span == decl.name)?;
            let label = label.as_ref().map(|l| format!(" \"{}\"", l.value)).unwrap_or_default();
            out.code(&format!("{}.{name}{label}", e.name.name));
        }
        (Kind::Binding, _) => {
            let record = a.index.binding_record_of(decl.id).unwrap_or("a record");
            out.code(&format!("{name}: {record}"));
            out.block(&format!(
                "each item of the list in `{}`",
                compact(a.source(decl.file, decl.extent))
            ));
        }
        (Kind::Claim, Item::Test(t)) => {
            out.code(&compact(a.source(decl.file, decl.extent)));
            out.block(&format!("a claim of test \"{}\"", t.name.value));
        }
        _ => return None,
    }
    provenance(a, decl, &mut out);
    Some(out.0)
}

/// Where a declaration comes from when it is not the document's own, and what it overrides.
fn provenance(a: &Analysis, decl: &Decl, out: &mut Text) {
    if decl.file != 0 {
        out.block(&format!("declared in `{}`", short_name(a.file_name(decl.file))));
    }
    if decl.overrides {
        if let Some(base) = a.index.declarations_of(decl.id).find(|d| d.file != decl.file) {
            out.block(&format!(
                "overrides the declaration in `{}`",
                short_name(a.file_name(base.file))
            ));
        }
    }
}

fn short_name(name: &str) -> &str {
    Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or(name)
}

/// A short description of a declaration's type, for completion and outlines.
pub fn detail(a: &Analysis, decl: &Decl) -> Option<String> {
    let item = a.item(decl)?;
    let name = decl.symbol.name();
    let text = match (decl.kind, item) {
        (Kind::Param, Item::Param(p)) => param_type(&p.ty),
        (Kind::Rule, Item::Rule(r)) => type_text(&r.ty),
        (Kind::Let, Item::Let(l)) => {
            value_type(a, name, l.ty.as_ref()).trim_start_matches(": ").into()
        }
        (Kind::Yearly, Item::Yearly(y)) => a
            .checked
            .policy
            .as_ref()
            .and_then(|p| {
                let acc = p.accumulators.iter().find(|acc| acc.name == name)?;
                Some(type_name(p, acc.ty))
            })
            .or_else(|| y.ty.as_ref().map(type_text))?,
        (Kind::Stage, Item::Stage(s)) => {
            s.title.as_ref().map_or("stage".into(), |t| t.value.clone())
        }
        (Kind::Output, Item::Stage(s)) => {
            type_text(s.outputs.iter().find(|(o, _)| o.span == decl.name).map(|(_, t)| t)?)
        }
        (Kind::Local, Item::Stage(s)) => {
            let ty = s.body.iter().find_map(|stmt| match stmt {
                StageStmt::Let(l) if l.name.span == decl.name => Some(l.ty.as_ref()),
                _ => None,
            })?;
            value_type(a, &format!("{}.{name}", s.name.name), ty).trim_start_matches(": ").into()
        }
        (Kind::Field, Item::Record(r) | Item::Input(r) | Item::InputAdd(r)) => {
            type_text(&r.fields.iter().find(|f| f.name.span == decl.name)?.ty)
        }
        (Kind::Variant, Item::Enum(e)) => {
            let (_, label) = e.variants.iter().find(|(v, _)| v.span == decl.name)?;
            match label {
                Some(l) => format!("{} \"{}\"", e.name.name, l.value),
                None => e.name.name.clone(),
            }
        }
        (Kind::Enum, _) => "enum".into(),
        (Kind::Record, _) => "record".into(),
        (Kind::Input, _) => "input".into(),
        (Kind::Binding, _) => a.index.binding_record_of(decl.id)?.to_string(),
        (Kind::Claim, _) => "claim".into(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// `: type` of a computed value: the checked type, else the written one, else nothing.
fn value_type(a: &Analysis, ir_name: &str, written: Option<&TypeExpr>) -> String {
    a.checked
        .policy
        .as_ref()
        .and_then(|p| {
            let v = p.values.iter().find(|v| v.name == ir_name)?;
            Some(format!(": {}", type_name(p, v.ty)))
        })
        .or_else(|| written.map(|t| format!(": {}", type_text(t))))
        .unwrap_or_default()
}

fn param(a: &Analysis, file: FileId, p: &ParamDecl, today: Date, out: &mut Text) {
    let name = &p.name.name;
    out.code(&format!("param {name}: {}", param_type(&p.ty)));
    out.sources("source", &p.sources);
    let checked = a.checked.policy.as_ref().and_then(|policy| {
        let ir = policy.params.iter().find(|q| q.name == *name)?;
        (ir.versions.len() == p.versions.len()).then_some((policy, ir))
    });
    let in_force = p.versions.iter().rposition(|v| v.from.is_none_or(|(from, _)| from <= today));
    if let (None, Some((first, _))) = (in_force, p.versions.first().and_then(|v| v.from)) {
        out.block(&format!(
            "no value is in force today ({today}): the first takes effect on {first}"
        ));
    }
    for (i, version) in p.versions.iter().enumerate() {
        let mut head = match version.from {
            Some((from, _)) if version.from_assumed => format!("**from {from}** (assumed start)"),
            Some((from, _)) => format!("**from {from}**"),
            None => "**on every date**".to_string(),
        };
        if in_force == Some(i) {
            head.push_str(" (in force today)");
        }
        let cells = match checked {
            Some((policy, ir)) => ir.versions.get(i).map(|v| cells(policy, ir, v)),
            None => None,
        };
        match cells {
            Some(Cells::One(value)) => out.block(&format!("{head}: {value}")),
            Some(Cells::Many(lines)) => {
                out.block(&format!("{head}:"));
                out.block(&lines.join("\n"));
            }
            None => {
                out.block(&format!("{head}: `{}`", compact(a.source(file, version.value.span()))));
            }
        }
        out.sources("source", &version.sources);
    }
}

/// Values added to a base's parameter (`override param NAME from ...`), as written.
fn added(a: &Analysis, file: FileId, p: &ast::ParamAddDecl, out: &mut Text) {
    out.code(&format!("override param {}", p.name.name));
    out.block("adds dated values to the base's parameter, which keeps its type and its own values");
    for version in &p.versions {
        let Some((from, _)) = version.from else { continue };
        let start = if version.from_assumed { " (assumed start)" } else { "" };
        let value = compact(a.source(file, version.value.span()));
        out.block(&format!("**from {from}**{start}: `{value}`"));
        out.sources("source", &version.sources);
    }
}

/// A parameter version's value as text: one value, or one line per cell or bracket.
enum Cells {
    One(String),
    Many(Vec<String>),
}

fn cells(policy: &Policy, param: &ir::Param, version: &ir::ParamVersion) -> Cells {
    let assumed = |i: usize| {
        if version.assumed.get(i).copied().unwrap_or(false) { " (assumed)" } else { "" }
    };
    match (&param.kind, &version.value) {
        (ir::ParamKind::Scalar(ty), ParamValue::Scalar(c)) => {
            Cells::One(format!("{}{}", shown(policy, *ty, c), assumed(0)))
        }
        (ir::ParamKind::Table { keys, value }, ParamValue::Table(table)) => {
            let variants: Vec<&[String]> = keys
                .iter()
                .map(|k| policy.enums.get(*k).map_or(&[][..], |e| e.variants.as_slice()))
                .collect();
            Cells::Many(
                table
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let key = cell_key(&variants, i);
                        format!("- `{key}`: {}{}", shown(policy, *value, c), assumed(i))
                    })
                    .collect(),
            )
        }
        (ir::ParamKind::Scale, ParamValue::Scale(brackets)) => Cells::Many(
            brackets
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let upper = b.upper.map(|u| format!(" {u}")).unwrap_or_default();
                    format!("- `{} ..{upper}`: {}{}", b.lower, percent(b.rate), assumed(i))
                })
                .collect(),
        ),
        _ => Cells::Many(Vec::new()),
    }
}

/// The variants naming cell `i` of a table in row-major order of its key enums.
fn cell_key(variants: &[&[String]], i: usize) -> String {
    let mut rest = i;
    let mut names = Vec::new();
    for (k, vs) in variants.iter().enumerate() {
        let stride: usize = variants.iter().skip(k + 1).map(|v| v.len().max(1)).product();
        names.push(vs.get(rest / stride).map_or("?", String::as_str));
        rest %= stride;
    }
    names.join(", ")
}

pub(super) fn shown(policy: &Policy, ty: Type, c: &Const) -> String {
    match c {
        Const::Rate(d) => percent(*d),
        _ => format_value(policy, ty, &Value::from_const(c)),
    }
}

fn percent(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize())
}

fn rule(a: &Analysis, file: FileId, r: &RuleDecl, out: &mut Text) {
    let name = &r.name.name;
    let ty = value_type(a, name, Some(&r.ty));
    let mut code =
        format!("rule {name}{ty}\n    default {}", compact(a.source(file, r.default.value.span)));
    for e in &r.exceptions {
        let when = compact(a.source(file, e.when.span));
        let _ = write!(code, "\n    when {when} -> {}", compact(a.source(file, e.arm.value.span)));
    }
    out.code(&code);
    out.sources("source", &r.sources);
    out.sources("default", &r.default.sources);
    for e in &r.exceptions {
        let when = compact(a.source(file, e.when.span));
        out.sources(&format!("when `{when}`"), &e.arm.sources);
    }
}

fn stage_head(s: &ast::StageDecl) -> String {
    let title = s.title.as_ref().map(|t| format!(" \"{}\"", t.value)).unwrap_or_default();
    let outputs: Vec<String> =
        s.outputs.iter().map(|(o, t)| format!("{}: {}", o.name, type_text(t))).collect();
    format!("stage {}{title} ({})", s.name.name, outputs.join(", "))
}

fn param_type(ty: &ParamType) -> String {
    match ty {
        ParamType::Scale { by: None, .. } => "scale".into(),
        ParamType::Scale { by: Some(key), .. } => format!("scale by {}", key.name),
        ParamType::Value { ty, keys } if keys.is_empty() => type_text(ty),
        ParamType::Value { ty, keys } => {
            let keys: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
            format!("{} by {}", type_text(ty), keys.join(", "))
        }
    }
}

fn type_text(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Named(id) => id.name.clone(),
        TypeExpr::List(id, _) => format!("list of {}", id.name),
    }
}

pub(super) fn type_name(policy: &Policy, ty: Type) -> String {
    ty.name(&policy.enums, &policy.records)
}

/// Source text on one line: comments dropped, each run of whitespace one space.
pub fn compact(source: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for tok in tokenize(source) {
        match tok.kind {
            Some(Token::Space | Token::Newline | Token::LineComment | Token::BlockComment(_)) => {
                space = true;
            }
            _ => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push_str(source.get(tok.span.range()).unwrap_or(""));
            }
        }
    }
    out
}
