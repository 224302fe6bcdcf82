//! The numbers of the scaled backends, decided once: the bounds of each type, the exact
//! conversions between decimals and scaled integers, and the one rounding kernel the closures
//! and the compiled code's helper run (the compiled code's inline fast path translates the same
//! rule). The reference interpreter keeps arithmetic of its own on decimals, so that the
//! differential tests compare two independent implementations.

use rust_decimal::Decimal;
use settle_lang::ir::{Rounding, Type};

/// The largest money magnitude, in fen (10^15 yuan).
pub const MONEY_LIMIT_FEN: i64 = 100_000_000_000_000_000;
/// The largest rate magnitude, in millionths (10^9).
pub const RATE_LIMIT_MILLIONTHS: i64 = 1_000_000_000_000_000;
/// Millionths in one: the scale of rates.
pub const MILLION: i64 = 1_000_000;

/// The bound of a type's magnitude in its scaled form: money and rates are bounded, counts are
/// 64-bit integers checked by their own operations, and the other types are not numbers.
pub fn limit(ty: Type) -> Option<i64> {
    match ty {
        Type::Money => Some(MONEY_LIMIT_FEN),
        Type::Rate => Some(RATE_LIMIT_MILLIONTHS),
        _ => None,
    }
}

/// Why an operation on scaled integers has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithError {
    /// The result is beyond the bounds of its type.
    Overflow,
    /// A division by zero.
    DivisionByZero,
}

impl std::fmt::Display for ArithError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArithError::Overflow => {
                "overflow: the result is beyond ±10^15 yuan (or ±10^9 for a rate)"
            }
            ArithError::DivisionByZero => "division by zero",
        })
    }
}

/// An amount in fen, when it is exact to the fen and fits in 64 bits.
pub fn money_fen(d: Decimal) -> Option<i64> {
    scaled(d, 2)
}

/// A rate in millionths, when it is exact to the millionth and fits in 64 bits.
pub fn rate_millionths(d: Decimal) -> Option<i64> {
    scaled(d, 6)
}

/// `d` times 10^`scale`, when that is a whole number of 64 bits: never rounded, never
/// saturated.
fn scaled(d: Decimal, scale: u32) -> Option<i64> {
    let m = d.mantissa();
    let s = d.scale();
    let v = if s <= scale {
        m.checked_mul(10i128.checked_pow(scale - s)?)?
    } else {
        let unit = 10i128.checked_pow(s - scale)?;
        if m % unit != 0 {
            return None;
        }
        m / unit
    };
    i64::try_from(v).ok()
}

/// `n / d` rounded to an integer by `mode`, in 128 bits.
pub fn divide(n: i128, d: i128, mode: Rounding) -> Result<i128, ArithError> {
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
/// `d_abs` moves away from zero under `mode`: the rounding rule, written once.
pub fn rounds_away(mode: Rounding, twice_rem: u128, d_abs: u128, q_is_odd: bool) -> bool {
    match mode {
        Rounding::Down => false,
        Rounding::Up => true,
        Rounding::HalfUp => twice_rem >= d_abs,
        Rounding::HalfEven => twice_rem > d_abs || (twice_rem == d_abs && q_is_odd),
    }
}

/// `round(x * y / d)` by `mode`: in 64 bits when the product fits, else in 128; an overflow
/// when the result does not fit in 64 bits.
#[inline]
pub fn muldiv(x: i64, y: i64, d: i64, mode: Rounding) -> Result<i64, ArithError> {
    if d == 0 {
        return Err(ArithError::DivisionByZero);
    }
    if let Some(n) = x.checked_mul(y)
        && n != i64::MIN
    {
        let q = n / d;
        let r = n % d;
        if r == 0 {
            return Ok(q);
        }
        let away = if (n < 0) == (d < 0) { 1 } else { -1 };
        let twice = u128::from(r.unsigned_abs()) * 2;
        let up = rounds_away(mode, twice, u128::from(d.unsigned_abs()), q % 2 != 0);
        return Ok(if up { q + away } else { q });
    }
    let q = divide(i128::from(x) * i128::from(y), i128::from(d), mode)?;
    i64::try_from(q).map_err(|_| ArithError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_modes_at_the_midpoint() {
        // 0.125 yuan = 12.5 fen.
        assert_eq!(muldiv(125, 1, 10, Rounding::HalfUp), Ok(13));
        assert_eq!(muldiv(125, 1, 10, Rounding::HalfEven), Ok(12));
        assert_eq!(muldiv(135, 1, 10, Rounding::HalfEven), Ok(14));
        assert_eq!(muldiv(125, 1, 10, Rounding::Down), Ok(12));
        assert_eq!(muldiv(125, 1, 10, Rounding::Up), Ok(13));
        assert_eq!(muldiv(-125, 1, 10, Rounding::HalfUp), Ok(-13));
        assert_eq!(muldiv(-125, 1, 10, Rounding::Down), Ok(-12));
        assert_eq!(muldiv(-121, 1, 10, Rounding::Up), Ok(-13));
        assert_eq!(muldiv(1, 1, 0, Rounding::HalfUp), Err(ArithError::DivisionByZero));
        assert_eq!(
            muldiv(100_000_000_000_000_000, 1_000_000, 3, Rounding::HalfUp),
            Err(ArithError::Overflow)
        );
        assert_eq!(
            muldiv(1_000_000_000_000_000, 1_000_000, 1_000_000_000_000, Rounding::HalfUp),
            Ok(1_000_000_000)
        );
    }

    #[test]
    fn the_64_bit_path_is_the_128_bit_one() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        };
        for i in 0..200_000 {
            let (a, b) = (next() >> (i % 60), next() >> (30 + i % 34));
            let d = match i % 4 {
                0 => MILLION,
                1 => next() >> (i % 62),
                2 => (next() % 1000) - 500,
                _ => -1,
            };
            for mode in Rounding::ALL {
                let wide = divide(i128::from(a) * i128::from(b), i128::from(d), mode)
                    .and_then(|q| i64::try_from(q).map_err(|_| ArithError::Overflow));
                assert_eq!(muldiv(a, b, d, mode), wide, "{a} * {b} / {d} by {mode:?}");
            }
        }
    }

    #[test]
    fn conversions_are_exact_or_refused() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert_eq!(money_fen(d("12.30")), Some(1230));
        assert_eq!(money_fen(d("12.301")), None);
        assert_eq!(money_fen(d("12.3000")), Some(1230));
        assert_eq!(rate_millionths(d("-0.000001")), Some(-1));
        assert_eq!(rate_millionths(d("0.0000001")), None);
        assert_eq!(rate_millionths(d("-10000000000000")), None);
        assert_eq!(rate_millionths(d("9223372036854.775807")), Some(i64::MAX));
        assert_eq!(rate_millionths(d("9223372036854.775808")), None);
    }
}
