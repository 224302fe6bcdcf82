//! From syntax trees to a checked [`ir::Policy`]: name resolution, types with units, and the
//! static checks of a policy.
//!
//! The checker reads the policy file and the bases it `extends`, merges them (overrides replace
//! the base's item in place), declares every name, then checks each item, collecting every
//! problem instead of stopping at the first.

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Item, Module};
use crate::diagnostic::{Code, FileId, Problem, Problems, Sources};
use crate::ide::index::Index;
use crate::ir::{self, Type};
use crate::resolve::symbols::{SymbolId, Symbols};
use crate::span::Span;
use crate::syntax::parse::parse;

/// Reads the base policies named by `extends`. The front end does no I/O itself: the caller
/// decides where `extends "path"` points.
pub trait Loader {
    /// Load the policy `path` named in `from` (the importing file's name): return the loaded
    /// file's display name and text, or a message saying why it could not be read.
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String>;
}

/// A loader for policies that extend nothing: every `extends` fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLoader;

impl Loader for NoLoader {
    fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("no base policies are available here to load `{path}`"))
    }
}

/// The result of checking a policy: the program when there is no error, and every problem.
#[derive(Debug)]
pub struct Checked {
    /// The checked policy; `None` when any error was found.
    pub policy: Option<ir::Policy>,
    /// Errors and warnings, sorted by position.
    pub problems: Problems,
    /// The parsed modules, the policy's own first, with their file ids.
    pub modules: Vec<(FileId, Module)>,
    /// Where each name is declared and read, as the checker resolved it.
    pub index: Index,
}

/// The stack the checker runs on: deep enough for every file the parser accepts.
const STACK_SIZE: usize = 64 << 20;

/// Check a policy file, loading the bases it extends through `loader`.
///
/// The work runs on a thread of its own with a large stack, so that no accepted nesting can
/// exhaust the caller's stack.
pub fn check_with(name: &str, text: &str, loader: &mut (dyn Loader + Send)) -> Checked {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("settle-check".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, || check_here(name, text, loader))
            .map_or_else(
                |_| check_here(name, text, &mut NoLoader),
                |handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            )
    })
}

/// Check raw bytes: text that is not UTF-8 is reported at its first bad byte.
pub fn check_bytes(name: &str, bytes: &[u8], loader: &mut (dyn Loader + Send)) -> Checked {
    match std::str::from_utf8(bytes) {
        Ok(text) => check_with(name, text, loader),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let at = String::from_utf8_lossy(bytes.get(..e.valid_up_to()).unwrap_or(&[])).len();
            let mut sources = Sources::default();
            let file = sources.add(name, text.as_str());
            let problem = Problem::error(
                Code::SyntaxInvalidUtf8,
                file,
                Span::new(at, at + '\u{fffd}'.len_utf8()),
                "the file is not UTF-8 text",
            )
            .label(format!("invalid byte at offset {}", e.valid_up_to()))
            .help("save the file as UTF-8; policy files are UTF-8 text, Chinese included");
            Checked {
                policy: None,
                problems: Problems { sources, list: vec![problem] },
                modules: Vec::new(),
                index: Index::default(),
            }
        }
    }
}

fn check_here(name: &str, text: &str, loader: &mut dyn Loader) -> Checked {
    let mut sources = Sources::default();
    let mut problems = Vec::new();
    let mut modules = Vec::new();
    let main = sources.add(name, text);
    modules.push((main, parse(text, main, &mut problems)));
    load_bases(&mut sources, &mut modules, &mut problems, loader);

    // Check what parsed even when some items did not, so that one run shows every mistake.
    // A file the parser refused whole, or whose base is missing (every name of the base would
    // be reported unknown), is still resolved for the index, but its other problems are not
    // reported.
    let refused = problems.iter().any(|p| {
        matches!(
            p.code,
            Code::SyntaxTooDeep
                | Code::SyntaxTooLong
                | Code::SyntaxTooLarge
                | Code::ExtendsCycle
                | Code::ExtendsNotFound
        )
    });
    let checker = Checker::new(&modules, &sources);
    let (policy, found, symbols) = checker.run();
    let policy = if refused {
        None
    } else {
        problems.extend(found);
        policy
    };
    let index = Index::new(symbols);
    let mut problems = Problems { sources, list: problems };
    problems.sort();
    let policy = if problems.has_errors() { None } else { policy };
    Checked { policy, problems, modules, index }
}

/// Check a policy held in a string that extends nothing.
pub fn check(name: &str, text: &str) -> Checked {
    check_with(name, text, &mut NoLoader)
}

/// Follow `extends` from the last module added, depth first; report unreadable bases and cycles.
fn load_bases(
    sources: &mut Sources,
    modules: &mut Vec<(FileId, Module)>,
    problems: &mut Vec<Problem>,
    loader: &mut dyn Loader,
) {
    let mut chain: Vec<String> = sources.get(0).map(|f| vec![f.name.clone()]).unwrap_or_default();
    let mut current = 0;
    while let Some((file, module)) = modules.get(current) {
        let file = *file;
        let extends: Vec<&ast::Text> = module
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Extends { path, .. } => Some(path),
                _ => None,
            })
            .collect();
        let Some(path) = extends.first() else { break };
        for extra in extends.get(1..).unwrap_or(&[]) {
            problems.push(
                Problem::error(
                    Code::PolicyDuplicateHeader,
                    file,
                    extra.span,
                    "a policy extends one base",
                )
                .label("second `extends`")
                .also(file, path.span, "first `extends`")
                .help("compose in a chain: let the base extend its own base"),
            );
        }
        let from = sources.get(file).map(|f| f.name.clone()).unwrap_or_default();
        match loader.load(&from, &path.value) {
            Ok((name, text)) => {
                if chain.contains(&name) {
                    problems.push(
                        Problem::error(
                            Code::ExtendsCycle,
                            file,
                            path.span,
                            format!(
                                "`{name}` extends itself: `{}` -> `{name}`",
                                chain.join("` -> `")
                            ),
                        )
                        .label("this `extends` closes the cycle")
                        .help("a base policy must not extend the policies built on it"),
                    );
                    break;
                }
                chain.push(name.clone());
                let id = sources.add(name, text.as_str());
                let module = parse(&text, id, problems);
                modules.push((id, module));
                current = modules.len() - 1;
            }
            Err(why) => {
                problems.push(
                    Problem::error(
                        Code::ExtendsNotFound,
                        file,
                        path.span,
                        format!("cannot read the base policy `{}`", path.value),
                    )
                    .label(why)
                    .help("the path is relative to the file that says `extends`"),
                );
                break;
            }
        }
    }
}

/// What a value-namespace name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    Param(ir::ParamId),
    Value(ir::ValueId),
    Acc(ir::AccId),
    Stage(ir::StageId),
    Input,
}

/// Where a name was declared, recorded when the declaration pass hands out its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decl {
    pub file: FileId,
    /// The name.
    pub span: Span,
    /// The whole declaration (an item, or a stage's `let`).
    pub extent: Span,
    /// The symbol it declares.
    pub symbol: SymbolId,
}

/// A computed value while it is being checked.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub name: String,
    pub ty: Option<Type>,
    pub kind: ir::ValueKind,
    pub body: Option<ir::Body>,
    pub sources: Vec<String>,
    pub decl: Decl,
    pub used: bool,
    /// For stage statements: (stage, statement index).
    pub position: Option<(ir::StageId, usize)>,
}

/// A parameter while it is being checked: its IR once its values check, whether anything
/// reads it, where it is declared. Its [`ir::ParamId`] is its index, handed out once by the
/// declaration pass.
#[derive(Debug, Clone)]
pub(crate) struct ParamSlot {
    pub def: Option<ir::Param>,
    pub used: bool,
    pub decl: Decl,
}

/// An accumulator while it is being checked: its IR once checked and its type once known. Its
/// [`ir::AccId`] is its index, handed out once by the declaration pass.
#[derive(Debug, Clone)]
pub(crate) struct AccSlot {
    pub def: Option<ir::Accumulator>,
    pub ty: Option<Type>,
}

/// A stage while it is being checked.
#[derive(Debug, Clone)]
pub(crate) struct StageInfo {
    pub name: String,
    pub title: Option<String>,
    pub outputs: Vec<(String, ir::ValueId)>,
    pub locals: Vec<ir::ValueId>,
    /// The value each statement of the body sets, by the statement's index: a `let`'s own, or
    /// the output it first assigns; handed out by the declaration pass.
    pub statements: Vec<Option<ir::ValueId>>,
    pub sources: Vec<String>,
    pub decl: Decl,
}

/// The checker's state: declarations so far and the problems found. Each kind of declaration
/// is an arena whose index is the IR's id for it, handed out once by the declaration pass
/// ([`Checker::declare`]) and kept on the merged item ([`Merged::id`]).
pub(crate) struct Checker<'a> {
    /// The policy's items merged with its bases', in order.
    pub items: Vec<Merged<'a>>,
    /// The older links of chains of overrides: base items replaced by an override that a more
    /// derived policy overrides in turn. Not checked; their names are resolved for the editor.
    pub superseded: Vec<(FileId, &'a Item)>,
    /// The bases' tests: run with their bases, not here; their names are resolved for the
    /// editor.
    pub base_tests: Vec<(FileId, &'a ast::TestDecl)>,
    /// Items that did not parse: their names are not reported as unknown.
    pub broken: Vec<&'a ast::Broken>,
    /// The files read.
    pub sources: &'a Sources,
    /// The problems found so far.
    pub problems: Vec<Problem>,
    /// The header: the policy's name and title, the medical year's start, the rounding mode.
    pub name: String,
    pub title: Option<String>,
    pub year_start: (u32, u32),
    pub rounding: ir::Rounding,
    /// Enums and records, by id and by name.
    pub enums: Vec<ir::EnumDef>,
    pub enum_names: HashMap<String, (ir::EnumId, Decl)>,
    pub records: Vec<ir::RecordDef>,
    pub record_names: HashMap<String, (ir::RecordId, Decl)>,
    /// The input record and the name it is read by (`claim`).
    pub input: Option<(ir::RecordId, String)>,
    /// The value namespace: what each top-level name denotes, and where it is declared.
    pub globals: HashMap<String, (Global, Decl)>,
    /// Parameters, accumulators, computed values and stages, by id.
    pub params: Vec<ParamSlot>,
    pub accs: Vec<AccSlot>,
    pub slots: Vec<Slot>,
    pub stages: Vec<StageInfo>,
    /// The balance line, the in-file tests, and the input field dating claims.
    pub balance: Option<ir::Balance>,
    pub tests: Vec<ir::Test>,
    pub dated_field: Option<usize>,
    /// Every symbol declared and every name resolved so far, for editors.
    pub symbols: Symbols,
    /// Overrides declared with another type than their base's: reported once, where the
    /// override is written; reads of them (in the base too) are not checked against either type.
    pub mistyped: HashSet<String>,
    /// Period settlement: its names, and its items once checked.
    pub period: crate::typeck::period::PeriodState,
}

impl<'a> Checker<'a> {
    fn new(modules: &'a [(FileId, Module)], sources: &'a Sources) -> Self {
        let Merge { items, superseded, base_tests } = merge(modules);
        Checker {
            items,
            superseded,
            base_tests,
            broken: modules.iter().flat_map(|(_, m)| &m.broken).collect(),
            sources,
            problems: Vec::new(),
            name: String::new(),
            title: None,
            year_start: (1, 1),
            rounding: ir::Rounding::default(),
            enums: Vec::new(),
            enum_names: HashMap::new(),
            records: Vec::new(),
            record_names: HashMap::new(),
            input: None,
            globals: HashMap::new(),
            params: Vec::new(),
            accs: Vec::new(),
            slots: Vec::new(),
            stages: Vec::new(),
            balance: None,
            tests: Vec::new(),
            dated_field: None,
            mistyped: HashSet::new(),
            symbols: Symbols::default(),
            period: crate::typeck::period::PeriodState::default(),
        }
    }

    pub(crate) fn file_text(&self, file: FileId) -> &str {
        self.sources.text(file)
    }

    /// Whether a broken item declared `name` (or, for `keyword` lines, exists at all).
    pub(crate) fn is_broken(&self, name: &str) -> bool {
        self.broken.iter().any(|b| b.name.as_deref() == Some(name) || b.keyword == name)
    }

    pub(crate) fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Record that `span` of `file` names the symbol `id`.
    pub(crate) fn refer(&mut self, file: FileId, span: Span, id: SymbolId) {
        self.symbols.refer(file, span, id);
    }

    fn run(mut self) -> (Option<ir::Policy>, Vec<Problem>, Symbols) {
        self.check_extends();
        self.check_placements();
        self.declare();
        self.record_namespaces();
        self.declare_period();
        self.check_params();
        self.check_values();
        self.check_stages();
        self.check_balance();
        self.check_dated_by();
        self.check_groups();
        self.check_period();
        self.check_tests();
        let order = self.check_order();
        self.report_unused();
        self.resolve_replaced();
        self.resolve_base_tests();
        let policy = self.finish(order);
        (policy, self.problems, self.symbols)
    }

    fn finish(&mut self, order: Vec<ir::ValueId>) -> Option<ir::Policy> {
        if self.problems.iter().any(Problem::is_error) {
            return None;
        }
        let (input, _) = self.input.clone()?;
        let fields = &self.records.get(input)?.fields;
        let field = |name: &str| fields.iter().position(|f| f.name == name);
        let values = self
            .slots
            .iter()
            .map(|s| {
                Some(ir::ValueDef {
                    name: s.name.clone(),
                    ty: s.ty?,
                    kind: s.kind,
                    body: s.body.clone()?,
                    sources: s.sources.clone(),
                    span: s.decl.span,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ir::Policy {
            name: self.name.clone(),
            title: self.title.clone(),
            year_start: self.year_start,
            rounding: self.rounding,
            enums: self.enums.clone(),
            records: self.records.clone(),
            input,
            id_field: field("id")?,
            member_field: field("member")?,
            dated_field: self.dated_field?,
            params: self.params.iter().map(|p| p.def.clone()).collect::<Option<Vec<_>>>()?,
            accumulators: self.accs.iter().map(|a| a.def.clone()).collect::<Option<Vec<_>>>()?,
            values,
            order,
            stages: self
                .stages
                .iter()
                .map(|s| ir::Stage {
                    name: s.name.clone(),
                    title: s.title.clone(),
                    outputs: s.outputs.iter().map(|(_, v)| *v).collect(),
                    locals: s.locals.clone(),
                    sources: s.sources.clone(),
                })
                .collect(),
            balance: self.balance.clone(),
            period: self.period.finished()?,
            tests: std::mem::take(&mut self.tests),
        })
    }

    /// Report `override`s with nothing to override, redefinitions without `override`, and
    /// overrides whose type differs from the base's.
    fn check_extends(&mut self) {
        let has_base = self.has_base();
        let mut problems = Vec::new();
        let mut mistyped = HashSet::new();
        for m in &self.items {
            let Some((_, name, overrides)) = override_key(m.item) else { continue };
            let ident = item_name(m.item);
            match (&m.base, overrides) {
                (None, true) => problems.push(
                    Problem::error(
                        Code::ExtendsNothingToOverride,
                        m.file,
                        ident.span,
                        format!("`{name}` overrides nothing"),
                    )
                    .label("no base policy declares this name")
                    .help(if has_base {
                        "check the spelling against the base policy, or remove `override` to \
                         declare a new item"
                    } else {
                        "this policy extends no base: remove `override`"
                    }),
                ),
                // Reported where the name is declared a second time (`declare_global`).
                (Some(_), false) => {}
                (Some((base_file, base)), true) => {
                    // Values added in the middle of a chain take the type of their parameter.
                    let (base_file, base) = match base {
                        Item::ParamAdd(added) => self.added_to(&added.name.name),
                        _ => None,
                    }
                    .unwrap_or((*base_file, *base));
                    if let Some((ours, theirs)) = signature_difference(m.item, base) {
                        mistyped.insert(name.to_string());
                        problems.push(
                            Problem::error(
                                Code::ExtendsOverrideType,
                                m.file,
                                ident.span,
                                format!("`{name}` overrides a {theirs} with a {ours}"),
                            )
                            .label(format!("this is a {ours}"))
                            .also(base_file, item_name(base).span, format!("the base's is a {theirs}"))
                            .help("an override keeps the base's type, so that every rule reading it still makes sense"),
                        );
                    }
                }
                (None, false) => {}
            }
        }
        self.problems.extend(problems);
        self.mistyped = mistyped;
    }

    /// The parameter that values added under `name` (`override param ratio from ...`) were
    /// added to, when a more derived policy replaces the addition: the older link of the chain.
    pub(crate) fn added_to(&self, name: &str) -> Option<(FileId, &'a Item)> {
        let older = self.superseded.iter().rev();
        older.copied().find(|(_, item)| matches!(item, Item::Param(p) if p.name.name == name))
    }

    /// Report stages placed `before` a stage that does not exist, and overrides given a place
    /// (an override stays where the base's stage is).
    pub(crate) fn check_placements(&mut self) {
        let stages: Vec<&str> = self
            .items
            .iter()
            .filter_map(|m| match m.item {
                Item::Stage(s) => Some(s.name.name.as_str()),
                _ => None,
            })
            .collect();
        let mut problems = Vec::new();
        for m in &self.items {
            let Item::Stage(s) = m.item else { continue };
            let Some(before) = &s.before else { continue };
            if s.overrides {
                problems.push(
                    Problem::error(
                        Code::StageOverridePlaced,
                        m.file,
                        before.span,
                        format!("the override of `{}` cannot move it", s.name.name),
                    )
                    .label("an override runs where the base's stage runs")
                    .help(format!(
                        "remove `before {}`; to run a stage elsewhere, declare a new one with its own name",
                        before.name
                    )),
                );
            } else if before.name == s.name.name || !stages.contains(&before.name.as_str()) {
                let others = stages.iter().copied().filter(|n| *n != s.name.name);
                let help = match crate::diagnostic::did_you_mean(&before.name, others) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "name another stage of this policy or of its base".to_string(),
                };
                problems.push(
                    Problem::error(
                        Code::StageUnknownPlace,
                        m.file,
                        before.span,
                        format!("no stage `{}` for `{}` to run before", before.name, s.name.name),
                    )
                    .label("not another stage of the policy")
                    .help(help),
                );
            }
        }
        self.problems.extend(problems);
    }

    fn has_base(&self) -> bool {
        self.items.iter().any(|m| m.file != 0)
    }
}

/// An item of the merged policy, with the base item it overrides or redeclares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Merged<'a> {
    pub file: FileId,
    pub item: &'a Item,
    pub base: Option<(FileId, &'a Item)>,
    /// The id the declaration pass gave the item (a duplicate gets one too, but not the name).
    pub id: Option<Global>,
}

/// Merge a policy with its bases: base items first, overrides replacing the base's item in
/// place, new items after. The derived policy's header lines replace the base's; a base's tests
/// stay with the base. Also returns the items of a chain of overrides that are neither in force
/// nor the base of the item in force ([`Checker::superseded`]), and the bases' tests.
fn merge(modules: &[(FileId, Module)]) -> Merge<'_> {
    let mut merged: Vec<Merged<'_>> = Vec::new();
    let mut superseded = Vec::new();
    let mut base_tests = Vec::new();
    // Where each (kind, name) of an overridable item stands in `merged`, and its file.
    let mut index: HashMap<(u8, &str), (usize, FileId)> = HashMap::new();
    for (file, module) in modules.iter().rev() {
        let file = *file;
        for item in &module.items {
            if let (Item::Test(test), true) = (item, file != 0) {
                base_tests.push((file, test));
                continue;
            }
            if let Some((kind, name, overrides)) = override_key(item) {
                let found = index.get(&(kind, name)).filter(|(_, f)| *f != file).map(|(i, _)| *i);
                if found.is_none() {
                    index.entry((kind, name)).or_insert((merged.len(), file));
                }
                if let Some(slot) = found.and_then(|i| merged.get_mut(i)) {
                    let base = Some((slot.file, slot.item));
                    if overrides {
                        // The item in force overrides an older one: a chain of overrides.
                        superseded.extend(slot.base.filter(|_| slot_overrides(slot.item)));
                        *slot = Merged { file, item, base, id: None };
                        if let Some(entry) = index.get_mut(&(kind, name)) {
                            entry.1 = file;
                        }
                    } else {
                        merged.push(Merged { file, item, base, id: None });
                    }
                    continue;
                }
            }
            let header = matches!(
                item,
                Item::Policy { .. }
                    | Item::YearStart { .. }
                    | Item::DatedBy { .. }
                    | Item::Rounding { .. }
                    | Item::Balance { .. }
                    | Item::Extends { .. }
            );
            if header {
                // Header lines are not overridable items, so removing base ones here leaves the
                // positions in `index` (taken before any header of a later file) valid only if
                // we rebuild it; headers are few, so do that.
                let same = std::mem::discriminant(item);
                let before = merged.len();
                merged.retain(|m| m.file == file || std::mem::discriminant(m.item) != same);
                if merged.len() != before {
                    index = merged
                        .iter()
                        .enumerate()
                        .filter_map(|(i, m)| {
                            override_key(m.item).map(|(k, n, _)| ((k, n), (i, m.file)))
                        })
                        .collect();
                }
            }
            merged.push(Merged { file, item, base: None, id: None });
        }
    }
    place_stages(&mut merged);
    Merge { items: merged, superseded, base_tests }
}

/// A policy merged with its bases.
struct Merge<'a> {
    /// The items of the merged policy, in order.
    items: Vec<Merged<'a>>,
    /// The older links of chains of overrides.
    superseded: Vec<(FileId, &'a Item)>,
    /// The bases' tests, which stay with their bases.
    base_tests: Vec<(FileId, &'a ast::TestDecl)>,
}

/// Whether `item` is written `override` (and so replaces its base's item rather than adding
/// to it or redeclaring it).
fn slot_overrides(item: &Item) -> bool {
    override_key(item).is_some_and(|(_, _, overrides)| overrides)
}

/// Move each new stage written `before` another to just before that stage, in the order the
/// stages are written; a place naming no stage, or an override's, is reported by
/// `check_placements` and leaves the stage where it is written.
fn place_stages(merged: &mut Vec<Merged<'_>>) {
    let placed: Vec<&Item> = merged
        .iter()
        .filter(|m| matches!(m.item, Item::Stage(s) if s.before.is_some() && !s.overrides))
        .map(|m| m.item)
        .collect();
    // In the order written, each found where it stands now: earlier moves shift positions.
    for item in placed {
        let Item::Stage(stage) = item else { continue };
        let Some(before) = &stage.before else { continue };
        let Some(at) = merged.iter().position(|m| std::ptr::eq(m.item, item)) else { continue };
        let target = merged.iter().position(
            |m| matches!(m.item, Item::Stage(s) if s.name.name == before.name && s.name != stage.name),
        );
        if let Some(target) = target.filter(|t| *t < at) {
            let moved = merged.remove(at);
            merged.insert(target, moved);
        }
    }
}

fn item_name(item: &Item) -> &ast::Ident {
    static NONE: std::sync::OnceLock<ast::Ident> = std::sync::OnceLock::new();
    match item {
        Item::Param(p) => &p.name,
        Item::ParamAdd(p) => &p.name,
        Item::Let(l) => &l.name,
        Item::Rule(r) => &r.name,
        Item::Stage(s) => &s.name,
        _ => NONE.get_or_init(|| ast::Ident { name: String::new(), span: Span::default() }),
    }
}

/// How an override's declared shape differs from its base's, as (ours, theirs).
fn signature_difference(ours: &Item, base: &Item) -> Option<(String, String)> {
    let describe = |item: &Item| -> String {
        match item {
            Item::Param(p) => match &p.ty {
                ast::ParamType::Scale { by: None, .. } => "scale".to_string(),
                ast::ParamType::Scale { by: Some(key), .. } => format!("scale by `{}`", key.name),
                ast::ParamType::Value { ty, keys } if keys.is_empty() => type_text(ty),
                ast::ParamType::Value { ty, keys } => format!(
                    "`{}` table by {}",
                    type_text(ty).trim_matches('`'),
                    keys.iter().map(|k| format!("`{}`", k.name)).collect::<Vec<_>>().join(", ")
                ),
            },
            Item::Let(l) => l.ty.as_ref().map_or_else(|| "let".to_string(), type_text),
            Item::Rule(r) => type_text(&r.ty),
            Item::Stage(s) => format!(
                "stage with outputs ({})",
                s.outputs
                    .iter()
                    .map(|(n, t)| format!("{}: {}", n.name, type_text(t).trim_matches('`')))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        }
    };
    if matches!(ours, Item::ParamAdd(_)) {
        // Values added to the base's parameter take its type (checked with the values).
        return None;
    }
    if let (Item::Let(a), Item::Let(b)) = (ours, base) {
        // An unannotated `let` takes the type of its value: nothing declared to compare.
        if a.ty.is_none() || b.ty.is_none() {
            return None;
        }
    }
    let (a, b) = (describe(ours), describe(base));
    (a != b).then_some((a, b))
}

fn type_text(ty: &ast::TypeExpr) -> String {
    match ty {
        ast::TypeExpr::Named(n) => format!("`{}`", n.name),
        ast::TypeExpr::List(n, _) => format!("`list of {}`", n.name),
    }
}

fn override_key(item: &Item) -> Option<(u8, &str, bool)> {
    match item {
        Item::Param(p) => Some((0, &p.name.name, p.overrides)),
        Item::ParamAdd(p) => Some((0, &p.name.name, true)),
        Item::Let(l) => Some((1, &l.name.name, l.overrides)),
        Item::Rule(r) => Some((2, &r.name.name, r.overrides)),
        Item::Stage(s) => Some((3, &s.name.name, s.overrides)),
        _ => None,
    }
}
