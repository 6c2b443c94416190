//! The musical position as a piecewise-linear function of time.
//!
//! Positions are `u32` counts of 1/96 beat ([`crate::ppqn::UNITS_PER_BEAT`]) and wrap. A timeline
//! is anchored at a time and a position and advances at `slope` ticks per unit. The tracker moves
//! the anchor to each filtered pulse time, so the position stays continuous across updates (only
//! the slope changes); the `horizon` is the last position it may reach before the next pulse
//! confirms it, which bounds how far outputs coast when the input clock stops.
//!
//! Times and slopes here have 8 fractional tick bits (Q8) in 32-bit fields, not the Q32.32 of
//! the tracker's loop: the outputs read the timeline on every schedule, and 32-bit fields keep
//! that cheap on the 8-bit AVR. Only the product in `time_of` and the quotients in
//! `position_at` and `slope_for` need 64 bits.
//!
//! Q8 is ample for scheduling. The tracker re-anchors at every input pulse and its outputs are
//! scheduled at most one input pulse (96 units at 1 PPQN) past the anchor;
//! its slope, rounded down to 1/256 tick, is off by less than `d/256` tick after `d` units and
//! the anchor by less than 1/256 tick, so a due time (a whole tick, rounded up) moves by at most
//! one tick, and only when the exact time lies within a fraction of a tick of a whole tick. The
//! master clock's slope is its tempo rounded to the nearest 1/256 tick per unit: a tempo error
//! below 5 ppm at 3000 BPM on the 2 MHz chip.

use crate::time::{signed_diff, Tick};

/// Largest slope (Q8 ticks per unit): 2²⁴ ticks per unit, below 0.46 BPM at the highest tick
/// rate ([`crate::time::TickRate::MAX`]). Every slope of the tracker's period range (down to
/// 1 BPM with 1.5× headroom) and of the master's tempo range (down to 1 BPM) is below it.
pub const MAX_SLOPE: u32 = u32::MAX;

/// Reach of [`Timeline::time_of`] in Q8 ticks: 2³⁰ ticks either side of the anchor, the
/// unambiguous half of the wrapping `u32` tick range with a factor of two to spare.
const REACH_Q8: i64 = 1 << 38;

/// A time with 8 fractional tick bits: `tick + frac / 256`. Wraps like [`Tick`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickQ8 {
    /// The whole tick (rounded down).
    pub tick: Tick,
    /// The fraction of a tick past `tick`, in 1/256 tick.
    pub frac: u8,
}

impl TickQ8 {
    /// The exact time of a whole tick.
    #[inline]
    pub const fn from_tick(tick: Tick) -> Self {
        TickQ8 { tick, frac: 0 }
    }

    /// The first whole tick at or after this time.
    #[inline]
    pub const fn ceil(self) -> Tick {
        self.tick.wrapping_add((self.frac != 0) as u32)
    }

    /// The nearest whole tick (halves round up; the tests compare times with it).
    #[cfg(test)]
    pub const fn round(self) -> Tick {
        self.tick.wrapping_add((self.frac >= 128) as u32)
    }
}

/// Position → time mapping shared by the tracker and the master clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Time at which the position equals `anchor_pos`.
    pub anchor: TickQ8,
    /// Position (1/96 beats) at `anchor`.
    pub anchor_pos: u32,
    /// Ticks per position unit in Q24.8 (so at most [`MAX_SLOPE`]); zero when the tempo is not
    /// known yet.
    pub slope: u32,
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

/// The slope for `units` position units spanning `span_q32` ticks (Q32.32, as the tracker keeps
/// its times): rounded down to 1/256 tick, at least 1 and at most [`MAX_SLOPE`]. `units` of 0
/// counts as 1.
pub fn slope_for(span_q32: u64, units: u32) -> u32 {
    let q = (span_q32 >> 24) / units.max(1) as u64;
    if q > MAX_SLOPE as u64 {
        MAX_SLOPE
    } else {
        (q as u32).max(1)
    }
}

impl Timeline {
    /// The time at which `pos` is reached, or `None` when it is past the horizon, the tempo is
    /// unknown (then positions up to the anchor are due at the anchor, later ones unknown) or
    /// the time is 2³⁰ ticks or more from the anchor (−2³⁰ itself is kept): schedules stay
    /// within the unambiguous half of the wrapping `u32` tick range.
    pub fn time_of(&self, pos: u32) -> Option<TickQ8> {
        if !self.valid || pos_diff(pos, self.horizon) > 0 {
            return None;
        }
        let d = pos_diff(pos, self.anchor_pos);
        if self.slope == 0 && d > 0 {
            return None;
        }
        // |d| ≤ 2³¹ and slope < 2³², so the Q8 offset fits i64 exactly.
        let off = d as i64 * self.slope as i64;
        if !(-REACH_Q8..REACH_Q8).contains(&off) {
            return None;
        }
        // The anchor as a 40-bit Q8 time plus the offset; the tick wraps like any tick.
        let anchor = ((self.anchor.tick as u64) << 8) | self.anchor.frac as u64;
        let at = anchor.wrapping_add(off as u64);
        Some(TickQ8 {
            tick: (at >> 8) as u32,
            frac: at as u8,
        })
    }

    /// The position at `now` (whole units, rounded down) and the fraction of the next unit
    /// (Q0.16, rounded down), clamped to the horizon (and to 2³⁰ units past the anchor).
    /// `None` when the timeline is not valid.
    pub fn position_at(&self, now: Tick) -> Option<(u32, u16)> {
        if !self.valid {
            return None;
        }
        let dt = signed_diff(now, self.anchor.tick);
        if dt <= 0 || self.slope == 0 {
            return Some((self.anchor_pos, 0));
        }
        // The Q8 time since the anchor, `dt·2⁸ − anchor.frac`, is positive and below 2³⁹, so
        // one 64-bit division of it times 2¹⁶ gives the whole units and the Q0.16 fraction.
        let n = ((dt as u64) << 8) - self.anchor.frac as u64;
        let q = (n << 16) / self.slope as u64;
        let whole = q >> 16;
        let whole = if whole >= 1 << 30 {
            1 << 30
        } else {
            whole as u32
        };
        let frac = q as u16;
        let pos = self.anchor_pos.wrapping_add(whole);
        if pos_diff(pos, self.horizon) >= 0 {
            return Some((self.horizon, 0));
        }
        Some((pos, frac))
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

    fn tl() -> Timeline {
        Timeline {
            anchor: TickQ8::from_tick(1000),
            anchor_pos: 96,
            slope: 10 << 8,
            horizon: 96 + 48,
            valid: true,
        }
    }

    #[test]
    fn maps_positions_both_ways() {
        let t = tl();
        assert_eq!(t.time_of(96), Some(TickQ8::from_tick(1000)));
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
        assert_eq!(t.position_at(5000), Some((96, 0)));
    }

    #[test]
    fn works_across_wraps() {
        let mut t = tl();
        t.anchor = TickQ8::from_tick(u32::MAX - 5);
        t.shift(u32::MAX - 100);
        let p = t.anchor_pos.wrapping_add(2);
        assert_eq!(t.time_of(p).map(|f| f.round()), Some(14));
        assert_eq!(t.position_at(14).map(|x| x.0), Some(p));
    }

    /// The exact time of `anchor_pos + d` in Q8 ticks relative to the anchor's whole tick.
    fn exact_q8(t: &Timeline, d: i64) -> i128 {
        t.anchor.frac as i128 + d as i128 * t.slope as i128
    }

    #[test]
    fn fractional_anchor_and_slope_are_exact() {
        let slopes = [
            1u32,
            255,
            256,
            257,
            2_560,
            1_333_333,
            4 << 8,
            16_384_001,
            1 << 31,
            MAX_SLOPE,
        ];
        let ds = [
            0i64,
            1,
            -1,
            7,
            -7,
            95,
            -96,
            255,
            256,
            -257,
            4_095,
            -65_537,
            1 << 22,
            -(1 << 30),
            1 << 30,
            // Either side of the reach at 4 ticks per unit.
            (1 << 28) - 1,
            1 << 28,
            -(1 << 28),
            -(1 << 28) - 1,
        ];
        for &slope in &slopes {
            for frac in [0u8, 1, 128, 255] {
                for tick in [0u32, 1_000, u32::MAX - 3] {
                    let t = Timeline {
                        anchor: TickQ8 { tick, frac },
                        anchor_pos: 7,
                        slope,
                        horizon: 7 + (1 << 30),
                        valid: true,
                    };
                    for &d in &ds {
                        let pos = 7u32.wrapping_add(d as i32 as u32);
                        let want = exact_q8(&t, d);
                        let off = d as i128 * slope as i128;
                        let in_reach = (-(1i128 << 38)..1 << 38).contains(&off);
                        let got = t.time_of(pos);
                        if !in_reach {
                            assert_eq!(got, None, "slope {slope} d {d}");
                            continue;
                        }
                        let got = got.expect("in reach");
                        let rel =
                            got.tick.wrapping_sub(tick) as i32 as i128 * 256 + got.frac as i128;
                        assert_eq!(rel, want, "slope {slope} frac {frac} d {d}");
                    }
                }
            }
        }
    }

    #[test]
    fn position_at_is_exact() {
        let slopes = [
            1u32,
            255,
            256,
            2_560,
            1_333_333,
            16_384_001,
            1 << 31,
            MAX_SLOPE,
        ];
        let dts = [
            1u32,
            2,
            255,
            256,
            9_999,
            1 << 20,
            (1 << 30) + 77,
            i32::MAX as u32,
        ];
        for &slope in &slopes {
            for frac in [0u8, 1, 200, 255] {
                let t = Timeline {
                    anchor: TickQ8 {
                        tick: u32::MAX - 10,
                        frac,
                    },
                    anchor_pos: 5,
                    slope,
                    horizon: 5 + (1 << 30),
                    valid: true,
                };
                for &dt in &dts {
                    let now = (u32::MAX - 10).wrapping_add(dt);
                    let q8 = dt as u128 * 256 - frac as u128;
                    let whole = q8 / slope as u128;
                    let want = if whole >= 1 << 30 {
                        (t.horizon, 0)
                    } else {
                        let f = ((q8 % slope as u128) << 16) / slope as u128;
                        (5 + whole as u32, f as u16)
                    };
                    assert_eq!(
                        t.position_at(now),
                        Some(want),
                        "slope {slope} frac {frac} dt {dt}"
                    );
                }
            }
        }
    }

    #[test]
    fn time_and_position_agree() {
        // The first whole tick at or after a position's time is at that position; the tick
        // before it is still at the previous one (at least a tick per unit here).
        for slope in [300u32, 2_561, 1_333_333, 7_680_000 << 8] {
            let t = Timeline {
                anchor: TickQ8 {
                    tick: u32::MAX - 1_000,
                    frac: 77,
                },
                anchor_pos: 0,
                slope,
                horizon: 1_000,
                valid: true,
            };
            for pos in 1..100u32 {
                let at = t.time_of(pos).expect("in reach").ceil();
                assert_eq!(t.position_at(at).map(|p| p.0), Some(pos), "{slope}");
                let before = at.wrapping_sub(1);
                assert_eq!(t.position_at(before).map(|p| p.0), Some(pos - 1), "{slope}");
            }
        }
    }

    #[test]
    fn slope_for_rounds_down_and_clamps() {
        let q32 = |ticks: u64| ticks << 32;
        assert_eq!(slope_for(q32(2_400), 24), 100 << 8);
        // 20 833.33 ticks per 24 PPQN pulse, 4 units: 5208.333 → 1 333 333 / 256.
        assert_eq!(slope_for(q32(62_500) / 3, 4), 1_333_333);
        assert_eq!(slope_for(0, 96), 1);
        assert_eq!(slope_for(q32(1) - 1, 1), 255, "sub-Q8 bits are dropped");
        assert_eq!(slope_for(u64::MAX, 1), MAX_SLOPE);
        assert_eq!(slope_for(u64::MAX, 0), MAX_SLOPE);
        assert_eq!(slope_for(q32(1 << 24) - 1, 1), MAX_SLOPE);
        assert_eq!(slope_for(q32(1 << 24), 1), MAX_SLOPE, "saturates");
        // The longest tracked period: 1 BPM with 1.5× headroom at the highest tick rate.
        assert_eq!(slope_for(q32(1_105_920_000), 96), 11_520_000 << 8);
    }

    #[test]
    fn bad_input_never_panics() {
        for slope in [0u32, 1, MAX_SLOPE] {
            for pos in [0u32, 1, i32::MAX as u32, 1 << 31, u32::MAX] {
                for horizon in [0u32, 1 << 30, u32::MAX] {
                    let t = Timeline {
                        anchor: TickQ8 {
                            tick: u32::MAX,
                            frac: 255,
                        },
                        anchor_pos: 0,
                        slope,
                        horizon,
                        valid: true,
                    };
                    let _ = t.time_of(pos);
                    let _ = t.position_at(pos);
                }
            }
        }
    }
}
