//! Rust functions the compiled code calls for what it does not lower natively: products and
//! quotients whose intermediate does not fit in 64 bits, and the expressions it leaves to the
//! engine's [`Fallback`](crate::Fallback).

use crate::Bridge;

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
            for (slot, v) in out.iter_mut().skip(1).zip([f.kind, f.a, f.b]) {
                *slot = v;
            }
            f.kind.max(1)
        }
    }
}

/// `round(x * y / d)` computed exactly in 128 bits, rounded by `mode` (0 half up, 1 half even,
/// 2 down, 3 up). Writes the result to `out` and returns 0, or returns 1 when the result does not
/// fit in 64 bits, 2 when `d` is zero.
pub extern "C" fn muldiv(x: i64, y: i64, d: i64, mode: i64, out: *mut i64) -> i64 {
    if d == 0 {
        return 2;
    }
    let n = i128::from(x) * i128::from(y);
    let d = i128::from(d);
    let q = n / d;
    let r = n % d;
    let q = if r == 0 {
        q
    } else {
        let away = if (n < 0) == (d < 0) { 1 } else { -1 };
        let twice = r.unsigned_abs() * 2;
        let d_abs = d.unsigned_abs();
        let up = match mode {
            0 => twice >= d_abs,
            1 => twice > d_abs || (twice == d_abs && q % 2 != 0),
            2 => false,
            _ => true,
        };
        if up { q + away } else { q }
    };
    match i64::try_from(q) {
        Ok(v) => {
            // SAFETY: the compiled code passes a pointer to a stack slot of its own frame.
            unsafe { out.write(v) };
            0
        }
        Err(_) => 1,
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
