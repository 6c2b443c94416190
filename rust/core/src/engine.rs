//! [`ClockEngine`]: one clock source (the [`ExternalClock`] or the internal master tempo),
//! transport, `N` phase-locked clock outputs and a 24 PPQN MIDI clock output.
//!
//! Drive it by feeding input pulses with [`ClockEngine::on_pulse`], calling
//! [`ClockEngine::poll`] at every sample (or whenever [`ClockEngine::next_due`] says), then
//! draining [`ClockEngine::pop_midi`].
//!
//! Transport follows MIDI: Start makes the next clock beat 0; Stop freezes the song position;
//! Continue resumes from it (or from a Song Position Pointer received while stopped). CV outputs
//! only run while the transport runs; MIDI clock runs whenever a tempo is known, so slaves can
//! lock before Start.

use crate::external::ExternalClock;
use crate::master::MasterClock;
use crate::midi::ClockMessage;
use crate::output::{ClockOutput, OutputConfig};
use crate::ppqn::{ceil_to_multiple, Ppqn, UNITS_PER_BEAT};
use crate::tempo::clamp_milli_bpm;
use crate::time::{is_due, ticks_between, Tick, TickRate};
use crate::tracker::{BeatTracker, LockState, PulseVerdict};
use heapless::Deque;

/// Position units per 16th note (one Song Position Pointer step).
pub const UNITS_PER_SIXTEENTH: u32 = UNITS_PER_BEAT / 4;
/// Position units per MIDI clock.
const MIDI_UNITS: u32 = UNITS_PER_BEAT / 24;
/// Capacity of the MIDI output queue.
const MIDI_QUEUE: usize = 8;
/// Set in [`ClockEngine::poll`]'s result when the outputs reach the beat that a start or a
/// reset made beat 1 (a RESET output fires with it).
pub const BEAT_ONE: u32 = 1 << 31;

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
    clock: ExternalClock,
    master: MasterClock,
    source: Source,
    outputs: [ClockOutput; N],
    midi_enabled: bool,
    song_pos: u32,
    /// Where a MIDI receiver stands while stopped: where our Stop, Start or Song Position left
    /// it. Continue sends Song Position first when it resumes anywhere else.
    receiver_pos: u32,
    /// The position a start or reset made beat 1, until the outputs reach it.
    beat_one: Option<u32>,
    queue: Deque<ClockMessage, MIDI_QUEUE>,
    midi_dropped: u32,
}

impl<const N: usize> ClockEngine<N> {
    /// An engine with the given outputs, running, following external pulses.
    pub fn new(cfg: EngineConfig, outputs: [OutputConfig; N], now: Tick) -> Self {
        const { assert!(N < 31, "bit 31 of poll's result is BEAT_ONE") };
        let rate = cfg.rate;
        let mut clock = ExternalClock::new(rate, cfg.input_ppqn, now);
        clock.set_midi_offset(cfg.midi_offset_us, rate);
        clock.set_stop_on_loss(cfg.stop_on_loss);
        clock.set_running(true);
        let mut e = ClockEngine {
            cfg,
            clock,
            master: MasterClock::new(rate, cfg.master_milli_bpm, now),
            source: Source::External,
            outputs: outputs.map(|c| ClockOutput::new(c, rate)),
            midi_enabled: true,
            song_pos: 0,
            receiver_pos: 0,
            beat_one: None,
            queue: Deque::new(),
            midi_dropped: 0,
        };
        e.refresh();
        e
    }

    /// Settings.
    pub fn config(&self) -> EngineConfig {
        self.cfg
    }

    // ----- inputs -------------------------------------------------------------------------

    /// An external clock pulse at `t`.
    pub fn on_pulse(&mut self, t: Tick) -> PulseVerdict {
        let v = self.clock.on_pulse(t);
        if self.source == Source::External {
            if v == PulseVerdict::Seeded {
                // The first interval had no tempo to schedule by: start from this pulse.
                let pos = self.clock.tracker().last_pulse_pos();
                for o in self.outputs.iter_mut() {
                    o.skip_to(pos);
                }
            }
            self.refresh();
        }
        v
    }

    /// Select the tempo source. The position carries over, so outputs continue seamlessly.
    pub fn set_source(&mut self, source: Source, now: Tick) {
        if source == self.source {
            return;
        }
        let here = self.clock.timeline().position_at(now).map(|p| p.0);
        match source {
            Source::Master => {
                let pos = here.unwrap_or(self.clock.tracker().next_pulse_pos());
                self.master.restart(now, pos);
            }
            Source::External => self.clock.take_over(here),
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
        let mbpm = clamp_milli_bpm(milli_bpm);
        self.cfg.master_milli_bpm = mbpm;
        self.master.set_tempo(now, mbpm);
        if self.source == Source::Master {
            self.refresh();
        }
    }

    /// Let an outside timeline lead the master tempo (Ableton Link in the Rack plugin): on the
    /// master source, position `pos` + `frac`/65 536 is reached at `now` and positions advance
    /// `slope_q8`/256 ticks per unit; the tempo shown is `milli_bpm` (0: the slope's). Call it
    /// once per audio block;
    /// as long as the outside position moves continuously, the outputs and the MIDI clock carry
    /// on as after any tempo change (a late pulse is spread, never sent in a burst, and none is
    /// lost or repeated).
    ///
    /// `renumber` (the first call, or after the outside count was renumbered): the count jumps
    /// to `pos` instead: every output and the MIDI clock keep their timing and continue on the
    /// new count's grid, so no pulse is replayed and none is waited for. Ignored unless the
    /// master is the source.
    pub fn follow_timeline(
        &mut self,
        now: Tick,
        pos: u32,
        frac: u16,
        slope_q8: u32,
        milli_bpm: u32,
        renumber: bool,
    ) {
        if self.source != Source::Master || slope_q8 == 0 {
            return;
        }
        if renumber {
            if let Some((here, _)) = self.master.timeline().position_at(now) {
                let delta = pos.wrapping_sub(here);
                self.shift_all(delta);
                for o in self.outputs.iter_mut() {
                    o.shift(delta);
                }
                self.beat_one = self.beat_one.map(|b| b.wrapping_add(delta));
                self.song_pos = self.song_pos.wrapping_add(delta);
            }
        }
        self.master.steer(now, pos, frac, slope_q8, milli_bpm);
        self.cfg.master_milli_bpm = self.master.milli_bpm();
        self.refresh();
    }

    /// Input PPQN of the external clock.
    pub fn set_input_ppqn(&mut self, ppqn: Ppqn) {
        if ppqn != self.cfg.input_ppqn {
            self.cfg.input_ppqn = ppqn;
            self.clock.set_input_ppqn(ppqn);
            self.refresh();
        }
    }

    /// Tracker response (0 = tight … 255 = smooth).
    pub fn set_response(&mut self, response: u8) {
        self.clock.set_response(response);
    }

    /// Settings of output `i` (ignored when out of range).
    pub fn set_output(&mut self, i: usize, cfg: OutputConfig) {
        let (rate, tl) = (self.cfg.rate, *self.clock.timeline());
        if let Some(o) = self.outputs.get_mut(i) {
            if o.config() != cfg {
                o.set_config(cfg, rate);
                o.refresh(&tl);
            }
        }
    }

    /// MIDI clock latency offset (µs, negative = earlier).
    pub fn set_midi_offset(&mut self, offset_us: i32) {
        self.cfg.midi_offset_us = offset_us;
        self.clock.set_midi_offset(offset_us, self.cfg.rate);
    }

    /// Turn the MIDI clock output on or off (off: nothing is queued).
    pub fn set_midi_enabled(&mut self, on: bool) {
        self.midi_enabled = on;
        if !on {
            self.queue.clear();
            self.clock.cancel_announcement();
        }
    }

    /// Send Song Position 0 on a reset while stopped.
    pub fn set_spp_on_reset(&mut self, on: bool) {
        self.cfg.spp_on_reset = on;
    }

    /// Stop the transport when the external clock is lost while running.
    pub fn set_stop_on_loss(&mut self, on: bool) {
        self.cfg.stop_on_loss = on;
        self.clock.set_stop_on_loss(on);
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
        self.clock.set_rate(rate, now_old, now_new, map);
        self.master.retune(rate, now_old, now_new);
        for o in self.outputs.iter_mut() {
            o.retime(map);
            o.set_rate(rate);
        }
        self.cfg.rate = rate;
        self.refresh();
    }

    // ----- transport ------------------------------------------------------------------------

    /// Renumber every position by `delta` in the external clock and the master clock.
    fn shift_all(&mut self, delta: u32) {
        self.master.shift_positions(delta);
        self.clock.shift_positions(delta);
    }

    /// Make `target` the position reached at the alignment point and align the CV outputs to it.
    fn anchor(&mut self, now: Tick, target: u32, align: StartAlign) {
        let external = self.source == Source::External;
        let tl = *self.clock.timeline();
        let predicting = tl.valid && tl.slope != 0;
        match (external, align) {
            (false, StartAlign::Now) | (false, StartAlign::NextPulse) => {
                let here = self.master.timeline().position_at(now).map(|p| p.0);
                self.master.restart(now, target);
                let delta = here.map_or(0, |h| target.wrapping_sub(h));
                self.clock.master_restarted(self.master.timeline(), delta);
            }
            (_, StartAlign::NextBeat) if predicting => {
                let beat = self.clock.next_beat(now);
                self.shift_all(target.wrapping_sub(beat));
            }
            _ => {
                let next = self.clock.tracker().next_pulse_pos();
                self.shift_all(target.wrapping_sub(next));
                self.clock.rewind_midi_to(target);
            }
        }
        for o in self.outputs.iter_mut() {
            o.align_to(target);
        }
        self.refresh();
    }

    /// Start from beat 0 (MIDI Start).
    pub fn start(&mut self, now: Tick, align: StartAlign) {
        self.clock.set_running(true);
        self.anchor(now, 0, align);
        self.song_pos = 0;
        self.beat_one = Some(0);
        self.announce(0, ClockMessage::Start);
    }

    /// Stop (MIDI Stop): outputs halt; the song position is kept for Continue.
    pub fn stop(&mut self, now: Tick) {
        if self.clock.stop() {
            self.stopped(now);
        }
    }

    /// After the transport stopped: Continue resumes at the next MIDI clock (the receiving
    /// side's next step), and MIDI gets a Stop.
    fn stopped(&mut self, now: Tick) {
        self.song_pos = match self.source {
            Source::External => self.clock.tracker().next_pulse_pos(),
            Source::Master => {
                let p = self.clock.timeline().position_at(now).map_or(0, |p| p.0);
                ceil_to_multiple(p.wrapping_add(1), MIDI_UNITS)
            }
        };
        // The receiver has counted every clock sent so far.
        self.receiver_pos = self.clock.next_clock_pos();
        self.beat_one = None;
        self.push_midi(ClockMessage::Stop);
    }

    /// Continue from the song position (MIDI Continue).
    pub fn cont(&mut self, now: Tick) {
        if self.clock.running() {
            return;
        }
        self.clock.set_running(true);
        let pos = self.song_pos;
        if pos != self.receiver_pos {
            // Song Position counts 16ths: a resume between two 16ths is sent as the one before.
            let sixteenths = (pos / UNITS_PER_SIXTEENTH).min(0x3FFF) as u16;
            self.push_midi(ClockMessage::SongPosition(sixteenths));
        }
        let align = match self.source {
            Source::External => StartAlign::NextPulse,
            Source::Master => StartAlign::Now,
        };
        self.anchor(now, pos, align);
        self.announce(pos, ClockMessage::Continue);
    }

    /// Reset to beat 0 (CV reset). While running, the pulse just received (within the reset
    /// window) or else the next one becomes beat 0, and MIDI gets a Start. While stopped, the
    /// song position becomes 0 and MIDI gets Song Position 0 (when enabled).
    pub fn reset(&mut self, now: Tick) {
        if !self.clock.running() {
            self.song_pos = 0;
            if self.cfg.spp_on_reset && self.midi_enabled {
                self.push_midi(ClockMessage::SongPosition(0));
                self.receiver_pos = 0;
            }
            return;
        }
        let window = self.cfg.rate.ticks_from_micros(self.cfg.reset_window_us);
        let tracker = self.clock.tracker();
        let recent = self.source == Source::External
            && tracker.state() != LockState::Stopped
            && ticks_between(tracker.last_pulse_time(), now) <= window;
        if recent {
            let last = tracker.last_pulse_pos();
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
        self.beat_one = Some(0);
        self.announce(0, ClockMessage::Start);
    }

    /// A Song Position Pointer (16ths) received: applied while stopped, as the MIDI spec says.
    pub fn song_position(&mut self, sixteenths: u16) {
        if !self.clock.running() {
            self.song_pos = (sixteenths as u32 & 0x3FFF) * UNITS_PER_SIXTEENTH;
        }
    }

    /// True while the transport runs.
    pub fn running(&self) -> bool {
        self.clock.running()
    }

    /// Set the transport state without MIDI messages or re-alignment (power-up state).
    pub fn set_running_silently(&mut self, running: bool) {
        self.clock.set_running(running);
    }

    fn announce(&mut self, pos: u32, msg: ClockMessage) {
        if self.midi_enabled {
            self.clock.announce(pos, msg);
        }
    }

    // ----- time -----------------------------------------------------------------------------

    /// Bring the CV outputs (and, on the master tempo, the external clock's lead) up to date
    /// with the active timeline.
    fn refresh(&mut self) {
        if self.source == Source::Master {
            self.clock.follow_master(Some(self.master.timeline()));
        }
        let tl = *self.clock.timeline();
        for o in self.outputs.iter_mut() {
            o.refresh(&tl);
        }
    }

    /// Advance to `now`: returns a bit per CV output that starts a pulse now (bit i = output i),
    /// and [`BEAT_ONE`] when that pulse is the beat a start or reset made beat 1. MIDI messages
    /// due now are queued for [`ClockEngine::pop_midi`].
    ///
    /// Call it at least every 2²⁸ ticks (22 s at Rack's rate, 134 s on the chip); a longer gap is
    /// treated as a stalled host (outputs rejoin the grid), and gaps near 2³¹ ticks cannot be
    /// told from time running backwards.
    #[inline]
    pub fn poll(&mut self, now: Tick) -> u32 {
        let h = self.clock.keep_time(now);
        if h.stopped {
            self.stopped(now);
        }
        let mut changed = h.changed;
        if h.expired {
            for o in self.outputs.iter_mut() {
                o.expire(now);
            }
            // Keep the master's anchor fresh; same line, so nothing moves.
            changed |= self.source == Source::Master && self.master.keep_fresh(now);
        }
        if let Some(pos) = h.rejoin_at {
            // A stalled host: pulses that were due meanwhile are history.
            for o in self.outputs.iter_mut() {
                o.skip_to(pos);
            }
        }
        if changed {
            self.refresh();
        }
        let mut fired = 0;
        if self.clock.running() {
            let tl = *self.clock.timeline();
            for (i, o) in self.outputs.iter_mut().enumerate() {
                if o.poll(now, &tl) {
                    fired |= 1 << i;
                    let pos = o.next_pos().wrapping_sub(o.config().ppqn.units());
                    if self.beat_one == Some(pos) {
                        self.beat_one = None;
                        fired |= BEAT_ONE;
                    }
                }
            }
        }
        let ev = self.clock.emit(now);
        if ev.clock && self.midi_enabled {
            if let Some(msg) = ev.before_clock {
                self.push_midi(msg);
            }
            self.push_midi(ClockMessage::Clock);
        }
        fired
    }

    /// The earliest time anything is due (for a compare timer); `None` when nothing is
    /// scheduled. Also poll at least every few milliseconds so clock loss is noticed.
    pub fn next_due(&self) -> Option<Tick> {
        let mut best = self.clock.next_due();
        if self.clock.running() {
            for o in self.outputs.iter() {
                best = match (best, o.due()) {
                    (Some(a), Some(b)) => Some(if is_due(a, b) { b } else { a }),
                    (a, b) => a.or(b),
                };
            }
        }
        best
    }

    fn push_midi(&mut self, msg: ClockMessage) {
        if self.midi_enabled && self.queue.push_back(msg).is_err() {
            self.midi_dropped = self.midi_dropped.wrapping_add(1);
        }
    }

    /// The next queued MIDI message.
    #[inline]
    pub fn pop_midi(&mut self) -> Option<ClockMessage> {
        self.queue.pop_front()
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
        self.clock.midi_output()
    }

    /// The tracker.
    pub fn tracker(&self) -> &BeatTracker {
        self.clock.tracker()
    }

    /// Lock state of the external clock (the master is always `Locked`).
    pub fn lock_state(&self) -> LockState {
        match self.source {
            Source::External => self.clock.lock_state(),
            Source::Master => LockState::Locked,
        }
    }

    /// Tempo of the active source in milli-BPM (0 when unknown).
    pub fn tempo_milli_bpm(&self) -> u32 {
        match self.source {
            Source::External => self.clock.tracker().tempo_milli_bpm(),
            Source::Master => self.master.milli_bpm(),
        }
    }

    /// Beat count and phase within the beat (Q0.16) at `now`.
    pub fn beat_position(&self, now: Tick) -> Option<(u32, u16)> {
        let (p, frac) = self.clock.timeline().position_at(now)?;
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
    use super::*;

    const RATE: TickRate = TickRate::new(1_000_000);

    #[test]
    fn a_clock_patched_over_a_fresh_master_counts_from_its_first_pulse() {
        // The Rack module starts on the master tempo and switches to a CV clock before any
        // pulse: the clock's first pulse is beat 0, not wherever an unanchored timeline would
        // put it.
        let mut e = ClockEngine::new(EngineConfig::new(RATE, Ppqn::P4), [], 0);
        e.set_source(Source::Master, 0);
        e.set_input_ppqn(Ppqn::P1);
        e.set_source(Source::External, 0);
        assert_eq!(e.beat_position(0), None, "no clock yet: no position");
        assert_eq!(e.on_pulse(100_000), PulseVerdict::First);
        assert_eq!(e.beat_position(100_000), Some((0, 0)));
        e.on_pulse(600_000);
        assert_eq!(e.beat_position(600_000), Some((1, 0)));
    }

    #[test]
    fn continue_sends_song_position_only_when_the_receiver_is_elsewhere() {
        extern crate std;
        use std::vec::Vec;
        /// Poll every 100 ticks from `from` to `until`; the messages queued meanwhile.
        fn run(e: &mut ClockEngine<0>, from: Tick, until: Tick) -> Vec<ClockMessage> {
            let mut v = Vec::new();
            for now in (from..until).step_by(100) {
                e.poll(now);
                while let Some(m) = e.pop_midi() {
                    v.push(m);
                }
            }
            v
        }
        let mut e = ClockEngine::new(EngineConfig::new(RATE, Ppqn::P4), [], 0);
        e.set_source(Source::Master, 0);
        run(&mut e, 0, 1_234_500);
        e.stop(1_234_500);
        assert_eq!(e.pop_midi(), Some(ClockMessage::Stop));
        // Stop and continue: the receiver is where it stopped, no Song Position.
        run(&mut e, 1_234_500, 2_000_000);
        e.cont(2_000_000);
        let msgs = run(&mut e, 2_000_000, 2_100_000);
        assert!(!msgs
            .iter()
            .any(|m| matches!(m, ClockMessage::SongPosition(_))));
        assert_eq!(msgs.first(), Some(&ClockMessage::Continue));
        // A Song Position received while stopped moves our position: Continue sends it first.
        e.stop(2_100_000);
        e.song_position(16);
        run(&mut e, 2_100_000, 2_150_000);
        e.cont(2_150_000);
        let msgs = run(&mut e, 2_150_000, 2_300_000);
        assert_eq!(msgs.first(), Some(&ClockMessage::SongPosition(16)));
        assert_eq!(msgs.get(1), Some(&ClockMessage::Continue));
    }
}
