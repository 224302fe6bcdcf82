//! Parameters: their types, effective dates, tables checked exhaustive, scales checked for gaps.

use crate::ast::{self, Item, ParamType, Scalar, Value};
use crate::date::Date;
use crate::diagnostic::{Code, FileId, Problem, did_you_mean};
use crate::ir::{self, Const, ParamKind, ParamValue, Type};
use crate::span::Span;

use super::expr::literal;
use crate::check::{Checker, Global};
use crate::ide::index::Symbol;

impl Checker<'_> {
    /// Check every parameter and record its IR form.
    pub(crate) fn check_params(&mut self) {
        let items = self.items.clone();
        for m in &items {
            if let (Item::ParamAdd(add), Some(Global::Param(id))) = (m.item, m.id) {
                self.check_addition(m.file, add, m.base, id);
                continue;
            }
            let (Item::Param(p), Some(Global::Param(id))) = (m.item, m.id) else { continue };
            if let Some((base_file, Item::Param(base))) = m.base {
                // The base's declaration is replaced, but its names are still read by editors
                // (a rename must reach them): resolve them, its problems left unreported.
                let before = self.problems.len();
                if let Some(kind) = self.param_kind(base_file, &base.ty) {
                    let _ = self.versions(base_file, base, &kind);
                }
                self.problems.truncate(before);
            }
            let Some(kind) = self.param_kind(m.file, &p.ty) else { continue };
            let versions = self.versions(m.file, p, &kind);
            if let Some(slot) = self.params.get_mut(id) {
                slot.def = versions.map(|versions| ir::Param {
                    name: p.name.name.clone(),
                    kind,
                    versions,
                    sources: p.sources.iter().map(|s| s.value.clone()).collect(),
                    span: p.name.span,
                });
            }
        }
    }

    /// Check values added to a base's parameter (`override param ratio from ...`): each checked
    /// against the base's type, on a date the base does not have and after its first; the
    /// parameter is the base's with the additions in date order.
    fn check_addition(
        &mut self,
        file: FileId,
        add: &ast::ParamAddDecl,
        base: Option<(FileId, &Item)>,
        id: ir::ParamId,
    ) {
        // Without a base, `check_extends` has reported that the addition overrides nothing.
        let Some((base_file, base_item)) = base else { return };
        let base = match base_item {
            Item::Param(base) => base,
            other => {
                let base_span = match other {
                    Item::ParamAdd(p) => p.name.span,
                    _ => other.span(),
                };
                self.report(
                    Problem::error(
                        Code::ExtendsAddedTwice,
                        file,
                        add.name.span,
                        format!("values are added to `{}` twice", add.name.name),
                    )
                    .label("adds to values added by the base")
                    .also(base_file, base_span, "the base adds values here")
                    .help("add every value in one file, or override the whole parameter with its type"),
                );
                return;
            }
        };
        let Some(kind) = self.param_kind(base_file, &base.ty) else { return };
        let Some(mut versions) = self.versions(base_file, base, &kind) else { return };
        let first = base.versions.first().and_then(|v| v.from);
        let mut ok = true;
        for v in &add.versions {
            let Some((date, span)) = v.from else { continue };
            let Some((first, first_span)) = first else {
                self.report(
                    Problem::error(
                        Code::ExtendsAddedUndated,
                        file,
                        span,
                        format!("`{}` has one value on every date", add.name.name),
                    )
                    .label(format!("a value from {date} cannot be added to it"))
                    .also(base_file, base.name.span, "declared without `from` dates")
                    .help(format!(
                        "override the whole parameter with its type and `from` lines: `override param {}: ...`",
                        add.name.name
                    )),
                );
                ok = false;
                continue;
            };
            if let Some((_, taken)) =
                base.versions.iter().filter_map(|b| b.from).find(|(d, _)| *d == date)
            {
                self.report(
                    Problem::error(
                        Code::ExtendsAddedDate,
                        file,
                        span,
                        format!("`{}` already has a value from {date}", add.name.name),
                    )
                    .label("a date the base has")
                    .also(base_file, taken, "the base's value from this date")
                    .help(format!(
                        "to change that value, override the whole parameter (`override param {}: ...`); to add one, give a date the base does not have",
                        add.name.name
                    )),
                );
                ok = false;
            } else if date < first {
                self.report(
                    Problem::error(
                        Code::ExtendsAddedBeforeFirst,
                        file,
                        span,
                        format!("a value of `{}` from {date}, before the base's first", add.name.name),
                    )
                    .label(format!("before {first}"))
                    .also(base_file, first_span, "the base's first value")
                    .help(format!(
                        "the base settles no claim before {first}: to move its start, override the whole parameter (`override param {}: ...`)",
                        add.name.name
                    )),
                );
                ok = false;
            }
        }
        let added = ast::ParamDecl {
            overrides: true,
            name: add.name.clone(),
            ty: base.ty.clone(),
            sources: Vec::new(),
            versions: add.versions.clone(),
            span: add.span,
        };
        let Some(added) = self.versions(file, &added, &kind) else { return };
        if !ok {
            return;
        }
        versions.extend(added);
        // A stable sort: the base's values and the additions, oldest first (dates all differ).
        versions.sort_by_key(|v| v.from);
        if let Some(slot) = self.params.get_mut(id) {
            slot.def = Some(ir::Param {
                name: add.name.name.clone(),
                kind,
                versions,
                sources: base.sources.iter().map(|s| s.value.clone()).collect(),
                span: add.name.span,
            });
        }
    }

    fn param_kind(&mut self, file: FileId, ty: &ParamType) -> Option<ParamKind> {
        match ty {
            ParamType::Scale(_) => Some(ParamKind::Scale),
            ParamType::Value { ty, keys } => {
                let value = self.resolve_type(file, ty)?;
                if matches!(value, Type::Record(_) | Type::List(_)) {
                    let name = self.type_name(value);
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            file,
                            ty.span(),
                            format!("a parameter cannot hold a `{name}`"),
                        )
                        .label("not a parameter type")
                        .help("parameters hold amounts, rates, counts, dates, truth values, text or enum variants"),
                    );
                    return None;
                }
                if keys.is_empty() {
                    return Some(ParamKind::Scalar(value));
                }
                let mut enums = Vec::new();
                for key in keys {
                    match self.enum_names.get(&key.name).map(|(e, _)| *e) {
                        Some(e) => {
                            self.refer(file, key.span, Symbol::Type(key.name.clone()));
                            enums.push(e);
                        }
                        None => {
                            let help = match did_you_mean(
                                &key.name,
                                self.enum_names.keys().map(String::as_str),
                            ) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "tables are keyed by enums: declare one with `enum Name { ... }`".to_string(),
                            };
                            self.report(
                                Problem::error(
                                    Code::NameUnknownType,
                                    file,
                                    key.span,
                                    format!("unknown enum `{}`", key.name),
                                )
                                .label("tables are keyed by enums")
                                .help(help),
                            );
                            return None;
                        }
                    }
                }
                Some(ParamKind::Table { keys: enums, value })
            }
        }
    }

    fn versions(
        &mut self,
        file: FileId,
        p: &ast::ParamDecl,
        kind: &ParamKind,
    ) -> Option<Vec<ir::ParamVersion>> {
        let mut out = Vec::new();
        let mut ok = true;
        let mut previous: Option<(Date, Span)> = None;
        for v in &p.versions {
            if let (Some((date, span)), Some((prev, prev_span))) = (v.from, previous) {
                if date == prev {
                    self.report(
                        Problem::error(
                            Code::ParamDuplicateDate,
                            file,
                            span,
                            format!("`{}` has two values from {date}", p.name.name),
                        )
                        .label("this date again")
                        .with(prev_span, "first value from this date")
                        .help("keep one value per effective date"),
                    );
                    ok = false;
                } else if date < prev {
                    self.report(
                        Problem::error(
                            Code::ParamDateOrder,
                            file,
                            span,
                            format!("the values of `{}` are not in date order", p.name.name),
                        )
                        .label(format!("{date} comes before"))
                        .with(prev_span, format!("{prev}, written above it"))
                        .help("list the `from` lines oldest first, so the newest value is last"),
                    );
                    ok = false;
                }
            }
            if v.from.is_some() {
                previous = v.from;
            }
            let mut assumed = Vec::new();
            match self.param_value(file, &p.name.name, &v.value, kind, &mut assumed) {
                Some(value) => out.push(ir::ParamVersion {
                    from: v.from.map(|(d, _)| d),
                    from_assumed: v.from_assumed,
                    value,
                    assumed,
                    sources: v.sources.iter().map(|s| s.value.clone()).collect(),
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn param_value(
        &mut self,
        file: FileId,
        name: &str,
        value: &Value,
        kind: &ParamKind,
        assumed: &mut Vec<bool>,
    ) -> Option<ParamValue> {
        match (kind, value) {
            (ParamKind::Scalar(ty), Value::Scalar(s)) => {
                Some(ParamValue::Scalar(self.scalar(file, s, *ty, assumed)?))
            }
            (ParamKind::Table { keys, value: ty }, Value::Table { .. }) => {
                let mut cells = Vec::new();
                let ok = self.table(file, name, value, keys, *ty, &mut cells, assumed);
                ok.then_some(ParamValue::Table(cells))
            }
            (ParamKind::Scale, Value::Scale { brackets, .. }) => {
                self.scale(file, name, brackets, assumed).map(ParamValue::Scale)
            }
            (ParamKind::Scale, Value::Table { entries, span }) if entries.is_empty() => {
                self.report(
                    Problem::error(
                        Code::ScaleStart,
                        file,
                        *span,
                        format!("scale `{name}` has no brackets"),
                    )
                    .label("empty")
                    .help("list brackets: `{ 0 .. 100_000: 60%, 100_000 ..: 70% }`"),
                );
                None
            }
            (kind, value) => {
                let expected = match kind {
                    ParamKind::Scalar(t) => format!("a single `{}` value", self.type_name(*t)),
                    ParamKind::Table { keys, .. } => format!(
                        "a table keyed by {}",
                        keys.iter()
                            .map(|k| format!("`{}`", self.type_name(Type::Enum(*k))))
                            .collect::<Vec<_>>()
                            .join(" then ")
                    ),
                    ParamKind::Scale => {
                        "a scale of brackets `{ 0 .. 100_000: 60%, ... }`".to_string()
                    }
                };
                let found = match value {
                    Value::Scalar(_) => "a single value",
                    Value::Table { .. } => "a table",
                    Value::Scale { .. } => "a scale",
                };
                self.report(
                    Problem::error(
                        Code::TableShape,
                        file,
                        value.span(),
                        format!("`{name}` needs {expected}, found {found}"),
                    )
                    .label(found.to_string())
                    .help("make the value match the declared type, or change the declaration"),
                );
                None
            }
        }
    }

    fn scalar(
        &mut self,
        file: FileId,
        s: &Scalar,
        ty: Type,
        assumed: &mut Vec<bool>,
    ) -> Option<Const> {
        assumed.push(s.assumed);
        let t = literal(&s.lit, s.span);
        let e = self.convert(file, t, ty, "this value")?;
        match e.kind {
            ir::ExprKind::Const(c) => Some(c),
            _ => None,
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the recursion carries its context")]
    fn table(
        &mut self,
        file: FileId,
        name: &str,
        value: &Value,
        keys: &[ir::EnumId],
        ty: Type,
        cells: &mut Vec<Const>,
        assumed: &mut Vec<bool>,
    ) -> bool {
        let Some((&key, rest)) = keys.split_first() else {
            return match value {
                Value::Scalar(s) => match self.scalar(file, s, ty, assumed) {
                    Some(c) => {
                        cells.push(c);
                        true
                    }
                    None => false,
                },
                other => {
                    let tname = self.type_name(ty);
                    self.report(
                        Problem::error(
                            Code::TableShape,
                            file,
                            other.span(),
                            format!(
                                "expected a `{tname}` value in table `{name}`, found a nested table"
                            ),
                        )
                        .label("one level too deep")
                        .help("the table has as many levels as the enums after `by`"),
                    );
                    false
                }
            };
        };
        let Value::Table { entries, span } = value else {
            let enum_name = self.type_name(Type::Enum(key));
            self.report(
                Problem::error(
                    Code::TableShape,
                    file,
                    value.span(),
                    format!("expected a table keyed by `{enum_name}` in `{name}`"),
                )
                .label("a single value")
                .help(format!(
                    "write `{{ variant: value, ... }}` with every variant of `{enum_name}`"
                )),
            );
            return false;
        };
        let variants = self.enums.get(key).map(|e| e.variants.clone()).unwrap_or_default();
        let enum_name = self.type_name(Type::Enum(key));
        let mut slots: Vec<Option<&Value>> = vec![None; variants.len()];
        let mut key_spans: Vec<Option<Span>> = vec![None; variants.len()];
        let mut wildcard: Option<(&Value, Span)> = None;
        let mut ok = true;
        for entry in entries {
            match &entry.key {
                None => {
                    if let Some((_, first)) = wildcard {
                        self.report(
                            Problem::error(
                                Code::TableDuplicateKey,
                                file,
                                entry.key_span,
                                format!("`_` appears twice in `{name}`"),
                            )
                            .label("second `_`")
                            .with(first, "first `_`")
                            .help("keep one `_` for every other variant"),
                        );
                        ok = false;
                    }
                    wildcard = Some((&entry.value, entry.key_span));
                }
                Some(k) => match variants.iter().position(|v| *v == k.name) {
                    Some(i) => {
                        let symbol = Symbol::Variant(enum_name.clone(), k.name.clone());
                        self.refer(file, k.span, symbol);
                        if let Some(Some(first)) = key_spans.get(i) {
                            self.report(
                                Problem::error(
                                    Code::TableDuplicateKey,
                                    file,
                                    k.span,
                                    format!("`{}` appears twice in `{name}`", k.name),
                                )
                                .label("second value for this key")
                                .with(*first, "first value")
                                .help("keep one value per key"),
                            );
                            ok = false;
                            continue;
                        }
                        if let Some(slot) = slots.get_mut(i) {
                            *slot = Some(&entry.value);
                        }
                        if let Some(slot) = key_spans.get_mut(i) {
                            *slot = Some(k.span);
                        }
                    }
                    None => {
                        let help = match did_you_mean(&k.name, variants.iter().map(String::as_str))
                        {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "the variants of `{enum_name}` are {}",
                                variants
                                    .iter()
                                    .map(|v| format!("`{v}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        self.report(
                            Problem::error(
                                Code::NameUnknownVariant,
                                file,
                                k.span,
                                format!("`{}` is not a `{enum_name}`", k.name),
                            )
                            .label(format!("not a variant of `{enum_name}`"))
                            .help(help),
                        );
                        ok = false;
                    }
                },
            }
        }
        let missing: Vec<&String> =
            variants.iter().zip(&slots).filter(|(_, s)| s.is_none()).map(|(v, _)| v).collect();
        if let Some((_, wspan)) = wildcard {
            if missing.is_empty() {
                self.report(
                    Problem::warning(
                        Code::TableUselessWildcard,
                        file,
                        wspan,
                        format!("`_` in `{name}` matches no variant"),
                    )
                    .label("every variant is already listed")
                    .help("remove the `_` entry"),
                );
            }
        } else if !missing.is_empty() && ok {
            let list = missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
            let (at, insert) =
                missing_entries(self.file_text(file), *span, &missing, ty, rest.is_empty());
            self.report(
                Problem::error(
                    Code::TableMissingKeys,
                    file,
                    *span,
                    format!("table `{name}` has no value for {list}"),
                )
                .label(format!("missing {list}"))
                .help(format!(
                    "give every variant of `{enum_name}` a value, or add `_: value` for the rest; a value the source does not give is written with `assumed`"
                ))
                .fix(
                    format!("add {list} (each valued 0, to be filled in)"),
                    Span::new(at, at),
                    insert,
                ),
            );
            return false;
        }
        if !ok {
            return false;
        }
        for slot in slots {
            let v = match (slot, wildcard) {
                (Some(v), _) | (None, Some((v, _))) => v,
                (None, None) => return false,
            };
            if !self.table(file, name, v, rest, ty, cells, assumed) {
                ok = false;
            }
        }
        ok
    }

    fn scale(
        &mut self,
        file: FileId,
        name: &str,
        brackets: &[ast::Bracket],
        assumed: &mut Vec<bool>,
    ) -> Option<Vec<ir::ScaleBracket>> {
        let mut out = Vec::new();
        let mut ok = true;
        let mut previous: Option<&ast::Bracket> = None;
        for b in brackets {
            let rate = self.scalar(file, &b.rate, Type::Rate, assumed);
            match previous {
                None if !b.lower.0.is_zero() => {
                    self.report(
                        Problem::error(
                            Code::ScaleStart,
                            file,
                            b.lower.1,
                            format!("scale `{name}` starts at {}, not 0", b.lower.0),
                        )
                        .label("first bracket")
                        .help(format!(
                            "start the first bracket at 0: `0 .. {}: 0%` covers the amounts below",
                            b.lower.0
                        )),
                    );
                    ok = false;
                }
                Some(prev) => match prev.upper {
                    None => {
                        self.report(
                            Problem::error(
                                Code::ScaleOpenBracket,
                                file,
                                b.span,
                                format!("a bracket of `{name}` follows the open-ended one"),
                            )
                            .label("never reached")
                            .with(prev.span, "this bracket has no upper bound")
                            .help("only the last bracket may be open-ended: give the earlier one an upper bound"),
                        );
                        ok = false;
                    }
                    Some((upper, upper_span)) if b.lower.0 > upper => {
                        self.report(
                            Problem::error(
                                Code::ScaleGap,
                                file,
                                b.lower.1,
                                format!("scale `{name}` has a gap from {upper} to {}", b.lower.0),
                            )
                            .label(format!("starts at {}", b.lower.0))
                            .with(upper_span, format!("the bracket before ends at {upper}"))
                            .help(format!(
                                "start this bracket at {upper}, where the one before ends"
                            )),
                        );
                        ok = false;
                    }
                    Some((upper, upper_span)) if b.lower.0 < upper => {
                        self.report(
                            Problem::error(
                                Code::ScaleOverlap,
                                file,
                                b.lower.1,
                                format!(
                                    "brackets of `{name}` overlap from {} to {upper}",
                                    b.lower.0
                                ),
                            )
                            .label(format!("starts at {}", b.lower.0))
                            .with(upper_span, format!("the bracket before runs to {upper}"))
                            .help(format!(
                                "start this bracket at {upper}, where the one before ends"
                            )),
                        );
                        ok = false;
                    }
                    Some(_) => {}
                },
                None => {}
            }
            if let Some((upper, upper_span)) = b.upper {
                if upper <= b.lower.0 {
                    self.report(
                        Problem::error(
                            Code::ScaleDecreasing,
                            file,
                            upper_span,
                            format!("bracket {} .. {upper} of `{name}` is empty", b.lower.0),
                        )
                        .label("upper bound not above the lower")
                        .with(b.lower.1, "lower bound")
                        .help("write brackets as `lower .. upper` with the upper bound larger"),
                    );
                    ok = false;
                }
            }
            if let Some(Const::Rate(rate)) = rate {
                out.push(ir::ScaleBracket { lower: b.lower.0, upper: b.upper.map(|u| u.0), rate });
            } else {
                ok = false;
            }
            previous = Some(b);
        }
        ok.then_some(out)
    }
}

/// The entries a table lacks, each valued zero in the table's unit (an empty table for a
/// nested level), and where they go: before the closing brace, on lines of their own when the
/// table spans lines, else after the last entry.
fn missing_entries<M: AsRef<str>>(
    text: &str,
    table: Span,
    missing: &[M],
    ty: Type,
    leaf: bool,
) -> (usize, String) {
    let zero = match (leaf, ty) {
        (false, _) => "{}",
        (true, Type::Rate) => "0%",
        (true, _) => "0",
    };
    let entries = missing.iter().map(|m| format!("{}: {zero}", m.as_ref()));
    let body = text.get(table.range()).unwrap_or("");
    if body.contains('\n') {
        let indent_of = |l: &str| l.len() - l.trim_start().len();
        let indent = body.lines().nth(1).map_or(4, indent_of);
        let close = body.lines().last().map_or(0, indent_of);
        let step = " ".repeat(indent.saturating_sub(close));
        let at = (table.end as usize).saturating_sub(1);
        (at, entries.map(|e| format!("{step}{e}\n{}", " ".repeat(close))).collect())
    } else {
        let inner = body.trim_end_matches('}').trim_end();
        let sep = if inner.ends_with(',') || inner.ends_with('{') { " " } else { ", " };
        let at = table.start as usize + inner.len();
        (at, format!("{sep}{}", entries.collect::<Vec<_>>().join(", ")))
    }
}
