//! The musical position as a piecewise-linear function of time.
//!
//! Positions are `u32` counts of 1/96 beat ([`crate::ppqn::UNITS_PER_BEAT`]) and wrap. A timeline
//! is anchored at a time and a position and advances at `slope` ticks per unit. The tracker moves
//! the anchor to each filtered pulse time, so the position stays continuous across updates (only
//! the slope changes); the `horizon` is the last position it may reach before the next pulse
//! confirms it, which bounds how far outputs coast when the input clock stops.

use crate::fixed::{sat_mul_u64, FineTick};
use crate::time::Tick;

/// Position → time mapping shared by the tracker and the master clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Time at which the position equals `anchor_pos`.
    pub anchor: FineTick,
    /// Position (1/96 beats) at `anchor`.
    pub anchor_pos: u32,
    /// Q32.32 ticks per position unit; zero when the tempo is not known yet.
    pub slope: u64,
    /// Highest position that may be scheduled (inclusive).
    pub horizon: u32,
    /// False until the timeline has an anchor at all.
    pub valid: bool,
}

/// Signed distance between two wrapping positions.
#[inline]
pub const fn pos_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl Timeline {
    /// The time at which `pos` is reached, or `None` when it is past the horizon, the tempo is
    /// unknown (only the anchor itself can be scheduled) or the time is out of range.
    pub fn time_of(&self, pos: u32) -> Option<FineTick> {
        if !self.valid || pos_diff(pos, self.horizon) > 0 {
            return None;
        }
        let d = pos_diff(pos, self.anchor_pos) as i64;
        if d == 0 {
            return Some(self.anchor);
        }
        if self.slope == 0 {
            // Tempo unknown: positions before the anchor are already due, later ones unknown.
            return if d < 0 { Some(self.anchor) } else { None };
        }
        let slope = i64::try_from(self.slope).ok()?;
        // Keep schedules within the unambiguous half of the u32 tick range: `None` when
        // |d·slope| ≥ 2⁶² (an i64 overflow is beyond that too). |d| ≤ 2³¹ fits u32, and the
        // saturating product is exact below 2⁶⁴, so this is `d.checked_mul(slope)` and the
        // 2⁶² limit without a 64 × 64-bit overflow-checked product (long on AVR).
        let m = sat_mul_u64(slope as u64, d.unsigned_abs() as u32);
        if m >= 1 << 62 {
            return None;
        }
        let dt = if d < 0 { -(m as i64) } else { m as i64 };
        Some(self.anchor.offset(dt))
    }

    /// The position at `now` (whole units, rounded down) and the fraction of the next unit
    /// (Q0.16), clamped to the horizon. `None` when the timeline is not valid.
    pub fn position_at(&self, now: Tick) -> Option<(u32, u16)> {
        if !self.valid {
            return None;
        }
        let dt = FineTick::from_tick(now).diff(self.anchor);
        if dt <= 0 || self.slope == 0 {
            return Some((self.anchor_pos, 0));
        }
        let dt = dt as u64;
        let whole = dt / self.slope;
        // Both operands scaled down by 2^16 so the fraction fits in u64 (no u128 on AVR).
        let s = (self.slope >> 16).max(1);
        let frac = (((dt % self.slope) >> 16) << 16) / s;
        let frac = if frac > 0xFFFF { 0xFFFF } else { frac };
        let whole = if whole > (1 << 30) {
            1 << 30
        } else {
            whole as u32
        };
        let pos = self.anchor_pos.wrapping_add(whole);
        if pos_diff(pos, self.horizon) >= 0 {
            return Some((self.horizon, 0));
        }
        Some((pos, frac as u16))
    }

    /// Renumber every position by `delta` (a reset or song-position jump): same times.
    pub fn shift(&mut self, delta: u32) {
        self.anchor_pos = self.anchor_pos.wrapping_add(delta);
        self.horizon = self.horizon.wrapping_add(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Q32_ONE;

    fn tl() -> Timeline {
        Timeline {
            anchor: FineTick::from_tick(1000),
            anchor_pos: 96,
            slope: 10 * Q32_ONE,
            horizon: 96 + 48,
            valid: true,
        }
    }

    #[test]
    fn maps_positions_both_ways() {
        let t = tl();
        assert_eq!(t.time_of(96), Some(FineTick::from_tick(1000)));
        assert_eq!(t.time_of(100).map(|f| f.round()), Some(1040));
        assert_eq!(t.time_of(90).map(|f| f.round()), Some(940));
        assert_eq!(t.time_of(145), None, "past the horizon");
        assert_eq!(t.position_at(1045), Some((100, 32_768)));
        assert_eq!(t.position_at(5000), Some((144, 0)), "clamped at horizon");
        assert_eq!(t.position_at(10), Some((96, 0)));
    }

    #[test]
    fn unknown_tempo_schedules_only_the_anchor() {
        let mut t = tl();
        t.slope = 0;
        assert!(t.time_of(96).is_some());
        assert!(t.time_of(97).is_none());
        assert_eq!(t.time_of(95), Some(t.anchor));
    }

    #[test]
    fn works_across_wraps() {
        let mut t = tl();
        t.anchor = FineTick::from_tick(u32::MAX - 5);
        t.shift(u32::MAX - 100);
        let p = t.anchor_pos.wrapping_add(2);
        assert_eq!(t.time_of(p).map(|f| f.round()), Some(14));
        assert_eq!(t.position_at(14).map(|x| x.0), Some(p));
    }
}
