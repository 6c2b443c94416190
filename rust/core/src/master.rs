//! [`MasterClock`]: the internal tempo source, driving the same [`Timeline`] path as the tracker.

use crate::fixed::FineTick;
use crate::tempo::unit_period_from_milli_bpm;
use crate::time::{Tick, TickRate};
use crate::timeline::Timeline;

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
    #[inline(never)] // Out of line: less AVR flash (measured with `make firmware`).
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
        let anchor = if frac == 0 {
            self.tl.time_of(pos)
        } else {
            self.tl.time_of(pos.wrapping_add(1))
        };
        let anchor_pos = if frac == 0 { pos } else { pos.wrapping_add(1) };
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
            anchor: FineTick::from_tick(now),
            anchor_pos: pos,
            slope: unit_period_from_milli_bpm(self.milli_bpm, self.rate).max(1),
            horizon: pos.wrapping_add(MASTER_REACH),
            valid: true,
        };
    }

    /// Move the anchor forward by whole position units to near `now` once it is older than
    /// 2²⁸ ticks (call at least every 2²⁹ ticks), so schedules stay well inside the unambiguous tick range however long the
    /// master runs. Exact: the anchor moves along the line, not onto a rounded time. Returns
    /// true when it moved.
    #[inline]
    pub fn keep_fresh(&mut self, now: Tick) -> bool {
        let age = FineTick::from_tick(now).diff(self.tl.anchor);
        if age < (1i64 << 60) {
            return false;
        }
        let units = (age as u64 / self.tl.slope.max(1)).min(u32::MAX as u64 / 2);
        self.tl.anchor = self.tl.anchor.plus(units * self.tl.slope);
        self.tl.anchor_pos = self.tl.anchor_pos.wrapping_add(units as u32);
        self.tl.horizon = self.tl.anchor_pos.wrapping_add(MASTER_REACH);
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
