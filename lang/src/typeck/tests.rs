//! In-file tests: claims built from the input record, expectations over their values.

use crate::ast::{self, FieldValue, Item};
use crate::diagnostic::{Code, FileId, Problem, did_you_mean};
use crate::ir::{self, Const, Type};
use crate::span::Span;

use super::expr::Scope;
use super::period::Phase;
use crate::check::Checker;
use crate::resolve::symbols::{Kind, Symbol, SymbolId};

impl Checker<'_> {
    /// Check every test of the policy's own file.
    pub(crate) fn check_tests(&mut self) {
        let items = self.items.clone();
        for m in &items {
            if let Item::Test(t) = m.item {
                if let Some(test) = self.check_test(m.file, t) {
                    self.tests.push(test);
                }
            }
        }
    }

    pub(crate) fn check_test(&mut self, file: FileId, t: &ast::TestDecl) -> Option<ir::Test> {
        // Each claim is a symbol of its own, bound here: its reads are recorded with this id.
        let bound: Vec<SymbolId> = t
            .claims
            .iter()
            .map(|c| {
                let claim = Symbol::Claim(file, c.label.span, c.label.name.clone());
                let id = self.symbols.add(claim);
                self.symbols.declare(id, Kind::Claim, file, c.label.span, c.span, false);
                id
            })
            .collect();
        let (input, input_name) = self.input.clone()?;
        let input_symbol = self.globals.get(&input_name).map(|(_, d)| d.symbol);
        let mut claims = Vec::new();
        let mut labels: Vec<(String, Span, SymbolId)> = Vec::new();
        let mut ok = true;
        for (c, &id) in t.claims.iter().zip(&bound) {
            if let Some(symbol) = input_symbol.filter(|_| c.record.name == input_name) {
                self.refer(file, c.record.span, symbol);
            }
            if c.record.name != input_name {
                self.report(
                    Problem::error(
                        Code::TestNotTheInput,
                        file,
                        c.record.span,
                        format!("a test claim is a `{input_name}`, not a `{}`", c.record.name),
                    )
                    .label("not the input record")
                    .help(format!("write `{input_name} {} {{ ... }}`", c.label.name)),
                );
                ok = false;
                continue;
            }
            if let Some((_, first, _)) = labels.iter().find(|(l, ..)| *l == c.label.name) {
                self.report(
                    Problem::error(
                        Code::TestDuplicateClaim,
                        file,
                        c.label.span,
                        format!("two claims of this test are called `{}`", c.label.name),
                    )
                    .label("second claim with this name")
                    .with(*first, "first claim")
                    .help("give each claim its own name; it is also the claim's id unless `id` is given"),
                );
                ok = false;
                continue;
            }
            labels.push((c.label.name.clone(), c.label.span, id));
            match self.test_record(file, input, &c.fields, c.span, Some(&c.label.name)) {
                Some(fields) => {
                    self.warn_before_parameters(file, c, &fields);
                    claims.push(ir::TestClaim {
                        label: c.label.name.clone(),
                        fields,
                        span: c.span,
                    });
                }
                None => ok = false,
            }
        }
        if t.claims.is_empty() {
            self.report(
                Problem::error(
                    Code::TestNoClaims,
                    file,
                    t.name.span,
                    format!("test \"{}\" settles no claim", t.name.value),
                )
                .label("no claims")
                .help(format!(
                    "add a claim: `{input_name} a {{ member: \"m1\", date: 2024-03-01, ... }}`"
                )),
            );
            ok = false;
        }
        if t.expects.is_empty() {
            self.report(
                Problem::warning(
                    Code::TestNoExpectation,
                    file,
                    t.name.span,
                    format!("test \"{}\" expects nothing", t.name.value),
                )
                .label("this test cannot fail")
                .help("add a line such as `expect a.basic.pay == 8_820.00`"),
            );
        }
        self.record_scope(file, t.span, labels.iter().map(|(.., id)| *id).collect());
        let claims_in_scope = labels.into_iter().map(|(label, _, id)| (label, id)).collect();
        // The test's claims are also a period: its expectations may read the period's values.
        let scope =
            Scope { file, claims: claims_in_scope, period: Some(Phase::Test), ..Scope::default() };
        let mut expects = Vec::new();
        for e in &t.expects {
            match self.condition(&scope, e) {
                Some(expr) => expects.push(ir::Expect {
                    expr,
                    text: self.source_text(file, e.span),
                    span: e.span,
                }),
                None => ok = false,
            }
        }
        ok.then(|| ir::Test { name: t.name.value.clone(), claims, expects, span: t.span })
    }

    /// Warn when a test claim is dated before some parameter's first value takes effect.
    fn warn_before_parameters(&mut self, file: FileId, c: &ast::TestClaim, fields: &[Const]) {
        let Some(Const::Date(date)) = self.dated_field.and_then(|i| fields.get(i)) else { return };
        let first = self
            .params
            .iter()
            .filter_map(|p| p.def.as_ref())
            .filter_map(|p| {
                p.versions.first().and_then(|v| v.from).map(|from| (from, p.name.clone()))
            })
            .filter(|(from, _)| from > date)
            .min();
        if let Some((from, name)) = first {
            self.report(
                Problem::warning(
                    Code::TestBeforeParameters,
                    file,
                    c.label.span,
                    format!("claim `{}` is dated {date}, before `{name}` takes effect ({from})", c.label.name),
                )
                .label("this claim will not settle")
                .help(format!("date the claim on or after {from}, or give `{name}` a value from an earlier date")),
            );
        }
    }

    /// A value for every field of `record`, from the fields given and defaults for the rest.
    fn test_record(
        &mut self,
        file: FileId,
        record: ir::RecordId,
        given: &[ast::FieldInit],
        span: Span,
        label: Option<&str>,
    ) -> Option<Vec<Const>> {
        let def = self.records.get(record)?.clone();
        let mut values: Vec<Option<Const>> = vec![None; def.fields.len()];
        let mut spans: Vec<Option<Span>> = vec![None; def.fields.len()];
        let mut ok = true;
        let scope = Scope { file, ..Scope::default() };
        for f in given {
            let found = def.fields.iter().position(|d| d.name == f.name.name);
            if let Some(symbol) = found.and_then(|i| self.symbols.field(record, i)) {
                self.refer(file, f.name.span, symbol);
            }
            let Some(i) = found else {
                let names: Vec<&str> = def.fields.iter().map(|d| d.name.as_str()).collect();
                let help = match did_you_mean(&f.name.name, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the fields of `{}` are {}",
                        def.name,
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                self.report(
                    Problem::error(
                        Code::NameUnknownField,
                        file,
                        f.name.span,
                        format!("`{}` has no field `{}`", def.name, f.name.name),
                    )
                    .label("no such field")
                    .help(help),
                );
                ok = false;
                continue;
            };
            if let Some(Some(first)) = spans.get(i) {
                self.report(crate::resolve::decls::duplicate(
                    file,
                    &f.name.name,
                    f.name.span,
                    *first,
                ));
                ok = false;
                continue;
            }
            if let Some(s) = spans.get_mut(i) {
                *s = Some(f.name.span);
            }
            let Some(ty) = def.fields.get(i).map(|d| d.ty) else { continue };
            let value = match (&f.value, ty) {
                (FieldValue::List(items, _), Type::List(r)) => {
                    let mut out = Vec::new();
                    for (fields, item_span) in items {
                        match self.test_record(file, r, fields, *item_span, None) {
                            Some(v) => out.push(Const::Record(v)),
                            None => ok = false,
                        }
                    }
                    Some(Const::List(out))
                }
                (FieldValue::List(_, lspan), _) => {
                    let tname = self.type_name(ty);
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            file,
                            *lspan,
                            format!("field `{}` is `{tname}`, not a list", f.name.name),
                        )
                        .label("a list")
                        .help(format!("give a single `{tname}` value")),
                    );
                    None
                }
                (FieldValue::Expr(e), _) => {
                    let converted =
                        self.expr_of(&scope, e, ty, &format!("field `{}`", f.name.name));
                    match converted.map(|x| constant_value(&x)) {
                        Some(Some(c)) => Some(c),
                        Some(None) => {
                            self.report(
                                Problem::error(
                                    Code::TypeMismatch,
                                    file,
                                    e.span,
                                    "a test claim's fields are written as plain values",
                                )
                                .label("not a plain value")
                                .help("write the figure itself, such as `10_000` or `2021-08-01`"),
                            );
                            None
                        }
                        None => None,
                    }
                }
            };
            match value {
                Some(v) => {
                    if let Some(slot) = values.get_mut(i) {
                        *slot = Some(v);
                    }
                }
                None => ok = false,
            }
        }
        let mut missing = Vec::new();
        let mut out = Vec::with_capacity(values.len());
        for (field, value) in def.fields.iter().zip(values) {
            let v = match value {
                Some(v) => v,
                None => match (field.ty, field.name.as_str(), label) {
                    (Type::Text, "id", Some(l)) => Const::Text(l.into()),
                    (Type::Money, ..) => Const::Money(rust_decimal::Decimal::ZERO),
                    (Type::Rate, ..) => Const::Rate(rust_decimal::Decimal::ZERO),
                    (Type::Int, ..) => Const::Int(0),
                    (Type::Bool, ..) => Const::Bool(false),
                    (Type::Text, ..) => Const::Text("".into()),
                    (Type::List(_), ..) => Const::List(Vec::new()),
                    _ => {
                        missing.push(field.name.clone());
                        continue;
                    }
                },
            };
            out.push(v);
        }
        if !missing.is_empty() {
            let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
            self.report(
                Problem::error(
                    Code::TestMissingField,
                    file,
                    span,
                    format!("this claim gives no {list}"),
                )
                .label(format!("missing {list}"))
                .help("dates and enum fields have no default: give them; amounts default to 0"),
            );
            return None;
        }
        ok.then_some(out)
    }
}

fn constant_value(e: &ir::Expr) -> Option<Const> {
    match &e.kind {
        ir::ExprKind::Const(c) => Some(c.clone()),
        ir::ExprKind::Neg(x) => match constant_value(x)? {
            Const::Money(d) => Some(Const::Money(-d)),
            Const::Rate(d) => Some(Const::Rate(-d)),
            Const::Int(i) => i.checked_neg().map(Const::Int),
            _ => None,
        },
        _ => None,
    }
}
