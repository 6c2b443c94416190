//! [`ClockOutput`]: one clock at any PPQN, phase-locked to a `Timeline`.
//!
//! An output fires when the timeline reaches its next position (a multiple of its PPQN's unit),
//! moved by its latency offset. It never re-fires a position and never skips one, so every beat
//! yields exactly PPQN pulses; when the timeline jumps ahead (an early pulse, a re-seed) the
//! pending pulses are spread at least `max(min_spacing, period / 2)` apart instead of being
//! flushed back to back. The gate is high for the pulse width, capped at half the output period
//! and cut short so that it is low again before the next pulse.

use crate::ppqn::{ceil_to_multiple, Ppqn, UNITS_PER_BEAT};
use crate::time::{is_due, signed_diff, ticks_between, Tick, TickRate};
use crate::timeline::{pos_diff, TickQ8, Timeline};

/// Age after which the last pulse no longer constrains spacing or gates (a quarter of the tick
/// range: about 87 s at Rack's rate, 9 min on the chip).
pub const STALE_TICKS: u32 = 1 << 30;

/// How far (2²⁸ ticks: 22 s at Rack's rate) an output may trail its timeline's anchor, beyond
/// [`CATCH_UP_UNITS`], before it rejoins the grid instead of catching up.
const FAR_BEHIND: i32 = 1 << 28;
/// The largest lag (four beats) an output always catches up on, however long it is in ticks:
/// more than the tracker ever counts on a resume (three pulses at 1 PPQN).
const CATCH_UP_UNITS: u32 = 4 * UNITS_PER_BEAT;

/// Settings of one output, in microseconds so they survive tick-rate changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputConfig {
    /// Pulses per beat.
    pub ppqn: Ppqn,
    /// Latency offset; negative fires earlier than the tracked beat (uses the prediction).
    pub offset_us: i32,
    /// Gate length; 0 means 50 % duty. Always capped at half the output period.
    pub pulse_width_us: u32,
    /// Smallest distance between two pulses (catch-up spacing and rate bound).
    pub min_spacing_us: u32,
}

impl OutputConfig {
    /// A 5 ms pulse, no offset, 100 µs minimum spacing: what most clock inputs want.
    pub const fn new(ppqn: Ppqn) -> Self {
        OutputConfig {
            ppqn,
            offset_us: 0,
            pulse_width_us: 5_000,
            min_spacing_us: 100,
        }
    }
}

/// A phase-locked clock output.
#[derive(Clone, Copy, Debug)]
pub struct ClockOutput {
    cfg: OutputConfig,
    /// Position units per pulse.
    units: u32,
    /// The latency offset in whole ticks.
    offset: i32,
    width: u32,
    min_spacing: u32,
    next_pos: u32,
    due: Option<Tick>,
    last_fire: Tick,
    fired: bool,
    /// Set by a transport re-alignment: the next pulse keeps only the minimum spacing, not the
    /// half-period catch-up spacing (a Continue right after a beat is a new start, not a jump).
    realigned: bool,
    gate_until: Tick,
    count: u32,
}

impl ClockOutput {
    /// An output whose first pulse is at position 0.
    pub fn new(cfg: OutputConfig, rate: TickRate) -> Self {
        let mut o = ClockOutput {
            cfg,
            units: cfg.ppqn.units(),
            offset: 0,
            width: 0,
            min_spacing: 0,
            next_pos: 0,
            due: None,
            last_fire: 0,
            fired: false,
            realigned: false,
            gate_until: 0,
            count: 0,
        };
        o.set_rate(rate);
        o
    }

    /// Apply a tick rate (converts the microsecond settings).
    pub fn set_rate(&mut self, rate: TickRate) {
        self.offset = rate.ticks_from_micros_signed(self.cfg.offset_us);
        self.width = rate.ticks_from_micros(self.cfg.pulse_width_us);
        self.min_spacing = rate.ticks_from_micros(self.cfg.min_spacing_us).max(1);
    }

    /// Change the settings. A PPQN change keeps the beat: the next pulse is the first of the new
    /// resolution at or after the current position.
    pub fn set_config(&mut self, cfg: OutputConfig, rate: TickRate) {
        let ppqn_changed = cfg.ppqn != self.cfg.ppqn;
        self.cfg = cfg;
        self.units = cfg.ppqn.units();
        self.set_rate(rate);
        if ppqn_changed {
            let p = self.next_pos;
            self.align_to(p);
        }
    }

    /// The settings.
    pub fn config(&self) -> OutputConfig {
        self.cfg
    }

    /// Make the next pulse the first one at or after `pos` (a transport re-alignment).
    pub fn align_to(&mut self, pos: u32) {
        self.realigned = true;
        self.next_pos = ceil_to_multiple(pos, self.cfg.ppqn.units());
        self.due = None;
    }

    /// Skip positions before `pos` (never moves backwards).
    pub fn skip_to(&mut self, pos: u32) {
        if pos_diff(self.next_pos, pos) < 0 {
            self.align_to(pos);
        }
    }

    /// Renumber by `delta` keeping the timing, then round up to this output's grid.
    pub fn shift(&mut self, delta: u32) {
        let p = self.next_pos.wrapping_add(delta);
        self.align_to(p);
    }

    /// Recompute the due time from the timeline. Call after the timeline changes.
    pub(crate) fn refresh(&mut self, tl: &Timeline) {
        let Some(t) = self.catch_up_time(tl) else {
            self.due = None;
            return;
        };
        // The offset is whole ticks: ⌈t + offset⌉ = ⌈t⌉ + offset.
        let mut due = t.ceil().wrapping_add(self.offset as u32);
        let period = self.period_ticks(tl);
        if self.fired {
            let spacing = if self.realigned {
                self.min_spacing
            } else {
                self.min_spacing.max(period / 2)
            };
            let earliest = self.last_fire.wrapping_add(spacing);
            if !is_due(due, earliest) {
                due = earliest;
            }
            // Low again before the next pulse, so every pulse is a fresh rising edge.
            let gap = (self.min_spacing / 2).max(1);
            let latest_end = due.wrapping_sub(gap);
            if is_due(self.gate_until, latest_end) {
                self.gate_until = if is_due(latest_end, self.last_fire.wrapping_add(1)) {
                    latest_end
                } else {
                    self.last_fire.wrapping_add(1)
                };
            }
        }
        self.due = Some(due);
    }

    /// When `next_pos` is due on `tl`. A position far behind the anchor (a stretch of counted
    /// drops at a very slow tempo) is due "long ago", so it goes out as soon as the spacing
    /// allows: its exact time may not even fit the tick range (a pulse at 1 BPM and 1 PPQN is
    /// 2³⁰ ticks at Rack's rate). Only a lag of more than [`CATCH_UP_UNITS`] that is also more
    /// than [`FAR_BEHIND`] ticks (a pathological jump) rejoins the grid instead, skipping the
    /// missing positions.
    fn catch_up_time(&mut self, tl: &Timeline) -> Option<TickQ8> {
        if !tl.valid {
            return None;
        }
        let long_ago = TickQ8::from_tick(tl.anchor.tick.wrapping_sub(FAR_BEHIND as u32));
        let lag = pos_diff(tl.anchor_pos, self.next_pos);
        match tl.time_of(self.next_pos) {
            Some(t) if lag <= 0 || signed_diff(t.tick, tl.anchor.tick) >= -FAR_BEHIND => Some(t),
            _ if lag > 0 && lag as u32 <= CATCH_UP_UNITS => Some(long_ago),
            _ if lag > 0 => {
                self.align_to(tl.anchor_pos);
                self.realigned = false;
                tl.time_of(self.next_pos)
            }
            t => t,
        }
    }

    /// Fire if due at `now`; returns true when a pulse starts. At most one pulse per call.
    #[inline]
    pub(crate) fn poll(&mut self, now: Tick, tl: &Timeline) -> bool {
        match self.due {
            Some(d) if is_due(now, d) => {
                self.fire(now, tl);
                true
            }
            _ => false,
        }
    }

    /// This output's pulse period in whole ticks (the slope's whole ticks times the units per
    /// pulse: below 2²⁴ · 96 < 2³¹).
    fn period_ticks(&self, tl: &Timeline) -> u32 {
        (tl.slope >> 8).wrapping_mul(self.units)
    }

    fn fire(&mut self, now: Tick, tl: &Timeline) {
        let period = self.period_ticks(tl);
        let half = (period / 2).max(1);
        let width = if self.width == 0 {
            half
        } else if period == 0 {
            self.width
        } else {
            self.width.min(half)
        };
        self.last_fire = now;
        self.fired = true;
        self.realigned = false;
        self.gate_until = now.wrapping_add(width.max(1));
        self.next_pos = self.next_pos.wrapping_add(self.units);
        self.count = self.count.wrapping_add(1);
        self.refresh(tl);
    }

    /// Forget a pulse from long ago before the wrapping comparisons could misread it. Call at
    /// least once per [`STALE_TICKS`] (the engine does, from `poll`).
    pub fn expire(&mut self, now: Tick) {
        if self.fired && ticks_between(self.last_fire, now) > STALE_TICKS {
            self.fired = false;
        }
    }

    /// Gate level at `now`.
    #[inline]
    pub fn gate(&self, now: Tick) -> bool {
        self.fired
            && ticks_between(self.last_fire, now) < ticks_between(self.last_fire, self.gate_until)
    }

    /// When the next pulse is due, if known.
    pub fn due(&self) -> Option<Tick> {
        self.due
    }

    /// Position of the next pulse.
    pub fn next_pos(&self) -> u32 {
        self.next_pos
    }

    /// Pulses fired so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Time of the last pulse (meaningful once one fired).
    pub fn last_fire(&self) -> Option<Tick> {
        self.fired.then_some(self.last_fire)
    }

    /// Rescale stored times after a tick-rate change (see [`crate::ClockEngine::set_rate`]).
    pub(crate) fn retime(&mut self, map: impl Fn(Tick) -> Tick) {
        self.last_fire = map(self.last_fire);
        self.gate_until = map(self.gate_until);
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TickQ8;

    fn steady(slope_ticks: u32) -> Timeline {
        Timeline {
            anchor: TickQ8::from_tick(0),
            anchor_pos: 0,
            slope: slope_ticks << 8,
            horizon: 1 << 30,
            valid: true,
        }
    }

    fn run(o: &mut ClockOutput, tl: &Timeline, until: Tick) -> ([Tick; 64], usize) {
        let mut fired = [0; 64];
        let mut n = 0;
        o.refresh(tl);
        for now in 0..until {
            if o.poll(now, tl) {
                fired[n] = now;
                n += 1;
            }
        }
        (fired, n)
    }

    #[test]
    fn fires_on_its_grid() {
        let rate = TickRate::new(1_000_000);
        let mut o = ClockOutput::new(OutputConfig::new(Ppqn::P4), rate);
        let tl = steady(100); // 9600 ticks per beat
        let (f, n) = run(&mut o, &tl, 9600 * 2);
        assert_eq!(n, 8);
        for (i, t) in f[..n].iter().enumerate() {
            assert_eq!(*t, i as u32 * 2400);
        }
        assert!(o.gate(16_800 + 1199));
        assert!(
            !o.gate(16_800 + 1200),
            "5 ms capped at half the 2400-tick period"
        );
    }

    #[test]
    fn offset_moves_pulses_both_ways() {
        let rate = TickRate::new(1_000_000);
        let mut cfg = OutputConfig::new(Ppqn::P1);
        cfg.offset_us = -1000;
        let mut o = ClockOutput::new(cfg, rate);
        o.align_to(96);
        let (f, n) = run(&mut o, &steady(100), 20_000);
        assert_eq!(&f[..n], &[8600, 18_200]);
        cfg.offset_us = 1000;
        let mut o = ClockOutput::new(cfg, rate);
        let (f, n) = run(&mut o, &steady(100), 20_000);
        assert_eq!(&f[..n], &[1000, 10_600]);
    }

    #[test]
    fn catch_up_is_spread_not_flushed() {
        let rate = TickRate::new(1_000_000);
        let mut o = ClockOutput::new(OutputConfig::new(Ppqn::P24), rate);
        let mut tl = steady(100); // 400 ticks per output pulse
        o.refresh(&tl);
        assert!(o.poll(0, &tl));
        // The timeline jumps ahead by 3 pulses.
        tl.anchor = TickQ8::from_tick(0u32.wrapping_sub(1200));
        o.refresh(&tl);
        let mut times = [0u32; 16];
        let mut n = 0;
        for now in 1..2000 {
            if o.poll(now, &tl) {
                times[n] = now;
                n += 1;
            }
        }
        for w in times[..n].windows(2) {
            assert!(
                w[1] - w[0] >= 200,
                "spaced by at least half a period: {times:?}"
            );
        }
        assert!(times[0] >= 200);
        // Every position was emitted exactly once.
        assert_eq!(o.count() as usize, 1 + n);
    }

    #[test]
    fn gate_drops_before_the_next_pulse() {
        let rate = TickRate::new(1_000_000);
        let mut cfg = OutputConfig::new(Ppqn::P96);
        cfg.pulse_width_us = 0; // 50 %
        let mut o = ClockOutput::new(cfg, rate);
        let tl = steady(1000);
        o.refresh(&tl);
        let mut prev = false;
        let mut edges = 0;
        for now in 0..96_000 {
            o.poll(now, &tl);
            let g = o.gate(now);
            if g && !prev {
                edges += 1;
            }
            prev = g;
        }
        assert_eq!(edges, 96);
    }

    #[test]
    fn horizon_stops_coasting() {
        let rate = TickRate::new(1_000_000);
        let mut o = ClockOutput::new(OutputConfig::new(Ppqn::P4), rate);
        let mut tl = steady(100);
        tl.horizon = 48;
        let (_, n) = run(&mut o, &tl, 100_000);
        assert_eq!(n, 3, "positions 0, 24, 48 only");
        assert!(tl.time_of(72).is_none());
    }
}
