//! Fixed-point helpers: Q32.32 wrapping time and Q0.32 gains.
//!
//! The DLL needs sub-tick precision (a 24 PPQN period at 2 MHz is not a whole number of ticks),
//! but must not use floats (soft float on AVR is slow and the two targets must agree bit for bit).
//! All multiplications are split into 32 × 32 → 64-bit products, which AVR does reasonably well.

use crate::time::Tick;
use crate::timeline::TickQ8;

/// One in Q0.32.
pub const Q32_ONE: u64 = 1 << 32;

/// A time with 32 fractional tick bits. Wraps exactly like [`Tick`] in its integer part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FineTick(u64);

impl FineTick {
    /// The exact time of a whole tick.
    #[inline]
    pub const fn from_tick(t: Tick) -> Self {
        FineTick((t as u64) << 32)
    }

    /// The tick containing this time (rounded down).
    #[inline]
    pub const fn floor(self) -> Tick {
        (self.0 >> 32) as Tick
    }

    /// This time rounded down to 1/256 tick (the timeline's resolution).
    #[inline]
    pub const fn to_q8(self) -> TickQ8 {
        TickQ8 {
            tick: self.floor(),
            frac: (self.0 >> 24) as u8,
        }
    }

    /// This time moved by a signed Q32.32 amount.
    #[inline]
    pub const fn offset(self, d: i64) -> Self {
        FineTick(self.0.wrapping_add(d as u64))
    }

    /// This time moved forward by an unsigned Q32.32 amount.
    #[inline]
    pub const fn plus(self, d: u64) -> Self {
        FineTick(self.0.wrapping_add(d))
    }

    /// Signed `self − other` in Q32.32 (valid within ±2³¹ ticks).
    #[inline]
    pub const fn diff(self, other: FineTick) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }
}

/// `x × g` for an unsigned Q32.32 `x` and a Q0.32 gain `g`, saturating.
#[inline]
pub const fn mul_u_q32(x: u64, g: u32) -> u64 {
    let hi = (x >> 32) * g as u64;
    let lo = ((x & 0xFFFF_FFFF) * g as u64) >> 32;
    hi.saturating_add(lo)
}

/// `x × g` for a signed Q32.32 `x` and a Q0.32 gain `g`, saturating.
#[inline]
pub const fn mul_i_q32(x: i64, g: u32) -> i64 {
    let m = mul_u_q32(x.unsigned_abs(), g);
    let m = if m > i64::MAX as u64 {
        i64::MAX
    } else {
        m as i64
    };
    if x < 0 {
        -m
    } else {
        m
    }
}

/// `a × b` for two Q0.32 gains.
#[inline]
pub const fn mul_gain(a: u32, b: u32) -> u32 {
    ((a as u64 * b as u64) >> 32) as u32
}

/// log₂(x / 2¹⁶) in Q16 for `x` > 0 (`x` in Q16.16), by normalisation and repeated squaring.
/// Returns `i32::MIN` for zero. Exact to about 2⁻¹⁶.
pub const fn log2_q16(x: u32) -> i32 {
    if x == 0 {
        return i32::MIN;
    }
    let msb = 31 - x.leading_zeros() as i32;
    let mut int = msb - 16;
    // Mantissa in Q1.31, in [1, 2).
    let mut m: u64 = (x as u64) << (31 - msb);
    let mut frac: i32 = 0;
    let mut bit = 1 << 15;
    while bit > 0 {
        m = (m * m) >> 31;
        if m >= 1 << 32 {
            m >>= 1;
            frac |= bit;
        }
        bit >>= 1;
    }
    if int < -32_767 {
        int = -32_767;
    }
    int * 65_536 + frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_tick_rounding_and_wrap() {
        let t = FineTick::from_tick(u32::MAX).plus(Q32_ONE + (Q32_ONE / 2));
        assert_eq!(t.floor(), 0);
        assert_eq!(
            t.diff(FineTick::from_tick(u32::MAX)),
            (3 * Q32_ONE / 2) as i64
        );
    }

    #[test]
    fn q32_products() {
        let half = 1u32 << 31;
        assert_eq!(mul_u_q32(10 * Q32_ONE, half), 5 * Q32_ONE);
        assert_eq!(
            mul_i_q32(-(10 * Q32_ONE as i64), half),
            -(5 * Q32_ONE as i64)
        );
        assert_eq!(mul_gain(half, half), 1 << 30);
        assert_eq!(
            mul_u_q32(u64::MAX, u32::MAX),
            u64::MAX - (u64::MAX >> 32) - 1
        );
    }

    #[test]
    fn log2_matches_float() {
        for &x in &[
            1u32,
            100,
            65_536,
            65_537,
            131_072,
            98_304,
            1 << 31,
            u32::MAX,
        ] {
            let got = log2_q16(x) as f64 / 65_536.0;
            let want = (x as f64 / 65_536.0).log2();
            assert!((got - want).abs() < 1e-4, "x={x} got={got} want={want}");
        }
        assert_eq!(log2_q16(0), i32::MIN);
    }
}
