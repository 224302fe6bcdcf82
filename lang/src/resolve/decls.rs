//! Declaring every name: the header, enums, records, the input, and the value namespace.

use crate::ast::{self, Item, RecordDecl, StageStmt};
use crate::diagnostic::{Code, Problem, did_you_mean};
use crate::ir::{self, Type, ValueKind};
use crate::span::Span;

use crate::check::{AccSlot, Checker, Decl, Global, ParamSlot, Slot, StageInfo};
use crate::diagnostic::FileId;
use crate::resolve::symbols::{Kind, Symbol, SymbolId};

impl Checker<'_> {
    /// Declare the header, types and every value name; report duplicates.
    pub(crate) fn declare(&mut self) {
        self.declare_header();
        self.declare_types();
        let items = self.items.clone();
        for (index, m) in items.iter().enumerate() {
            let file = m.file;
            let Some(value) = value_decl(m.item) else { continue };
            let id = match m.item {
                Item::Yearly(y) => {
                    let id = Global::Acc(self.accs.len());
                    self.accs.push(AccSlot { def: None, ty: None });
                    let symbol = self.declare_value(file, m.item, value);
                    let decl = Decl { file, span: y.name.span, extent: y.span, symbol };
                    self.declare_global(&y.name.name, id, decl);
                    id
                }
                Item::Param(ast::ParamDecl { name, span, .. })
                | Item::ParamAdd(ast::ParamAddDecl { name, span, .. }) => {
                    let symbol = self.declare_value(file, m.item, value);
                    let decl = Decl { file, span: name.span, extent: *span, symbol };
                    let id = Global::Param(self.params.len());
                    self.params.push(ParamSlot { def: None, used: false, decl });
                    self.declare_global(&name.name, id, decl);
                    id
                }
                Item::Let(l) => {
                    let symbol = self.declare_value(file, m.item, value);
                    let decl = Decl { file, span: l.name.span, extent: l.span, symbol };
                    let id = Global::Value(self.new_slot(&l.name.name, ValueKind::Let, decl, None));
                    self.declare_global(&l.name.name, id, decl);
                    id
                }
                Item::Rule(r) => {
                    let symbol = self.declare_value(file, m.item, value);
                    let decl = Decl { file, span: r.name.span, extent: r.span, symbol };
                    let ty = self.resolve_type(file, &r.ty);
                    let value = self.new_slot(&r.name.name, ValueKind::Rule, decl, ty);
                    if let Some(slot) = self.slots.get_mut(value) {
                        slot.sources = r.sources.iter().map(|s| s.value.clone()).collect();
                    }
                    self.declare_global(&r.name.name, Global::Value(value), decl);
                    Global::Value(value)
                }
                Item::Stage(s) => {
                    let stage = self.stages.len();
                    // A stage declared twice: its outputs and `let`s are the first's namesakes.
                    let first = match self.globals.get(&s.name.name) {
                        Some((Global::Stage(first), _)) => self.stages.get(*first).cloned(),
                        _ => None,
                    };
                    let symbol = self.declare_value(file, m.item, value);
                    let decl = Decl { file, span: s.name.span, extent: s.span, symbol };
                    self.declare_global(&s.name.name, Global::Stage(stage), decl);
                    let mut outputs: Vec<(String, ir::ValueId)> = Vec::new();
                    for (name, ty) in &s.outputs {
                        let ty_span = ty.span();
                        let extent = name.span.to(ty_span);
                        if let Some((_, first)) = outputs.iter().find(|(n, _)| *n == name.name) {
                            let (first_span, symbol) = match self.slots.get(*first) {
                                Some(slot) => (slot.decl.span, slot.decl.symbol),
                                None => (name.span, self.symbols.add(output(s, name))),
                            };
                            self.symbols.declare(
                                symbol,
                                Kind::Output,
                                file,
                                name.span,
                                extent,
                                false,
                            );
                            self.report(duplicate(file, &name.name, name.span, first_span));
                            continue;
                        }
                        let ty = self.resolve_type(file, ty);
                        let namesake = first.as_ref().and_then(|f| {
                            let (_, v) = f.outputs.iter().find(|(n, _)| *n == name.name)?;
                            self.slots.get(*v).map(|slot| slot.decl.symbol)
                        });
                        let symbol = match namesake {
                            Some(symbol) => symbol,
                            None => self.symbols.add(output(s, name)),
                        };
                        self.symbols.declare(symbol, Kind::Output, file, name.span, extent, false);
                        let id = self.new_slot(
                            &format!("{}.{}", s.name.name, name.name),
                            ValueKind::Output(stage),
                            Decl { file, span: name.span, extent, symbol },
                            ty,
                        );
                        outputs.push((name.name.clone(), id));
                    }
                    let mut locals = Vec::new();
                    let mut statements = Vec::with_capacity(s.body.len());
                    let mut assigned: Vec<&str> = Vec::new();
                    for (index, stmt) in s.body.iter().enumerate() {
                        match stmt {
                            StageStmt::Let(l) => {
                                let slot_name = format!("{}.{}", s.name.name, l.name.name);
                                let namesake = first.iter().flat_map(|f| &f.locals).find_map(|v| {
                                    let slot = self.slots.get(*v)?;
                                    let same = slot.decl.file == file && slot.name == slot_name;
                                    same.then_some(slot.decl.symbol)
                                });
                                let local =
                                    Symbol::Local(file, s.name.name.clone(), l.name.name.clone());
                                let symbol = match namesake {
                                    Some(symbol) => symbol,
                                    None => self.symbols.add(local),
                                };
                                self.symbols.declare(
                                    symbol,
                                    Kind::Local,
                                    file,
                                    l.name.span,
                                    l.span,
                                    false,
                                );
                                let id = self.new_slot(
                                    &slot_name,
                                    ValueKind::StageLocal(stage),
                                    Decl { file, span: l.name.span, extent: l.span, symbol },
                                    None,
                                );
                                if let Some(slot) = self.slots.get_mut(id) {
                                    slot.position = Some((stage, index));
                                }
                                locals.push(id);
                                statements.push(Some(id));
                            }
                            StageStmt::Assign { name, .. } => {
                                // The first assignment of an output sets it; a later one is
                                // reported where the stage is checked.
                                let output = outputs.iter().find(|(n, _)| *n == name.name);
                                let first = !assigned.contains(&name.name.as_str());
                                statements.push(output.filter(|_| first).map(|(_, v)| *v));
                                assigned.push(&name.name);
                            }
                        }
                    }
                    self.stages.push(StageInfo {
                        name: s.name.name.clone(),
                        title: s.title.as_ref().map(|t| t.value.clone()),
                        outputs,
                        locals,
                        statements,
                        sources: s.sources.iter().map(|t| t.value.clone()).collect(),
                        decl,
                    });
                    Global::Stage(stage)
                }
                _ => continue,
            };
            if let Some(slot) = self.items.get_mut(index) {
                slot.id = Some(id);
            }
        }
        // The base's declarations an override replaces, and the older links of a chain of
        // overrides, declare the symbol in force.
        for m in &items {
            let overrides = value_decl(m.item).is_some_and(|(.., overrides)| overrides);
            if let Some((file, base)) = m.base.filter(|_| overrides) {
                self.declare_replaced(file, base);
            }
        }
        for (file, item) in self.superseded.clone() {
            self.declare_replaced(file, item);
        }
    }

    /// Declare a top-level value's name: it denotes the symbol already declared under it (the
    /// base's declaration it overrides, the first of duplicates), else a new one.
    fn declare_value(
        &mut self,
        file: FileId,
        item: &Item,
        (name, kind, overrides): Value<'_>,
    ) -> SymbolId {
        let symbol = match self.globals.get(&name.name) {
            Some((_, first)) => first.symbol,
            None => self.symbols.add(Symbol::Value(name.name.clone())),
        };
        self.symbols.declare(symbol, kind, file, name.span, item.span(), overrides);
        symbol
    }

    /// Declare a base's item that an override replaces, as the symbol in force.
    fn declare_replaced(&mut self, file: FileId, item: &Item) {
        if let Some(value) = value_decl(item) {
            self.declare_value(file, item, value);
        }
    }

    fn new_slot(&mut self, name: &str, kind: ValueKind, decl: Decl, ty: Option<Type>) -> usize {
        self.slots.push(Slot {
            name: name.to_string(),
            ty,
            kind,
            body: None,
            sources: Vec::new(),
            decl,
            used: false,
            position: None,
        });
        self.slots.len() - 1
    }

    fn declare_global(&mut self, name: &str, global: Global, decl: Decl) {
        if let Some((_, first)) = self.globals.get(name) {
            let overridable =
                matches!(global, Global::Param(_) | Global::Value(_) | Global::Stage(_));
            let problem = if first.file != decl.file {
                Problem::error(
                    Code::ExtendsNeedsOverride,
                    decl.file,
                    decl.span,
                    format!("`{name}` is already declared by the base policy"),
                )
                .label("declared again here")
                .also(first.file, first.span, "the base's declaration")
                .help(if overridable {
                    format!("to replace the base's `{name}`, write `override` before it")
                } else {
                    "choose another name; only a `param`, `let`, `rule` or `stage` can be overridden".to_string()
                })
            } else {
                duplicate(decl.file, name, decl.span, first.span)
            };
            self.report(problem);
            return;
        }
        self.globals.insert(name.to_string(), (global, decl));
    }

    fn declare_header(&mut self) {
        let items = self.items.clone();
        let mut policy: Option<Span> = None;
        let mut year: Option<Span> = None;
        let mut rounding: Option<Span> = None;
        for m in &items {
            let file = m.file;
            match m.item {
                Item::Policy { name, title, span } => {
                    if let Some(first) = policy.filter(|_| file == 0) {
                        self.report(
                            Problem::error(
                                Code::PolicyDuplicateHeader,
                                file,
                                *span,
                                "a file declares one policy",
                            )
                            .label("second `policy` line")
                            .also(file, first, "first `policy` line")
                            .help("remove one of the `policy` lines; to build on another policy, use `extends`"),
                        );
                        continue;
                    }
                    policy = Some(*span);
                    self.name = name.name.clone();
                    self.title = title.as_ref().map(|t| t.value.clone());
                }
                Item::YearStart { month, day, span } => {
                    if let Some(first) = year.filter(|_| file == 0) {
                        self.report(
                            Problem::error(
                                Code::PolicyDuplicateHeader,
                                file,
                                *span,
                                "the medical year's start is given twice",
                            )
                            .label("second `year starts`")
                            .also(file, first, "first `year starts`")
                            .help("keep one `year starts` line"),
                        );
                    }
                    year = Some(*span);
                    self.year_start = (*month, *day);
                }
                Item::Rounding { mode, span } => {
                    if let Some(first) = rounding.filter(|_| file == 0) {
                        self.report(
                            Problem::error(
                                Code::PolicyDuplicateHeader,
                                file,
                                *span,
                                "rounding is given twice",
                            )
                            .label("second `rounding`")
                            .also(file, first, "first `rounding`")
                            .help("keep one `rounding` line"),
                        );
                    }
                    rounding = Some(*span);
                    match ir::Rounding::ALL.iter().find(|r| r.name() == mode.name) {
                        Some(r) => self.rounding = *r,
                        None => {
                            let names = ir::Rounding::ALL.map(ir::Rounding::name);
                            let help = match did_you_mean(&mode.name, names) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!(
                                    "the rounding modes are {}",
                                    names.map(|n| format!("`{n}`")).join(", ")
                                ),
                            };
                            self.report(
                                Problem::error(
                                    Code::PolicyUnknownRounding,
                                    file,
                                    mode.span,
                                    format!("unknown rounding mode `{}`", mode.name),
                                )
                                .label("not a rounding mode")
                                .help(help),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        if policy.is_none() && !self.is_broken("policy") {
            self.report(
                Problem::error(
                    Code::PolicyMissingHeader,
                    0,
                    Span::new(0, 0),
                    "the file does not say which policy it is",
                )
                .label("expected `policy name` here")
                .help("start the file with a line such as `policy dezhou.employee.inpatient`"),
            );
        }
    }

    fn declare_types(&mut self) {
        let items = self.items.clone();
        // Names first, so that records and fields may refer to types declared later; each
        // record declared keeps the id it is given here.
        let mut declared: Vec<(ir::RecordId, usize, &RecordDecl, bool)> = Vec::new();
        // Records refused as a second declaration of a type's name.
        let mut refused: Vec<(FileId, &RecordDecl)> = Vec::new();
        for m in &items {
            let file = m.file;
            match m.item {
                Item::Enum(e) => {
                    if let Some(first) = self.type_decl(&e.name.name) {
                        self.symbols.declare(
                            first.symbol,
                            Kind::Enum,
                            file,
                            e.name.span,
                            e.span,
                            false,
                        );
                        // Its variants are the first enum's namesakes, when it is an enum.
                        let first_enum = self.enum_names.get(&e.name.name).map(|(id, _)| *id);
                        for (v, label) in &e.variants {
                            let namesake = first_enum.and_then(|id| {
                                let variants = &self.enums.get(id)?.variants;
                                let at = variants.iter().position(|n| *n == v.name)?;
                                self.symbols.variant(id, at)
                            });
                            let symbol = match namesake {
                                Some(symbol) => symbol,
                                None => self
                                    .symbols
                                    .add(Symbol::Variant(e.name.name.clone(), v.name.clone())),
                            };
                            self.symbols.declare(
                                symbol,
                                Kind::Variant,
                                file,
                                v.span,
                                variant_extent(v, label),
                                false,
                            );
                        }
                        self.report(duplicate_type(file, &e.name.name, e.name.span, first));
                        continue;
                    }
                    let symbol = self.symbols.add(Symbol::Type(e.name.name.clone()));
                    self.symbols.declare(symbol, Kind::Enum, file, e.name.span, e.span, false);
                    let decl = Decl { file, span: e.name.span, extent: e.span, symbol };
                    let mut variants: Vec<String> = Vec::new();
                    let mut labels = Vec::new();
                    let mut spans: Vec<Span> = Vec::new();
                    let mut symbols: Vec<SymbolId> = Vec::new();
                    for (v, label) in &e.variants {
                        let extent = variant_extent(v, label);
                        if let Some(i) = variants.iter().position(|n| *n == v.name) {
                            let first = spans.get(i).copied().unwrap_or(v.span);
                            if let Some(&symbol) = symbols.get(i) {
                                self.symbols.declare(
                                    symbol,
                                    Kind::Variant,
                                    file,
                                    v.span,
                                    extent,
                                    false,
                                );
                            }
                            self.report(duplicate(file, &v.name, v.span, first));
                            continue;
                        }
                        let symbol =
                            self.symbols.add(Symbol::Variant(e.name.name.clone(), v.name.clone()));
                        self.symbols.declare(symbol, Kind::Variant, file, v.span, extent, false);
                        symbols.push(symbol);
                        variants.push(v.name.clone());
                        labels.push(label.as_ref().map(|l| l.value.clone()));
                        spans.push(v.span);
                    }
                    self.symbols.set_variants(self.enums.len(), symbols);
                    if variants.is_empty() {
                        self.report(
                            Problem::error(
                                Code::EnumEmpty,
                                file,
                                e.span,
                                format!("enum `{}` has no variants", e.name.name),
                            )
                            .label("empty enum")
                            .help("list its variants: `enum Level { level1, level2 }`"),
                        );
                    }
                    self.enum_names.insert(e.name.name.clone(), (self.enums.len(), decl));
                    self.enums.push(ir::EnumDef { name: e.name.name.clone(), variants, labels });
                }
                Item::Record(r) | Item::Input(r) => {
                    let is_input = matches!(m.item, Item::Input(_));
                    let kind = if is_input { Kind::Input } else { Kind::Record };
                    if let Some(first) = self.type_decl(&r.name.name) {
                        self.symbols.declare(first.symbol, kind, file, r.name.span, r.span, false);
                        refused.push((file, r));
                        self.report(duplicate_type(file, &r.name.name, r.name.span, first));
                        continue;
                    }
                    let name = r.name.name.clone();
                    let symbol = self.symbols.add(if is_input {
                        Symbol::Value(name)
                    } else {
                        Symbol::Type(name)
                    });
                    self.symbols.declare(symbol, kind, file, r.name.span, r.span, false);
                    let decl = Decl { file, span: r.name.span, extent: r.span, symbol };
                    declared.push((self.records.len(), file, r, is_input));
                    self.record_names.insert(r.name.name.clone(), (self.records.len(), decl));
                    self.records
                        .push(ir::RecordDef { name: r.name.name.clone(), fields: Vec::new() });
                }
                _ => {}
            }
        }
        let mut input_seen: Option<(usize, Span)> = None;
        for (id, file, decl, is_input) in declared {
            let fields = self.record_fields(file, id, decl, is_input);
            if let Some(rec) = self.records.get_mut(id) {
                rec.fields = fields;
            }
            if is_input {
                if let Some((first_file, first)) = input_seen {
                    self.report(
                        Problem::error(
                            Code::PolicyDuplicateHeader,
                            file,
                            decl.name.span,
                            "a policy has one input record",
                        )
                        .label("second `input`")
                        .also(first_file, first, "first `input`")
                        .help(
                            "declare other records with `record`, and use them as `list of` fields",
                        ),
                    );
                    continue;
                }
                input_seen = Some((file, decl.name.span));
                self.input = Some((id, decl.name.name.clone()));
                if let Some(&(_, declared)) = self.record_names.get(&decl.name.name) {
                    self.declare_global(&decl.name.name, Global::Input, declared);
                }
                self.check_key_fields(file, decl, id);
            }
        }
        self.add_input_fields(&items);
        for (file, decl) in refused {
            self.declare_refused_fields(file, decl);
        }
        if input_seen.is_none() && !self.is_broken("input") {
            self.report(
                Problem::error(
                    Code::PolicyMissingInput,
                    0,
                    Span::new(0, 0),
                    "the policy declares no input record",
                )
                .label("the policy starts here")
                .help("declare the claim's fields: `input claim { id: text, member: text, date: date, total: money }`"),
            );
        }
    }

    /// Add the fields of `override input claim { ... }` to the base's input: each a new name.
    fn add_input_fields(&mut self, items: &[crate::check::Merged<'_>]) {
        let mut declared: Vec<(usize, &ast::FieldDecl)> = items
            .iter()
            .filter_map(|m| match m.item {
                Item::Input(r) => Some((m.file, r)),
                _ => None,
            })
            .flat_map(|(file, r)| r.fields.iter().map(move |f| (file, f)))
            .collect();
        let has_base = items.iter().any(|m| m.file != 0);
        for m in items {
            let Item::InputAdd(decl) = m.item else { continue };
            let file = m.file;
            if !has_base {
                self.report(
                    Problem::error(
                        Code::ExtendsNothingToOverride,
                        file,
                        decl.name.span,
                        format!("`{}` overrides nothing", decl.name.name),
                    )
                    .label("this policy extends no base")
                    .help(format!(
                        "write the fields in `input {} {{ ... }}` itself, or add `extends \"base.settle\"` to add them to a base's input",
                        decl.name.name
                    )),
                );
                self.declare_unchecked_fields(file, decl);
                continue;
            }
            let input = self.input.clone().filter(|(_, name)| *name == decl.name.name);
            let Some((id, _)) = input else {
                let help = match &self.input {
                    Some((_, name)) => {
                        format!("the base's input is `{name}`: `override input {name} {{ ... }}`")
                    }
                    None => "declare the claim's fields with `input claim { ... }`".to_string(),
                };
                self.report(
                    Problem::error(
                        Code::ExtendsNothingToOverride,
                        file,
                        decl.name.span,
                        format!("`{}` is not the input record", decl.name.name),
                    )
                    .label("no input of this name to add fields to")
                    .help(help),
                );
                self.declare_unchecked_fields(file, decl);
                continue;
            };
            // A field declared again is a declaration of the input's field of that name.
            for f in &decl.fields {
                if !declared.iter().any(|(_, b)| b.name.name == f.name.name) {
                    continue;
                }
                let fields = self.records.get(id).map_or(&[][..], |r| r.fields.as_slice());
                let at = fields.iter().position(|x| x.name == f.name.name);
                match at.and_then(|i| self.symbols.field(id, i)) {
                    Some(symbol) => self.declare_field(file, symbol, f),
                    None => self.declare_unchecked_field(file, decl, f),
                }
            }
            let mut clean = decl.clone();
            clean.fields.retain(|f| {
                let Some((base_file, first)) =
                    declared.iter().find(|(_, b)| b.name.name == f.name.name)
                else {
                    return true;
                };
                self.problems.push(
                    Problem::error(
                        Code::ExtendsInputField,
                        file,
                        f.name.span,
                        format!("the input already has a field `{}`", f.name.name),
                    )
                    .label("declared again")
                    .also(*base_file, first.name.span, "the base's field")
                    .help("an added field needs a new name; the base's fields keep their types"),
                );
                false
            });
            let fields = self.record_fields(file, id, &clean, true);
            if let Some(rec) = self.records.get_mut(id) {
                rec.fields.extend(fields);
            }
            declared.extend(decl.fields.iter().map(|f| (file, f)));
        }
    }

    fn type_decl(&self, name: &str) -> Option<Decl> {
        self.enum_names
            .get(name)
            .map(|(_, d)| *d)
            .or_else(|| self.record_names.get(name).map(|(_, d)| *d))
    }

    /// The fields of a record declared as `decl` (fields added to the input too), each
    /// declared with its symbol, the checked ones kept under the record's id `id`.
    fn record_fields(
        &mut self,
        file: usize,
        id: ir::RecordId,
        decl: &RecordDecl,
        is_input: bool,
    ) -> Vec<ir::FieldDef> {
        let mut fields: Vec<ir::FieldDef> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut symbols: Vec<SymbolId> = Vec::new();
        for f in &decl.fields {
            if let Some(i) = fields.iter().position(|x| x.name == f.name.name) {
                let first = spans.get(i).copied().unwrap_or(f.name.span);
                match symbols.get(i) {
                    Some(&symbol) => self.declare_field(file, symbol, f),
                    None => self.declare_unchecked_field(file, decl, f),
                }
                self.report(duplicate(file, &f.name.name, f.name.span, first));
                continue;
            }
            let Some(ty) = self.resolve_type(file, &f.ty) else {
                self.declare_unchecked_field(file, decl, f);
                continue;
            };
            let nested = match ty {
                Type::Record(_) => true,
                Type::List(_) => !is_input,
                _ => false,
            };
            if nested {
                self.declare_unchecked_field(file, decl, f);
                self.report(
                    Problem::error(
                        Code::TypeMismatch,
                        file,
                        f.ty.span(),
                        format!("field `{}` cannot hold a record here", f.name.name),
                    )
                    .label("records nest only as `list of` fields of the input")
                    .help("flatten the fields into this record, or make it a `list of` field of the input"),
                );
                continue;
            }
            let symbol =
                self.symbols.add(Symbol::Field(decl.name.name.clone(), f.name.name.clone()));
            self.declare_field(file, symbol, f);
            symbols.push(symbol);
            fields.push(ir::FieldDef { name: f.name.name.clone(), ty });
            spans.push(f.name.span);
        }
        self.symbols.add_fields(id, symbols);
        fields
    }

    /// Declare `f` as a field whose symbol is `symbol`.
    fn declare_field(&mut self, file: FileId, symbol: SymbolId, f: &ast::FieldDecl) {
        let end = f.doc.as_ref().map_or(f.ty.span(), |doc| doc.span);
        self.symbols.declare(symbol, Kind::Field, file, f.name.span, f.name.span.to(end), false);
    }

    /// Declare a field that no record holds (its type is wrong, or its record is refused): a
    /// symbol of its own that no name resolves to.
    fn declare_unchecked_field(&mut self, file: FileId, decl: &RecordDecl, f: &ast::FieldDecl) {
        let symbol = self.symbols.add(Symbol::Field(decl.name.name.clone(), f.name.name.clone()));
        self.declare_field(file, symbol, f);
    }

    /// Declare the fields of a record refused as a second declaration of a type's name: the
    /// first record's namesakes, when it is a record.
    fn declare_refused_fields(&mut self, file: FileId, decl: &RecordDecl) {
        let first = self.record_names.get(&decl.name.name).map(|(id, _)| *id);
        for f in &decl.fields {
            let namesake = first.and_then(|id| {
                let fields = &self.records.get(id)?.fields;
                let at = fields.iter().position(|x| x.name == f.name.name)?;
                self.symbols.field(id, at)
            });
            match namesake {
                Some(symbol) => self.declare_field(file, symbol, f),
                None => self.declare_unchecked_field(file, decl, f),
            }
        }
    }

    /// Declare every field of a record that is refused.
    fn declare_unchecked_fields(&mut self, file: FileId, decl: &RecordDecl) {
        for f in &decl.fields {
            self.declare_unchecked_field(file, decl, f);
        }
    }

    fn check_key_fields(&mut self, file: usize, decl: &RecordDecl, id: usize) {
        let fields = self.records.get(id).map(|r| r.fields.clone()).unwrap_or_default();
        for (key, what) in [("id", "the claim's id"), ("member", "the member's id")] {
            match fields.iter().find(|f| f.name == key) {
                Some(f) if f.ty == Type::Text => {}
                Some(f) => {
                    let span = decl
                        .fields
                        .iter()
                        .find(|x| x.name.name == key)
                        .map_or(decl.name.span, |x| x.ty.span());
                    let found = self.type_name(f.ty);
                    self.report(
                        Problem::error(
                            Code::PolicyMissingKeyField,
                            file,
                            span,
                            format!("field `{key}` must be `text`, not `{found}`"),
                        )
                        .label(format!("{what} is text"))
                        .help(format!("declare it as `{key}: text`")),
                    );
                }
                None => self.report(
                    Problem::error(
                        Code::PolicyMissingKeyField,
                        file,
                        decl.name.span,
                        format!("the input has no `{key}` field"),
                    )
                    .label(format!("needs `{key}: text`"))
                    .help(format!(
                        "add `{key}: text`: the engine needs {what} to order and settle claims"
                    )),
                ),
            }
        }
    }
}

/// A top-level value's name, the kind of its declaration, and whether it is an `override`.
type Value<'a> = (&'a ast::Ident, Kind, bool);

/// The name, kind and `override` of a declaration in the value namespace.
fn value_decl(item: &Item) -> Option<Value<'_>> {
    Some(match item {
        Item::Yearly(d) => (&d.name, Kind::Yearly, false),
        Item::Param(d) => (&d.name, Kind::Param, d.overrides),
        Item::ParamAdd(d) => (&d.name, Kind::Param, true),
        Item::Let(d) => (&d.name, Kind::Let, d.overrides),
        Item::Rule(d) => (&d.name, Kind::Rule, d.overrides),
        Item::Stage(d) => (&d.name, Kind::Stage, d.overrides),
        _ => return None,
    })
}

/// A variant's declaration: its name and its label.
fn variant_extent(v: &ast::Ident, label: &Option<ast::Text>) -> Span {
    label.as_ref().map_or(v.span, |l| v.span.to(l.span))
}

/// The symbol of a stage's output.
fn output(stage: &ast::StageDecl, name: &ast::Ident) -> Symbol {
    Symbol::Output(stage.name.name.clone(), name.name.clone())
}

/// A duplicate definition in one namespace.
pub(crate) fn duplicate(file: usize, name: &str, span: Span, first: Span) -> Problem {
    Problem::error(Code::NameDuplicate, file, span, format!("`{name}` is declared twice"))
        .label("declared again here")
        .with(first, "first declared here")
        .help("rename one of them, or remove the second")
}

fn duplicate_type(file: usize, name: &str, span: Span, first: Decl) -> Problem {
    if first.file == file {
        return duplicate(file, name, span, first.span);
    }
    Problem::error(Code::ExtendsRedeclared, file, span, format!("`{name}` is declared by the base policy"))
        .label("declared again here")
        .also(first.file, first.span, "the base's declaration")
        .help("a policy keeps its base's enums, records and input; only a `param`, `let`, `rule` or `stage` can be overridden")
}
