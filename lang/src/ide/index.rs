//! Where each name of a policy is declared and where it is read, across the files it extends.
//!
//! The index is the checker's arena of symbols (`resolve/symbols.rs`) as the checker built
//! it: every symbol got its [`SymbolId`] where the checker declared it (the policy's own
//! declarations, its bases', the older links of a chain of overrides and the bases' tests, fold
//! variables where the fold binds them), and every name the checker resolved is recorded with
//! that id, so the editor and `settle check` cannot disagree on which name wins. Building the
//! index sorts positions and groups declarations and references by id; it hashes no name. The
//! checker runs on files with errors too (what parsed, and even when a base is missing), so what
//! resolves is indexed and the rest is left out. Editors use the index to go to a definition,
//! find references, rename, highlight names and complete them. Which names are visible where,
//! and what follows a dot, are read from the scopes the checker recorded as it resolved
//! (`resolve/scopes.rs`), never worked out here.
//!
//! Within one index a symbol is its id. Two documents checked separately have unrelated ids:
//! across them a symbol is found by what it denotes ([`Index::id`] of a [`Symbol`], a scan of
//! the arena), the qualified name being the honest identity there.

use crate::diagnostic::FileId;
use crate::resolve::scopes::Scopes;
use crate::resolve::symbols::Symbols;
use crate::span::Span;

pub use crate::resolve::symbols::{Decl, Kind, Reference, Symbol, SymbolId};

/// A name found at a position: its symbol, where it is written, and whether it is declared
/// there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence<'a> {
    /// The symbol's id in this index.
    pub id: SymbolId,
    /// The symbol.
    pub symbol: &'a Symbol,
    /// The name's span.
    pub span: Span,
    /// Whether this is a declaration (else a reference).
    pub declaration: bool,
}

/// One symbol of the arena, with where it is declared and read.
#[derive(Debug, Clone)]
struct Entry {
    symbol: Symbol,
    /// Positions in [`Index::decls`], the most derived first.
    decls: Vec<usize>,
    /// Positions in [`Index::refs`], in module order, then source order.
    refs: Vec<usize>,
    /// What can follow the symbol and a dot.
    members: Vec<SymbolId>,
    /// For a fold variable, the record it ranges over.
    record: Option<String>,
}

/// Every declaration and every resolved reference of a policy and its bases.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Declarations in module order (the policy's own first), then source order.
    pub decls: Vec<Decl>,
    /// References in module order, then source order.
    pub refs: Vec<Reference>,
    /// Every symbol declared or read, once; a [`SymbolId`] is a position here.
    symbols: Vec<Entry>,
    /// Every name's position, sorted: (file, start, end, declaration?, symbol). This is where
    /// a position finds its symbol.
    positions: Vec<(FileId, u32, u32, bool, SymbolId)>,
    /// The names the checker let be read without a dot anywhere, in declaration order.
    globals: Vec<SymbolId>,
    /// The scopes the checker bound names in: (file, range, the names bound there).
    scopes: Vec<(FileId, Span, Vec<SymbolId>)>,
    /// What follows any claim of a test and a dot.
    claim_members: Vec<SymbolId>,
    /// The input record.
    input: Option<SymbolId>,
}

impl Index {
    /// The index of a checked policy: the checker's arena of symbols, with every declaration
    /// and every name it resolved, each by its id.
    pub(crate) fn new(symbols: Symbols) -> Index {
        let Symbols { denotes, mut decls, mut refs, binding_records, scopes, .. } = symbols;
        decls.sort_by_key(|d| (d.file, d.name.start));
        // Each item's references come in source order: the stable sort merges those runs.
        refs.sort();
        refs.dedup();
        let mut entries: Vec<Entry> = denotes
            .into_iter()
            .map(|symbol| Entry {
                symbol,
                decls: Vec::new(),
                refs: Vec::new(),
                members: Vec::new(),
                record: None,
            })
            .collect();
        let mut positions = Vec::with_capacity(decls.len() + refs.len());
        for (i, d) in decls.iter().enumerate() {
            if let Some(entry) = entries.get_mut(d.id.index()) {
                entry.decls.push(i);
            }
            positions.push((d.file, d.name.start, d.name.end, true, d.id));
        }
        for (i, r) in refs.iter().enumerate() {
            if let Some(entry) = entries.get_mut(r.id.index()) {
                entry.refs.push(i);
            }
            positions.push((r.file, r.span.start, r.span.end, false, r.id));
        }
        // Two sorted runs, the declarations' and the references': merged by the stable sort.
        positions.sort();
        for (id, record) in binding_records {
            if let Some(entry) = entries.get_mut(id.index()) {
                entry.record = Some(record);
            }
        }
        let Scopes { globals, within, members, claim, input } = scopes;
        for (owner, of) in members {
            if let Some(entry) = entries.get_mut(owner.index()) {
                entry.members.extend(of);
            }
        }
        Index {
            decls,
            refs,
            symbols: entries,
            positions,
            globals,
            scopes: within,
            claim_members: claim,
            input,
        }
    }

    /// The name at byte `offset` of `file`: a name whose span contains the offset, or ends at it.
    pub fn at(&self, file: FileId, offset: usize) -> Option<Occurrence<'_>> {
        let offset = u32::try_from(offset).ok()?;
        let after = self.positions.partition_point(|&(f, start, ..)| (f, start) <= (file, offset));
        let candidates = self.positions.get(after.saturating_sub(2)..after).unwrap_or(&[]);
        let hit = candidates
            .iter()
            .rev()
            .find(|&&(f, start, end, ..)| f == file && start <= offset && offset < end)
            .or_else(|| {
                candidates.iter().rev().find(|&&(f, _, end, ..)| f == file && offset == end)
            })?;
        let &(_, start, end, declaration, id) = hit;
        let symbol = self.symbol(id)?;
        Some(Occurrence { id, symbol, span: Span { start, end }, declaration })
    }

    /// The id of what `symbol` denotes in this index, if it is declared or read here: for a
    /// symbol of another index (another document, or the same one checked again), since ids of
    /// two indexes are unrelated. A scan of the arena.
    pub fn id(&self, symbol: &Symbol) -> Option<SymbolId> {
        self.symbols.iter().position(|e| e.symbol == *symbol).map(SymbolId::at)
    }

    /// The symbol an id stands for.
    pub fn symbol(&self, id: SymbolId) -> Option<&Symbol> {
        self.symbols.get(id.index()).map(|e| &e.symbol)
    }

    /// Every declaration of the symbol `id`, the most derived first: an `override` before the
    /// base's declaration it replaces.
    pub fn declarations_of(&self, id: SymbolId) -> impl Iterator<Item = &Decl> + '_ {
        let entry = self.symbols.get(id.index());
        entry.into_iter().flat_map(|e| &e.decls).filter_map(|&i| self.decls.get(i))
    }

    /// Every place the symbol `id` is read, in every file.
    pub fn references_of(&self, id: SymbolId) -> impl Iterator<Item = &Reference> + '_ {
        let entry = self.symbols.get(id.index());
        entry.into_iter().flat_map(|e| &e.refs).filter_map(|&i| self.refs.get(i))
    }

    /// What kind of declaration introduces the symbol `id`.
    pub fn kind_of(&self, id: SymbolId) -> Option<Kind> {
        self.declarations_of(id).next().map(|d| d.kind)
    }

    /// Every declaration of what `symbol` denotes, the most derived first ([`Index::id`]: for a
    /// symbol of another index; within this one, [`Index::declarations_of`] its id).
    pub fn declarations(&self, symbol: &Symbol) -> impl Iterator<Item = &Decl> + '_ {
        self.id(symbol).into_iter().flat_map(|id| self.declarations_of(id))
    }

    /// The declaration in force of what `symbol` denotes: the most derived one.
    pub fn definition(&self, symbol: &Symbol) -> Option<&Decl> {
        self.declarations(symbol).next()
    }

    /// Every place what `symbol` denotes is read, in every file ([`Index::id`]: for a symbol of
    /// another index; within this one, [`Index::references_of`] its id).
    pub fn references(&self, symbol: &Symbol) -> impl Iterator<Item = &Reference> + '_ {
        self.id(symbol).into_iter().flat_map(|id| self.references_of(id))
    }

    /// What kind of declaration introduces what `symbol` denotes.
    pub fn kind(&self, symbol: &Symbol) -> Option<Kind> {
        self.definition(symbol).map(|d| d.kind)
    }

    /// The declaration in force of the symbol `id`, if it is declared.
    fn declared(&self, id: SymbolId) -> Option<&Decl> {
        self.declarations_of(id).next()
    }

    /// The names that can be read without a dot at `offset` of `file`, as the checker bound
    /// them: the innermost scopes first, then top-level names; each name once (a narrower
    /// scope's hides a wider one's), by its declaration in force.
    pub fn visible(&self, file: FileId, offset: usize) -> Vec<&Decl> {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let mut scoped: Vec<&(FileId, Span, Vec<SymbolId>)> = self
            .scopes
            .iter()
            .filter(|(f, range, _)| *f == file && range.start <= offset && offset <= range.end)
            .collect();
        scoped.sort_by_key(|(_, range, _)| range.len());
        let ids = scoped.into_iter().flat_map(|(.., names)| names).chain(&self.globals);
        // A set of the names taken: a scan of `out` for each name made a completion in a file
        // of 20,000 parameters take 200 million comparisons.
        let mut taken = foldhash::HashSet::default();
        let mut out: Vec<&Decl> = Vec::new();
        for d in ids.filter_map(|&id| self.declared(id)) {
            if taken.insert(d.symbol.name()) {
                out.push(d);
            }
        }
        out
    }

    /// The symbol a bare `name` denotes at `offset` of `file`, if it is declared.
    pub fn resolve(&self, file: FileId, offset: usize, name: &str) -> Option<&Symbol> {
        let visible = self.visible(file, offset);
        visible.into_iter().find(|d| d.symbol.name() == name).map(|d| &d.symbol)
    }

    /// Whether the checker lets the symbol `id` be read without a dot anywhere.
    pub fn is_global(&self, id: SymbolId) -> bool {
        self.globals.contains(&id)
    }

    /// The file and range the checker bound the symbol `id` in, for a name read without a dot
    /// only there (a stage's `let` or output, a fold's variable, a test's claim).
    pub fn scope_of(&self, id: SymbolId) -> Option<(FileId, Span)> {
        let mut scopes = self.scopes.iter().filter(|(.., names)| names.contains(&id));
        scopes.next().map(|(file, range, _)| (*file, *range))
    }

    /// What can follow the symbol `id` and a dot, as the checker resolves it: an input's fields,
    /// a stage's outputs, an enum's variants, a record's fields, the fields of a fold
    /// variable's record; for a test's claim, the input's fields and every value and stage.
    pub fn members_of(&self, id: SymbolId) -> Vec<&Decl> {
        let claim = matches!(self.symbol(id), Some(Symbol::Claim(..)));
        let of = if claim { Some(&self.claim_members) } else { self.entry(id).map(|e| &e.members) };
        self.declared_once(of.map_or(&[][..], Vec::as_slice))
    }

    /// What can follow `symbol` and a dot ([`Index::members_of`]); any claim of a test, even
    /// one not indexed yet (in a test that does not parse), has the same members.
    pub fn members(&self, symbol: &Symbol) -> Vec<&Decl> {
        match symbol {
            Symbol::Claim(..) => self.claim_members(),
            _ => self.id(symbol).map(|id| self.members_of(id)).unwrap_or_default(),
        }
    }

    /// What can follow any claim of a test and a dot, even a claim not indexed yet (in a test
    /// that does not parse): the input's fields and every value and stage.
    pub fn claim_members(&self) -> Vec<&Decl> {
        self.declared_once(&self.claim_members)
    }

    /// The owners the symbol `id` follows a dot of: the record or input of a field (and the
    /// fold variables ranging over that record), the stage of an output, the enum of a variant.
    pub fn owners_of(&self, id: SymbolId) -> impl Iterator<Item = SymbolId> + '_ {
        let owners = self.symbols.iter().enumerate();
        owners.filter(move |(_, e)| e.members.contains(&id)).map(|(owner, _)| SymbolId::at(owner))
    }

    /// The declarations in force of `ids`, each symbol once.
    fn declared_once(&self, ids: &[SymbolId]) -> Vec<&Decl> {
        let mut out: Vec<&Decl> = Vec::new();
        for d in ids.iter().filter_map(|&id| self.declared(id)) {
            if !out.iter().any(|o| o.id == d.id) {
                out.push(d);
            }
        }
        out
    }

    /// The record the fold variable `symbol` denotes ranges over.
    pub fn binding_record(&self, symbol: &Symbol) -> Option<&str> {
        self.id(symbol).and_then(|id| self.binding_record_of(id))
    }

    /// The record the fold variable `id` ranges over.
    pub fn binding_record_of(&self, id: SymbolId) -> Option<&str> {
        self.entry(id)?.record.as_deref()
    }

    /// The arena's entry of `id`.
    fn entry(&self, id: SymbolId) -> Option<&Entry> {
        self.symbols.get(id.index())
    }

    /// The input record's symbol.
    pub fn input(&self) -> Option<SymbolId> {
        self.input
    }

    /// The input record's name.
    pub fn input_name(&self) -> Option<&str> {
        self.input.and_then(|id| self.symbol(id)).map(Symbol::name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checked, Loader, check_with};

    /// Bases held in memory, by path.
    struct Files(Vec<(&'static str, &'static str)>);

    impl Loader for Files {
        fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
            let (name, text) = self.0.iter().find(|(n, _)| *n == path).ok_or("no such file")?;
            Ok(((*name).to_string(), (*text).to_string()))
        }
    }

    const POLICY: &str = r#"policy t.inpatient
enum Level { primary "基层", level1 "一级" }
enum Group { none, low }
enum Kind { drug, none }
record Item { kind: Kind, amount: money }
input claim { id: text, member: text, date: date, level: Level, group: Group, total: money, items: list of Item }
yearly admissions = count()
param deductible: money by Level = { primary: 200, level1: 450 }
param cap: money = 1_000
let drugs = sum(i.amount for i in claim.items where i.kind == drug)
rule due: money
    default deductible[claim.level]
    when claim.group == none -> 0
    when admissions >= 1 -> cap
stage basic (pay: money) {
    let eligible = max(claim.total - due, 0)
    pay = eligible - drugs
}
balance claim.total = basic.pay
test "one" {
    claim a { member: "m", date: 2023-01-01, level: level1, group: none, items: [{ kind: none, amount: 5 }] }
    expect a.basic.pay == 0 and a.due == 450 and a.level == Level.level1
}
"#;

    fn index(text: &'static str, bases: Vec<(&'static str, &'static str)>) -> Index {
        check_with("main.settle", text, &mut Files(bases)).index
    }

    /// The symbol at the `n`th occurrence (from 0) of `needle` in `text`.
    fn at<'a>(index: &'a Index, text: &str, needle: &str, n: usize) -> &'a Symbol {
        let offset = text.match_indices(needle).nth(n).map(|(i, _)| i).expect("needle");
        index.at(0, offset).expect("a name there").symbol
    }

    fn texts(text: &str, spans: impl Iterator<Item = Span>) -> Vec<String> {
        spans.map(|s| format!("{}@{}", &text[s.range()], s.start)).collect()
    }

    #[test]
    fn top_level_names_resolve_to_their_declaration() {
        let index = index(POLICY, vec![]);
        let deductible = at(&index, POLICY, "deductible", 1);
        assert_eq!(deductible, &Symbol::Value("deductible".into()));
        let decl = index.definition(deductible).expect("declared");
        assert_eq!(decl.kind, Kind::Param);
        assert_eq!(&POLICY[decl.name.range()], "deductible");
        assert_eq!(decl.name.start as usize, POLICY.find("deductible").expect("declared"));
        assert_eq!(index.references(deductible).count(), 1);
        let basic = Symbol::Value("basic".into());
        assert_eq!(index.references(&basic).count(), 2, "balance and test");
    }

    #[test]
    fn every_name_finds_its_symbol_by_its_id() {
        let index = index(POLICY, vec![]);
        for d in &index.decls {
            let o = index.at(d.file, d.name.start as usize).expect("a name there");
            assert_eq!((o.symbol, o.declaration), (&d.symbol, true));
            assert_eq!(index.id(&d.symbol), Some(o.id));
            assert!(index.declarations_of(o.id).any(|x| x == d), "{d:?}");
        }
        for r in &index.refs {
            let o = index.at(r.file, r.span.start as usize).expect("a name there");
            assert_eq!((o.id, o.declaration), (r.id, false));
            assert!(index.references_of(o.id).any(|x| x == r), "{r:?}");
            assert_eq!(index.symbol(o.id), index.symbol(r.id));
        }
        let deductible = at(&index, POLICY, "deductible", 1).clone();
        let due = at(&index, POLICY, "due == 450", 0).clone();
        assert_ne!(index.id(&deductible), index.id(&due));
        assert_eq!(index.id(&Symbol::Value("nothing".into())), None);
    }

    #[test]
    fn members_resolve_through_their_owner() {
        let index = index(POLICY, vec![]);
        assert_eq!(at(&index, POLICY, "level]", 0), &Symbol::Field("claim".into(), "level".into()));
        assert_eq!(at(&index, POLICY, "pay ==", 0), &Symbol::Output("basic".into(), "pay".into()));
        assert_eq!(at(&index, POLICY, "a.basic", 0), &Symbol::Claim(0, label_span(), "a".into()));
        assert_eq!(at(&index, POLICY, "due == 450", 0), &Symbol::Value("due".into()));
        assert_eq!(
            at(&index, POLICY, "level == Level", 0),
            &Symbol::Field("claim".into(), "level".into())
        );
        assert_eq!(
            at(&index, POLICY, "level1\n", 0),
            &Symbol::Variant("Level".into(), "level1".into())
        );
        assert_eq!(at(&index, POLICY, "Level.level1", 0), &Symbol::Type("Level".into()));
    }

    fn label_span() -> Span {
        let start = POLICY.find("claim a").expect("claim") + "claim ".len();
        Span::new(start, start + 1)
    }

    #[test]
    fn bare_variants_take_the_enum_their_context_expects() {
        let index = index(POLICY, vec![]);
        // `none` is a `Group` and a `Kind`: the comparison and the fields decide.
        assert_eq!(
            at(&index, POLICY, "none -> 0", 0),
            &Symbol::Variant("Group".into(), "none".into())
        );
        assert_eq!(
            at(&index, POLICY, "none, items", 0),
            &Symbol::Variant("Group".into(), "none".into())
        );
        assert_eq!(
            at(&index, POLICY, "none, amount", 0),
            &Symbol::Variant("Kind".into(), "none".into())
        );
        assert_eq!(at(&index, POLICY, "drug)", 0), &Symbol::Variant("Kind".into(), "drug".into()));
        assert_eq!(
            at(&index, POLICY, "primary: 200", 0),
            &Symbol::Variant("Level".into(), "primary".into())
        );
        let level1 = Symbol::Variant("Level".into(), "level1".into());
        assert_eq!(index.references(&level1).count(), 3, "table key, test field, qualified");
    }

    #[test]
    fn a_fold_variable_and_a_test_claim_keep_one_id_for_all_their_reads() {
        const TWICE: &str = "policy t
enum Kind { drug, none }
record Item { kind: Kind, amount: money }
input claim { id: text, member: text, date: date, total: money, items: list of Item }
let drugs = sum(i.amount for i in claim.items where i.kind == drug and i.amount > 0)
let others = sum(i.amount for i in claim.items where i.kind == none)
stage basic (pay: money) {
    pay = claim.total - drugs - others
}
balance claim.total = basic.pay
test \"t\" {
    claim a { member: \"m\", date: 2023-01-01, total: 10, items: [{ kind: none, amount: 5 }] }
    claim b { member: \"m\", date: 2023-01-02, total: 10 }
    expect a.basic.pay == 5 and a.drugs == 0 and a.others == 5 and b.basic.pay == 10
}
";
        let checked = check_with("main.settle", TWICE, &mut Files(vec![]));
        assert!(!checked.problems.has_errors(), "{}", checked.problems.render_plain());
        let index = checked.index;
        // Every name written `needle` from `from` up to `to`, by its id.
        let ids = |needle: &str, from: &str, to: &str| -> Vec<(SymbolId, bool)> {
            let start = TWICE.find(from).expect("from");
            let end = start + TWICE[start..].find(to).expect("to");
            TWICE[start..end]
                .match_indices(needle)
                .map(|(at, _)| index.at(0, start + at).expect("a name there"))
                .map(|o| (o.id, o.declaration))
                .collect()
        };
        for (from, to, reads) in [("let drugs", "\nlet others", 3), ("let others", "\nstage", 2)] {
            let names = ids("i.", from, to);
            assert_eq!(names.len(), reads);
            let start = TWICE.find(from).expect("fold");
            let at = start + TWICE[start..].find(" for i").expect("bound") + " for ".len();
            let bound = index.at(0, at).expect("bound");
            assert!(bound.declaration);
            assert!(names.iter().all(|&(id, decl)| id == bound.id && !decl), "{names:?}");
            assert_eq!(index.references_of(bound.id).count(), reads);
            assert_eq!(index.declarations_of(bound.id).count(), 1);
        }
        let first = ids("i.", "let drugs", "\nlet others");
        let second = ids("i.", "let others", "\nstage");
        assert_ne!(first.first(), second.first(), "two folds bind two variables");

        let a = ids("a.", "expect", "\n}");
        assert_eq!(a.len(), 3);
        let label = index.at(0, TWICE.find("claim a").expect("claim") + "claim ".len()).expect("a");
        assert!(label.declaration);
        assert!(a.iter().all(|&(id, _)| id == label.id), "{a:?}");
        assert_eq!(index.references_of(label.id).count(), 3);
        let b = index.at(0, TWICE.find("claim b").expect("claim") + "claim ".len()).expect("b");
        assert_ne!(b.id, label.id);
        assert_eq!(index.references_of(b.id).count(), 1);
    }

    #[test]
    fn the_members_of_a_name_declared_twice_are_the_first_declarations_namesakes() {
        const TWICE: &str = "policy d
enum Level { a, b }
enum Level { a, c }
record Item { x: money }
record Item { x: money, z: money }
input claim { id: text, member: text, date: date, level: Level, total: money }
stage s (pay: money) {
    let r = claim.total
    pay = r
}
stage s (pay: money) {
    let r = 1
    pay = r
}
balance claim.total = s.pay
";
        let index = index(TWICE, vec![]);
        let id = |needle: &str, n: usize| -> SymbolId {
            let offset = TWICE.match_indices(needle).nth(n).map(|(i, _)| i).expect("needle");
            index.at(0, offset).expect("a name there").id
        };
        assert_eq!(id("a, b", 0), id("a, c", 0));
        assert_ne!(id("b }", 0), id("c }", 0));
        assert_eq!(id("x: money }", 0), id("x: money,", 0));
        assert_eq!(id("pay: money", 0), id("pay: money", 1));
        assert_eq!(id("r = ", 0), id("r = ", 1));
        let outputs: Vec<&str> =
            index.members_of(id("s (", 0)).iter().map(|d| d.symbol.name()).collect();
        assert_eq!(outputs, ["pay"]);
    }

    #[test]
    fn stage_lets_and_fold_variables_are_scoped() {
        let index = index(POLICY, vec![]);
        let eligible = at(&index, POLICY, "eligible - drugs", 0).clone();
        assert!(matches!(&eligible, Symbol::Local(0, s, n) if s == "basic" && n == "eligible"));
        let decl = index.definition(&eligible).expect("declared");
        assert_eq!(decl.kind, Kind::Local);
        let i = at(&index, POLICY, "i.amount", 0).clone();
        assert_eq!(index.kind(&i), Some(Kind::Binding));
        assert_eq!(index.binding_record(&i), Some("Item"));
        assert_eq!(index.references(&i).count(), 2);
        assert_eq!(
            at(&index, POLICY, "amount for", 0),
            &Symbol::Field("Item".into(), "amount".into())
        );

        let in_stage = POLICY.find("pay = eligible").expect("stage");
        let names: Vec<&str> = index.visible(0, in_stage).iter().map(|d| d.symbol.name()).collect();
        assert_eq!(names.get(..2), Some(&["pay", "eligible"][..]));
        assert!(names.contains(&"deductible") && names.contains(&"claim"));
        let outside = POLICY.find("balance").expect("balance");
        let names: Vec<&str> = index.visible(0, outside).iter().map(|d| d.symbol.name()).collect();
        assert!(!names.contains(&"eligible") && !names.contains(&"i"));
    }

    #[test]
    fn scopes_are_those_the_checker_bound() {
        let index = index(POLICY, vec![]);
        let names = |offset: usize| -> Vec<&str> {
            index.visible(0, offset).iter().map(|d| d.symbol.name()).collect()
        };
        let in_fold = POLICY.find("i.amount").expect("fold");
        assert!(names(in_fold).contains(&"i"));
        assert!(!names(POLICY.find("rule due").expect("rule")).contains(&"i"));
        let i = index.at(0, in_fold).expect("a name there").id;
        let (file, range) = index.scope_of(i).expect("bound by the fold");
        assert_eq!(
            (file, &POLICY[range.range()]),
            (0, "sum(i.amount for i in claim.items where i.kind == drug)")
        );
        let of_i: Vec<&str> = index.members_of(i).iter().map(|d| d.symbol.name()).collect();
        assert_eq!(of_i, ["kind", "amount"]);
        let amount = index.id(&Symbol::Field("Item".into(), "amount".into())).expect("declared");
        let mut owners: Vec<&Symbol> =
            index.owners_of(amount).filter_map(|o| index.symbol(o)).collect();
        owners.sort();
        assert_eq!(owners, [&Symbol::Type("Item".into()), index.symbol(i).expect("i")]);
        let deductible = index.id(&Symbol::Value("deductible".into())).expect("declared");
        assert!(index.is_global(deductible) && index.scope_of(deductible).is_none());
        let eligible = index.at(0, POLICY.find("eligible -").expect("local")).expect("name").id;
        assert!(!index.is_global(eligible));

        // A claim the checker refuses (not of the input record) is bound nowhere.
        const REFUSED: &str = "policy r
record Item { amount: money }
input claim { id: text, member: text, date: date, total: money }
stage basic (pay: money) {
    pay = claim.total
}
balance claim.total = basic.pay
test \"t\" {
    claim a { member: \"m\", date: 2023-01-01, total: 1 }
    Item b { amount: 1 }
    expect a.basic.pay == 1
}
";
        let index = self::index(REFUSED, vec![]);
        let at_expect = REFUSED.find("expect").expect("expect");
        let names: Vec<&str> =
            index.visible(0, at_expect).iter().map(|d| d.symbol.name()).collect();
        assert!(names.contains(&"a") && !names.contains(&"b"), "{names:?}");
    }

    #[test]
    fn members_list_what_can_follow_a_dot() {
        let index = index(POLICY, vec![]);
        let names = |s: &Symbol| -> Vec<String> {
            index.members(s).iter().map(|d| d.symbol.name().to_string()).collect()
        };
        assert_eq!(
            names(&Symbol::Value("claim".into())),
            ["id", "member", "date", "level", "group", "total", "items"]
        );
        assert_eq!(names(&Symbol::Type("Level".into())), ["primary", "level1"]);
        assert_eq!(names(&Symbol::Value("basic".into())), ["pay"]);
        let a = index.resolve(0, POLICY.find("expect").expect("test"), "a").expect("a").clone();
        let of_a = names(&a);
        assert!(of_a.contains(&"total".to_string()) && of_a.contains(&"due".to_string()));
        assert!(of_a.contains(&"basic".to_string()) && !of_a.contains(&"cap".to_string()));
    }

    #[test]
    fn an_override_and_its_base_are_one_symbol() {
        const BASE: &str = "policy base
enum Level { primary, level1 }
input claim { id: text, member: text, date: date, level: Level, total: money }
param ratio: rate by Level = { primary: 90%, level1: 80% }
stage basic (pay: money) {
    pay = claim.total * ratio[claim.level]
}
balance claim.total = basic.pay
";
        const CITY: &str = "policy city
extends \"base.settle\"
override param ratio: rate by Level = { primary: 95%, level1: 80% }
test \"t\" {
    claim a { member: \"m\", date: 2023-01-01, level: primary, total: 100 }
    expect a.basic.pay == 95
}
";
        let index = index(CITY, vec![("base.settle", BASE)]);
        let ratio = Symbol::Value("ratio".into());
        let decls: Vec<(FileId, bool)> =
            index.declarations(&ratio).map(|d| (d.file, d.overrides)).collect();
        assert_eq!(decls, [(0, true), (1, false)]);
        let refs: Vec<FileId> = index.references(&ratio).map(|r| r.file).collect();
        assert_eq!(refs, [1]);
        let pay = at(&index, CITY, "pay ==", 0);
        let decl = index.definition(pay).expect("declared in the base");
        assert_eq!((decl.file, &BASE[decl.name.range()]), (1, "pay"));
        let primary = at(&index, CITY, "primary: 95", 0);
        let uses: Vec<FileId> = index.references(primary).map(|r| r.file).collect();
        assert_eq!(uses, [0, 0, 1]);
        let in_city =
            texts(CITY, index.references(primary).filter(|r| r.file == 0).map(|r| r.span));
        assert_eq!(in_city.len(), 2);
    }

    #[test]
    fn names_read_in_replaced_base_items_are_references() {
        const BASE: &str = "policy base
enum Level { primary, level1 }
input claim { id: text, member: text, date: date, level: Level, total: money }
param cap: money = 1_000
let limit: money = cap * 2
rule due: Level
    default level1
    when claim.total > cap -> primary
stage basic (pay: money) {
    let room = min(claim.total, limit)
    pay = room
}
balance claim.total = basic.pay
";
        const CITY: &str = "policy city
extends \"base.settle\"
override let limit: money = 5
override rule due: Level
    default primary
override stage basic (pay: money) {
    let spare = claim.total
    pay = spare
}
";
        let checked = check_with("main.settle", CITY, &mut Files(vec![("base.settle", BASE)]));
        assert!(!checked.problems.has_errors(), "{}", checked.problems.render_plain());
        let index = checked.index;
        let in_base = |symbol: Symbol| -> Vec<String> {
            texts(BASE, index.references(&symbol).filter(|r| r.file == 1).map(|r| r.span))
        };
        let at = |needle: &str| BASE.find(needle).expect("in the base").to_string();
        assert_eq!(
            in_base(Symbol::Value("cap".into())),
            [format!("cap@{}", at("cap * 2")), format!("cap@{}", at("cap -> primary"))]
        );
        assert_eq!(in_base(Symbol::Value("limit".into())), [format!("limit@{}", at("limit)"))]);
        assert_eq!(
            in_base(Symbol::Variant("Level".into(), "level1".into())),
            [format!("level1@{}", at("level1\n    when"))]
        );
        assert_eq!(
            in_base(Symbol::Local(1, "basic".into(), "room".into())),
            [format!("room@{}", at("room\n}"))]
        );
        assert_eq!(
            in_base(Symbol::Output("basic".into(), "pay".into())),
            [format!("pay@{}", at("pay = room")), format!("pay@{}", at("pay\n"))]
        );
        // The derived stage's own `let` is not read in the base.
        assert_eq!(in_base(Symbol::Local(0, "basic".into(), "spare".into())), Vec::<String>::new());
    }

    /// A province, a city overriding the province's `ratio` and `due`, and a county overriding
    /// the city's overrides in turn.
    const PROVINCE: &str = "policy province
enum Level { primary, level1 }
input claim { id: text, member: text, date: date, level: Level, total: money }
param cap: money = 1_000
param ratio: rate by Level
    from 2020-01-01 { primary: 90%, level1: 80% }
rule due: money
    default cap
    when claim.level == primary -> cap - 800
stage basic (pay: money) {
    pay = max(claim.total - due, 0) * ratio[claim.level]
}
stage patient (rest: money) {
    rest = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.rest
test \"province\" {
    claim a { member: \"m\", date: 2023-01-01, level: primary, total: 1_200 }
    expect a.basic.pay == 900
}
";
    const CITY: &str = "policy city
extends \"province.settle\"
override param ratio: rate by Level = { primary: 95%, level1: 85% }
override rule due: money
    default cap - 500
";
    const COUNTY: &str = "policy county
extends \"city.settle\"
override param ratio: rate by Level = { primary: 100%, level1: 90% }
override rule due: money
    default 0
test \"county\" {
    claim a { member: \"m\", date: 2023-01-01, level: primary, total: 1_200 }
    expect a.basic.pay == 1_200 and a.due == 0
}
";

    fn chain() -> Checked {
        let bases = vec![("city.settle", CITY), ("province.settle", PROVINCE)];
        check_with("county.settle", COUNTY, &mut Files(bases))
    }

    #[test]
    fn a_chain_of_three_overrides_checks_and_is_one_symbol() {
        let checked = chain();
        assert!(!checked.problems.has_errors(), "{}", checked.problems.render_plain());
        let policy = checked.policy.as_ref().expect("checked");
        assert_eq!(policy.tests.len(), 1, "the county's own test only");
        let index = checked.index;
        let ratio = at(&index, COUNTY, "ratio", 0).clone();
        assert_eq!(ratio, Symbol::Value("ratio".into()));
        let decls: Vec<(FileId, bool)> =
            index.declarations(&ratio).map(|d| (d.file, d.overrides)).collect();
        assert_eq!(
            decls,
            [(0, true), (1, true), (2, false)],
            "the county's, the city's, the province's"
        );
        let due = index.definition(&Symbol::Value("due".into())).expect("declared");
        assert_eq!((due.file, &COUNTY[due.name.range()]), (0, "due"));
        // Read only in the rules the county replaces: the city's, and the province's that the
        // city replaced in turn.
        let cap: Vec<(FileId, String)> = index
            .references(&Symbol::Value("cap".into()))
            .map(|r| (r.file, r.span.start.to_string()))
            .collect();
        let in_city = CITY.find("cap - 500").expect("city").to_string();
        let in_province = |needle: &str| PROVINCE.find(needle).expect("province").to_string();
        assert_eq!(cap, [(1, in_city), (2, in_province("cap\n")), (2, in_province("cap - 800"))]);
        let primary = Symbol::Variant("Level".into(), "primary".into());
        let files: Vec<FileId> = index.references(&primary).map(|r| r.file).collect();
        assert_eq!(files, [0, 0, 1, 2, 2, 2], "keys of all three tables, the tests, the rule");
    }

    #[test]
    fn a_chain_whose_middle_adds_values_checks_against_the_parameter() {
        const ADDING: &str = "policy city
extends \"province.settle\"
override param ratio from 2024-01-01 { primary: 95%, level1: 85% }
override rule due: money
    default cap - 500
";
        let bases = vec![("city.settle", ADDING), ("province.settle", PROVINCE)];
        let checked = check_with("county.settle", COUNTY, &mut Files(bases));
        assert!(!checked.problems.has_errors(), "{}", checked.problems.render_plain());
        let index = checked.index;
        let ratio = Symbol::Value("ratio".into());
        let decls: Vec<FileId> = index.declarations(&ratio).map(|d| d.file).collect();
        assert_eq!(decls, [0, 1, 2]);
        let level1 = Symbol::Variant("Level".into(), "level1".into());
        let files: Vec<FileId> = index.references(&level1).map(|r| r.file).collect();
        assert_eq!(files, [0, 1, 2], "the county's table, the city's values, the province's");
    }

    #[test]
    fn names_read_in_a_bases_tests_are_references() {
        let index = chain().index;
        let in_province = |symbol: &Symbol| -> Vec<String> {
            texts(PROVINCE, index.references(symbol).filter(|r| r.file == 2).map(|r| r.span))
        };
        let at = |needle: &str| PROVINCE.find(needle).expect("in the province");
        let pay = |needle: &str| format!("pay@{}", at(needle));
        assert_eq!(
            in_province(&Symbol::Output("basic".into(), "pay".into())),
            [pay("pay = max"), pay("pay\n}"), pay("pay +"), pay("pay ==")]
        );
        let claim = index.at(2, at("claim a") + "claim ".len()).expect("the province's claim");
        assert!(claim.declaration);
        let claim = claim.symbol.clone();
        assert_eq!(in_province(&claim), [format!("a@{}", at("a.basic"))]);
        let level = Symbol::Field("claim".into(), "level".into());
        assert!(in_province(&level).contains(&format!("level@{}", at("level: primary"))));
    }

    #[test]
    fn names_resolve_as_the_checker_resolves_them() {
        // A test claim named like a top-level value: `due.basic.pay` is the claim's value, a
        // bare `due` the top-level rule (which the checker reports as naming no claim).
        const SHADOW: &str = "policy s
input claim { id: text, member: text, date: date, total: money }
rule due: money
    default 1
stage basic (pay: money) {
    pay = claim.total - due
}
balance claim.total = basic.pay
test \"t\" {
    claim due { member: \"m\", date: 2023-01-01, total: 100 }
    expect due.basic.pay == 99 and due == 1
}
";
        let checked = check_with("main.settle", SHADOW, &mut Files(vec![]));
        assert!(checked.problems.list.iter().any(|p| p.code == crate::Code::TestUnknownValue));
        let index = checked.index;
        assert!(matches!(at(&index, SHADOW, "due.basic", 0), Symbol::Claim(0, _, n) if n == "due"));
        assert_eq!(at(&index, SHADOW, "due == 1", 0), &Symbol::Value("due".into()));
    }

    #[test]
    fn a_file_whose_base_is_missing_is_indexed() {
        const ORPHAN: &str = "policy o
extends \"missing.settle\"
let x = 1
let y = x + 1
";
        let index = index(ORPHAN, vec![]);
        assert_eq!(at(&index, ORPHAN, "x + 1", 0), &Symbol::Value("x".into()));
        assert_eq!(index.references(&Symbol::Value("x".into())).count(), 1);
    }

    #[test]
    fn a_broken_item_leaves_the_others_indexed() {
        const BROKEN: &str = "policy b
input claim { id: text, member: text, date: date, total: money }
let half = claim.total *
let whole = claim.total
";
        let index = index(BROKEN, vec![]);
        assert_eq!(
            at(&index, BROKEN, "total\n", 0),
            &Symbol::Field("claim".into(), "total".into())
        );
        assert!(index.definition(&Symbol::Value("half".into())).is_none());
        assert_eq!(index.resolve(0, 0, "whole"), Some(&Symbol::Value("whole".into())));
        assert!(index.at(0, BROKEN.find("*").expect("operator")).is_none());
    }
}
