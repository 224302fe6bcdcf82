//! Inlay hints: the type of a `let` written without one, and, beside each test claim's date,
//! the values in force on that date of the parameters whose value has changed since.

use lsp_types::{InlayHint, InlayHintKind, InlayHintLabel, Range};
use settle_lang::ast::{FieldValue, Item, LetDecl, StageStmt};
use settle_lang::ir::{Const, ParamKind, ParamValue, Policy, ValueKind};

use super::analysis::Analysis;
use super::hover::{shown, type_name};

/// The hints for the part of the document in `range`. They need the checked program, so a
/// document with errors has none.
pub fn inlay_hints(a: &Analysis, range: Range) -> Vec<InlayHint> {
    let (Some(policy), Some(module), Some(lines)) =
        (a.checked.policy.as_ref(), a.module(0), a.lines(0))
    else {
        return Vec::new();
    };
    let shown_range = lines.span(range);
    let mut out = Vec::new();
    let mut hint = |offset: u32, label: String, kind: InlayHintKind| {
        if shown_range.start <= offset && offset <= shown_range.end {
            out.push(InlayHint {
                position: lines.position(offset as usize),
                label: InlayHintLabel::String(label),
                kind: Some(kind),
                text_edits: None,
                tooltip: None,
                padding_left: Some(kind == InlayHintKind::PARAMETER),
                padding_right: None,
                data: None,
            });
        }
    };
    for item in &module.items {
        match item {
            Item::Let(l) => {
                if let Some(label) = let_type(policy, l, &l.name.name, ValueKind::Let) {
                    hint(l.name.span.end, label, InlayHintKind::TYPE);
                }
            }
            Item::Stage(s) => {
                for stmt in &s.body {
                    let StageStmt::Let(l) = stmt else { continue };
                    let name = format!("{}.{}", s.name.name, l.name.name);
                    let Some(id) = policy.stages.iter().position(|st| st.name == s.name.name)
                    else {
                        continue;
                    };
                    if let Some(label) = let_type(policy, l, &name, ValueKind::StageLocal(id)) {
                        hint(l.name.span.end, label, InlayHintKind::TYPE);
                    }
                }
            }
            Item::Test(t) => {
                let dated = policy
                    .records
                    .get(policy.input)
                    .and_then(|r| r.fields.get(policy.dated_field).map(|f| f.name.as_str()));
                let claims = policy.tests.iter().flat_map(|test| &test.claims);
                for c in &t.claims {
                    let Some(ir) = claims.clone().find(|ir| ir.span == c.span) else { continue };
                    let Some(Const::Date(date)) = ir.fields.get(policy.dated_field) else {
                        continue;
                    };
                    let written = c.fields.iter().find(|f| Some(f.name.name.as_str()) == dated);
                    let Some(FieldValue::Expr(value)) = written.map(|f| &f.value) else {
                        continue;
                    };
                    let values = in_force(policy, *date);
                    if !values.is_empty() {
                        hint(value.span.end, values, InlayHintKind::PARAMETER);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `: type` for a `let` written without a type.
fn let_type(policy: &Policy, l: &LetDecl, name: &str, kind: ValueKind) -> Option<String> {
    if l.ty.is_some() {
        return None;
    }
    let v = policy.values.iter().find(|v| v.name == name && v.kind == kind)?;
    Some(format!(": {}", type_name(policy, v.ty)))
}

/// The values on `date` of the parameters holding one value that changed over time, where
/// that value is not their latest (a claim dated before a reform), as `name = value` joined by
/// commas; a parameter with no value yet on that date says so.
fn in_force(policy: &Policy, date: settle_lang::date::Date) -> String {
    let mut parts = Vec::new();
    for p in &policy.params {
        let ParamKind::Scalar(ty) = p.kind else { continue };
        let (Some(latest), true) = (p.versions.last(), p.versions.len() > 1) else { continue };
        let version = p.versions.iter().rev().find(|v| v.from.is_none_or(|from| from <= date));
        match version.map(|v| &v.value) {
            Some(value) if *value == latest.value => {}
            Some(ParamValue::Scalar(c)) => {
                parts.push(format!("{} = {}", p.name, shown(policy, ty, c)));
            }
            _ => parts.push(format!("{}: none yet", p.name)),
        }
    }
    parts.join(", ")
}
