//! Period settlement: once every claim of a period is settled, the policy's aggregates, period
//! values, case values and tables ([`settle_lang::ir::period`]).
//!
//! The engine walks the period's steps in order, each one pass over the cases (the claims that
//! settled, in input order): an aggregate folds every case, in parallel, into exact scaled sums
//! (fen, millionths, counts) by key, so that neither the thread count nor the input order can
//! change it; a period value is computed once; a case value is computed for every case. The
//! tables come last, one row per key in the key's order. Every expression is evaluated by the
//! reference interpreter ([`Cx`]): these are passes over settled claims, not the claims' own
//! settlement, and the reference is what both backends' claim values are checked against. A
//! fault anywhere fails the whole period, naming the value and the case: a table is written
//! whole or not at all. A period without a case (no claim settled) has no values and its tables
//! no rows.
//!
//! `share(amount, weight)` splits an amount by largest remainder: each row gets its exact share
//! rounded down to the fen, and the fen left over go one each to the rows with the largest
//! remainders, ties to the row first in key order. The rows' shares add up to the amount.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::period::{ColumnKind, Fold, Folding, Key, PeriodRead, Step, Table};
use settle_lang::ir::{Policy, Type};

use crate::engine::{Claim, Engine, Outcome};
use crate::field::format_value;
use crate::interp::{Cx, Fault, PeriodReads, Prepared, versions_in_force};
use crate::value::{self as arith, ArithError, Value};

mod cases;
pub mod compare;
mod settled;

use cases::{Cases, Kept};
pub(crate) use settled::Settled;

/// The value of an aggregate's or a table's key: an enum variant or a text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyValue {
    /// A variant, by its index: rows in declaration order.
    Variant(u32),
    /// A text, such as a hospital's code: rows by its bytes.
    Text(Arc<str>),
}

impl KeyValue {
    /// The key of a field's value: `None` for a value of another type.
    pub fn of_value(value: &Value) -> Option<KeyValue> {
        match value {
            Value::Enum(v) => Some(KeyValue::Variant(*v)),
            Value::Text(t) => Some(KeyValue::Text(t.clone())),
            _ => None,
        }
    }

    /// The key as output shows it: a variant's name, or the text.
    pub fn show(&self, policy: &Policy, ty: Type) -> String {
        match self {
            KeyValue::Variant(v) => format_value(policy, ty, &Value::Enum(*v)),
            KeyValue::Text(t) => t.to_string(),
        }
    }
}

/// Why a period could not be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError {
    /// The value being computed: an aggregate, a period or case value, or `table.column`.
    pub value: String,
    /// The line of the case being read, if one was.
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for PeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "computing `{}` for the case on line {line}: {}",
                self.value, self.message
            ),
            None => write!(f, "computing `{}`: {}", self.value, self.message),
        }
    }
}

impl std::error::Error for PeriodError {}

/// A sum while folding: exact, scaled (fen, millionths or a count), with the cases counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sum {
    total: i128,
    count: i64,
}

impl Sum {
    fn add(self, other: Sum) -> Sum {
        Sum { total: self.total + other.total, count: self.count + other.count }
    }
}

/// An aggregate once folded: one value, or one per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregated {
    /// Without a key.
    One(Value),
    /// With a key: the keys that have cases, in key order.
    ByKey(BTreeMap<KeyValue, Value>),
}

/// One table once computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// Which of the policy's tables.
    pub table: usize,
    /// Its rows in key order: the key and each column's value.
    pub rows: Vec<(KeyValue, Vec<Value>)>,
}

/// A period settled: every aggregate, period value, each case's case values, and the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodSettlement {
    /// Each aggregate, by id; none when the period has no case.
    pub aggregates: Vec<Aggregated>,
    /// Each period value, by id; none when the period has no case.
    pub values: Vec<Value>,
    /// The cases: the position of each settled claim in the input, in input order.
    pub cases: Vec<usize>,
    /// Each case's case values, by case id.
    pub case_values: Vec<Vec<Value>>,
    /// The tables, in the policy's order (without rows when the period has no case).
    pub tables: Vec<TableRows>,
    /// The last `dated by` date of the period's cases, deciding the parameters it reads.
    pub last_date: Option<Date>,
}

/// What the period's expressions read, beyond a claim.
struct Reads<'a> {
    policy: &'a Policy,
    aggregates: &'a [Option<Aggregated>],
    values: &'a [Option<Value>],
    case: &'a [Option<Value>],
    row: &'a [Value],
}

impl PeriodReads for Reads<'_> {
    fn read(&self, read: &PeriodRead, key: Option<&Value>) -> Result<Value, Fault> {
        match read {
            PeriodRead::Aggregate(a, _) => {
                let folded = self.aggregates.get(*a).and_then(Option::as_ref);
                aggregate_value(self.policy, *a, folded, key)
            }
            PeriodRead::Value(v) => self.values.get(*v).cloned().flatten().ok_or(Fault::Internal),
            PeriodRead::Case(c) => self.case.get(*c).cloned().flatten().ok_or(Fault::Internal),
            PeriodRead::Column(c) => self.row.get(*c).cloned().ok_or(Fault::Internal),
            // Only a test's expectations read these, from a settled period.
            PeriodRead::ClaimCase(..) | PeriodRead::Row { .. } | PeriodRead::Total { .. } => {
                Err(Fault::Internal)
            }
        }
    }
}

/// Aggregate `a`'s value, once folded: the one value, or the value of `key`; a key without
/// cases has no sum, no count, no average (which divides by zero).
fn aggregate_value(
    policy: &Policy,
    a: usize,
    folded: Option<&Aggregated>,
    key: Option<&Value>,
) -> Result<Value, Fault> {
    match (folded, key) {
        (Some(Aggregated::One(v)), None) => Ok(v.clone()),
        (Some(Aggregated::ByKey(map)), Some(key)) => {
            let k = KeyValue::of_value(key).ok_or(Fault::Internal)?;
            match map.get(&k) {
                Some(v) => Ok(v.clone()),
                None => {
                    let agg = policy.period.aggregates.get(a).ok_or(Fault::Internal)?;
                    finish(&agg.folding, agg.ty, Sum::default(), policy).map_err(Fault::Arith)
                }
            }
        }
        _ => Err(Fault::Internal),
    }
}

/// The folded value: a sum, a count, or a sum over the count rounded once by the policy's mode
/// (an average of counts is a rate: the counts in millionths over the count).
fn finish(folding: &Folding, ty: Type, sum: Sum, policy: &Policy) -> Result<Value, ArithError> {
    let mode = policy.rounding;
    let body = folding.body.as_ref().map(|b| b.ty);
    Ok(match (folding.fold, ty) {
        (Fold::Count, _) => Value::Int(sum.count),
        (Fold::Sum, Type::Money) => Value::Money(arith::money_from_fen(sum.total)?),
        (Fold::Sum, Type::Rate) => Value::Rate(arith::rate_from_millionths(sum.total)?),
        (Fold::Sum, _) => Value::Int(i64::try_from(sum.total).map_err(|_| ArithError::Overflow)?),
        (Fold::Average, Type::Money) => Value::Money(arith::money_from_fen(arith::divide(
            sum.total,
            i128::from(sum.count),
            mode,
        )?)?),
        (Fold::Average, _) => {
            let total = match body {
                Some(Type::Int) => sum.total.checked_mul(1_000_000).ok_or(ArithError::Overflow)?,
                _ => sum.total,
            };
            Value::Rate(arith::rate_from_millionths(arith::divide(
                total,
                i128::from(sum.count),
                mode,
            )?)?)
        }
    })
}

/// A value as an exact scaled integer for a sum: fen, millionths or the count itself.
fn scaled(v: &Value) -> Option<i128> {
    match v {
        Value::Money(d) => Some(arith::fen(*d)),
        Value::Rate(d) => Some(arith::millionths(*d)),
        Value::Int(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// Settle the period of `claims`, whose claim settlements are `outcomes` (one per claim, as
/// [`Engine::settle_batch`] returns them). Claims in error are not cases.
pub fn settle_period<C: Borrow<Claim> + Sync>(
    engine: &Engine,
    claims: &[C],
    outcomes: &[Outcome],
) -> Result<PeriodSettlement, PeriodError> {
    let policy = engine.policy();
    let prepared = Prepared::new(policy);
    // The period's expressions read a case's kept values by their places: `period` is the
    // policy's period renumbered so.
    let (kept, period) = Kept::renumber(&policy.period);
    let period = &period;
    let cases = Cases::new(policy, |c| engine.date_of(c), claims, outcomes, &kept)
        .ok_or_else(|| internal("a case's settled value"))?;
    let positions: Vec<usize> = claims
        .iter()
        .zip(outcomes)
        .enumerate()
        .filter(|(_, (_, o))| o.is_ok())
        .map(|(i, _)| i)
        .collect();
    let last_date = cases.cases.iter().map(|c| c.date).max();
    // A period without a case has nothing to fold, share or divide: no values, and tables
    // without rows.
    if cases.cases.is_empty() {
        return Ok(PeriodSettlement {
            aggregates: Vec::new(),
            values: Vec::new(),
            cases: positions,
            case_values: Vec::new(),
            tables: (0..period.tables.len())
                .map(|table| TableRows { table, rows: Vec::new() })
                .collect(),
            last_date,
        });
    }
    let mut aggregates: Vec<Option<Aggregated>> = vec![None; period.aggregates.len()];
    let mut values: Vec<Option<Value>> = vec![None; period.values.len()];
    let mut case_values: Vec<Vec<Option<Value>>> =
        vec![vec![None; period.cases.len()]; cases.cases.len()];
    let mut once_versions = Vec::new();
    versions_in_force(policy, last_date.unwrap_or(Date(0)), &mut once_versions);
    let pass = Pass { policy, prepared: &prepared, cases: &cases };
    for step in &period.order {
        match *step {
            Step::Aggregate(a) => {
                let agg = period.aggregates.get(a).ok_or_else(|| internal("an aggregate"))?;
                let reads =
                    Reads { policy, aggregates: &aggregates, values: &values, case: &[], row: &[] };
                let folded = pass.fold(&case_values, &reads, &agg.folding, agg.key, &agg.name)?;
                let done = match folded {
                    Folded::One(sum) => Aggregated::One(
                        finish(&agg.folding, agg.ty, sum, policy)
                            .map_err(|e| named(&agg.name, e))?,
                    ),
                    Folded::ByKey(map) => Aggregated::ByKey(
                        map.into_iter()
                            .map(|(k, sum)| Ok((k, finish(&agg.folding, agg.ty, sum, policy)?)))
                            .collect::<Result<_, ArithError>>()
                            .map_err(|e| named(&agg.name, e))?,
                    ),
                };
                if let Some(slot) = aggregates.get_mut(a) {
                    *slot = Some(done);
                }
            }
            Step::Value(v) => {
                let def = period.values.get(v).ok_or_else(|| internal("a period value"))?;
                let reads =
                    Reads { policy, aggregates: &aggregates, values: &values, case: &[], row: &[] };
                let value = once(policy, &prepared, &once_versions, last_date, &reads, &def.expr)
                    .map_err(|f| fault(policy, &def.name, None, f))?;
                if let Some(slot) = values.get_mut(v) {
                    *slot = Some(value);
                }
            }
            Step::Case(c) => {
                let def = period.cases.get(c).ok_or_else(|| internal("a case value"))?;
                let computed: Vec<Result<Value, PeriodError>> = case_values
                    .par_iter()
                    .enumerate()
                    .map_init(Vec::new, |scratch, (i, own)| {
                        let reads = Reads {
                            policy,
                            aggregates: &aggregates,
                            values: &values,
                            case: own,
                            row: &[],
                        };
                        pass.for_case(i, scratch, &reads, |cx| cx.eval(&def.expr))
                            .map_err(|f| fault(policy, &def.name, pass.line(i), f))
                    })
                    .collect();
                for (own, value) in case_values.iter_mut().zip(computed) {
                    if let Some(slot) = own.get_mut(c) {
                        *slot = Some(value?);
                    }
                }
            }
        }
    }
    let mut tables = Vec::with_capacity(period.tables.len());
    for (t, table) in period.tables.iter().enumerate() {
        let rows = table_rows(
            &pass,
            &case_values,
            &aggregates,
            &values,
            &once_versions,
            last_date,
            table,
        )?;
        tables.push(TableRows { table: t, rows });
    }
    let aggregates = aggregates
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("an aggregate"))?;
    let values =
        values.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| internal("a period value"))?;
    let case_values = case_values
        .into_iter()
        .map(|own| own.into_iter().collect::<Option<Vec<_>>>())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a case value"))?;
    Ok(PeriodSettlement { aggregates, values, cases: positions, case_values, tables, last_date })
}

/// A fold's sums: one, or one per key.
enum Folded {
    One(Sum),
    ByKey(BTreeMap<KeyValue, Sum>),
}

/// One pass over the cases: what every pass reads.
struct Pass<'a> {
    policy: &'a Policy,
    prepared: &'a Prepared,
    cases: &'a Cases<'a>,
}

impl Pass<'_> {
    /// Case `i`'s line.
    fn line(&self, i: usize) -> Option<usize> {
        self.cases.cases.get(i).map(|c| c.line)
    }

    /// Fold every case into exact sums, in parallel: sums of scaled integers are the same in
    /// any order and any grouping. `reads` is what the period knows so far; each case reads
    /// its own case values from `case_values`.
    fn fold(
        &self,
        case_values: &[Vec<Option<Value>>],
        reads: &Reads<'_>,
        folding: &Folding,
        key: Option<Key>,
        name: &str,
    ) -> Result<Folded, PeriodError> {
        type Sums = BTreeMap<Option<KeyValue>, Sum>;
        let part: Result<Sums, ()> = case_values
            .par_iter()
            .enumerate()
            .try_fold(
                || (Sums::new(), Vec::new()),
                |(mut sums, mut scratch), (i, own)| {
                    let reads = Reads { case: own, ..*reads };
                    let contribution = self
                        .for_case(i, &mut scratch, &reads, |cx| contribution(cx, folding))
                        .map_err(|_| ())?;
                    let Some(amount) = contribution else { return Ok((sums, scratch)) };
                    let k = match key {
                        Some(k) => {
                            let case = self.cases.cases.get(i).ok_or(())?;
                            let field = case.claim.fields.get(k.field).and_then(KeyValue::of_value);
                            Some(field.ok_or(())?)
                        }
                        None => None,
                    };
                    let slot = sums.entry(k).or_default();
                    *slot = slot.add(Sum { total: amount, count: 1 });
                    Ok((sums, scratch))
                },
            )
            .map(|part| part.map(|(sums, _)| sums))
            .try_reduce(Sums::new, |mut a, b| {
                for (k, s) in b {
                    let slot = a.entry(k).or_default();
                    *slot = slot.add(s);
                }
                Ok(a)
            });
        let Ok(sums) = part else {
            // The first case in error in input order, whatever thread met an error first.
            return Err(self.first_error(case_values, reads, folding, key, name));
        };
        Ok(match key {
            None => Folded::One(sums.get(&None).copied().unwrap_or_default()),
            Some(_) => Folded::ByKey(sums.into_iter().filter_map(|(k, s)| Some((k?, s))).collect()),
        })
    }

    /// The error of the first case in input order whose contribution to a fold faults, or
    /// whose key is missing.
    fn first_error(
        &self,
        case_values: &[Vec<Option<Value>>],
        reads: &Reads<'_>,
        folding: &Folding,
        key: Option<Key>,
        name: &str,
    ) -> PeriodError {
        let mut scratch = Vec::new();
        for (i, own) in case_values.iter().enumerate() {
            let reads = Reads { case: own, ..*reads };
            if let Err(f) = self.for_case(i, &mut scratch, &reads, |cx| contribution(cx, folding)) {
                return fault(self.policy, name, self.line(i), f);
            }
            let keyed = key.is_none_or(|k| {
                let case = self.cases.cases.get(i);
                case.and_then(|c| c.claim.fields.get(k.field))
                    .and_then(KeyValue::of_value)
                    .is_some()
            });
            if !keyed {
                return PeriodError { line: self.line(i), ..internal(name) };
            }
        }
        internal(name)
    }

    /// Evaluate `f` for case `i`: its fields, its kept settled values and accumulators, the
    /// parameters in force on its date, and the period's values known so far. `scratch` lends
    /// the evaluation its values' vector, so that a pass allocates one per thread, not one per
    /// case.
    fn for_case<T>(
        &self,
        i: usize,
        scratch: &mut Vec<Value>,
        reads: &Reads<'_>,
        f: impl FnOnce(&mut Cx<'_>) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        let case = self.cases.cases.get(i).ok_or(Fault::Internal)?;
        let kept = self.cases.reads(i).ok_or(Fault::Internal)?;
        scratch.clear();
        scratch.extend_from_slice(kept.values);
        let mut cx = Cx {
            policy: self.policy,
            prepared: self.prepared,
            fields: &case.claim.fields,
            accs: kept.accs,
            versions: kept.versions,
            date: case.date,
            values: std::mem::take(scratch),
            locals: Vec::new(),
            trace: None,
            claims: &[],
            period: Some(reads),
        };
        let result = f(&mut cx);
        *scratch = cx.values;
        result
    }
}

/// What one case adds to a fold: `None` when the filter leaves it out, else the body's scaled
/// value (0 for a count).
fn contribution(cx: &mut Cx<'_>, folding: &Folding) -> Result<Option<i128>, Fault> {
    if let Some(f) = &folding.filter {
        if !cx.truth(f)? {
            return Ok(None);
        }
    }
    match &folding.body {
        Some(body) => scaled(&cx.eval(body)?).map(Some).ok_or(Fault::Internal),
        None => Ok(Some(0)),
    }
}

/// Evaluate a period expression once: no claim, the parameters in force on the period's last
/// date.
fn once(
    policy: &Policy,
    prepared: &Prepared,
    versions: &[Option<usize>],
    last_date: Option<Date>,
    reads: &Reads<'_>,
    expr: &settle_lang::ir::Expr,
) -> Result<Value, Fault> {
    let mut cx = Cx {
        policy,
        prepared,
        fields: &[],
        accs: &[],
        versions,
        date: last_date.unwrap_or(Date(0)),
        values: Vec::new(),
        locals: Vec::new(),
        trace: None,
        claims: &[],
        period: Some(reads),
    };
    cx.eval(expr)
}

/// A table's rows: its folds over each key's cases, then its other columns row by row, shares
/// over all rows.
fn table_rows(
    pass: &Pass<'_>,
    case_values: &[Vec<Option<Value>>],
    aggregates: &[Option<Aggregated>],
    values: &[Option<Value>],
    versions: &[Option<usize>],
    last_date: Option<Date>,
    table: &Table,
) -> Result<Vec<(KeyValue, Vec<Value>)>, PeriodError> {
    let (policy, prepared) = (pass.policy, pass.prepared);
    // The keys that have a case, in key order.
    let keys: Vec<KeyValue> = {
        let mut keys: Vec<KeyValue> = pass
            .cases
            .cases
            .iter()
            .filter_map(|c| c.claim.fields.get(table.key.field).and_then(KeyValue::of_value))
            .collect();
        keys.par_sort_unstable();
        keys.dedup();
        keys
    };
    let mut rows: Vec<Vec<Value>> = vec![Vec::with_capacity(table.columns.len()); keys.len()];
    for column in &table.columns {
        let what = format!("{}.{}", table.name, column.name);
        match &column.kind {
            ColumnKind::Fold(folding) => {
                let reads = Reads { policy, aggregates, values, case: &[], row: &[] };
                let folded = pass.fold(case_values, &reads, folding, Some(table.key), &what)?;
                let Folded::ByKey(sums) = folded else { return Err(internal(&what)) };
                for (key, row) in keys.iter().zip(rows.iter_mut()) {
                    let sum = sums.get(key).copied().unwrap_or_default();
                    row.push(finish(folding, column.ty, sum, policy).map_err(|e| named(&what, e))?);
                }
            }
            ColumnKind::Share { amount, weight } => {
                let reads = Reads { policy, aggregates, values, case: &[], row: &[] };
                let amount = once(policy, prepared, versions, last_date, &reads, amount)
                    .map_err(|f| fault(policy, &what, None, f))?;
                let weights: Vec<i128> = rows
                    .iter()
                    .map(|row| row.get(*weight).and_then(scaled))
                    .collect::<Option<_>>()
                    .ok_or_else(|| internal(&what))?;
                let amount = match amount {
                    Value::Money(d) => arith::fen(d),
                    _ => return Err(internal(&what)),
                };
                let shares = share(amount, &weights).map_err(|message| PeriodError {
                    value: what.clone(),
                    line: None,
                    message,
                })?;
                for (row, fen) in rows.iter_mut().zip(shares) {
                    row.push(Value::Money(
                        arith::money_from_fen(fen).map_err(|e| named(&what, e))?,
                    ));
                }
            }
            ColumnKind::Expr(expr) => {
                for row in rows.iter_mut() {
                    let reads = Reads { policy, aggregates, values, case: &[], row };
                    let value = once(policy, prepared, versions, last_date, &reads, expr)
                        .map_err(|f| fault(policy, &what, None, f))?;
                    row.push(value);
                }
            }
        }
    }
    Ok(keys.into_iter().zip(rows).collect())
}

/// Split `amount` fen over `weights` by largest remainder: each share is `amount × w / W`
/// rounded down, and the fen left over go one each to the largest remainders, ties to the
/// earlier row. The shares add up to `amount` exactly.
pub fn share(amount: i128, weights: &[i128]) -> Result<Vec<i128>, String> {
    if amount < 0 {
        return Err("the amount shared is negative".to_string());
    }
    if weights.iter().any(|w| *w < 0) {
        return Err("a row's weight is negative".to_string());
    }
    let total: i128 =
        weights.iter().try_fold(0i128, |a, w| a.checked_add(*w)).ok_or("the weights overflow")?;
    if total == 0 {
        return Err("the weights add up to zero: nothing to share by".to_string());
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = amount.checked_mul(*w).ok_or("the amount times a weight overflows")?;
        shares.push(exact / total);
        remainders.push((Reverse(exact % total), i));
    }
    let given: i128 = shares.iter().sum();
    let left = usize::try_from(amount - given).map_err(|_| "the shares exceed the amount")?;
    remainders.sort_unstable();
    for &(_, i) in remainders.iter().take(left) {
        if let Some(s) = shares.get_mut(i) {
            *s += 1;
        }
    }
    Ok(shares)
}

fn fault(policy: &Policy, value: &str, line: Option<usize>, f: Fault) -> PeriodError {
    PeriodError { value: value.to_string(), line, message: f.describe(policy) }
}

fn named(value: &str, e: ArithError) -> PeriodError {
    PeriodError { value: value.to_string(), line: None, message: e.to_string() }
}

fn internal(value: &str) -> PeriodError {
    PeriodError {
        value: value.to_string(),
        line: None,
        message: "an internal error of the settling code (a defect)".to_string(),
    }
}

/// Write the tables as CSV: a header per table (`table`, the key field's name, its columns),
/// then its rows in key order.
pub fn write_tables(
    policy: &Policy,
    settled: &PeriodSettlement,
    out: impl std::io::Write,
) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    let key_name = |t: &Table| {
        policy
            .input_record()
            .and_then(|r| r.fields.get(t.key.field))
            .map_or("", |f| f.name.as_str())
    };
    for rows in &settled.tables {
        let Some(table) = policy.period.tables.get(rows.table) else { continue };
        let mut header = vec!["table", key_name(table)];
        header.extend(table.columns.iter().map(|c| c.name.as_str()));
        w.write_record(&header)?;
        for (key, values) in &rows.rows {
            let mut record = vec![table.name.clone(), key.show(policy, table.key.ty)];
            record.extend(
                table.columns.iter().zip(values).map(|(c, v)| format_value(policy, c.ty, v)),
            );
            w.write_record(&record)?;
        }
    }
    w.flush()
}
