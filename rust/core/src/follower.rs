//! [`MidiClockFollower`]: one external clock in, 24 PPQN MIDI clock and transport out — what the
//! Teensy firmware does, built from the same parts as [`crate::ClockEngine`].
//!
//! It is the engine's external-source MIDI path and nothing else: the same [`BeatTracker`], the
//! same [`ClockOutput`] for the MIDI clock (same settings), the same transport rules (Start on
//! the next beat, Stop at once, Stop on clock loss) and the same wrap housekeeping. It leaves out
//! what only the Rack module uses (master clock, source switching, CV outputs, reset window,
//! Continue and Song Position, tick-rate changes, a message queue), because on the 8-bit chip
//! every unused branch of the engine is flash. The test `same_as_the_engine` drives both with
//! the same random input and requires identical messages at identical times.
//!
//! Messages come back as [`FollowerEvents`] bits from [`MidiClockFollower::poll`] (nothing to
//! drain), and [`MidiClockFollower::next_due`] says when to poll for the next clock.

use crate::engine::{midi_clock_config, HOUSEKEEPING_TICKS, STALE_ANCHOR_TICKS, STALL_TICKS};
use crate::output::ClockOutput;
use crate::ppqn::{Ppqn, UNITS_PER_BEAT};
use crate::time::{signed_diff, ticks_between, Tick, TickRate};
use crate::timeline::{pos_diff, Timeline};
use crate::tracker::{BeatTracker, LockState, PulseVerdict, TrackerConfig};

/// What [`MidiClockFollower::poll`] emitted, to be sent in this order: Stop, Start, Clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowerEvents(u8);

impl FollowerEvents {
    /// Nothing.
    pub const NONE: FollowerEvents = FollowerEvents(0);
    /// 0xFC: the transport stopped (clock loss while running).
    pub const STOP: u8 = 1;
    /// 0xFA: goes out right before this poll's clock (the first clock of beat 0).
    pub const START: u8 = 2;
    /// 0xF8: one MIDI clock.
    pub const CLOCK: u8 = 4;

    /// True when every bit of `mask` is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

/// The follower. See the module docs.
#[derive(Clone, Debug)]
pub struct MidiClockFollower {
    tracker: BeatTracker,
    tl: Timeline,
    midi: ClockOutput,
    running: bool,
    /// A Start goes out before the first clock at or after position 0.
    start_pending: bool,
    /// The clock has been silent past any timeout: nothing scheduled until a pulse.
    stale: bool,
    housekeeping: Tick,
    last_poll: Tick,
}

impl MidiClockFollower {
    /// A follower with the transport stopped; MIDI clock follows the input as soon as a tempo is
    /// known, so slaves can lock before Start.
    ///
    /// Out of line: it then builds its result straight into the caller's destination. Inlined
    /// into a caller with a large stack frame, its temporaries land beyond the 63-byte reach of
    /// AVR's indexed stores, where every store costs 16 B (measured with `make firmware`).
    #[inline(never)]
    pub fn new(rate: TickRate, input_ppqn: Ppqn, now: Tick) -> Self {
        // Built from its parts, like `ClockEngine::new`, so no whole-struct temporary is copied
        // (AVR flash); `new_is_refreshed` checks that nothing is left to refresh.
        let mut midi = ClockOutput::new(midi_clock_config(0), rate);
        let tracker = BeatTracker::new(TrackerConfig::new(rate, input_ppqn));
        let tl = tracker.timeline();
        midi.refresh(&tl);
        MidiClockFollower {
            tracker,
            tl,
            midi,
            running: false,
            start_pending: false,
            stale: false,
            housekeeping: now,
            last_poll: now,
        }
    }

    /// An input pulse at `t`.
    pub fn on_pulse(&mut self, t: Tick) -> PulseVerdict {
        self.stale = false;
        let v = self.tracker.on_pulse(t);
        if v == PulseVerdict::Seeded {
            // The first interval had no tempo to schedule by: start from this pulse.
            self.midi.skip_to(self.tracker.last_pulse_pos());
        }
        self.refresh();
        v
    }

    /// Input PPQN; the beat count carries over.
    pub fn set_input_ppqn(&mut self, ppqn: Ppqn) {
        if ppqn != self.tracker.config().ppqn {
            self.tracker.set_ppqn(ppqn);
            self.refresh();
        }
    }

    /// Start: the next beat of the running count becomes beat 0, and a Start goes out before
    /// its first clock. Without a tempo yet, the next input pulse is beat 0.
    pub fn start(&mut self, now: Tick) {
        self.running = true;
        let beat = match self.tl.position_at(now) {
            Some(here) if self.tl.slope != 0 => next_beat(here),
            _ => self.tracker.next_pulse_pos(),
        };
        let delta = 0u32.wrapping_sub(beat);
        self.tracker.shift_positions(delta);
        self.midi.shift(delta);
        self.refresh();
        self.start_pending = true;
    }

    /// Stop now. Returns true when the transport was running (send a Stop).
    pub fn stop(&mut self) -> bool {
        let was = self.running;
        self.running = false;
        self.start_pending = false;
        was
    }

    /// Advance to `now`: clock loss (stops a running transport), the clock due now, and the wrap
    /// housekeeping. Call it at each [`MidiClockFollower::next_due`] and every few milliseconds
    /// (loss detection), and at least every 2²⁸ ticks; a longer gap is a stalled caller, and the
    /// clock rejoins the grid instead of replaying what was due meanwhile.
    pub fn poll(&mut self, now: Tick) -> FollowerEvents {
        let mut ev = 0;
        let stalled = ticks_between(self.last_poll, now) > STALL_TICKS;
        self.last_poll = now;
        let before = self.tracker.state();
        self.tracker.poll(now);
        if before != self.tracker.state() {
            self.refresh();
            if self.tracker.state() == LockState::Lost && self.stop() {
                ev |= FollowerEvents::STOP;
            }
        }
        if stalled || ticks_between(self.housekeeping, now) > HOUSEKEEPING_TICKS {
            self.housekeeping = now;
            self.midi.expire(now);
            // Signed: the anchor is the loop's prediction and may lie a little ahead.
            if !self.stale && signed_diff(now, self.tl.anchor.tick) > STALE_ANCHOR_TICKS as i32 {
                self.stale = true;
                self.refresh();
            }
        }
        if stalled {
            if let Some((pos, _)) = self.tl.position_at(now) {
                self.midi.skip_to(pos);
            }
            self.refresh();
        }
        let pos = self.midi.next_pos();
        if self.midi.poll(now, &self.tl) {
            if self.start_pending && pos_diff(pos, 0) >= 0 {
                self.start_pending = false;
                ev |= FollowerEvents::START;
            }
            ev |= FollowerEvents::CLOCK;
        }
        FollowerEvents(ev)
    }

    fn refresh(&mut self) {
        self.tl = self.tracker.timeline();
        self.tl.valid &= !self.stale;
        self.midi.refresh(&self.tl);
    }

    /// When the next clock is due (`None`: no tempo, or the input stopped).
    pub fn next_due(&self) -> Option<Tick> {
        self.midi.due()
    }

    /// Position of the next clock (1/96 beat; a multiple of 4). Beat 0 is the Start.
    pub fn next_clock_pos(&self) -> u32 {
        self.midi.next_pos()
    }

    /// True while the transport runs.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Lock state of the input clock.
    pub fn lock_state(&self) -> LockState {
        self.tracker.state()
    }

    /// The tracker.
    pub fn tracker(&self) -> &BeatTracker {
        &self.tracker
    }
}

/// The first beat at or after `(pos, frac)`.
pub(crate) fn next_beat((pos, frac): (u32, u16)) -> u32 {
    let r = pos % UNITS_PER_BEAT;
    if r == 0 && frac == 0 {
        pos
    } else {
        pos.wrapping_add(UNITS_PER_BEAT - r)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::engine::{ClockEngine, EngineConfig, MidiOutEvent, StartAlign};
    use std::vec::Vec;

    const RATE: u32 = 2_000_000;

    /// The engine as the firmware used it before the follower existed.
    fn engine(ppqn: Ppqn, now: Tick) -> ClockEngine<0> {
        let mut cfg = EngineConfig::new(TickRate::new(RATE), ppqn);
        cfg.stop_on_loss = true;
        cfg.spp_on_reset = false;
        let mut e = ClockEngine::new(cfg, [], now);
        e.set_running_silently(false);
        e
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 16) as u32
        }
        fn below(&mut self, n: u32) -> u32 {
            self.next() % n.max(1)
        }
    }

    fn ppqn_of(i: u32) -> Ppqn {
        [Ppqn::P1, Ppqn::P2, Ppqn::P4, Ppqn::P24][i as usize % 4]
    }

    fn drain(e: &mut ClockEngine<0>) -> u8 {
        let mut ev = 0;
        while let Some(m) = e.pop_midi() {
            let bit = match m {
                MidiOutEvent::Stop => FollowerEvents::STOP,
                MidiOutEvent::Start => FollowerEvents::START,
                MidiOutEvent::Clock => FollowerEvents::CLOCK,
                other => panic!("the firmware engine never sends {other:?}"),
            };
            // Stop, then Start, then Clock: the order the bits are sent in.
            assert!(ev < bit, "order {ev:#x} then {bit:#x}");
            ev |= bit;
        }
        ev
    }

    /// A random input: stretches of a clock at a random tempo and PPQN with jitter, drops,
    /// double triggers and tempo steps, separated by silences; a start/stop button and the PPQN
    /// switches used at random times; the caller polling at every due time and every 4 ms, with
    /// now and then a long stall.
    fn run(seed: u64) -> (u32, u32) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let start: Tick = rng.next().wrapping_mul(7);
        let mut now = start;
        let mut ppqn = ppqn_of(rng.next());
        let mut e = engine(ppqn, now);
        let mut f = MidiClockFollower::new(TickRate::new(RATE), ppqn, now);
        let (mut clocks, mut transport) = (0, 0);
        let mut next_pulse = now.wrapping_add(1000 + rng.below(RATE));
        let mut bpm = 30 + rng.below(280);
        let mut pulses_left = 50 + rng.below(400);
        let mut next_button = now.wrapping_add(rng.below(4 * RATE));
        let mut next_switch = now.wrapping_add(rng.below(8 * RATE));
        for _ in 0..40_000 {
            assert_eq!(e.next_due(), f.next_due());
            let due = f.next_due();
            let poll_at = now.wrapping_add(8_000);
            let mut t = poll_at;
            for c in [Some(next_pulse), Some(next_button), Some(next_switch), due]
                .into_iter()
                .flatten()
            {
                if signed_diff(c, now) >= 0 && signed_diff(c, t) < 0 {
                    t = c;
                }
            }
            now = t;
            if now == next_pulse {
                assert_eq!(e.on_pulse(now), f.on_pulse(now));
                pulses_left = pulses_left.saturating_sub(1);
                let period = RATE * 60 / (bpm * ppqn.value());
                let jitter = rng.below(period / 20 + 1);
                let mut gap = period - period / 40 + jitter;
                match rng.below(100) {
                    0..=3 => gap += period,                                // a dropped pulse
                    4..=7 => gap = 200 + rng.below(6_000).min(period / 3), // a double trigger
                    8 => bpm = 30 + rng.below(280),                        // a tempo step
                    _ => {}
                }
                if pulses_left == 0 {
                    // Silence: the clock stops, then comes back (or a stall).
                    gap = rng.below(30 * RATE).max(period);
                    pulses_left = 20 + rng.below(400);
                    bpm = 30 + rng.below(280);
                }
                next_pulse = now.wrapping_add(gap);
            } else if now == next_button {
                if e.running() {
                    e.stop(now);
                    assert!(f.stop());
                } else {
                    e.start(now, StartAlign::NextBeat);
                    f.start(now);
                }
                let ev = drain(&mut e);
                assert_eq!(ev & !FollowerEvents::STOP, 0);
                next_button = now.wrapping_add(rng.below(6 * RATE));
            } else if now == next_switch {
                ppqn = ppqn_of(rng.next());
                e.set_input_ppqn(ppqn);
                f.set_input_ppqn(ppqn);
                next_switch = now.wrapping_add(rng.below(10 * RATE));
            } else {
                if rng.below(2000) == 0 {
                    // The caller stalls for minutes: the tick counter may wrap meanwhile.
                    now = now.wrapping_add(rng.below(1 << 30));
                    next_pulse = now.wrapping_add(rng.below(RATE));
                    next_button = now.wrapping_add(rng.below(RATE));
                    next_switch = now.wrapping_add(rng.below(RATE));
                }
                e.poll(now);
                let want = drain(&mut e);
                let got = f.poll(now);
                assert_eq!(got.bits(), want, "seed {seed} at {now}");
                clocks += got.has(FollowerEvents::CLOCK) as u32;
                transport += (want & !FollowerEvents::CLOCK != 0) as u32;
            }
            assert_eq!(e.running(), f.running());
            assert_eq!(e.lock_state(), f.lock_state());
            assert_eq!(e.midi_output().next_pos(), f.next_clock_pos());
        }
        (clocks, transport)
    }

    #[test]
    fn same_as_the_engine() {
        let mut totals = Vec::new();
        for seed in 0..24 {
            totals.push(run(seed));
        }
        // The input really exercised clocks and transport, in every run.
        for (seed, &(clocks, transport)) in totals.iter().enumerate() {
            assert!(clocks > 1_000, "seed {seed}: {clocks} clocks");
            assert!(transport > 0, "seed {seed}: no transport message");
        }
    }

    #[test]
    fn new_is_refreshed() {
        for ppqn in [Ppqn::P1, Ppqn::P4, Ppqn::P24] {
            let f = MidiClockFollower::new(TickRate::new(RATE), ppqn, 77);
            let mut r = f.clone();
            r.refresh();
            assert_eq!(std::format!("{f:?}"), std::format!("{r:?}"));
        }
    }

    #[test]
    fn start_lands_on_the_next_beat_with_a_start_before_its_clock() {
        let p = RATE / 2; // 120 BPM at 1 PPQN
        let mut f = MidiClockFollower::new(TickRate::new(RATE), Ppqn::P1, 0);
        let (mut clocks, mut clocks_from_start) = (0, 0);
        let mut start_at = None;
        for now in 0..6 * p + p / 2 {
            if now % p == 0 {
                f.on_pulse(now);
            }
            if now == 3 * p + p / 3 {
                // A third of the way into the fourth beat.
                f.start(now);
            }
            let ev = f.poll(now);
            if ev.has(FollowerEvents::START) {
                assert!(ev.has(FollowerEvents::CLOCK));
                assert!(start_at.is_none(), "one Start");
                start_at = Some(now);
            }
            clocks += ev.has(FollowerEvents::CLOCK) as u32;
            clocks_from_start += (start_at.is_some() && ev.has(FollowerEvents::CLOCK)) as u32;
        }
        assert_eq!(
            start_at,
            Some(4 * p),
            "Start with the clock of the next beat"
        );
        assert!(f.running());
        // The first pulse's clock, then 24 per beat from the second pulse on (the first interval
        // seeds the tempo) until half a beat after the sixth.
        assert_eq!(clocks, 1 + 5 * 24 + 12);
        assert_eq!(clocks_from_start, 2 * 24 + 12);
        assert!(f.stop());
        assert!(!f.stop(), "a second Stop sends nothing");
    }
}
