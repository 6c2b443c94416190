//! [`ClockEngine`]: one clock source (external pulses or the internal master), transport, `N`
//! phase-locked clock outputs and a 24 PPQN MIDI clock output.
//!
//! Both targets drive it the same way: feed input pulses with [`ClockEngine::on_pulse`], call
//! [`ClockEngine::poll`] at every sample (host) or timer compare (chip), then drain
//! [`ClockEngine::pop_midi`]. [`ClockEngine::next_due`] tells an interrupt-driven caller when to
//! poll next.
//!
//! Transport follows MIDI: Start makes the next clock beat 0; Stop freezes the song position;
//! Continue resumes from it (or from a Song Position Pointer received while stopped). CV outputs
//! only run while the transport runs; MIDI clock runs whenever a tempo is known, so slaves can
//! lock before Start.

use crate::follower::next_beat;
use crate::master::MasterClock;
pub use crate::midi::ClockMessage as MidiOutEvent;
use crate::output::{ClockOutput, OutputConfig};
use crate::ppqn::{Ppqn, UNITS_PER_BEAT};
use crate::time::{is_due, signed_diff, ticks_between, Tick, TickRate};
use crate::timeline::{pos_diff, Timeline};
use crate::tracker::{BeatTracker, LockState, PulseVerdict, TrackerConfig};

/// Position units per 16th note (one Song Position Pointer step).
pub const UNITS_PER_SIXTEENTH: u32 = UNITS_PER_BEAT / 4;
/// Position units per MIDI clock.
const MIDI_UNITS: u32 = UNITS_PER_BEAT / 24;
/// Interval of the wrap housekeeping in `poll` (a sixteenth of the tick range).
pub(crate) const HOUSEKEEPING_TICKS: u32 = 1 << 28;
/// An external clock whose last pulse is older than this schedules nothing until its next
/// pulse: past the longest loss timeout (1.5 × 90 s at the highest tick rate, 1.66 × 10⁹
/// ticks), short of the 2³¹ ticks where wrapping comparisons turn around.
pub(crate) const STALE_ANCHOR_TICKS: u32 = 0x7000_0000;
/// A gap between polls longer than this (2²⁷ ticks: 11 s in Rack, 67 s on the chip) means the
/// host stalled; outputs rejoin the grid rather than replay what was due meanwhile.
pub(crate) const STALL_TICKS: u32 = 1 << 27;
/// Capacity of the MIDI output queue.
const MIDI_QUEUE: usize = 8;

/// Settings of the MIDI clock output: 24 PPQN, and never two clocks closer than one DIN byte
/// (320 µs), so they can always go out at their time.
pub(crate) fn midi_clock_config(offset_us: i32) -> OutputConfig {
    let mut c = OutputConfig::new(Ppqn::P24);
    c.offset_us = offset_us;
    c.pulse_width_us = 1;
    c.min_spacing_us = 320;
    c
}

/// Where the tempo comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Source {
    /// External pulses fed through [`ClockEngine::on_pulse`] (CV clock or MIDI clock).
    External = 0,
    /// The internal master tempo.
    Master = 1,
}

/// Where a start puts beat 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAlign {
    /// The next input pulse is beat 0 (MIDI Start; a RUN gate rising with the clock).
    NextPulse,
    /// The next beat of the current count becomes beat 0 (a start button on a running clock).
    NextBeat,
    /// Beat 0 is now (master mode; falls back to `NextPulse` for an external clock).
    Now,
}

/// Engine settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Tick rate.
    pub rate: TickRate,
    /// Input PPQN of the external clock.
    pub input_ppqn: Ppqn,
    /// Master tempo in milli-BPM.
    pub master_milli_bpm: u32,
    /// A reset this soon after an input pulse makes that pulse beat 0 (µs): resets that arrive
    /// just after the clock they belong to, as sequencers often send them.
    pub reset_window_us: u32,
    /// MIDI clock latency offset (µs, negative = earlier).
    pub midi_offset_us: i32,
    /// Send Song Position 0 on a reset while stopped.
    pub spp_on_reset: bool,
    /// Stop the transport (and send MIDI Stop) when the external clock is lost while running.
    pub stop_on_loss: bool,
}

impl EngineConfig {
    /// Defaults: 120 BPM master, 2 ms reset window.
    pub const fn new(rate: TickRate, input_ppqn: Ppqn) -> Self {
        EngineConfig {
            rate,
            input_ppqn,
            master_milli_bpm: 120_000,
            reset_window_us: 2_000,
            midi_offset_us: 0,
            spp_on_reset: true,
            stop_on_loss: false,
        }
    }
}

/// The clock engine. See the module docs.
#[derive(Clone, Debug)]
pub struct ClockEngine<const N: usize> {
    cfg: EngineConfig,
    tracker: BeatTracker,
    master: MasterClock,
    source: Source,
    tl: Timeline,
    outputs: [ClockOutput; N],
    midi: ClockOutput,
    midi_enabled: bool,
    running: bool,
    song_pos: u32,
    before_clock: Option<(u32, MidiOutEvent)>,
    queue: [MidiOutEvent; MIDI_QUEUE],
    q_head: u8,
    q_len: u8,
    midi_dropped: u32,
    housekeeping: Tick,
    last_poll: Tick,
    /// The external clock has been silent past any timeout: nothing scheduled until a pulse.
    stale: bool,
}

impl<const N: usize> ClockEngine<N> {
    /// An engine with the given outputs, stopped, following external pulses.
    pub fn new(cfg: EngineConfig, outputs: [OutputConfig; N], now: Tick) -> Self {
        let rate = cfg.rate;
        let midi_cfg = midi_clock_config(cfg.midi_offset_us);
        // What `refresh` does for a fresh engine (external source, not stale), done on the parts
        // before they are assembled: no pointer to the whole engine is passed to a call, so the
        // optimizer builds it straight into its destination instead of in a stack temporary
        // that is then copied (AVR flash: about 200 B less, measured with `make firmware`).
        // `new_is_refreshed` checks that the result is the same. The MIDI output is refreshed as
        // a named local, not through the closure: its temporary then lands low in the AVR stack
        // frame, where stores are short (another 160 B).
        let mut midi = ClockOutput::new(midi_cfg, rate);
        let tracker = BeatTracker::new(TrackerConfig::new(rate, cfg.input_ppqn));
        let tl = tracker.timeline();
        midi.refresh(&tl);
        let refreshed = |c| {
            let mut o = ClockOutput::new(c, rate);
            o.refresh(&tl);
            o
        };
        ClockEngine {
            cfg,
            tracker,
            master: MasterClock::new(rate, cfg.master_milli_bpm, now),
            source: Source::External,
            tl,
            outputs: outputs.map(refreshed),
            midi,
            midi_enabled: true,
            running: true,
            song_pos: 0,
            before_clock: None,
            queue: [MidiOutEvent::Clock; MIDI_QUEUE],
            q_head: 0,
            q_len: 0,
            midi_dropped: 0,
            housekeeping: now,
            last_poll: now,
            stale: false,
        }
    }

    /// Settings.
    pub fn config(&self) -> EngineConfig {
        self.cfg
    }

    // ----- inputs -------------------------------------------------------------------------

    /// An external clock pulse at `t`.
    pub fn on_pulse(&mut self, t: Tick) -> PulseVerdict {
        self.stale = false;
        let v = self.tracker.on_pulse(t);
        if v == PulseVerdict::Seeded {
            // The first interval had no tempo to schedule by: start from this pulse.
            let pos = self.tracker.last_pulse_pos();
            for o in self.outputs.iter_mut() {
                o.skip_to(pos);
            }
            self.midi.skip_to(pos);
        }
        if self.source == Source::External {
            self.refresh();
        }
        v
    }

    /// Select the tempo source. The position carries over, so outputs continue seamlessly.
    pub fn set_source(&mut self, source: Source, now: Tick) {
        if source == self.source {
            return;
        }
        let here = self.tl.position_at(now).map(|p| p.0);
        match source {
            Source::Master => {
                let pos = here.unwrap_or(self.tracker.next_pulse_pos());
                self.master.restart(now, pos);
            }
            Source::External => {
                if let Some(p) = here {
                    let u = self.cfg.input_ppqn.units();
                    let next = p.wrapping_add((u - p % u) % u);
                    self.tracker.set_next_pulse_pos(next);
                }
                if self.tracker.state() != LockState::Stopped {
                    // An external clock that was followed before may have moved on; relock.
                    self.tracker.clear();
                    self.tracker.set_next_pulse_pos(here.unwrap_or(0));
                }
            }
        }
        self.source = source;
        self.refresh();
    }

    /// The active source.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Master tempo in milli-BPM (clamped to the supported range), changed without a jump.
    pub fn set_master_tempo(&mut self, now: Tick, milli_bpm: u32) {
        let mbpm = milli_bpm.clamp(
            crate::tracker::MIN_BPM * 1000,
            crate::tracker::MAX_BPM * 1000,
        );
        self.cfg.master_milli_bpm = mbpm;
        self.master.set_tempo(now, mbpm);
        if self.source == Source::Master {
            self.refresh();
        }
    }

    /// Input PPQN of the external clock.
    pub fn set_input_ppqn(&mut self, ppqn: Ppqn) {
        if ppqn != self.cfg.input_ppqn {
            self.cfg.input_ppqn = ppqn;
            self.tracker.set_ppqn(ppqn);
            self.refresh();
        }
    }

    /// Tracker response (0 = tight … 255 = smooth).
    pub fn set_response(&mut self, response: u8) {
        self.tracker.set_response(response);
    }

    /// Settings of output `i` (ignored when out of range).
    pub fn set_output(&mut self, i: usize, cfg: OutputConfig) {
        let rate = self.cfg.rate;
        if let Some(o) = self.outputs.get_mut(i) {
            if o.config() != cfg {
                o.set_config(cfg, rate);
                o.refresh(&self.tl);
            }
        }
    }

    /// MIDI clock latency offset (µs, negative = earlier).
    pub fn set_midi_offset(&mut self, offset_us: i32) {
        if offset_us != self.cfg.midi_offset_us {
            self.cfg.midi_offset_us = offset_us;
            let mut c = self.midi.config();
            c.offset_us = offset_us;
            self.midi.set_config(c, self.cfg.rate);
            self.midi.refresh(&self.tl);
        }
    }

    /// Turn the MIDI clock output on or off (off: nothing is queued).
    pub fn set_midi_enabled(&mut self, on: bool) {
        self.midi_enabled = on;
        if !on {
            self.q_len = 0;
            self.before_clock = None;
        }
    }

    /// Send Song Position 0 on a reset while stopped.
    pub fn set_spp_on_reset(&mut self, on: bool) {
        self.cfg.spp_on_reset = on;
    }

    /// Stop the transport when the external clock is lost while running.
    pub fn set_stop_on_loss(&mut self, on: bool) {
        self.cfg.stop_on_loss = on;
    }

    /// Change the tick rate (sample-rate change). `now_old` in the old rate is the same instant
    /// as `now_new` in the new one; position, tempo, lock and counts are kept.
    pub fn set_rate(&mut self, rate: TickRate, now_old: Tick, now_new: Tick) {
        if rate == self.cfg.rate {
            return;
        }
        let (from, to) = (self.cfg.rate.hz() as i64, rate.hz() as i64);
        let map = |t: Tick| -> Tick {
            let d = (t.wrapping_sub(now_old) as i32) as i64 * to / from;
            now_new.wrapping_add(d as i32 as u32)
        };
        self.tracker.retune(rate, now_old, now_new);
        self.master.retune(rate, now_old, now_new);
        for o in self.outputs.iter_mut() {
            o.retime(map);
            o.set_rate(rate);
        }
        self.midi.retime(map);
        self.midi.set_rate(rate);
        self.cfg.rate = rate;
        self.refresh();
    }

    // ----- transport ------------------------------------------------------------------------

    /// Renumber every position by `delta` in the tracker and the master clock.
    fn shift_all(&mut self, delta: u32) {
        self.tracker.shift_positions(delta);
        self.master.shift_positions(delta);
        self.midi.shift(delta);
    }

    /// Make `target` the position reached at the alignment point and align the CV outputs to it.
    fn anchor(&mut self, now: Tick, target: u32, align: StartAlign) {
        let external = self.source == Source::External;
        let predicting = self.tl.valid && self.tl.slope != 0;
        match (external, align) {
            (false, StartAlign::Now) | (false, StartAlign::NextPulse) => {
                let here = self.master.timeline().position_at(now).map(|p| p.0);
                if let Some(h) = here {
                    self.midi.shift(target.wrapping_sub(h));
                }
                self.master.restart(now, target);
            }
            (_, StartAlign::NextBeat) if predicting => {
                let beat = next_beat(self.tl.position_at(now).unwrap_or((0, 0)));
                self.shift_all(target.wrapping_sub(beat));
            }
            _ => {
                let next = self.tracker.next_pulse_pos();
                self.shift_all(target.wrapping_sub(next));
            }
        }
        for o in self.outputs.iter_mut() {
            o.align_to(target);
        }
        self.refresh();
    }

    /// Start from beat 0 (MIDI Start).
    pub fn start(&mut self, now: Tick, align: StartAlign) {
        self.running = true;
        self.anchor(now, 0, align);
        self.song_pos = 0;
        self.queue_before_clock(0, MidiOutEvent::Start);
    }

    /// Stop (MIDI Stop): outputs halt; the song position is kept for Continue.
    pub fn stop(&mut self, now: Tick) {
        if !self.running {
            return;
        }
        self.running = false;
        // Continue resumes at the next MIDI clock (the receiving side's next step).
        let pos = match self.source {
            Source::External => self.tracker.next_pulse_pos(),
            Source::Master => {
                let p = self.tl.position_at(now).map(|p| p.0).unwrap_or(0);
                p.wrapping_add(MIDI_UNITS - p % MIDI_UNITS)
            }
        };
        self.song_pos = pos;
        self.before_clock = None;
        self.push_midi(MidiOutEvent::Stop);
    }

    /// Continue from the song position (MIDI Continue).
    pub fn cont(&mut self, now: Tick) {
        if self.running {
            return;
        }
        self.running = true;
        let pos = self.song_pos;
        let align = match self.source {
            Source::External => StartAlign::NextPulse,
            Source::Master => StartAlign::Now,
        };
        self.anchor(now, pos, align);
        self.queue_before_clock(pos, MidiOutEvent::Continue);
    }

    /// Reset to beat 0 (CV reset). While running, the pulse just received (within the reset
    /// window) or else the next one becomes beat 0, and MIDI gets a Start. While stopped, the
    /// song position becomes 0 and MIDI gets Song Position 0 (when enabled).
    pub fn reset(&mut self, now: Tick) {
        if !self.running {
            self.song_pos = 0;
            if self.cfg.spp_on_reset {
                self.push_midi(MidiOutEvent::SongPosition(0));
            }
            return;
        }
        let window = self.cfg.rate.ticks_from_micros(self.cfg.reset_window_us);
        let recent = self.source == Source::External
            && self.tracker.state() != LockState::Stopped
            && ticks_between(self.tracker.last_pulse_time(), now) <= window;
        if recent {
            let last = self.tracker.last_pulse_pos();
            self.shift_all(0u32.wrapping_sub(last));
            for o in self.outputs.iter_mut() {
                o.align_to(0);
            }
            self.refresh();
        } else {
            let align = match self.source {
                Source::External => StartAlign::NextPulse,
                Source::Master => StartAlign::Now,
            };
            self.anchor(now, 0, align);
        }
        self.song_pos = 0;
        self.queue_before_clock(0, MidiOutEvent::Start);
    }

    /// A Song Position Pointer (16ths) received: applied while stopped, as the MIDI spec says.
    pub fn song_position(&mut self, sixteenths: u16) {
        if !self.running {
            self.song_pos = (sixteenths as u32 & 0x3FFF) * UNITS_PER_SIXTEENTH;
        }
    }

    /// True while the transport runs.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Set the transport state without MIDI messages or re-alignment (power-up state).
    pub fn set_running_silently(&mut self, running: bool) {
        self.running = running;
    }

    // ----- time -----------------------------------------------------------------------------

    fn refresh(&mut self) {
        self.tl = match self.source {
            Source::External => {
                let mut tl = self.tracker.timeline();
                tl.valid &= !self.stale;
                tl
            }
            Source::Master => self.master.timeline(),
        };
        for o in self.outputs.iter_mut() {
            o.refresh(&self.tl);
        }
        self.midi.refresh(&self.tl);
    }

    /// Advance to `now`: returns a bit per CV output that starts a pulse now (bit i = output i).
    /// MIDI messages due now are queued for [`ClockEngine::pop_midi`].
    ///
    /// Call it at least every 2²⁸ ticks (22 s at Rack's rate, 134 s on the chip); a longer gap is
    /// treated as a stalled host (outputs rejoin the grid), and gaps near 2³¹ ticks cannot be
    /// told from time running backwards.
    #[inline]
    pub fn poll(&mut self, now: Tick) -> u32 {
        let stalled = ticks_between(self.last_poll, now) > STALL_TICKS;
        self.last_poll = now;
        let before = self.tracker.state();
        self.tracker.poll(now);
        if before != self.tracker.state() && self.source == Source::External {
            self.refresh();
            if self.tracker.state() == LockState::Lost && self.cfg.stop_on_loss {
                self.stop(now);
            }
        }
        // Housekeeping against the u32 wrap, a few times per wrap rather than per sample.
        if stalled || ticks_between(self.housekeeping, now) > HOUSEKEEPING_TICKS {
            self.housekeeping = now;
            self.expire(now);
        }
        if stalled {
            self.rejoin(now);
        }
        let mut fired = 0;
        if self.running {
            for (i, o) in self.outputs.iter_mut().enumerate() {
                if o.poll(now, &self.tl) {
                    fired |= 1 << i;
                }
            }
        }
        let pos = self.midi.next_pos();
        if self.midi.poll(now, &self.tl) && self.midi_enabled {
            if let Some((at, msg)) = self.before_clock {
                if pos_diff(pos, at) >= 0 {
                    self.before_clock = None;
                    self.push_midi(msg);
                }
            }
            self.push_midi(MidiOutEvent::Clock);
        }
        fired
    }

    /// Keep every stored time within the unambiguous half of the tick range.
    fn expire(&mut self, now: Tick) {
        for o in self.outputs.iter_mut() {
            o.expire(now);
        }
        self.midi.expire(now);
        match self.source {
            Source::Master => {
                if self.master.keep_fresh(now) {
                    self.tl = self.master.timeline();
                }
            }
            Source::External => {
                // A clock silent for longer than any supported tempo's pulse is gone: its old
                // schedule would map onto times across the tick wrap. Nothing is scheduled
                // until the next pulse refreshes the timeline.
                // Signed: the anchor is the loop's prediction and may lie a little ahead.
                let age = signed_diff(now, self.tl.anchor.tick);
                if !self.stale && age > STALE_ANCHOR_TICKS as i32 {
                    self.stale = true;
                    self.refresh();
                }
            }
        }
    }

    /// After a long stretch without polls (a stalled host), pulses that were due meanwhile are
    /// history: every output rejoins the grid at the current position instead of replaying
    /// them, and no schedule is left far enough back to be misread across the tick wrap.
    fn rejoin(&mut self, now: Tick) {
        if let Some((pos, _)) = self.tl.position_at(now) {
            for o in self.outputs.iter_mut() {
                o.skip_to(pos);
            }
            self.midi.skip_to(pos);
        }
        self.refresh();
    }

    /// The earliest time anything is due (for a compare timer); `None` when nothing is
    /// scheduled. Also poll at least every few milliseconds so clock loss is noticed.
    pub fn next_due(&self) -> Option<Tick> {
        let mut best = self.midi.due();
        if self.running {
            for o in self.outputs.iter() {
                best = match (best, o.due()) {
                    (Some(a), Some(b)) => Some(if is_due(a, b) { b } else { a }),
                    (a, b) => a.or(b),
                };
            }
        }
        best
    }

    fn queue_before_clock(&mut self, pos: u32, msg: MidiOutEvent) {
        if self.midi_enabled {
            self.before_clock = Some((pos, msg));
        }
    }

    fn push_midi(&mut self, msg: MidiOutEvent) {
        if !self.midi_enabled {
            return;
        }
        if self.q_len as usize == MIDI_QUEUE {
            self.midi_dropped = self.midi_dropped.wrapping_add(1);
            return;
        }
        let i = (self.q_head as usize + self.q_len as usize) % MIDI_QUEUE;
        self.queue[i] = msg;
        self.q_len += 1;
    }

    /// The next queued MIDI message.
    #[inline]
    pub fn pop_midi(&mut self) -> Option<MidiOutEvent> {
        if self.q_len == 0 {
            return None;
        }
        let m = self.queue[self.q_head as usize];
        self.q_head = ((self.q_head as usize + 1) % MIDI_QUEUE) as u8;
        self.q_len -= 1;
        Some(m)
    }

    // ----- state ----------------------------------------------------------------------------

    /// Gate level of CV output `i` at `now` (false when out of range or stopped).
    #[inline]
    pub fn gate(&self, i: usize, now: Tick) -> bool {
        self.outputs.get(i).is_some_and(|o| o.gate(now))
    }

    /// Output `i`.
    pub fn output(&self, i: usize) -> Option<&ClockOutput> {
        self.outputs.get(i)
    }

    /// The MIDI clock output.
    pub fn midi_output(&self) -> &ClockOutput {
        &self.midi
    }

    /// The tracker.
    pub fn tracker(&self) -> &BeatTracker {
        &self.tracker
    }

    /// The active timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.tl
    }

    /// Lock state of the external clock (the master is always `Locked`).
    pub fn lock_state(&self) -> LockState {
        match self.source {
            Source::External => self.tracker.state(),
            Source::Master => LockState::Locked,
        }
    }

    /// Tempo of the active source in milli-BPM (0 when unknown).
    pub fn tempo_milli_bpm(&self) -> u32 {
        match self.source {
            Source::External => self.tracker.tempo_milli_bpm(),
            Source::Master => self.master.milli_bpm(),
        }
    }

    /// Beat count and phase within the beat (Q0.16) at `now`.
    pub fn beat_position(&self, now: Tick) -> Option<(u32, u16)> {
        let (p, frac) = self.tl.position_at(now)?;
        let in_beat = (p % UNITS_PER_BEAT) * 65_536 / UNITS_PER_BEAT + frac as u32 / UNITS_PER_BEAT;
        Some((p / UNITS_PER_BEAT, in_beat.min(65_535) as u16))
    }

    /// Song position (units of 1/96 beat) that Continue would resume from.
    pub fn song_pos(&self) -> u32 {
        self.song_pos
    }

    /// MIDI messages lost because the caller did not drain the queue.
    pub fn midi_dropped(&self) -> u32 {
        self.midi_dropped
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn new_is_refreshed() {
        // `new` inlines what `refresh` does on a fresh engine; it must leave nothing to refresh.
        for ppqn in [Ppqn::P1, Ppqn::P4, Ppqn::P24] {
            for rate in [TickRate::new(2_000_000), TickRate::new(12_288_000)] {
                let mut cfg = EngineConfig::new(rate, ppqn);
                cfg.midi_offset_us = -1_500;
                let mut out = OutputConfig::new(Ppqn::P4);
                out.offset_us = 250;
                let e = ClockEngine::new(cfg, [OutputConfig::new(Ppqn::P24), out], 123_456);
                let mut r = e.clone();
                r.refresh();
                assert_eq!(format!("{e:?}"), format!("{r:?}"));
            }
        }
    }
}
