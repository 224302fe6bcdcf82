//! The numbers of the scaled backends, decided once: the bounds of each type (read from
//! [`settle_lang::limits`]), the exact
//! conversions between decimals and scaled integers, and the one rounding kernel the closures
//! and the compiled code's helper run (the compiled code's inline fast path translates the same
//! rule). The reference interpreter keeps arithmetic of its own on decimals, so that the
//! differential tests compare two independent implementations.

use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::ir::{DatePart, DateUnit, Rounding};

/// The bounds and scales, from the language's one table of them ([`settle_lang::limits`]).
pub use settle_lang::limits::{MILLION, MONEY_LIMIT_FEN, RATE_LIMIT_MILLIONTHS, limit};
use settle_lang::limits::{MONEY_LIMIT_TEXT, RATE_LIMIT_TEXT};

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
        match self {
            ArithError::Overflow => write!(
                f,
                "overflow: the result is beyond ±{MONEY_LIMIT_TEXT} (or ±{RATE_LIMIT_TEXT} for a rate)"
            ),
            ArithError::DivisionByZero => f.write_str("division by zero"),
        }
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

/// The step (-1, 0 or 1) that rounds the truncated quotient `q` of `n / d` by `mode`, given
/// the remainder `r` (the sign of `n`): the rounding rule, written once for every width.
#[inline]
fn step(
    n_negative: bool,
    d_negative: bool,
    r: u128,
    d: u128,
    q_is_odd: bool,
    mode: Rounding,
) -> i8 {
    if r == 0 {
        return 0;
    }
    let twice = r.saturating_mul(2);
    let away = match mode {
        Rounding::Down => false,
        Rounding::Up => true,
        Rounding::HalfUp => twice >= d,
        Rounding::HalfEven => twice > d || (twice == d && q_is_odd),
    };
    match (away, n_negative == d_negative) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => -1,
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
        let (q, r) = (n / d, n % d);
        let (r, d_abs) = (u128::from(r.unsigned_abs()), u128::from(d.unsigned_abs()));
        return Ok(q + i64::from(step(n < 0, d < 0, r, d_abs, q % 2 != 0, mode)));
    }
    let (n, d) = (i128::from(x) * i128::from(y), i128::from(d));
    let (q, r) = (n / d, n % d);
    let q =
        q + i128::from(step(n < 0, d < 0, r.unsigned_abs(), d.unsigned_abs(), q % 2 != 0, mode));
    i64::try_from(q).map_err(|_| ArithError::Overflow)
}

/// `x` rounded by `mode` to a multiple of `unit` (`round(x, 10)`: `unit` is 1,000 fen): the
/// quotient rounded by [`muldiv`], times the unit; an overflow beyond the money bound.
#[inline]
pub fn round_to(x: i64, unit: i64, mode: Rounding) -> Result<i64, ArithError> {
    muldiv(x, 1, unit, mode)?
        .checked_mul(unit)
        .filter(|v| v.unsigned_abs() <= MONEY_LIMIT_FEN.unsigned_abs())
        .ok_or(ArithError::Overflow)
}

/// A calendar operation on days since 1970-01-01 ([`Date`]'s arithmetic, written once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    /// The date `y` days or months after `x`.
    Shift(DateUnit),
    /// The year, month or day of `x`.
    Part(DatePart),
    /// Whole years from `x` to `y`.
    YearsBetween,
}

impl Calendar {
    /// Every operation, each at the index of its [`Calendar::code`].
    pub const ALL: [Calendar; 6] = [
        Calendar::Shift(DateUnit::Days),
        Calendar::Shift(DateUnit::Months),
        Calendar::Part(DatePart::Year),
        Calendar::Part(DatePart::Month),
        Calendar::Part(DatePart::Day),
        Calendar::YearsBetween,
    ];

    /// The operation's number, as compiled code passes it to its helper.
    pub fn code(self) -> i64 {
        Calendar::ALL.iter().position(|c| *c == self).map_or(-1, |i| i as i64)
    }

    /// The operation of a number from [`Calendar::code`].
    pub fn from_code(code: i64) -> Option<Calendar> {
        Calendar::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

/// Apply a calendar operation to days `x` (and `y`: a number of days or months, or a second
/// date); an overflow when a date leaves 0001-01-01 to 9999-12-31.
pub fn calendar(op: Calendar, x: i64, y: i64) -> Result<i64, ArithError> {
    let day = |d: i64| {
        i32::try_from(d)
            .ok()
            .map(Date)
            .filter(|d| (Date::MIN..=Date::MAX).contains(d))
            .ok_or(ArithError::Overflow)
    };
    Ok(match op {
        Calendar::Shift(unit) => i64::from(day(x)?.shift(y, unit).ok_or(ArithError::Overflow)?.0),
        Calendar::Part(part) => day(x)?.part(part),
        Calendar::YearsBetween => day(x)?.years_between(day(y)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_a_unit() {
        // 1,234.50 yuan to 10 yuan, to the yuan, to the jiao.
        assert_eq!(round_to(123_450, 1_000, Rounding::HalfUp), Ok(123_000));
        assert_eq!(round_to(123_500, 1_000, Rounding::HalfUp), Ok(124_000));
        assert_eq!(round_to(123_500, 1_000, Rounding::HalfEven), Ok(124_000));
        assert_eq!(round_to(122_500, 1_000, Rounding::HalfEven), Ok(122_000));
        assert_eq!(round_to(123_450, 100, Rounding::HalfUp), Ok(123_500));
        assert_eq!(round_to(123_450, 100, Rounding::Down), Ok(123_400));
        assert_eq!(round_to(-123_401, 10, Rounding::Up), Ok(-123_410));
        assert_eq!(round_to(MONEY_LIMIT_FEN, 300, Rounding::Up), Err(ArithError::Overflow));
        assert_eq!(round_to(MONEY_LIMIT_FEN, 100, Rounding::Up), Ok(MONEY_LIMIT_FEN));
    }

    #[test]
    fn calendar_codes_round_trip() {
        for op in Calendar::ALL {
            assert_eq!(Calendar::from_code(op.code()), Some(op));
        }
        assert_eq!(Calendar::from_code(6), None);
        assert_eq!(Calendar::from_code(-1), None);
        assert_eq!(
            calendar(Calendar::Shift(DateUnit::Days), i64::from(Date::MAX.0), 1),
            Err(ArithError::Overflow)
        );
        assert_eq!(
            calendar(Calendar::Part(DatePart::Year), i64::MAX, 0),
            Err(ArithError::Overflow)
        );
    }

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

    /// `n / d` rounded by `mode`, computed the slow way: the quotient's exact neighbours
    /// compared by twice the distance.
    fn slow(n: i128, d: i128, mode: Rounding) -> Option<i128> {
        // Work with a positive divisor: n / d = (-n) / (-d).
        let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
        let floor = n.div_euclid(d);
        let rem = n - floor * d;
        if rem == 0 {
            return Some(floor);
        }
        let ceil = floor + 1;
        let toward_zero = if n < 0 { ceil } else { floor };
        let away = if n < 0 { floor } else { ceil };
        Some(match mode {
            Rounding::Down => toward_zero,
            Rounding::Up => away,
            Rounding::HalfUp | Rounding::HalfEven => match (2 * rem).cmp(&d) {
                std::cmp::Ordering::Less => floor,
                std::cmp::Ordering::Greater => ceil,
                std::cmp::Ordering::Equal if mode == Rounding::HalfUp => away,
                std::cmp::Ordering::Equal => {
                    if floor % 2 == 0 {
                        floor
                    } else {
                        ceil
                    }
                }
            },
        })
    }

    #[test]
    fn muldiv_rounds_as_the_nearest_neighbours_say() {
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
                let wide = match d {
                    0 => Err(ArithError::DivisionByZero),
                    _ => slow(i128::from(a) * i128::from(b), i128::from(d), mode)
                        .and_then(|q| i64::try_from(q).ok())
                        .ok_or(ArithError::Overflow),
                };
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
