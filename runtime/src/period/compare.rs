//! What a rule change moves in the hospitals' payments: the tables two policies' periods write,
//! compared row by row. A table is compared when both policies have one of its name keyed by
//! the same input field; in it, every column both declare as an amount (`money`). Sums and
//! changes are exact decimals, formatted as `settle run` writes amounts.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use settle_lang::ir::{Policy, Type};

use super::{KeyValue, PeriodSettlement, TableRows};
use crate::field::format_value;
use crate::value::Value;

/// One table under both policies.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableChange {
    /// The table's name.
    pub table: String,
    /// The input field its rows are keyed by (the hospital, the case group).
    pub key: String,
    /// The amount columns compared, in the base's order.
    pub columns: Vec<String>,
    /// Every key with a row under either policy, in key order (variants in declaration order,
    /// texts by their bytes).
    pub rows: Vec<RowChange>,
    /// Each compared column added up over the rows.
    pub totals: Vec<Moved>,
}

/// One row (one hospital) under both policies.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowChange {
    /// The key as `settle run` writes it.
    pub key: String,
    /// Each compared column, in [`TableChange::columns`]'s order.
    pub columns: Vec<Moved>,
}

/// An amount under each policy and the change. A side without the row has no amount; its
/// change counts that side as 0.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Moved {
    /// Under the base, if it has the row.
    pub base: Option<String>,
    /// Under the reform, if it has the row.
    pub reform: Option<String>,
    /// Reform less base.
    pub change: String,
}

/// The tables of two settled periods compared (see the module's documentation).
pub fn compare(
    bp: &Policy,
    base: &PeriodSettlement,
    rp: &Policy,
    reform: &PeriodSettlement,
) -> Vec<TableChange> {
    let key_field = |p: &Policy, t: &settle_lang::ir::period::Table| {
        p.input_record().and_then(|r| r.fields.get(t.key.field)).map(|f| f.name.clone())
    };
    let mut out = Vec::new();
    for (bi, bt) in bp.period.tables.iter().enumerate() {
        let Some((ri, rt)) = rp.period.tables.iter().enumerate().find(|(_, rt)| rt.name == bt.name)
        else {
            continue;
        };
        let (Some(key), Some(reform_key)) = (key_field(bp, bt), key_field(rp, rt)) else {
            continue;
        };
        if key != reform_key {
            continue;
        }
        // (the column's name, its index in the base's table, in the reform's)
        let columns: Vec<(String, usize, usize)> = bt
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ty == Type::Money)
            .filter_map(|(i, c)| {
                let j = rt.columns.iter().position(|r| r.name == c.name && r.ty == Type::Money)?;
                Some((c.name.clone(), i, j))
            })
            .collect();
        if columns.is_empty() {
            continue;
        }
        let rows_of = |settled: &PeriodSettlement, table: usize| -> TableRows {
            settled
                .tables
                .iter()
                .find(|t| t.table == table)
                .cloned()
                .unwrap_or(TableRows { table, rows: Vec::new() })
        };
        let (brows, rrows) = (rows_of(base, bi), rows_of(reform, ri));
        let amount = |values: &[Value], at: usize| match values.get(at) {
            Some(Value::Money(d)) => *d,
            _ => Decimal::ZERO,
        };
        let show = |d: Decimal| format_value(bp, Type::Money, &Value::Money(d));
        let by_key =
            |t: &TableRows| -> BTreeMap<KeyValue, Vec<Value>> { t.rows.iter().cloned().collect() };
        let (bmap, rmap) = (by_key(&brows), by_key(&rrows));
        let keys: BTreeSet<&KeyValue> = bmap.keys().chain(rmap.keys()).collect();
        let mut totals = vec![(Decimal::ZERO, Decimal::ZERO); columns.len()];
        let rows = keys
            .into_iter()
            .map(|key| {
                let (b, r) = (bmap.get(key), rmap.get(key));
                let moved = columns
                    .iter()
                    .zip(totals.iter_mut())
                    .map(|((_, i, j), total)| {
                        let before = b.map(|v| amount(v, *i));
                        let after = r.map(|v| amount(v, *j));
                        total.0 += before.unwrap_or_default();
                        total.1 += after.unwrap_or_default();
                        Moved {
                            base: before.map(show),
                            reform: after.map(show),
                            change: show(after.unwrap_or_default() - before.unwrap_or_default()),
                        }
                    })
                    .collect();
                RowChange { key: key.show(bp, bt.key.ty), columns: moved }
            })
            .collect();
        out.push(TableChange {
            table: bt.name.clone(),
            key,
            columns: columns.into_iter().map(|(n, _, _)| n).collect(),
            rows,
            totals: totals
                .into_iter()
                .map(|(b, r)| Moved {
                    base: Some(show(b)),
                    reform: Some(show(r)),
                    change: show(r - b),
                })
                .collect(),
        });
    }
    out
}
