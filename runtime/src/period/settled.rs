//! What a test's expectations read of the period its claims make, once [`super::settle_period`]
//! has settled it: aggregates and period values, each claim's case values, a table's row by its
//! key, a column's total. The period is the one `settle run --providers` settles; this only
//! reads it.

use settle_lang::ir::Policy;
use settle_lang::ir::Type;
use settle_lang::ir::period::PeriodRead;

use super::{KeyValue, PeriodSettlement, TableRows, aggregate_value, scaled};
use crate::interp::{Fault, PeriodReads};
use crate::value::{self as arith, ArithError, Value};

/// A settled period, read by a test's expectations. The test's claims are the period's input,
/// in the order written: claim `i` of the test is the claim at position `i`.
pub(crate) struct Settled<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The period its claims make.
    pub period: &'a PeriodSettlement,
}

impl Settled<'_> {
    fn table(&self, table: usize) -> Result<&TableRows, Fault> {
        self.period.tables.iter().find(|t| t.table == table).ok_or(Fault::Internal)
    }

    /// The values of the row of `key` in `table`: `Err(NoRow)` for a key without a row.
    fn row(&self, table: usize, key: &Value) -> Result<&[Value], Fault> {
        let rows = &self.table(table)?.rows;
        let key = KeyValue::of_value(key).ok_or(Fault::Internal)?;
        let at = rows.binary_search_by(|(k, _)| k.cmp(&key)).map_err(|_| Fault::NoRow { table })?;
        rows.get(at).map(|(_, values)| values.as_slice()).ok_or(Fault::Internal)
    }

    /// Whether `table` has a row of `key`.
    pub(crate) fn has_row(&self, table: usize, key: &Value) -> bool {
        self.row(table, key).is_ok()
    }

    /// The keys of `table`'s rows, as output shows them, in key order.
    pub(crate) fn row_keys(&self, table: usize) -> Vec<String> {
        let (Ok(rows), Some(def)) = (self.table(table), self.policy.period.tables.get(table))
        else {
            return Vec::new();
        };
        rows.rows.iter().map(|(k, _)| k.show(self.policy, def.key.ty)).collect()
    }

    /// A column of `table` added up over its rows, exactly: fen, millionths or a count.
    fn total(&self, table: usize, column: usize) -> Result<Value, Fault> {
        let def = self.policy.period.tables.get(table).ok_or(Fault::Internal)?;
        let ty = def.columns.get(column).ok_or(Fault::Internal)?.ty;
        let mut sum = 0i128;
        for (_, values) in &self.table(table)?.rows {
            let v = values.get(column).and_then(scaled).ok_or(Fault::Internal)?;
            sum = sum.checked_add(v).ok_or(Fault::Arith(ArithError::Overflow))?;
        }
        Ok(match ty {
            Type::Money => Value::Money(arith::money_from_fen(sum)?),
            Type::Rate => Value::Rate(arith::rate_from_millionths(sum)?),
            Type::Int => Value::Int(i64::try_from(sum).map_err(|_| ArithError::Overflow)?),
            _ => return Err(Fault::Internal),
        })
    }
}

impl PeriodReads for Settled<'_> {
    fn read(&self, read: &PeriodRead, key: Option<&Value>) -> Result<Value, Fault> {
        let period = self.period;
        match read {
            PeriodRead::Aggregate(a, _) => {
                aggregate_value(self.policy, *a, period.aggregates.get(*a), key)
            }
            PeriodRead::Value(v) => period.values.get(*v).cloned().ok_or(Fault::Internal),
            PeriodRead::ClaimCase(claim, c) => {
                // A claim that did not settle is no case.
                let case =
                    period.cases.binary_search(claim).map_err(|_| Fault::Unsettled(*claim))?;
                let own = period.case_values.get(case).ok_or(Fault::Internal)?;
                own.get(*c).cloned().ok_or(Fault::Internal)
            }
            PeriodRead::Row { table, column, .. } => {
                let row = self.row(*table, key.ok_or(Fault::Internal)?)?;
                row.get(*column).cloned().ok_or(Fault::Internal)
            }
            PeriodRead::Total { table, column } => self.total(*table, *column),
            // A settled period has no case or row being computed.
            PeriodRead::Case(_) | PeriodRead::Column(_) => Err(Fault::Internal),
        }
    }
}
