//! Runtime values, and the reference interpreter's exact arithmetic on them.
//!
//! Money is held as a `Decimal` with two decimals (fen), rates with at most six (millionths).
//! Products and quotients are computed on the scaled integers (fen, millionths) in 128 bits and
//! rounded once, by the policy's rounding mode, so no intermediate rounding can move a result
//! by a fen. Magnitudes are bounded by the one table of limits
//! ([`settle_lang::limits`]): money within ±10^15 yuan, rates within ±10^9 (a billion
//! times), counts within `i64`; going past a bound is an error, never a wrap. The closures and
//! the compiled code run the execution plan's kernel instead: this arithmetic is written apart
//! on purpose, so that the differential tests compare two implementations.

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::{Const, Rounding, Type};

pub use settle_compiler::kernel::ArithError;

/// The largest money magnitude, in fen ([`settle_lang::limits`]), as this arithmetic's integers.
const MONEY_LIMIT_FEN: i128 = settle_lang::limits::MONEY_LIMIT_FEN as i128;
/// The largest rate magnitude, in millionths ([`settle_lang::limits`]).
const RATE_LIMIT_MILLIONTHS: i128 = settle_lang::limits::RATE_LIMIT_MILLIONTHS as i128;
/// Millionths in one.
const MILLION: i128 = 1_000_000;

/// A value computed for a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Yuan, two decimals.
    Money(Decimal),
    /// A ratio, at most six decimals.
    Rate(Decimal),
    /// A whole number.
    Int(i64),
    /// A truth value.
    Bool(bool),
    /// A day.
    Date(Date),
    /// A string.
    Text(Arc<str>),
    /// An enum variant's index.
    Enum(u32),
    /// A record's fields.
    Record(Arc<[Value]>),
    /// A list's items.
    List(Arc<[Value]>),
}

impl Value {
    /// The value of a constant from the IR.
    pub fn from_const(c: &Const) -> Value {
        match c {
            Const::Money(d) => Value::Money(*d),
            Const::Rate(d) => Value::Rate(*d),
            Const::Int(i) => Value::Int(*i),
            Const::Bool(b) => Value::Bool(*b),
            Const::Date(d) => Value::Date(*d),
            Const::Text(t) => Value::Text(t.clone()),
            Const::Enum(e) => Value::Enum(*e),
            Const::Record(fields) => Value::Record(fields.iter().map(Value::from_const).collect()),
            Const::List(items) => Value::List(items.iter().map(Value::from_const).collect()),
        }
    }

    /// The value as the closures and compiled code hold it: fen, millionths, a count, 0 or 1,
    /// days, an enum variant's index. `None` when that is not exact (money finer than a fen, a
    /// rate finer than a millionth, an amount beyond 64 bits) and for text, records and lists,
    /// which they never hold: never a rounded or saturated stand-in.
    pub fn to_scaled(&self) -> Option<i64> {
        match self {
            Value::Money(d) => settle_compiler::money_fen(*d),
            Value::Rate(d) => settle_compiler::rate_millionths(*d),
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Date(d) => Some(i64::from(d.0)),
            Value::Enum(e) => Some(i64::from(*e)),
            Value::Text(_) | Value::Record(_) | Value::List(_) => None,
        }
    }

    /// A value of type `ty` from its [`Value::to_scaled`] form; `None` for a number no value
    /// of the type has (a day or a variant beyond 32 bits) and for text, records and lists,
    /// which have none.
    pub fn from_scaled(ty: Type, x: i64) -> Option<Value> {
        Some(match ty {
            Type::Money => Value::Money(Decimal::new(x, 2)),
            Type::Rate => Value::Rate(Decimal::new(x, 6).normalize()),
            Type::Int => Value::Int(x),
            Type::Bool => Value::Bool(x != 0),
            Type::Date => Value::Date(Date(i32::try_from(x).ok()?)),
            Type::Enum(_) => Value::Enum(u32::try_from(x).ok()?),
            Type::Text | Type::Record(_) | Type::List(_) => return None,
        })
    }

    /// The amount, for money and rates.
    pub fn decimal(&self) -> Option<Decimal> {
        match self {
            Value::Money(d) | Value::Rate(d) => Some(*d),
            Value::Int(i) => Some(Decimal::from(*i)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Money(d) => write!(f, "{d:.2}"),
            Value::Rate(d) => write!(f, "{}%", (d * Decimal::ONE_HUNDRED).normalize()),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Date(d) => write!(f, "{d}"),
            Value::Text(t) => write!(f, "{t}"),
            Value::Enum(e) => write!(f, "#{e}"),
            Value::Record(fields) => write!(f, "{{{} fields}}", fields.len()),
            Value::List(items) => write!(f, "[{} items]", items.len()),
        }
    }
}

type Arith<T> = Result<T, ArithError>;

/// A money amount in fen.
pub fn fen(d: Decimal) -> i128 {
    scaled(d, 2)
}

/// A rate in millionths.
pub fn millionths(d: Decimal) -> i128 {
    scaled(d, 6)
}

/// `d` times 10^`scale`, truncated (values of the right precision lose nothing).
fn scaled(d: Decimal, scale: u32) -> i128 {
    let m = d.mantissa();
    let s = d.scale();
    if s == scale {
        m
    } else if s < scale {
        m.saturating_mul(10i128.pow(scale - s))
    } else {
        m / 10i128.pow(s - scale)
    }
}

/// Money from fen, checked against the bound.
pub fn money_from_fen(f: i128) -> Arith<Decimal> {
    if f.abs() > MONEY_LIMIT_FEN {
        return Err(ArithError::Overflow);
    }
    Ok(Decimal::from_i128_with_scale(f, 2))
}

/// A rate from millionths, checked against the bound.
pub fn rate_from_millionths(r: i128) -> Arith<Decimal> {
    if r.abs() > RATE_LIMIT_MILLIONTHS {
        return Err(ArithError::Overflow);
    }
    Ok(Decimal::from_i128_with_scale(r, 6).normalize())
}

/// `n / d` rounded to an integer by `mode`: the reference's own rounding, independent of the
/// plan's kernel.
pub fn divide(n: i128, d: i128, mode: Rounding) -> Arith<i128> {
    if d == 0 {
        return Err(ArithError::DivisionByZero);
    }
    let q = n / d;
    let r = n % d;
    if r == 0 {
        return Ok(q);
    }
    let away = if (n < 0) == (d < 0) { 1 } else { -1 };
    let up = rounds_away(mode, r.unsigned_abs().saturating_mul(2), d.unsigned_abs(), q % 2 != 0);
    Ok(if up { q + away } else { q })
}

/// Whether a quotient with remainder `twice_rem / 2` (not zero) over a divisor of magnitude
/// `d_abs` moves away from zero under `mode`.
fn rounds_away(mode: Rounding, twice_rem: u128, d_abs: u128, q_is_odd: bool) -> bool {
    match mode {
        Rounding::Down => false,
        Rounding::Up => true,
        Rounding::HalfUp => twice_rem >= d_abs,
        Rounding::HalfEven => twice_rem > d_abs || (twice_rem == d_abs && q_is_odd),
    }
}

/// Money rounded by `mode` to a multiple of `unit` fen (`round(x, 10)`: 1,000 fen).
pub fn money_round_to(m: Decimal, unit: i64, mode: Rounding) -> Arith<Decimal> {
    let unit = i128::from(unit);
    let units = divide(fen(m), unit, mode)?;
    money_from_fen(units.checked_mul(unit).ok_or(ArithError::Overflow)?)
}

/// `money + money` or `money - money`.
pub fn money_add(a: Decimal, b: Decimal, negate_b: bool) -> Arith<Decimal> {
    let (a, b) = (fen(a), fen(b));
    let sum = if negate_b { a.checked_sub(b) } else { a.checked_add(b) };
    money_from_fen(sum.ok_or(ArithError::Overflow)?)
}

/// `rate + rate` or `rate - rate`.
pub fn rate_add(a: Decimal, b: Decimal, negate_b: bool) -> Arith<Decimal> {
    let (a, b) = (millionths(a), millionths(b));
    let sum = if negate_b { a.checked_sub(b) } else { a.checked_add(b) };
    rate_from_millionths(sum.ok_or(ArithError::Overflow)?)
}

/// `money * rate`, rounded to the fen.
pub fn money_times_rate(m: Decimal, r: Decimal, mode: Rounding) -> Arith<Decimal> {
    let product = fen(m).checked_mul(millionths(r)).ok_or(ArithError::Overflow)?;
    money_from_fen(divide(product, MILLION, mode)?)
}

/// `money * int`.
pub fn money_times_int(m: Decimal, i: i64) -> Arith<Decimal> {
    money_from_fen(fen(m).checked_mul(i128::from(i)).ok_or(ArithError::Overflow)?)
}

/// `rate * rate`, rounded to the millionth.
pub fn rate_times_rate(a: Decimal, b: Decimal, mode: Rounding) -> Arith<Decimal> {
    let product = millionths(a).checked_mul(millionths(b)).ok_or(ArithError::Overflow)?;
    rate_from_millionths(divide(product, MILLION, mode)?)
}

/// `rate * int`.
pub fn rate_times_int(r: Decimal, i: i64) -> Arith<Decimal> {
    rate_from_millionths(millionths(r).checked_mul(i128::from(i)).ok_or(ArithError::Overflow)?)
}

/// `money * a / b`, the proportion of an amount, with `a` and `b` in one scale (both fen, both
/// millionths or both counts): the product kept whole and the quotient rounded once, to the
/// fen.
pub fn money_proportion(m: Decimal, a: i128, b: i128, mode: Rounding) -> Arith<Decimal> {
    let product = fen(m).checked_mul(a).ok_or(ArithError::Overflow)?;
    money_from_fen(divide(product, b, mode)?)
}

/// `money / money`: a rate, rounded to the millionth.
pub fn money_over_money(a: Decimal, b: Decimal, mode: Rounding) -> Arith<Decimal> {
    let n = fen(a).checked_mul(MILLION).ok_or(ArithError::Overflow)?;
    rate_from_millionths(divide(n, fen(b), mode)?)
}

/// `money / int`, rounded to the fen.
pub fn money_over_int(m: Decimal, i: i64, mode: Rounding) -> Arith<Decimal> {
    money_from_fen(divide(fen(m), i128::from(i), mode)?)
}

/// `money / rate`, rounded to the fen.
pub fn money_over_rate(m: Decimal, r: Decimal, mode: Rounding) -> Arith<Decimal> {
    let n = fen(m).checked_mul(MILLION).ok_or(ArithError::Overflow)?;
    money_from_fen(divide(n, millionths(r), mode)?)
}

/// `rate / rate`, rounded to the millionth.
pub fn rate_over_rate(a: Decimal, b: Decimal, mode: Rounding) -> Arith<Decimal> {
    let n = millionths(a).checked_mul(MILLION).ok_or(ArithError::Overflow)?;
    rate_from_millionths(divide(n, millionths(b), mode)?)
}

/// `rate / int`, rounded to the millionth.
pub fn rate_over_int(r: Decimal, i: i64, mode: Rounding) -> Arith<Decimal> {
    rate_from_millionths(divide(millionths(r), i128::from(i), mode)?)
}

/// `int / int`: a rate, rounded to the millionth.
pub fn int_over_int(a: i64, b: i64, mode: Rounding) -> Arith<Decimal> {
    let n = i128::from(a).checked_mul(MILLION).ok_or(ArithError::Overflow)?;
    rate_from_millionths(divide(n, i128::from(b), mode)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn rounding_modes_at_the_midpoint() {
        // 0.125 yuan = 12.5 fen.
        let half = |mode| divide(125, 10, mode);
        assert_eq!(half(Rounding::HalfUp), Ok(13));
        assert_eq!(half(Rounding::HalfEven), Ok(12));
        assert_eq!(divide(135, 10, Rounding::HalfEven), Ok(14));
        assert_eq!(half(Rounding::Down), Ok(12));
        assert_eq!(half(Rounding::Up), Ok(13));
        assert_eq!(divide(-125, 10, Rounding::HalfUp), Ok(-13));
        assert_eq!(divide(-125, 10, Rounding::Down), Ok(-12));
        assert_eq!(divide(-121, 10, Rounding::Up), Ok(-13));
        assert_eq!(divide(1, 0, Rounding::HalfUp), Err(ArithError::DivisionByZero));
    }

    #[test]
    fn money_times_rate_rounds_once_to_the_fen() {
        assert_eq!(money_times_rate(d("9800"), d("0.9"), Rounding::HalfUp), Ok(d("8820.00")));
        assert_eq!(money_times_rate(d("0.05"), d("0.5"), Rounding::HalfUp), Ok(d("0.03")));
        assert_eq!(money_times_rate(d("0.05"), d("0.5"), Rounding::HalfEven), Ok(d("0.02")));
        assert_eq!(money_times_rate(d("-0.05"), d("0.5"), Rounding::HalfUp), Ok(d("-0.03")));
    }

    #[test]
    fn proportions_round_once_to_the_fen() {
        let mode = Rounding::HalfUp;
        // 500,000 * 1,234.57 / 400,000 = 1,543.2125; through the ratio 0.003086, 1,543.00.
        assert_eq!(
            money_proportion(d("500000"), fen(d("1234.57")), fen(d("400000")), mode),
            Ok(d("1543.21"))
        );
        // Half a fen, by each unit, and each mode at the tie.
        assert_eq!(money_proportion(d("0.05"), 1, 2, mode), Ok(d("0.03")));
        assert_eq!(money_proportion(d("0.05"), 1, 2, Rounding::HalfEven), Ok(d("0.02")));
        assert_eq!(money_proportion(d("-0.05"), 500_000, 1_000_000, mode), Ok(d("-0.03")));
        assert_eq!(money_proportion(d("0.05"), 1, -2, Rounding::Down), Ok(d("-0.02")));
        // A product far beyond 64 bits is kept whole; the result is bounded (10^15 yuan is
        // within, a fen more is not).
        let top = fen(d("999999999999999.99"));
        assert_eq!(
            money_proportion(d("999999999999999.99"), top, top, mode),
            Ok(d("999999999999999.99"))
        );
        assert_eq!(
            money_proportion(d("999999999999999.99"), top, top - 1, mode),
            Ok(d("1000000000000000"))
        );
        assert_eq!(
            money_proportion(d("999999999999999.99"), top, top - 2, mode),
            Err(ArithError::Overflow)
        );
        assert_eq!(money_proportion(d("1"), 1, 0, mode), Err(ArithError::DivisionByZero));
    }

    #[test]
    fn rounding_to_a_unit() {
        let to = |m: &str, unit, mode| money_round_to(d(m), unit, mode);
        assert_eq!(to("1234.50", 1_000, Rounding::HalfUp), Ok(d("1230.00")));
        assert_eq!(to("1235.00", 1_000, Rounding::HalfEven), Ok(d("1240.00")));
        assert_eq!(to("1225.00", 1_000, Rounding::HalfEven), Ok(d("1220.00")));
        assert_eq!(to("-12.34", 10, Rounding::Up), Ok(d("-12.40")));
        assert_eq!(to("12.35", 10, Rounding::Down), Ok(d("12.30")));
        assert_eq!(to("3706.50", 1_000, Rounding::HalfUp), Ok(d("3710.00")));
        assert_eq!(to("999999999999999.99", 100, Rounding::Up), Ok(d("1000000000000000.00")));
        assert_eq!(
            to("999999999999999.99", 300, Rounding::Up),
            Err(ArithError::Overflow),
            "beyond 10^15 yuan once rounded up"
        );
    }

    #[test]
    fn quotients() {
        assert_eq!(money_over_money(d("1"), d("3"), Rounding::HalfUp), Ok(d("0.333333")));
        assert_eq!(money_over_rate(d("100"), d("0.3"), Rounding::HalfUp), Ok(d("333.33")));
        assert_eq!(int_over_int(2, 3, Rounding::HalfUp), Ok(d("0.666667")));
        assert_eq!(money_over_int(d("10"), 3, Rounding::HalfUp), Ok(d("3.33")));
    }

    #[test]
    fn bounds_are_errors() {
        assert_eq!(money_times_int(d("1000000000000000"), 2), Err(ArithError::Overflow));
        assert_eq!(money_add(d("1000000000000000"), d("0.01"), false), Err(ArithError::Overflow));
        assert!(money_add(d("1000000000000000"), d("0"), false).is_ok());
        assert_eq!(
            money_over_money(d("1"), d("0"), Rounding::HalfUp),
            Err(ArithError::DivisionByZero)
        );
        assert_eq!(money_over_money(d("1000000"), d("0.01"), Rounding::HalfUp), Ok(d("100000000")));
        assert_eq!(
            money_over_money(d("100000000"), d("0.01"), Rounding::HalfUp),
            Err(ArithError::Overflow)
        );
    }
}
