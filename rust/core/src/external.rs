//! [`ExternalClock`]: the external-clock path both targets share: the beat tracker, its
//! timeline, the wrap and stall housekeeping, a 24 PPQN MIDI clock on that timeline, the transport
//! run state and a message (Start, Continue) announced before a given clock.
//!
//! The Rack module's [`crate::ClockEngine`] composes it with the master tempo and its CV outputs;
//! the firmware drives it directly: [`ExternalClock::on_pulse`] for every input edge,
//! [`ExternalClock::poll`] at every [`ExternalClock::next_due`] and every few milliseconds, and
//! [`ExternalClock::peek`] to learn ahead of time what a poll will emit.

use crate::midi::ClockMessage;
use crate::output::{ClockOutput, OutputConfig};
use crate::ppqn::{ceil_to_multiple, Ppqn, UNITS_PER_BEAT};
use crate::time::{signed_diff, ticks_between, Tick, TickRate};
use crate::timeline::{pos_diff, Timeline};
use crate::tracker::{BeatTracker, LockState, PulseVerdict, TrackerConfig};

/// Interval of the wrap housekeeping in `poll` (a sixteenth of the tick range).
const HOUSEKEEPING_TICKS: u32 = 1 << 28;
/// A clock whose last pulse is older than this schedules nothing until its next pulse: past the
/// longest loss timeout (1.5 × 90 s at the highest tick rate, 1.66 × 10⁹ ticks), short of the
/// 2³¹ ticks where wrapping comparisons turn around.
const STALE_ANCHOR_TICKS: u32 = 0x7000_0000;
/// A gap between polls longer than this (2²⁷ ticks: 11 s in Rack, 67 s on the chip) means the
/// caller stalled; outputs rejoin the grid rather than replay what was due meanwhile.
const STALL_TICKS: u32 = 1 << 27;

/// Settings of the MIDI clock output: 24 PPQN, and never two clocks closer than one DIN byte
/// (320 µs), so they can always go out at their time.
fn midi_clock_config(offset_us: i32) -> OutputConfig {
    OutputConfig {
        offset_us,
        pulse_width_us: 1,
        min_spacing_us: 320,
        ..OutputConfig::new(Ppqn::P24)
    }
}

/// What one [`ExternalClock::poll`] emitted, to be sent in field order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockEvents {
    /// The transport stopped because the clock was lost while running (with stop-on-loss):
    /// send MIDI Stop.
    pub stopped: bool,
    /// The message announced for this clock (Start, Continue): send it right before the clock.
    pub before_clock: Option<ClockMessage>,
    /// One MIDI clock (0xF8) is due now.
    pub clock: bool,
}

/// What the time-keeping part of a poll changed, for an owner with outputs of its own.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Housekeeping {
    /// The timeline changed: refresh every output on it.
    pub changed: bool,
    /// The transport stopped (clock lost while running, with stop-on-loss).
    pub stopped: bool,
    /// The periodic wrap housekeeping ran: expire what the owner keeps too.
    pub expired: bool,
    /// The caller stalled: the owner's outputs rejoin the grid at this position.
    pub rejoin_at: Option<u32>,
}

/// The external clock. See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct ExternalClock {
    tracker: BeatTracker,
    /// A timeline that leads instead of the tracker's (the engine's master tempo).
    master: Option<Timeline>,
    tl: Timeline,
    midi: ClockOutput,
    /// A message that goes out before the first clock at or after this position.
    announced: Option<(u32, ClockMessage)>,
    running: bool,
    stop_on_loss: bool,
    /// Silent past any timeout: nothing is scheduled until a pulse.
    stale: bool,
    housekeeping: Tick,
    last_poll: Tick,
}

impl ExternalClock {
    /// A clock waiting for its first pulse, with the transport stopped and stop-on-loss off.
    /// MIDI clock follows the input as soon as a tempo is known, so slaves can lock before
    /// Start.
    pub fn new(rate: TickRate, input_ppqn: Ppqn, now: Tick) -> Self {
        let mut c = ExternalClock {
            tracker: BeatTracker::new(TrackerConfig::new(rate, input_ppqn)),
            master: None,
            tl: Timeline::default(),
            midi: ClockOutput::new(midi_clock_config(0), rate),
            announced: None,
            running: false,
            stop_on_loss: false,
            stale: false,
            housekeeping: now,
            last_poll: now,
        };
        c.refresh();
        c
    }

    // ----- inputs and settings --------------------------------------------------------------

    /// An input pulse at `t`.
    pub fn on_pulse(&mut self, t: Tick) -> PulseVerdict {
        self.stale = false;
        let v = self.tracker.on_pulse(t);
        if v == PulseVerdict::Seeded && self.master.is_none() {
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

    /// Tracker response (0 = tight … 255 = smooth).
    pub fn set_response(&mut self, response: u8) {
        self.tracker.set_response(response);
    }

    /// MIDI clock latency offset (µs, negative = earlier).
    pub fn set_midi_offset(&mut self, offset_us: i32, rate: TickRate) {
        if offset_us != self.midi.config().offset_us {
            self.midi.set_config(midi_clock_config(offset_us), rate);
            self.midi.refresh(&self.tl);
        }
    }

    /// Stop the transport when the clock is lost while running.
    pub fn set_stop_on_loss(&mut self, on: bool) {
        self.stop_on_loss = on;
    }

    /// Change the tick rate (a sample-rate change); `now_old` in the old rate is the same instant
    /// as `now_new` in the new one, and `map` takes an old-rate time to the new rate. Position,
    /// tempo and lock are kept.
    pub(crate) fn set_rate(
        &mut self,
        rate: TickRate,
        now_old: Tick,
        now_new: Tick,
        map: impl Fn(Tick) -> Tick,
    ) {
        self.tracker.retune(rate, now_old, now_new);
        self.midi.retime(map);
        self.midi.set_rate(rate);
        self.refresh();
    }

    /// Let `master` lead the timeline and the MIDI clock instead of the tracker (`None`: back
    /// to the tracker). The tracker keeps following its pulses either way.
    pub(crate) fn follow_master(&mut self, master: Option<Timeline>) {
        self.master = master;
        self.refresh();
    }

    /// Hand the beat over to this clock at position `here` (the position the previous source
    /// reached): its next pulse continues from there. A clock followed before has moved on, so
    /// it is relocked from scratch.
    pub(crate) fn take_over(&mut self, here: Option<u32>) {
        if let Some(p) = here {
            let next = ceil_to_multiple(p, self.tracker.config().ppqn.units());
            self.tracker.set_next_pulse_pos(next);
        }
        if self.tracker.state() != LockState::Stopped {
            self.tracker.clear();
            self.tracker.set_next_pulse_pos(here.unwrap_or(0));
        }
        self.follow_master(None);
    }

    // ----- transport ------------------------------------------------------------------------

    /// Start on the next beat of the running count (which becomes beat 0), announcing Start
    /// before its first clock. Without a tempo yet, the next input pulse is beat 0.
    pub fn start(&mut self, now: Tick) {
        self.running = true;
        let beat = self.next_beat(now);
        self.shift_positions(0u32.wrapping_sub(beat));
        self.rewind_midi_to(0);
        self.announce(0, ClockMessage::Start);
    }

    /// After a transport re-alignment to `pos`: the MIDI clock at `pos` goes out after the
    /// announced message even when it went out before under the old numbering (the clock at the
    /// first missing pulse of a stopped input), so a slave's first clock after Start is beat 0.
    pub(crate) fn rewind_midi_to(&mut self, pos: u32) {
        if pos_diff(self.midi.next_pos(), pos) > 0 {
            self.midi.align_to(pos);
            self.midi.refresh(&self.tl);
        }
    }

    /// Stop now. Returns true when the transport was running (send MIDI Stop).
    pub fn stop(&mut self) -> bool {
        let was = self.running;
        self.running = false;
        self.announced = None;
        was
    }

    /// True while the transport runs.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Set the run state without messages or re-alignment.
    pub(crate) fn set_running(&mut self, running: bool) {
        self.running = running;
    }

    /// Send `msg` right before the first clock at or after `pos`.
    pub(crate) fn announce(&mut self, pos: u32, msg: ClockMessage) {
        self.announced = Some((pos, msg));
    }

    /// Forget an announced message.
    pub(crate) fn cancel_announcement(&mut self) {
        self.announced = None;
    }

    /// The first beat at or after `now` on the running count, or the next pulse's position
    /// when there is nothing to predict with (no tempo yet, or the input clock is lost).
    pub(crate) fn next_beat(&self, now: Tick) -> u32 {
        let lost = self.master.is_none() && self.tracker.state() == LockState::Lost;
        match self.tl.position_at(now) {
            Some((pos, frac)) if self.tl.slope != 0 && !lost => {
                ceil_to_multiple(pos.wrapping_add((frac != 0) as u32), UNITS_PER_BEAT)
            }
            _ => self.tracker.next_pulse_pos(),
        }
    }

    /// Renumber every position by `delta` (same times), the leading master timeline's too.
    pub(crate) fn shift_positions(&mut self, delta: u32) {
        self.tracker.shift_positions(delta);
        if let Some(tl) = self.master.as_mut() {
            tl.shift(delta);
        }
        self.midi.shift(delta);
        self.refresh();
    }

    /// The leading master timeline restarted (a start, continue or reset on the master tempo)
    /// with its positions renumbered by `delta`, which the MIDI clock follows.
    pub(crate) fn master_restarted(&mut self, master: Timeline, delta: u32) {
        self.midi.shift(delta);
        self.follow_master(Some(master));
    }

    // ----- time -----------------------------------------------------------------------------

    fn refresh(&mut self) {
        self.tl = match self.master {
            Some(tl) => tl,
            None => {
                let tl = self.tracker.timeline();
                Timeline {
                    valid: tl.valid && !self.stale,
                    ..tl
                }
            }
        };
        self.midi.refresh(&self.tl);
    }

    /// Advance to `now`: clock loss (stops a running transport when enabled), the clock due now
    /// and the wrap housekeeping. Call it at each [`ExternalClock::next_due`], every few
    /// milliseconds (loss detection), and at least every 2²⁸ ticks; a longer gap is a stalled
    /// caller, and the clock rejoins the grid instead of replaying what was due meanwhile.
    pub fn poll(&mut self, now: Tick) -> ClockEvents {
        let h = self.keep_time(now);
        ClockEvents {
            stopped: h.stopped,
            ..self.emit(now)
        }
    }

    /// What [`ExternalClock::poll`] at `at` would emit if nothing else happened before, without
    /// changing anything (to send a Start ahead of its clock, or to arm a timer for the clock).
    pub fn peek(&self, at: Tick) -> ClockEvents {
        let mut ahead = *self;
        ahead.poll(at)
    }

    /// The time-keeping part of a poll: loss, wrap housekeeping, stalls.
    pub(crate) fn keep_time(&mut self, now: Tick) -> Housekeeping {
        let mut h = Housekeeping::default();
        let stalled = ticks_between(self.last_poll, now) > STALL_TICKS;
        self.last_poll = now;
        let following = self.master.is_none();
        let before = self.tracker.state();
        self.tracker.poll(now);
        if before != self.tracker.state() && following {
            self.refresh();
            h.changed = true;
            if self.tracker.state() == LockState::Lost && self.stop_on_loss {
                h.stopped = self.stop();
            }
        }
        // Against the u32 wrap, a few times per wrap rather than per poll.
        if stalled || ticks_between(self.housekeeping, now) > HOUSEKEEPING_TICKS {
            self.housekeeping = now;
            h.expired = true;
            self.midi.expire(now);
            // A clock silent for longer than any supported tempo's pulse is gone: its old
            // schedule would map onto times across the tick wrap. Signed: the anchor is the
            // loop's prediction and may lie a little ahead.
            let age = signed_diff(now, self.tl.anchor.tick);
            if following && !self.stale && age > STALE_ANCHOR_TICKS as i32 {
                self.stale = true;
                self.refresh();
                h.changed = true;
            }
        }
        if stalled {
            h.rejoin_at = self.tl.position_at(now).map(|p| p.0);
            if let Some(pos) = h.rejoin_at {
                self.midi.skip_to(pos);
            }
            self.refresh();
            h.changed = true;
        }
        h
    }

    /// The MIDI part of a poll: the clock due now and the message announced before it.
    pub(crate) fn emit(&mut self, now: Tick) -> ClockEvents {
        let pos = self.midi.next_pos();
        if !self.midi.poll(now, &self.tl) {
            return ClockEvents::default();
        }
        let before_clock = match self.announced {
            Some((at, msg)) if pos_diff(pos, at) >= 0 => {
                self.announced = None;
                Some(msg)
            }
            _ => None,
        };
        ClockEvents {
            stopped: false,
            before_clock,
            clock: true,
        }
    }

    // ----- state ----------------------------------------------------------------------------

    /// When the next clock is due (`None`: no tempo, or the input stopped).
    pub fn next_due(&self) -> Option<Tick> {
        self.midi.due()
    }

    /// Position of the next clock (1/96 beat; a multiple of 4). Beat 0 is the Start.
    pub fn next_clock_pos(&self) -> u32 {
        self.midi.next_pos()
    }

    /// Lock state of the input clock.
    pub fn lock_state(&self) -> LockState {
        self.tracker.state()
    }

    /// The tracker.
    pub fn tracker(&self) -> &BeatTracker {
        &self.tracker
    }

    /// The MIDI clock output.
    pub fn midi_output(&self) -> &ClockOutput {
        &self.midi
    }

    /// The timeline the MIDI clock runs on.
    pub(crate) fn timeline(&self) -> &Timeline {
        &self.tl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 2_000_000;

    fn clock(ppqn: Ppqn) -> ExternalClock {
        ExternalClock::new(TickRate::new(RATE), ppqn, 0)
    }

    #[test]
    fn start_lands_on_the_next_beat_with_a_start_before_its_clock() {
        let p = RATE / 2; // 120 BPM at 1 PPQN
        let mut c = clock(Ppqn::P1);
        let (mut clocks, mut clocks_from_start) = (0, 0);
        let mut start_at = None;
        for now in 0..6 * p + p / 2 {
            if now % p == 0 {
                c.on_pulse(now);
            }
            if now == 3 * p + p / 3 {
                // A third of the way into the fourth beat.
                c.start(now);
            }
            let ev = c.poll(now);
            if ev.before_clock.is_some() {
                assert_eq!(ev.before_clock, Some(ClockMessage::Start));
                assert!(ev.clock);
                assert!(start_at.is_none(), "one Start");
                start_at = Some(now);
            }
            clocks += ev.clock as u32;
            clocks_from_start += (start_at.is_some() && ev.clock) as u32;
        }
        assert_eq!(
            start_at,
            Some(4 * p),
            "Start with the clock of the next beat"
        );
        assert!(c.running());
        // The first pulse's clock, then 24 per beat from the second pulse on (the first interval
        // seeds the tempo) until half a beat after the sixth.
        assert_eq!(clocks, 1 + 5 * 24 + 12);
        assert_eq!(clocks_from_start, 2 * 24 + 12);
        assert!(c.stop());
        assert!(!c.stop(), "a second Stop sends nothing");
    }

    #[test]
    fn peek_tells_what_poll_will_emit() {
        // A jittery 4 PPQN clock with a start, a loss (stop-on-loss) and a return: at every due
        // time and at random times in between, peek predicts the poll exactly.
        let mut c = clock(Ppqn::P4);
        c.set_stop_on_loss(true);
        let p = RATE * 60 / (133 * 4);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u32| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 16) as u32 % n
        };
        let mut now: Tick = u32::MAX - 3 * RATE; // across the tick wrap
        let mut next_pulse = now.wrapping_add(1_000);
        let (mut polls, mut stops, mut clocks, mut pulses) = (0, 0, 0, 0u32);
        for _ in 0..60_000 {
            let due = c.next_due();
            let mut t = now.wrapping_add(1 + rnd(8_000));
            for cand in [Some(next_pulse), due].into_iter().flatten() {
                if signed_diff(cand, now) >= 0 && signed_diff(cand, t) < 0 {
                    t = cand;
                }
            }
            now = t;
            if now == next_pulse {
                c.on_pulse(now);
                pulses += 1;
                // Silence for 2 s every 200 pulses: the clock is lost, then comes back.
                let gap = if pulses % 200 == 199 {
                    2 * RATE
                } else {
                    p - p / 50 + rnd(p / 25)
                };
                next_pulse = now.wrapping_add(gap);
                if pulses % 200 == 20 {
                    c.start(now);
                }
                continue;
            }
            let want = c.peek(now);
            let got = c.poll(now);
            assert_eq!(got, want, "at {now}");
            polls += 1;
            stops += got.stopped as u32;
            clocks += got.clock as u32;
        }
        assert!(
            polls > 10_000 && clocks > 1_000,
            "{polls} polls, {clocks} clocks"
        );
        assert!(stops >= 2, "the loss stopped a running transport ({stops})");
    }
}
