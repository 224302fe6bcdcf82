//! The bounds of the numbers a policy writes, reads and computes: the one place they are
//! written. The parser checks literals against them, the claim readers every cell, the plan
//! (and so the closures and the compiled code) every computed amount and rate, and the reference
//! interpreter every decimal it computes. Money and rates are bounded alike, each within
//! 64 bits in its scaled form with room for the product of a bounded amount and a bounded rate
//! in 128; counts are 64-bit integers, checked by their own operations.

use crate::ir::Type;

/// Fen in one yuan: the scale of money.
pub const FEN_PER_YUAN: i64 = 100;
/// Millionths in one: the scale of rates.
pub const MILLION: i64 = 1_000_000;

/// The largest money magnitude, in yuan (10^15).
pub const MONEY_LIMIT_YUAN: i64 = 1_000_000_000_000_000;
/// The largest money magnitude, in fen.
pub const MONEY_LIMIT_FEN: i64 = MONEY_LIMIT_YUAN * FEN_PER_YUAN;
/// The largest money magnitude as messages write it.
pub const MONEY_LIMIT_TEXT: &str = "10^15 yuan";

/// The largest rate magnitude (10^9, that is 10^11 %).
pub const RATE_LIMIT: i64 = 1_000_000_000;
/// The largest rate magnitude, in millionths.
pub const RATE_LIMIT_MILLIONTHS: i64 = RATE_LIMIT * MILLION;
/// The largest rate magnitude as messages write it.
pub const RATE_LIMIT_TEXT: &str = "10^9";

/// The bound of a type's magnitude in its scaled form (fen, millionths): money and rates are
/// bounded, and the other types are not, or not by a magnitude.
pub fn limit(ty: Type) -> Option<i64> {
    match ty {
        Type::Money => Some(MONEY_LIMIT_FEN),
        Type::Rate => Some(RATE_LIMIT_MILLIONTHS),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_amount_times_a_bounded_rate_fits_128_bits() {
        let product = i128::from(MONEY_LIMIT_FEN) * i128::from(RATE_LIMIT_MILLIONTHS);
        assert!(product < i128::MAX / 4);
        assert_eq!(MONEY_LIMIT_FEN, 100_000_000_000_000_000);
        assert_eq!(RATE_LIMIT_MILLIONTHS, 1_000_000_000_000_000);
    }
}
