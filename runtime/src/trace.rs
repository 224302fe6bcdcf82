//! `explain`: every value that led to one claim's settlement, with the parameters in force, the
//! documents they come from, and the exception of each rule that applied.

use std::fmt::Write;

use serde::Serialize;
use settle_lang::ir::{Accumulator, ParamKind, ParamValue, Policy, Type, ValueKind, Window};

use crate::engine::{Claim, Engine, Outcome};
use crate::field::format_value;
use crate::interp::Trace;

/// A value as a person reads it: rates as percentages.
fn shown(policy: &Policy, ty: Type, v: &Value) -> String {
    match v {
        Value::Rate(d) => format!("{}%", (d * rust_decimal::Decimal::ONE_HUNDRED).normalize()),
        _ => format_value(policy, ty, v),
    }
}
use crate::value::Value;

/// One claim's settlement, explained.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Explanation {
    /// The claim's id.
    pub id: String,
    /// The member's id.
    pub member: String,
    /// The line the claim came from.
    pub line: usize,
    /// The date deciding the medical year and the parameters.
    pub date: String,
    /// The first day of the claim's medical year.
    pub medical_year_from: String,
    /// The claim's input fields.
    pub inputs: Vec<Named>,
    /// The accumulators before this claim.
    pub year_to_date: Vec<Named>,
    /// With group totals, the claim's group: its key and the members whose claims it settled
    /// with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupLine>,
    /// The parameter values read, in order of first use.
    pub parameters: Vec<ParamUse>,
    /// Every computed value in evaluation order.
    pub values: Vec<ValueLine>,
    /// The balance, when the claim was settled.
    pub balance: Option<String>,
    /// Why the claim has no settlement, if it has none.
    pub error: Option<String>,
}

/// The group of a claim settled with group totals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupLine {
    /// The input field keying the group.
    pub field: String,
    /// The claim's value of it.
    pub key: String,
    /// The members with claims in the group up to and including this one, in order of their
    /// first claim in it.
    pub members: Vec<String>,
}

/// A name and a value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// The value as written in output.
    pub value: String,
}

/// A parameter cell read for the claim.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParamUse {
    /// The parameter and, for a table, its keys: `deductible[level1]`.
    pub name: String,
    /// The value.
    pub value: String,
    /// When this value took effect (`None` for an undated parameter).
    pub from: Option<String>,
    /// Whether that date is marked as assumed in the policy (the source does not give it).
    pub from_assumed: bool,
    /// Whether the value is marked as assumed in the policy.
    pub assumed: bool,
    /// The documents it comes from.
    pub sources: Vec<String>,
}

/// A computed value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ValueLine {
    /// Its name.
    pub name: String,
    /// `let`, `rule`, `stage` (a stage's local) or `output`.
    pub kind: &'static str,
    /// The value.
    pub value: String,
    /// For a rule: the exception that applied, or `default`.
    pub applied: Option<String>,
    /// Sources cited for the value or the exception applied.
    pub sources: Vec<String>,
}

/// Explain the claim `id` among `claims`: the member's earlier claims of the batch are settled
/// first, in engine order, so the year-to-date values are those of a real run.
pub fn explain(engine: &Engine, claims: &[Claim], id: &str) -> Result<Explanation, String> {
    let target = claims
        .iter()
        .position(|c| &*engine.id_of(c) == id)
        .ok_or_else(|| format!("no claim with id `{id}`"))?;
    // The member's earlier claims, or with group totals, the group's.
    let history = engine.history(claims, target);
    let at = history.iter().position(|(i, _)| *i == target).unwrap_or(0);
    let ordered: Vec<&Claim> = history.iter().map(|(_, c)| *c).collect();
    let (outcomes, trace) = engine.settle_traced(&ordered, at);
    let claim = ordered.get(at).copied().ok_or("no claim")?;
    let outcome = outcomes.into_iter().nth(at).ok_or("no outcome")?;
    let mut explanation = build(engine, claim, &outcome, &trace.unwrap_or_default());
    explanation.group = group_line(engine, claim, ordered.get(..=at).unwrap_or(&[]));
    Ok(explanation)
}

/// The group of `claim`, settled after `earlier` (the claims linked to it, itself last): the
/// members with claims in its group.
fn group_line(engine: &Engine, claim: &Claim, earlier: &[&Claim]) -> Option<GroupLine> {
    let policy = engine.policy();
    let field = policy.group_field()?;
    let key = claim.fields.get(field);
    let mut members: Vec<String> = Vec::new();
    for c in earlier.iter().filter(|c| c.fields.get(field) == key) {
        let m = engine.member_of(c).to_string();
        if !members.contains(&m) {
            members.push(m);
        }
    }
    Some(GroupLine {
        field: policy.input_record()?.fields.get(field)?.name.clone(),
        key: match key {
            Some(Value::Text(t)) => t.to_string(),
            _ => String::new(),
        },
        members,
    })
}

fn build(engine: &Engine, claim: &Claim, outcome: &Outcome, trace: &Trace) -> Explanation {
    let policy = engine.policy();
    let input = policy.input_record();
    let date = engine.date_of(claim);
    let inputs = input
        .map(|r| {
            r.fields
                .iter()
                .zip(&claim.fields)
                .map(|(f, v)| Named { name: f.name.clone(), value: format_value(policy, f.ty, v) })
                .collect()
        })
        .unwrap_or_default();
    let mut parameters: Vec<ParamUse> = Vec::new();
    for &(p, version, cell) in &trace.params {
        let Some(use_) = param_use(policy, p, version, cell) else { continue };
        if !parameters.iter().any(|x| x.name == use_.name) {
            parameters.push(use_);
        }
    }
    let (values, year_to_date, balance, error) = match outcome {
        Ok(s) => {
            let values = policy
                .order
                .iter()
                .filter_map(|&v| {
                    let def = policy.values.get(v)?;
                    let rule =
                        trace.rules.iter().find(|(rv, _)| *rv == v).map(|(_, applied)| *applied);
                    let (applied, sources) = match (&def.body, rule) {
                        (settle_lang::ir::Body::Rule { exceptions, .. }, Some(Some(i))) => {
                            let e = exceptions.get(i)?;
                            (Some(format!("when {}", e.text)), e.sources.clone())
                        }
                        (_, Some(None)) => (Some("default".to_string()), def.sources.clone()),
                        _ => (None, def.sources.clone()),
                    };
                    Some(ValueLine {
                        name: def.name.clone(),
                        kind: match def.kind {
                            ValueKind::Let => "let",
                            ValueKind::Rule => "rule",
                            ValueKind::StageLocal(_) => "stage",
                            ValueKind::Output(_) => "output",
                        },
                        value: shown(policy, def.ty, &s.value(policy, v)?),
                        applied,
                        sources,
                    })
                })
                .collect();
            let ytd = policy
                .accumulators
                .iter()
                .zip(s.accumulators(policy))
                .enumerate()
                .map(|(i, (a, v))| Named {
                    // A yearly total spans the medical year shown above; the others say what
                    // they span.
                    name: grouped(
                        policy,
                        a,
                        match (a.window, a.window.period_start(date)) {
                            (Window::Year, _) => a.name.clone(),
                            (Window::Month | Window::Quarter, Some(from)) => {
                                format!("{} ({} from {from})", a.name, a.window.keyword())
                            }
                            (Window::Rolling { .. } | Window::Episode { .. }, _) => {
                                match trace.windows.iter().find(|(w, _)| *w == i) {
                                    Some((_, span)) => format!("{} ({span})", a.name),
                                    None => format!("{} ({})", a.name, a.window.keyword()),
                                }
                            }
                            (Window::Lifetime | Window::Month | Window::Quarter, _) => {
                                format!("{} ({})", a.name, a.window.keyword())
                            }
                        },
                    ),
                    value: format_value(policy, a.ty, &v),
                })
                .collect();
            let balance = policy.balance.as_ref().map(|b| {
                let parts: Vec<String> = b
                    .parts
                    .iter()
                    .filter_map(|p| Some(format_value(policy, Type::Money, &s.value(policy, *p)?)))
                    .collect();
                let names: Vec<&str> = b
                    .parts
                    .iter()
                    .filter_map(|p| policy.values.get(*p).map(|d| d.name.as_str()))
                    .collect();
                format!(
                    "{} = {} ({})",
                    total_of(policy, &s.values(policy)),
                    parts.join(" + "),
                    names.join(" + ")
                )
            });
            (values, ytd, balance, None)
        }
        Err(e) => (Vec::new(), Vec::new(), None, Some(e.to_string())),
    };
    Explanation {
        id: engine.id_of(claim).to_string(),
        member: engine.member_of(claim).to_string(),
        line: claim.line,
        date: date.to_string(),
        medical_year_from: date.year_start(policy.year_start).to_string(),
        inputs,
        year_to_date,
        group: None,
        parameters,
        values,
        balance,
        error,
    }
}

/// An accumulator's name as shown, `name`, with `by household` after a group total's.
fn grouped(policy: &Policy, a: &Accumulator, name: String) -> String {
    let field = a.group.and_then(|g| policy.input_record()?.fields.get(g));
    match field {
        Some(f) => format!("{name} by {}", f.name),
        None => name,
    }
}

fn total_of(policy: &Policy, values: &[Value]) -> String {
    let Some(b) = &policy.balance else { return String::new() };
    let mut sum = rust_decimal::Decimal::ZERO;
    for p in &b.parts {
        sum += values.get(*p).and_then(Value::decimal).unwrap_or_default();
    }
    format!("{sum:.2}")
}

fn param_use(policy: &Policy, p: usize, version: usize, cell: usize) -> Option<ParamUse> {
    let param = policy.params.get(p)?;
    let v = param.versions.get(version)?;
    let (name, value) = match (&param.kind, &v.value) {
        (ParamKind::Scalar(ty), ParamValue::Scalar(c)) => {
            (param.name.clone(), shown(policy, *ty, &Value::from_const(c)))
        }
        (ParamKind::Table { keys, value }, ParamValue::Table(cells)) => {
            let mut rest = cell;
            let sizes: Vec<usize> =
                keys.iter().map(|k| policy.enums.get(*k).map_or(1, |e| e.variants.len())).collect();
            let mut names = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                let stride: usize = sizes.iter().skip(i + 1).product();
                let index = rest / stride.max(1);
                rest %= stride.max(1);
                names.push(
                    policy
                        .enums
                        .get(*k)
                        .and_then(|e| e.variants.get(index))
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            let c = cells.get(cell)?;
            (
                format!("{}[{}]", param.name, names.join(", ")),
                shown(policy, *value, &Value::from_const(c)),
            )
        }
        (ParamKind::Scale, ParamValue::Scale(brackets)) => {
            let text: Vec<String> = brackets
                .iter()
                .map(|b| {
                    let upper = b.upper.map(|u| format!(" {u}")).unwrap_or_default();
                    format!(
                        "{} ..{upper}: {}%",
                        b.lower,
                        (b.rate * rust_decimal::Decimal::ONE_HUNDRED).normalize()
                    )
                })
                .collect();
            (param.name.clone(), format!("{{ {} }}", text.join(", ")))
        }
        _ => return None,
    };
    let mut sources = param.sources.clone();
    sources.extend(v.sources.iter().cloned());
    let assumed = match param.kind {
        ParamKind::Table { .. } => v.assumed.get(cell).copied().unwrap_or(false),
        _ => v.assumed.iter().any(|a| *a),
    };
    Some(ParamUse {
        name,
        value,
        from: v.from.map(|d| d.to_string()),
        from_assumed: v.from_assumed,
        assumed,
        sources,
    })
}

impl Explanation {
    /// The explanation as text for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "claim {} of member {} (line {}), dated {}, medical year from {}",
            self.id, self.member, self.line, self.date, self.medical_year_from
        );
        let _ = writeln!(out, "\ninputs");
        for n in &self.inputs {
            let _ = writeln!(out, "  {} = {}", n.name, n.value);
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "\nnot settled: {error}");
            return out;
        }
        if let Some(g) = &self.group {
            let _ = writeln!(
                out,
                "\ngroup {} = {}, members so far: {}",
                g.field,
                g.key,
                g.members.join(", ")
            );
        }
        if !self.year_to_date.is_empty() {
            let _ = writeln!(out, "\nyear to date, before this claim");
            for n in &self.year_to_date {
                let _ = writeln!(out, "  {} = {}", n.name, n.value);
            }
        }
        if !self.parameters.is_empty() {
            let _ = writeln!(out, "\nparameters in force on {}", self.date);
            for p in &self.parameters {
                let start = if p.from_assumed { " (assumed start)" } else { "" };
                let from =
                    p.from.as_ref().map(|f| format!("  from {f}{start}")).unwrap_or_default();
                let assumed = if p.assumed { "  (assumed: not given by the source)" } else { "" };
                let _ = writeln!(out, "  {} = {}{from}{assumed}", p.name, p.value);
                for s in &p.sources {
                    let _ = writeln!(out, "      source: {s}");
                }
            }
        }
        let _ = writeln!(out, "\nvalues, in the order computed");
        for v in &self.values {
            let applied = v.applied.as_ref().map(|a| format!("  ({a})")).unwrap_or_default();
            let _ = writeln!(out, "  {:<7} {} = {}{applied}", v.kind, v.name, v.value);
            if v.kind == "rule" {
                for s in &v.sources {
                    let _ = writeln!(out, "          source: {s}");
                }
            }
        }
        if let Some(b) = &self.balance {
            let _ = writeln!(out, "\nbalance: {b}");
        }
        out
    }
}
