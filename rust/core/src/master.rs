//! [`MasterClock`]: the internal tempo source, driving the same [`Timeline`] path as the tracker.

use crate::tempo::{milli_bpm_from_slope, unit_period_from_milli_bpm};
use crate::time::{signed_diff, Tick, TickRate};
use crate::timeline::{TickQ8, Timeline};

/// How far ahead of its anchor a master timeline may schedule (about 26 days at 300 BPM).
const MASTER_REACH: u32 = 1 << 30;

/// An internal clock at a set tempo.
#[derive(Clone, Copy, Debug)]
pub struct MasterClock {
    rate: TickRate,
    milli_bpm: u32,
    tl: Timeline,
}

impl MasterClock {
    /// A master clock at `milli_bpm`, position 0 at `now`.
    pub fn new(rate: TickRate, milli_bpm: u32, now: Tick) -> Self {
        let mut m = MasterClock {
            rate,
            milli_bpm,
            tl: Timeline::default(),
        };
        m.restart(now, 0);
        m
    }

    /// Tempo in milli-BPM.
    pub fn milli_bpm(&self) -> u32 {
        self.milli_bpm
    }

    /// Change tempo without a jump in position: re-anchors at the next position unit.
    pub fn set_tempo(&mut self, now: Tick, milli_bpm: u32) {
        if milli_bpm == self.milli_bpm {
            return;
        }
        let (pos, frac) = self.tl.position_at(now).unwrap_or((self.tl.anchor_pos, 0));
        // The current unit when it was reached within this tick (its pulses are due now; the
        // slope's 1/256-tick rounding can put it a fraction of a tick before a whole tick),
        // else the next one.
        let mut anchor_pos = pos;
        let mut anchor = self.tl.time_of(pos);
        if frac != 0 && anchor.is_none_or(|a| a.ceil() != now) {
            anchor_pos = pos.wrapping_add(1);
            anchor = self.tl.time_of(anchor_pos);
        }
        self.milli_bpm = milli_bpm;
        self.tl.slope = unit_period_from_milli_bpm(milli_bpm, self.rate).max(1);
        if let Some(a) = anchor {
            self.tl.anchor = a;
            self.tl.anchor_pos = anchor_pos;
            self.tl.horizon = anchor_pos.wrapping_add(MASTER_REACH);
        } else {
            self.restart(now, pos);
        }
    }

    /// Position `pos` happens at `now` (start, continue, source switch).
    pub fn restart(&mut self, now: Tick, pos: u32) {
        self.tl = Timeline {
            anchor: TickQ8::from_tick(now),
            anchor_pos: pos,
            slope: unit_period_from_milli_bpm(self.milli_bpm, self.rate).max(1),
            horizon: pos.wrapping_add(MASTER_REACH),
            valid: true,
        };
    }

    /// Follow an outside timeline (Ableton Link, through the Rack plugin): position `pos` plus
    /// `frac`/65 536 of a unit is reached at `now`, and positions advance `slope` Q8 ticks per
    /// unit. The anchor is the whole unit `pos`, a fraction of a unit before `now`; the tempo
    /// shown is `milli_bpm` (the outside tempo; the slope also carries clock drift), or the
    /// slope's when 0. Called once per audio block with the outside timeline's position, which
    /// moves continuously, so the line does too.
    pub fn steer(&mut self, now: Tick, pos: u32, frac: u16, slope: u32, milli_bpm: u32) {
        let slope = slope.max(1);
        let back = (frac as u64 * slope as u64) >> 16;
        let at = ((now as u64) << 8).wrapping_sub(back);
        self.tl = Timeline {
            anchor: TickQ8 {
                tick: (at >> 8) as u32,
                frac: at as u8,
            },
            anchor_pos: pos,
            slope,
            horizon: pos.wrapping_add(MASTER_REACH),
            valid: true,
        };
        self.milli_bpm = if milli_bpm != 0 {
            milli_bpm
        } else {
            milli_bpm_from_slope(slope, self.rate)
        };
    }

    /// Move the anchor forward by whole position units to the last one at or before `now` once
    /// it is older than 2²⁸ ticks (call at least every 2²⁹ ticks), so schedules stay well inside
    /// the unambiguous tick range however long the master runs. Exact: the anchor moves along
    /// the line, not onto a rounded time. Returns true when it moved.
    ///
    /// Called later than that, when the new anchor is out of [`Timeline::time_of`]'s reach,
    /// the current whole position is anchored at `now` instead (a jump of under one unit).
    #[inline]
    pub fn keep_fresh(&mut self, now: Tick) -> bool {
        if signed_diff(now, self.tl.anchor.tick) < 1 << 28 {
            return false;
        }
        let pos = self.tl.position_at(now).map_or(self.tl.anchor_pos, |p| p.0);
        self.tl.anchor = self.tl.time_of(pos).unwrap_or(TickQ8::from_tick(now));
        self.tl.anchor_pos = pos;
        self.tl.horizon = pos.wrapping_add(MASTER_REACH);
        true
    }

    /// Renumber positions (same times).
    pub fn shift_positions(&mut self, delta: u32) {
        self.tl.shift(delta);
    }

    /// Change tick rate, keeping the position at `now_old` ↔ `now_new`.
    pub fn retune(&mut self, rate: TickRate, now_old: Tick, now_new: Tick) {
        let pos = self.tl.position_at(now_old).map(|p| p.0).unwrap_or(0);
        self.rate = rate;
        self.restart(now_new, pos);
    }

    /// The timeline.
    pub fn timeline(&self) -> Timeline {
        self.tl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_for_hours() {
        // 12.288 MHz ticks wrap every 350 s; a master must keep going across many wraps.
        let rate = TickRate::new(12_288_000);
        let mut m = MasterClock::new(rate, 120_000, 0);
        let beat = 6_144_000u64;
        let mut fired = 0u64;
        let mut pos = 0u32;
        for b in 0..(3 * 3600 * 2) {
            let now = ((b as u64 * beat) % (1u64 << 32)) as Tick;
            m.keep_fresh(now);
            let t = m.timeline().time_of(pos).expect("scheduled").round();
            assert!(
                (t.wrapping_sub(now) as i32).abs() <= 1,
                "beat {b}: {t} vs {now}"
            );
            pos = pos.wrapping_add(96);
            fired += 1;
        }
        assert_eq!(fired, 21_600);
    }

    #[test]
    fn keep_fresh_moves_along_the_line() {
        // 2 MHz at 120 BPM: 10 416.67 ticks per unit, a slope with a fraction of a tick.
        let rate = TickRate::new(2_000_000);
        let mut m = MasterClock::new(rate, 120_000, u32::MAX - 5);
        let before = m.timeline();
        // 10⁶ ticks per beat: the anchor is older than 2²⁸ ticks after 300 beats.
        let far = 1_000 * 96 + 7;
        let now = before.time_of(300 * 96 + 5).unwrap().tick.wrapping_add(3);
        assert!(m.keep_fresh(now));
        let after = m.timeline();
        assert_ne!(after.anchor_pos, before.anchor_pos);
        assert!(
            after.anchor.tick.wrapping_sub(now) as i32 <= 0,
            "at or before now"
        );
        // The same line: positions far from either anchor map to the same times.
        assert_eq!(after.time_of(far), before.time_of(far));
        assert_eq!(after.position_at(now), before.position_at(now));
        assert!(!m.keep_fresh(now.wrapping_add(1000)), "fresh now");
    }

    #[test]
    fn steer_puts_the_position_at_now() {
        let rate = TickRate::new(1_000_000);
        let mut m = MasterClock::new(rate, 120_000, 0);
        // 120 BPM at 1 MHz: 5208.33 ticks per unit; position 100.5 at tick 777 777.
        let slope = unit_period_from_milli_bpm(120_000, rate);
        m.steer(777_777, 100, 32_768, slope, 0);
        let tl = m.timeline();
        assert_eq!(tl.position_at(777_777), Some((100, 32_767)));
        let t = tl.time_of(101).unwrap().round();
        assert!((777_777 + 2_603..=777_777 + 2_605).contains(&t), "{t}");
        assert_eq!(m.milli_bpm(), 120_000);
    }

    #[test]
    fn tempo_change_is_continuous() {
        let rate = TickRate::new(1_000_000);
        let mut m = MasterClock::new(rate, 120_000, 0);
        // 120 BPM: 500 000 ticks per beat, 5208.33 per unit.
        assert_eq!(m.timeline().time_of(96).map(|t| t.round()), Some(500_000));
        m.set_tempo(250_000, 60_000);
        let tl = m.timeline();
        // Position 48 (half a beat) stays at 250 000; the next half beat takes 500 000 ticks.
        let t48 = tl.time_of(48).unwrap().round();
        assert!((249_999..=250_001).contains(&t48), "{t48}");
        let t96 = tl.time_of(96).unwrap().round();
        assert!((749_990..=750_010).contains(&t96), "{t96}");
    }
}
