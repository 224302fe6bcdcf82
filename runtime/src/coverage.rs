//! Test coverage: which of a policy's rule defaults and exceptions, parameter versions, table
//! cells, scale brackets and stages its in-file tests reach.
//!
//! Every test claim is settled again on the reference interpreter with a trace, in the engine's
//! order (each member's claims by date, id, then position), and the trace says which exception
//! of each rule applied, which version and cell of each parameter was read and which brackets of
//! a scale an amount reached. A stage counts as reached when an expectation reads one of its
//! outputs: every claim computes every stage, so only a checked output says a test looks at it.
//!
//! Limits: an item declared in a base the policy `extends` has no line in this file; a version's
//! line is that of its `from` clause when the parameter is written in this file.

use std::collections::HashSet;

use serde::Serialize;
use settle_lang::ir::{Body, ClaimPart, ExprKind, ParamKind, ParamValue, Policy, ValueKind};

use crate::engine::{Claim, Engine};
use crate::testing::claims_of;

/// What kind of thing an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A rule's default (no exception applied).
    Default,
    /// One exception of a rule.
    Exception,
    /// One dated version of a parameter.
    Version,
    /// One cell of a table in one version.
    Cell,
    /// One bracket of a scale in one version.
    Bracket,
    /// A payer stage, reached when an expectation reads one of its outputs.
    Stage,
}

impl Kind {
    /// Every kind, in the order reports list them.
    pub const ALL: [Kind; 6] =
        [Kind::Default, Kind::Exception, Kind::Version, Kind::Cell, Kind::Bracket, Kind::Stage];

    /// The kind's name in reports, plural.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Default => "rule defaults",
            Kind::Exception => "exceptions",
            Kind::Version => "parameter versions",
            Kind::Cell => "table cells",
            Kind::Bracket => "scale brackets",
            Kind::Stage => "stages",
        }
    }
}

/// One thing the tests may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// What it is.
    pub kind: Kind,
    /// It, as a person reads it: ``rule `deductible_due`: when admissions >= 2``.
    pub name: String,
    /// Its line in the policy's file, when it is written there.
    pub line: Option<usize>,
    /// Whether a test reached it.
    pub reached: bool,
    /// Whether it belongs to a parameter version whose start date is marked `assumed` (the
    /// source does not say when the value begins): a test reaching it rests on that date.
    pub assumed_start: bool,
}

/// What a policy's tests reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Every item, in the policy's order.
    pub items: Vec<Item>,
}

impl Coverage {
    /// Of the items of `kind`: how many were reached, and how many there are.
    pub fn count(&self, kind: Kind) -> (usize, usize) {
        let of: Vec<&Item> = self.items.iter().filter(|i| i.kind == kind).collect();
        (of.iter().filter(|i| i.reached).count(), of.len())
    }
}

/// What the traces of every test claim saw.
#[derive(Debug, Default)]
struct Seen {
    rules: HashSet<(usize, Option<usize>)>,
    /// (parameter, version).
    versions: HashSet<(usize, usize)>,
    /// (parameter, version, cell).
    cells: HashSet<(usize, usize, usize)>,
    /// (parameter, version, bracket).
    brackets: HashSet<(usize, usize, usize)>,
    /// Values read by expectations.
    read: HashSet<usize>,
}

/// The coverage of the engine's policy by its own tests; `source` is the policy's text, for
/// lines.
pub fn coverage(engine: &Engine, source: &str) -> Coverage {
    let policy = engine.policy();
    let mut seen = Seen::default();
    for test in &policy.tests {
        let claims = claims_of(test);
        // The claims settled together: a member's, or with group totals, a group's.
        let mut histories: Vec<Vec<usize>> = Vec::new();
        for at in 0..claims.len() {
            if !histories.iter().any(|h| h.contains(&at)) {
                histories.push(engine.history(&claims, at).iter().map(|(i, _)| *i).collect());
            }
        }
        for first in histories.iter().filter_map(|h| h.first()) {
            let history = engine.history(&claims, *first);
            let ordered: Vec<&Claim> = history.iter().map(|(_, c)| *c).collect();
            for k in 0..ordered.len() {
                let (_, trace) = engine.settle_traced(&ordered, k);
                let Some(trace) = trace else { continue };
                seen.rules.extend(trace.rules.iter().copied());
                for &(p, v, cell) in &trace.params {
                    seen.versions.insert((p, v));
                    seen.cells.insert((p, v, cell));
                }
                seen.brackets.extend(trace.brackets.iter().copied());
            }
        }
        for expect in &test.expects {
            expect.expr.walk(&mut |e| {
                if let ExprKind::ClaimValue(_, ClaimPart::Value(v)) = e.kind {
                    seen.read.insert(v);
                }
            });
        }
    }
    Coverage { items: items(policy, source, &seen) }
}

/// The line of byte `offset` of `source`, when the text there holds `needle` (an item declared
/// in a base has a span in the base's text, which this check tells apart).
fn line_at(source: &str, span: settle_lang::span::Span, needle: &str) -> Option<usize> {
    let text = source.get(span.start as usize..span.end as usize)?;
    text.contains(needle).then(|| settle_lang::diagnostic::line_col(source, span.start as usize).0)
}

/// The words that begin an item, each after a line break.
const ITEM_STARTS: &[&str] = &[
    "\nparam ",
    "\nrule ",
    "\nstage ",
    "\nlet ",
    "\ntest ",
    "\nbalance ",
    "\nyearly ",
    "\nlifetime ",
    "\nmonthly ",
    "\nquarterly ",
    "\noverride ",
    "\nenum ",
    "\nrecord ",
    "\ninput ",
];

/// The text of the item starting at byte `start` of `source`, up to the next item, with its
/// start.
fn item_text(source: &str, start: usize) -> (usize, &str) {
    let text = source.get(start..).unwrap_or("");
    let end = ITEM_STARTS.iter().filter_map(|item| text.get(1..).and_then(|t| t.find(item))).min();
    (start, end.and_then(|end| text.get(..end + 1)).unwrap_or(text))
}

/// Where `override param NAME` adds dated values to a base's parameter in `source` (not the
/// `override param NAME: type` that replaces it).
fn added_at(source: &str, name: &str) -> Option<usize> {
    let head = format!("override param {name}");
    source.match_indices(&head).map(|(at, _)| at).find(|&at| {
        let line_start = at == 0 || source.get(..at).is_some_and(|b| b.ends_with('\n'));
        let rest = source.get(at + head.len()..).unwrap_or("");
        let after_word = rest.starts_with([' ', '\t', '\r', '\n']);
        line_start && after_word && !rest.trim_start().starts_with(':')
    })
}

fn items(policy: &Policy, source: &str, seen: &Seen) -> Vec<Item> {
    let mut out = Vec::new();
    for (v, def) in policy.values.iter().enumerate() {
        let Body::Rule { exceptions, .. } = &def.body else { continue };
        out.push(Item {
            kind: Kind::Default,
            name: format!("rule `{}`: default", def.name),
            line: line_at(source, def.span, &def.name),
            reached: seen.rules.contains(&(v, None)),
            assumed_start: false,
        });
        for (i, e) in exceptions.iter().enumerate() {
            out.push(Item {
                kind: Kind::Exception,
                name: format!("rule `{}`: when {}", def.name, e.text),
                line: line_at(source, e.span, &e.text),
                reached: seen.rules.contains(&(v, Some(i))),
                assumed_start: false,
            });
        }
    }
    for (p, param) in policy.params.iter().enumerate() {
        let declared = line_at(source, param.span, &param.name);
        // The parameter's text in this file, and that of values added to it here
        // (`override param NAME from ...` over a base's parameter).
        let own = declared.map(|_| item_text(source, param.span.start as usize));
        let added = added_at(source, &param.name).map(|at| item_text(source, at));
        // Over values added here, the base's own versions are written in the base: no line.
        let line_of = |at: usize| settle_lang::diagnostic::line_col(source, at).0;
        let fallback = match added {
            Some((at, _)) if declared == Some(line_of(at)) => None,
            _ => declared,
        };
        for (k, version) in param.versions.iter().enumerate() {
            let assumed_start = version.from.is_some() && version.from_assumed;
            let from = match version.from {
                Some(d) if assumed_start => format!(" from {d} (assumed start)"),
                Some(d) => format!(" from {d}"),
                None => String::new(),
            };
            // The version's own `from` clause, when it is written in this file.
            let line = version
                .from
                .and_then(|d| {
                    let clause = format!("from {d}");
                    [own, added].into_iter().flatten().find_map(|(start, text)| {
                        let at = text.find(&clause)?;
                        Some(line_of(start + at))
                    })
                })
                .or(fallback);
            out.push(Item {
                kind: Kind::Version,
                name: format!("param `{}`{from}", param.name),
                line,
                reached: seen.versions.contains(&(p, k)),
                assumed_start,
            });
            match (&param.kind, &version.value) {
                (ParamKind::Table { keys, .. }, ParamValue::Table(cells)) => {
                    let sizes: Vec<usize> = keys
                        .iter()
                        .map(|e| policy.enums.get(*e).map_or(1, |d| d.variants.len()))
                        .collect();
                    for cell in 0..cells.len() {
                        let mut rest = cell;
                        let mut names = Vec::with_capacity(keys.len());
                        for (key, size) in keys.iter().zip(&sizes).rev() {
                            let variant = rest % size.max(&1);
                            rest /= size.max(&1);
                            let name = policy.enums.get(*key).and_then(|d| d.variants.get(variant));
                            names.push(name.cloned().unwrap_or_default());
                        }
                        names.reverse();
                        out.push(Item {
                            kind: Kind::Cell,
                            name: format!("param `{}`[{}]{from}", param.name, names.join(", ")),
                            line,
                            reached: seen.cells.contains(&(p, k, cell)),
                            assumed_start,
                        });
                    }
                }
                (ParamKind::Scale, ParamValue::Scale(brackets)) => {
                    for (b, bracket) in brackets.iter().enumerate() {
                        let upper = bracket
                            .upper
                            .map_or_else(|| "and above".to_string(), |u| format!("to {u}"));
                        out.push(Item {
                            kind: Kind::Bracket,
                            name: format!(
                                "param `{}`: {} {upper}{from}",
                                param.name, bracket.lower
                            ),
                            line,
                            reached: seen.brackets.contains(&(p, k, b)),
                            assumed_start,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    for (s, stage) in policy.stages.iter().enumerate() {
        let read = policy
            .values
            .iter()
            .enumerate()
            .any(|(v, def)| def.kind == ValueKind::Output(s) && seen.read.contains(&v));
        out.push(Item {
            kind: Kind::Stage,
            name: format!("stage `{}`", stage.name),
            line: source
                .find(&format!("stage {} ", stage.name))
                .map(|at| settle_lang::diagnostic::line_col(source, at).0),
            reached: read,
            assumed_start: false,
        });
    }
    out
}
