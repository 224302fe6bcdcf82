//! Rust functions the compiled code calls for what it does not lower natively: products and
//! quotients whose intermediate does not fit in 64 bits, and the expressions it leaves to the
//! engine's [`Fallback`](crate::Fallback).

use settle_lang::ir::Rounding;

use crate::Bridge;
use crate::kernel::{self, ArithError};

/// Compute fallback expression `expr` through the bridge. Writes the result to `out[0]`, or a
/// fault's kind, value and details to `out[1..4]`, and returns 0 or the fault's kind.
pub extern "C" fn fallback(
    bridge: *const Bridge<'_>,
    expr: i64,
    values: *const i64,
    accs: *const i64,
    out: *mut i64,
) -> i64 {
    // SAFETY: the compiled code passes back the bridge `Compiled::settle` gave it, alive for the
    // whole call, and the `values` and `accs` buffers of the frame, whose lengths `settle`
    // checked against the bridge's sizes; `out` is a four-slot stack area of the code's frame.
    let (bridge, values, accs, out) = unsafe {
        let bridge = &*bridge;
        (
            bridge,
            std::slice::from_raw_parts(values, bridge.values),
            std::slice::from_raw_parts(accs, bridge.accs),
            std::slice::from_raw_parts_mut(out, 4),
        )
    };
    match bridge.fallback.eval(usize::try_from(expr).unwrap_or(usize::MAX), values, accs) {
        Ok(v) => {
            if let Some(slot) = out.first_mut() {
                *slot = v;
            }
            0
        }
        Err(f) => {
            for (slot, v) in out.iter_mut().skip(1).zip([f.kind.code(), f.a, f.b]) {
                *slot = v;
            }
            f.kind.code()
        }
    }
}

/// `round(x * y / d)` by the kernel ([`kernel::muldiv`]), the rounding mode as the code
/// passes it (0 half up, 1 half even, 2 down, 3 up). Writes the result to `out` and returns 0,
/// or returns 1 when the result does not fit in 64 bits, 2 when `d` is zero.
pub extern "C" fn muldiv(x: i64, y: i64, d: i64, mode: i64, out: *mut i64) -> i64 {
    match kernel::muldiv(x, y, d, rounding(mode)) {
        Ok(v) => {
            // SAFETY: the compiled code passes a pointer to a stack slot of its own frame.
            unsafe { out.write(v) };
            0
        }
        Err(ArithError::Overflow) => 1,
        Err(ArithError::DivisionByZero) => 2,
    }
}

/// `x` rounded to a multiple of `unit` by the kernel ([`kernel::round_to`]), the mode coded
/// as for [`muldiv`]; `_unused` keeps the helpers' one signature. Writes the result to `out`
/// and returns 0, or returns 1 when it is beyond the money bound.
pub extern "C" fn round_to(x: i64, unit: i64, mode: i64, _unused: i64, out: *mut i64) -> i64 {
    match kernel::round_to(x, unit, rounding(mode)) {
        Ok(v) => {
            // SAFETY: the compiled code passes a pointer to a stack slot of its own frame.
            unsafe { out.write(v) };
            0
        }
        Err(_) => 1,
    }
}

/// Calendar operation `op` ([`kernel::Calendar::code`]) on `x` and `y` by the kernel
/// ([`kernel::calendar`]); `_unused` keeps the helpers' one signature. Writes the result to
/// `out` and returns 0, or returns 1 when a date leaves the calendar's range (or `op` is no
/// operation, which the translator never emits).
pub extern "C" fn calendar(op: i64, x: i64, y: i64, _unused: i64, out: *mut i64) -> i64 {
    match kernel::Calendar::from_code(op).map(|op| kernel::calendar(op, x, y)) {
        Some(Ok(v)) => {
            // SAFETY: the compiled code passes a pointer to a stack slot of its own frame.
            unsafe { out.write(v) };
            0
        }
        _ => 1,
    }
}

fn rounding(mode: i64) -> Rounding {
    match mode {
        0 => Rounding::HalfUp,
        1 => Rounding::HalfEven,
        2 => Rounding::Down,
        _ => Rounding::Up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(x: i64, y: i64, d: i64, mode: i64) -> Result<i64, i64> {
        let mut out = 0;
        match muldiv(x, y, d, mode, &mut out) {
            0 => Ok(out),
            e => Err(e),
        }
    }

    #[test]
    fn rounds_once_exactly() {
        assert_eq!(call(125, 1, 10, 0), Ok(13));
        assert_eq!(call(125, 1, 10, 1), Ok(12));
        assert_eq!(call(-125, 1, 10, 0), Ok(-13));
        assert_eq!(call(100_000_000_000_000_000, 1_000_000, 3, 0), Err(1));
        assert_eq!(call(1, 1, 0, 0), Err(2));
        assert_eq!(call(1_000_000_000_000_000, 1_000_000, 1_000_000_000_000, 0), Ok(1_000_000_000));
    }
}
