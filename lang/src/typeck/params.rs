//! Parameters: their types, effective dates, tables checked exhaustive, scales checked for gaps.

use rust_decimal::Decimal;

use crate::ast::{self, Item, ParamType, Scalar, Value};
use crate::date::Date;
use crate::diagnostic::{Code, FileId, Problem, did_you_mean};
use crate::ir::{self, Const, ParamKind, ParamValue, Type};
use crate::span::Span;

use super::expr::literal;
use crate::check::{Checker, Global, ParamSlot};

/// A parameter's checked values: one list, or one per variant of a keyed scale.
enum Versions {
    One(Vec<ir::ParamVersion>),
    PerVariant(Vec<(String, Vec<ir::ParamVersion>)>),
}

impl Checker<'_> {
    /// Check every parameter and record its IR form.
    pub(crate) fn check_params(&mut self) {
        let items = self.items.clone();
        // Scales last: their bounds may name money parameters, read once those are checked.
        let is_scale = |m: &crate::check::Merged<'_>| {
            let declared = match (m.item, m.base) {
                (Item::Param(p), _) | (Item::ParamAdd(_), Some((_, Item::Param(p)))) => p,
                _ => return false,
            };
            matches!(declared.ty, ParamType::Scale { .. })
        };
        let (scales, others): (Vec<&crate::check::Merged<'_>>, Vec<_>) =
            items.iter().partition(|m| is_scale(m));
        for m in others.into_iter().chain(scales) {
            if let (Item::ParamAdd(add), Some(Global::Param(id))) = (m.item, m.id) {
                self.check_addition(m.file, add, m.base, id);
                continue;
            }
            let (Item::Param(p), Some(Global::Param(id))) = (m.item, m.id) else { continue };
            if let Some((base_file, Item::Param(base))) = m.base {
                self.resolve_replaced_param(base_file, base);
            }
            let Some(kind) = self.param_kind(m.file, &p.ty) else { continue };
            let versions = self.all_versions(m.file, p, &kind, &[]);
            self.define(id, p, &p.sources, kind, versions);
        }
    }

    /// Resolve the names of a base's parameter that an override replaces: editors still read
    /// them (a rename must reach them); its problems are left unreported.
    pub(crate) fn resolve_replaced_param(&mut self, file: FileId, base: &ast::ParamDecl) {
        let before = self.problems.len();
        if let Some(kind) = self.param_kind(file, &base.ty) {
            let _ = self.all_versions(file, base, &kind, &[]);
        }
        self.problems.truncate(before);
    }

    /// Record the IR form of parameter `id`; a keyed scale's variants become parameters of
    /// their own, handed ids here.
    fn define(
        &mut self,
        id: ir::ParamId,
        p: &ast::ParamDecl,
        sources: &[ast::Text],
        kind: ParamKind,
        versions: Option<Versions>,
    ) {
        let sources: Vec<String> = sources.iter().map(|s| s.value.clone()).collect();
        let def = match (kind, versions) {
            (_, None) => None,
            (ParamKind::ScaleBy { key, .. }, Some(Versions::PerVariant(per_variant))) => {
                let decl = self.params.get(id).map(|slot| slot.decl);
                let mut scales = Vec::new();
                for (variant, versions) in per_variant {
                    let Some(decl) = decl else { return };
                    scales.push(self.params.len());
                    self.params.push(ParamSlot {
                        def: Some(ir::Param {
                            name: format!("{}[{variant}]", p.name.name),
                            kind: ParamKind::Scale,
                            versions,
                            sources: sources.clone(),
                            span: p.name.span,
                        }),
                        used: true,
                        decl,
                    });
                }
                Some(ir::Param {
                    name: p.name.name.clone(),
                    kind: ParamKind::ScaleBy { key, scales },
                    versions: Vec::new(),
                    sources,
                    span: p.name.span,
                })
            }
            (kind, Some(Versions::One(versions))) => Some(ir::Param {
                name: p.name.name.clone(),
                kind,
                versions,
                sources,
                span: p.name.span,
            }),
            (_, Some(Versions::PerVariant(_))) => None,
        };
        if let Some(slot) = self.params.get_mut(id) {
            slot.def = def;
        }
    }

    /// The versions of a parameter: for a keyed scale, those of each variant's scale.
    fn all_versions(
        &mut self,
        file: FileId,
        p: &ast::ParamDecl,
        kind: &ParamKind,
        cuts: &[Date],
    ) -> Option<Versions> {
        let ParamKind::ScaleBy { key, .. } = kind else {
            return self.versions(file, p, kind, cuts).map(Versions::One);
        };
        let split = self.split_scale(file, p, *key)?;
        let before = self.problems.len();
        let mut out = Vec::new();
        let mut ok = true;
        for (variant, decl) in split {
            match self.versions(file, &decl, &ParamKind::Scale, cuts) {
                Some(v) => out.push((variant, v)),
                None => ok = false,
            }
        }
        // A scale written once for several variants (`_: { ... }`) is reported once.
        let mut seen = Vec::new();
        for problem in self.problems.split_off(before) {
            let at: Vec<Span> = problem.labels.iter().map(|l| l.span).collect();
            if !seen.contains(&(problem.code, at.clone())) {
                seen.push((problem.code, at));
                self.problems.push(problem);
            }
        }
        ok.then_some(Versions::PerVariant(out))
    }

    /// A keyed scale split into one scale per variant of its key, named `name[variant]`, each
    /// with the declaration's dates and sources.
    fn split_scale(
        &mut self,
        file: FileId,
        p: &ast::ParamDecl,
        key: ir::EnumId,
    ) -> Option<Vec<(String, ast::ParamDecl)>> {
        let variants = self.enums.get(key).map(|e| e.variants.clone())?;
        let enum_name = self.type_name(Type::Enum(key));
        let mut per_version = Vec::new();
        let mut ok = true;
        for v in &p.versions {
            if !matches!(v.value, Value::Table { .. }) {
                self.report(
                    Problem::error(
                        Code::TableShape,
                        file,
                        v.value.span(),
                        format!("`{}` needs a scale per `{enum_name}`", p.name.name),
                    )
                    .label("not keyed by a variant")
                    .help(format!(
                        "write `{{ {}: {{ 0 .. 100_000: 60%, 100_000 ..: 70% }}, ... }}` with every variant of `{enum_name}`, or `_` for the rest",
                        variants.first().map_or("variant", String::as_str)
                    )),
                );
                ok = false;
                continue;
            }
            let mut leaves = Vec::new();
            if !self.table(file, &p.name.name, &v.value, &[key], "{ 0 ..: 0% }", &mut leaves) {
                ok = false;
                continue;
            }
            for leaf in &leaves {
                if !matches!(leaf, Value::Scale { .. }) {
                    self.report(
                        Problem::error(
                            Code::TableShape,
                            file,
                            leaf.span(),
                            format!("`{}` needs a scale for each `{enum_name}`", p.name.name),
                        )
                        .label("not a scale")
                        .help("write the variant's brackets: `{ 0 .. 100_000: 60%, 100_000 ..: 70% }`"),
                    );
                    ok = false;
                }
            }
            per_version.push(leaves.into_iter().cloned().collect::<Vec<_>>());
        }
        if !ok {
            return None;
        }
        let split = variants
            .iter()
            .enumerate()
            .map(|(k, variant)| {
                let versions = p
                    .versions
                    .iter()
                    .zip(&per_version)
                    .filter_map(|(v, leaves)| {
                        Some(ast::Version { value: leaves.get(k)?.clone(), ..v.clone() })
                    })
                    .collect();
                let decl = ast::ParamDecl {
                    overrides: p.overrides,
                    name: ast::Ident {
                        name: format!("{}[{variant}]", p.name.name),
                        span: p.name.span,
                    },
                    ty: ParamType::Scale { span: p.name.span, by: None },
                    sources: p.sources.clone(),
                    versions,
                    span: p.span,
                };
                (variant.clone(), decl)
            })
            .collect();
        Some(split)
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
        let dates = |versions: &[ast::Version]| -> Vec<Date> {
            versions.iter().filter_map(|v| v.from.map(|(d, _)| d)).collect()
        };
        let (base_dates, added_dates) = (dates(&base.versions), dates(&add.versions));
        let Some(versions) = self.all_versions(base_file, base, &kind, &added_dates) else {
            return;
        };
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
        let Some(additions) = self.all_versions(file, &added, &kind, &base_dates) else {
            return;
        };
        if !ok {
            return;
        }
        // A stable sort: the base's values and the additions, oldest first (dates all differ).
        let merge = |mut ours: Vec<ir::ParamVersion>, theirs: Vec<ir::ParamVersion>| {
            ours.extend(theirs);
            ours.sort_by_key(|v| v.from);
            ours
        };
        let combined = match (versions, additions) {
            (Versions::One(ours), Versions::One(theirs)) => Versions::One(merge(ours, theirs)),
            (Versions::PerVariant(ours), Versions::PerVariant(theirs)) => Versions::PerVariant(
                ours.into_iter()
                    .zip(theirs)
                    .map(|((variant, ours), (_, theirs))| (variant, merge(ours, theirs)))
                    .collect(),
            ),
            // One kind splits both or neither.
            _ => return,
        };
        self.define(id, &added, &base.sources, kind, Some(combined));
    }

    fn param_kind(&mut self, file: FileId, ty: &ParamType) -> Option<ParamKind> {
        match ty {
            ParamType::Scale { by: None, .. } => Some(ParamKind::Scale),
            ParamType::Scale { by: Some(key), .. } => {
                let key = self.key_enum(file, key)?;
                Some(ParamKind::ScaleBy { key, scales: Vec::new() })
            }
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
                    enums.push(self.key_enum(file, key)?);
                }
                Some(ParamKind::Table { keys: enums, value })
            }
        }
    }

    /// The enum a table or scale is keyed by.
    fn key_enum(&mut self, file: FileId, key: &ast::Ident) -> Option<ir::EnumId> {
        if let Some(&(e, decl)) = self.enum_names.get(&key.name) {
            self.refer(file, key.span, decl.symbol);
            return Some(e);
        }
        let help = match did_you_mean(&key.name, self.enum_names.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "tables and scales are keyed by enums: declare one with `enum Name { ... }`"
                .to_string(),
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
        None
    }

    fn versions(
        &mut self,
        file: FileId,
        p: &ast::ParamDecl,
        kind: &ParamKind,
        cuts: &[Date],
    ) -> Option<Vec<ir::ParamVersion>> {
        let mut out = Vec::new();
        let mut ok = true;
        let mut previous: Option<(Date, Span)> = None;
        for (i, v) in p.versions.iter().enumerate() {
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
            if let (ParamKind::Scale, Value::Scale { brackets, .. }) = (kind, &v.value) {
                // The value is in force until the next `from` line, or the next date another
                // file adds a value on; a bound naming a parameter that changes meanwhile
                // starts a version of its own on that date.
                let from = v.from.map(|(d, _)| d);
                let next = p.versions.get(i + 1).and_then(|n| n.from).map(|(d, _)| d);
                let later = cuts.iter().copied().filter(|c| from.is_none_or(|f| *c > f));
                let end = later.chain(next).min();
                let sources: Vec<String> = v.sources.iter().map(|s| s.value.clone()).collect();
                for (j, at) in self.bound_dates(brackets, from, end).into_iter().enumerate() {
                    let mut assumed = Vec::new();
                    match self.scale(file, &p.name.name, brackets, at, &mut assumed) {
                        Some(brackets) => out.push(ir::ParamVersion {
                            from: at,
                            from_assumed: v.from_assumed && j == 0,
                            value: ParamValue::Scale(brackets),
                            assumed,
                            sources: sources.clone(),
                        }),
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                continue;
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
                let zero = if *ty == Type::Rate { "0%" } else { "0" };
                let mut leaves = Vec::new();
                if !self.table(file, name, value, keys, zero, &mut leaves) {
                    return None;
                }
                let mut cells = Vec::new();
                let mut ok = true;
                for leaf in leaves {
                    let Value::Scalar(s) = leaf else {
                        let tname = self.type_name(*ty);
                        self.report(
                            Problem::error(
                                Code::TableShape,
                                file,
                                leaf.span(),
                                format!(
                                    "expected a `{tname}` value in table `{name}`, found a nested table"
                                ),
                            )
                            .label("one level too deep")
                            .help("the table has as many levels as the enums after `by`"),
                        );
                        ok = false;
                        continue;
                    };
                    match self.scalar(file, s, *ty, assumed) {
                        Some(c) => cells.push(c),
                        None => ok = false,
                    }
                }
                ok.then_some(ParamValue::Table(cells))
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
                    ParamKind::ScaleBy { key, .. } => {
                        format!("a scale per `{}`", self.type_name(Type::Enum(*key)))
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

    /// Check a table's keys level by level and collect its leaves (the values under the last
    /// key) in row-major order of `keys`, `_` standing for the variants it covers. `zero` is
    /// a leaf written in the fix for missing keys.
    fn table<'v>(
        &mut self,
        file: FileId,
        name: &str,
        value: &'v Value,
        keys: &[ir::EnumId],
        zero: &str,
        leaves: &mut Vec<&'v Value>,
    ) -> bool {
        let Some((&key, rest)) = keys.split_first() else {
            leaves.push(value);
            return true;
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
        let mut slots: Vec<Option<&'v Value>> = vec![None; variants.len()];
        let mut key_spans: Vec<Option<Span>> = vec![None; variants.len()];
        let mut wildcard: Option<(&'v Value, Span)> = None;
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
                        if let Some(symbol) = self.symbols.variant(key, i) {
                            self.refer(file, k.span, symbol);
                        }
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
                missing_entries(self.file_text(file), *span, &missing, zero, rest.is_empty());
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
            if !self.table(file, name, v, rest, zero, leaves) {
                ok = false;
            }
        }
        ok
    }

    /// Check a scale's brackets with their bounds as in force on `at`: from 0, contiguous,
    /// each non-empty, only the last open-ended.
    fn scale(
        &mut self,
        file: FileId,
        name: &str,
        brackets: &[ast::Bracket],
        at: Option<Date>,
        assumed: &mut Vec<bool>,
    ) -> Option<Vec<ir::ScaleBracket>> {
        // Each bound resolved, a name that fails reported once.
        let mut failed: Vec<String> = Vec::new();
        let mut resolve = |this: &mut Self, bound: &ast::Bound| {
            if let ast::Bound::Param(p) = bound {
                if failed.contains(&p.name) {
                    return None;
                }
            }
            let value = this.bound(file, name, bound, at);
            if let (None, ast::Bound::Param(p)) = (value, bound) {
                failed.push(p.name.clone());
            }
            value
        };
        let mut resolved = Vec::new();
        for b in brackets {
            let lower = resolve(self, &b.lower);
            let upper = b.upper.as_ref().map(|u| resolve(self, u));
            resolved.push((b, lower, upper));
        }
        let mut bounds = Vec::new();
        for (b, lower, upper) in resolved {
            let upper = match upper {
                Some(u) => Some(u?),
                None => None,
            };
            bounds.push((b, lower?, upper));
        }
        // A bound naming a parameter is shown with its value, and the date it holds from.
        let named = brackets.iter().any(|b| {
            std::iter::once(&b.lower).chain(&b.upper).any(|x| matches!(x, ast::Bound::Param(_)))
        });
        let on = match at {
            Some(d) if named => format!(" from {d}"),
            _ => String::new(),
        };
        let show = |bound: &ast::Bound, value: Decimal| match bound {
            ast::Bound::Amount(..) => value.to_string(),
            ast::Bound::Param(p) => format!("`{}` ({value})", p.name),
        };
        let note = |bound: &ast::Bound, value: Decimal| match bound {
            ast::Bound::Amount(..) => String::new(),
            ast::Bound::Param(p) => format!(": `{}` is {value}", p.name),
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut previous: Option<(&ast::Bracket, Option<Decimal>)> = None;
        for &(b, lower, upper) in &bounds {
            let rate = self.scalar(file, &b.rate, Type::Rate, assumed);
            let lower_span = b.lower.span();
            match previous {
                None if !lower.is_zero() => {
                    self.report(
                        Problem::error(
                            Code::ScaleStart,
                            file,
                            lower_span,
                            format!("scale `{name}` starts at {lower}, not 0{on}"),
                        )
                        .label(format!("first bracket{}", note(&b.lower, lower)))
                        .help(format!(
                            "start the first bracket at 0: `0 .. {lower}: 0%` covers the amounts below"
                        )),
                    );
                    ok = false;
                }
                Some((prev, prev_upper)) => match (prev_upper, &prev.upper) {
                    (Some(upper), Some(prev_bound)) if lower > upper => {
                        self.report(
                            Problem::error(
                                Code::ScaleGap,
                                file,
                                lower_span,
                                format!("scale `{name}` has a gap from {upper} to {lower}{on}"),
                            )
                            .label(format!("starts at {}", show(&b.lower, lower)))
                            .with(
                                prev_bound.span(),
                                format!("the bracket before ends at {}", show(prev_bound, upper)),
                            )
                            .help(format!(
                                "start this bracket at {upper}, where the one before ends"
                            )),
                        );
                        ok = false;
                    }
                    (Some(upper), Some(prev_bound)) if lower < upper => {
                        self.report(
                            Problem::error(
                                Code::ScaleOverlap,
                                file,
                                lower_span,
                                format!("brackets of `{name}` overlap from {lower} to {upper}{on}"),
                            )
                            .label(format!("starts at {}", show(&b.lower, lower)))
                            .with(
                                prev_bound.span(),
                                format!("the bracket before runs to {}", show(prev_bound, upper)),
                            )
                            .help(format!(
                                "start this bracket at {upper}, where the one before ends"
                            )),
                        );
                        ok = false;
                    }
                    (Some(_), _) => {}
                    (None, _) => {
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
                },
                None => {}
            }
            if let (Some(upper), Some(upper_bound)) = (upper, &b.upper) {
                if upper <= lower {
                    self.report(
                        Problem::error(
                            Code::ScaleDecreasing,
                            file,
                            upper_bound.span(),
                            format!("bracket {lower} .. {upper} of `{name}` is empty{on}"),
                        )
                        .label(format!(
                            "upper bound not above the lower{}",
                            note(upper_bound, upper)
                        ))
                        .with(lower_span, format!("lower bound{}", note(&b.lower, lower)))
                        .help("write brackets as `lower .. upper` with the upper bound larger"),
                    );
                    ok = false;
                }
            }
            if let Some(Const::Rate(rate)) = rate {
                out.push(ir::ScaleBracket { lower, upper, rate });
            } else {
                ok = false;
            }
            previous = Some((b, upper));
        }
        ok.then_some(out)
    }

    /// The money parameter a bracket bound names, if it names one.
    fn money_param(&self, name: &str) -> Option<ir::ParamId> {
        match self.globals.get(name).map(|(g, _)| *g) {
            Some(Global::Param(p))
                if self.params.get(p).and_then(|x| x.def.as_ref()).map(|x| &x.kind)
                    == Some(&ParamKind::Scalar(Type::Money)) =>
            {
                Some(p)
            }
            _ => None,
        }
    }

    /// The dates a scale's value from `from` (to `end`, exclusive) takes effect on: its own
    /// date, then each date a money parameter named by a bound takes a new value. An undated
    /// scale whose bounds are dated starts with the first of those dates.
    fn bound_dates(
        &self,
        brackets: &[ast::Bracket],
        from: Option<Date>,
        end: Option<Date>,
    ) -> Vec<Option<Date>> {
        let mut dates: Vec<Date> = brackets
            .iter()
            .flat_map(|b| std::iter::once(&b.lower).chain(&b.upper))
            .filter_map(|b| match b {
                ast::Bound::Param(name) => self.money_param(&name.name),
                ast::Bound::Amount(..) => None,
            })
            .filter_map(|p| self.params.get(p).and_then(|x| x.def.as_ref()))
            .flat_map(|def| def.versions.iter().filter_map(|v| v.from))
            .filter(|d| from.is_none_or(|f| *d > f) && end.is_none_or(|e| *d < e))
            .collect();
        dates.sort_unstable();
        dates.dedup();
        match from {
            Some(f) => std::iter::once(f).chain(dates).map(Some).collect(),
            None if dates.is_empty() => vec![None],
            None => dates.into_iter().map(Some).collect(),
        }
    }

    /// The value of a bracket bound on `at`: an amount, or the money parameter it names as in
    /// force on that date.
    fn bound(
        &mut self,
        file: FileId,
        scale: &str,
        bound: &ast::Bound,
        at: Option<Date>,
    ) -> Option<Decimal> {
        let name = match bound {
            ast::Bound::Amount(value, _) => return Some(*value),
            ast::Bound::Param(name) => name,
        };
        let Some((Global::Param(p), decl)) = self.globals.get(&name.name).copied() else {
            let params: Vec<String> = self
                .globals
                .iter()
                .filter(|(_, (g, _))| matches!(g, Global::Param(_)))
                .map(|(n, _)| n.clone())
                .collect();
            let help = match did_you_mean(&name.name, params.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "write an amount, or declare the bound with its source: `param {}: money = ...`",
                    name.name
                ),
            };
            self.report(
                Problem::error(
                    Code::ScaleBound,
                    file,
                    name.span,
                    format!("`{}` in scale `{scale}` is not a parameter", name.name),
                )
                .label("a bound is an amount or a money parameter")
                .help(help),
            );
            return None;
        };
        self.refer(file, name.span, decl.symbol);
        if let Some(slot) = self.params.get_mut(p) {
            slot.used = true;
        }
        // A parameter with problems of its own has been reported.
        let def = self.params.get(p).and_then(|x| x.def.as_ref())?;
        let found = match &def.kind {
            ParamKind::Scalar(Type::Money) => None,
            ParamKind::Scalar(t) => Some(format!("a `{}`", self.type_name(*t))),
            ParamKind::Table { .. } => Some("a table".to_string()),
            ParamKind::Scale | ParamKind::ScaleBy { .. } => Some("a scale".to_string()),
        };
        if let Some(found) = found {
            self.report(
                Problem::error(
                    Code::ScaleBound,
                    file,
                    name.span,
                    format!(
                        "a bound of scale `{scale}` is an amount, but `{}` is {found}",
                        name.name
                    ),
                )
                .label(format!("{found}, not `money`"))
                .help("bounds are amounts in yuan: name a `money` parameter, or write an amount"),
            );
            return None;
        }
        let version = def.versions.iter().rev().find(|v| match (v.from, at) {
            (None, _) => true,
            (Some(from), Some(at)) => from <= at,
            (Some(_), None) => false,
        });
        match version.map(|v| &v.value) {
            Some(ParamValue::Scalar(Const::Money(value))) => Some(*value),
            // A `money` parameter holds amounts only.
            Some(_) => None,
            None => {
                let first = def.versions.first().and_then(|v| v.from);
                let when = at.map_or_else(|| "on every date".to_string(), |d| format!("from {d}"));
                let help = match (first, at) {
                    (Some(first), Some(at)) => format!(
                        "`{0}` starts on {first}: start this value of the scale on that date, or give `{0}` a value from {at}",
                        name.name
                    ),
                    _ => format!("give `{}` a value on the scale's dates", name.name),
                };
                self.report(
                    Problem::error(
                        Code::ScaleBoundNotInForce,
                        file,
                        name.span,
                        format!("`{}` has no value when scale `{scale}` takes effect", name.name),
                    )
                    .label(format!("the scale is in force {when}"))
                    .help(help),
                );
                None
            }
        }
    }
}

/// The entries a table lacks, each valued zero in the table's unit (an empty table for a
/// nested level), and where they go: before the closing brace, on lines of their own when the
/// table spans lines, else after the last entry.
fn missing_entries<M: AsRef<str>>(
    text: &str,
    table: Span,
    missing: &[M],
    zero: &str,
    leaf: bool,
) -> (usize, String) {
    let zero = if leaf { zero } else { "{}" };
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
