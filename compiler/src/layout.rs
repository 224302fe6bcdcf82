//! Constants as scaled integers, and where each parameter's cells lie in the data block.

use rust_decimal::Decimal;
use settle_lang::ir::{Const, ParamKind, ParamValue, Policy};

use crate::CompileError;

/// An amount in fen.
pub fn money_fen(d: Decimal) -> Option<i64> {
    scaled(d, 2)
}

/// A rate in millionths.
pub fn rate_millionths(d: Decimal) -> Option<i64> {
    scaled(d, 6)
}

fn scaled(d: Decimal, scale: u32) -> Option<i64> {
    let m = d.mantissa();
    let s = d.scale();
    let v = if s <= scale {
        m.checked_mul(10i128.checked_pow(scale - s)?)?
    } else {
        m / 10i128.pow(s - scale)
    };
    i64::try_from(v).ok()
}

/// A constant's 64-bit representation.
pub fn constant(c: &Const) -> Result<i64, CompileError> {
    let out = match c {
        Const::Money(d) => money_fen(*d),
        Const::Rate(d) => rate_millionths(*d),
        Const::Int(i) => Some(*i),
        Const::Bool(b) => Some(i64::from(*b)),
        Const::Date(d) => Some(i64::from(d.0)),
        Const::Enum(e) => Some(i64::from(*e)),
        Const::Text(_) => return Err(CompileError::Unsupported("text constants".into())),
        Const::Record(_) | Const::List(_) => {
            return Err(CompileError::Unsupported("lists and records".into()));
        }
    };
    out.ok_or_else(|| CompileError::Unsupported("a constant beyond 64 bits".into()))
}

/// The parameters' cells, laid out one version after another: a scalar is one cell, a table
/// its cells in row-major order, a scale three cells per bracket (lower and upper bound in fen,
/// `i64::MAX` for an open bracket, and the rate in millionths).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The cells.
    pub data: Vec<i64>,
    /// For each parameter, the offset of each version's first cell.
    pub offsets: Vec<Vec<usize>>,
}

impl Layout {
    /// Lay out every parameter of `policy`.
    pub fn new(policy: &Policy) -> Result<Self, CompileError> {
        let mut layout = Layout::default();
        for p in &policy.params {
            let mut offsets = Vec::with_capacity(p.versions.len());
            for v in &p.versions {
                offsets.push(layout.data.len());
                match (&p.kind, &v.value) {
                    (ParamKind::Scalar(_), ParamValue::Scalar(c)) => layout.data.push(constant(c)?),
                    (ParamKind::Table { .. }, ParamValue::Table(cells)) => {
                        for c in cells {
                            layout.data.push(constant(c)?);
                        }
                    }
                    (ParamKind::Scale, ParamValue::Scale(brackets)) => {
                        for b in brackets {
                            let bound = |d: Decimal| {
                                money_fen(d).ok_or_else(|| {
                                    CompileError::Unsupported(
                                        "a bracket bound beyond 64 bits".into(),
                                    )
                                })
                            };
                            layout.data.push(bound(b.lower)?);
                            layout.data.push(match b.upper {
                                Some(u) => bound(u)?,
                                None => i64::MAX,
                            });
                            layout.data.push(rate_millionths(b.rate).ok_or_else(|| {
                                CompileError::Unsupported("a rate beyond 64 bits".into())
                            })?);
                        }
                    }
                    _ => {
                        return Err(CompileError::Codegen(format!(
                            "parameter `{}` has a value of another shape",
                            p.name
                        )));
                    }
                }
            }
            layout.offsets.push(offsets);
        }
        Ok(layout)
    }
}
