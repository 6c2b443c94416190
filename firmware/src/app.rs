//! The main loop: owns the [`ExternalClock`] and the MIDI thru buffer, and schedules the clock.
//!
//! All musical decisions are the clock's (tactus-core's tracker, clock output and transport,
//! the same code the Rack module's engine composes). This loop only moves data between it and
//! the hardware:
//!
//! 1. **Pulses** come from the capture handler as 32-bit timestamps and go to
//!    [`ExternalClock::on_pulse`] here, in thread context: the per-pulse work (64-bit fixed
//!    point) takes far too long for an interrupt (see `make bench`).
//! 2. **Clock bytes** are written by the compare handler at their exact tick. After every change
//!    the loop *plans* the next one: it asks [`ExternalClock::next_due`], looks ahead with
//!    [`ExternalClock::peek`] to learn exactly what a poll will emit there, sends any message that
//!    must precede the clock (a Start that lands on this beat) and arms the handler. Once the
//!    byte is out, it *commits*: [`ExternalClock::poll`] at that time.
//!    Between planning and committing the clock is not touched when the armed time is near
//!    (closer than [`GUARD`]); a pulse that arrives then waits until just after the clock. So the
//!    clock sees exactly the byte stream that went out, and it is never late because the loop
//!    was busy.
//! 3. **Other bytes** (Start, Stop, MIDI thru) go out from here, only when the line will be idle
//!    again before the next armed clock; thru bytes never delay a clock.

use heapless::Deque;
use tactus_core::midi::MidiThru;
use tactus_core::ppqn::UNITS_PER_BEAT;
use tactus_core::time::{is_due, signed_diff};
use tactus_core::tracker::LockState;
use tactus_core::{ClockEvents, ClockMessage, ExternalClock, Ppqn, TickRate};

use crate::hw::{self, Shared, ARM_ARMED, ARM_FIRED, ARM_IDLE, FRAME, FW_STATS, LEAD, TICK_HZ};

/// Bytes of the MIDI thru FIFO: SysEx of any length streams through it; it fills only when the
/// input outruns what the line carries beside our clock (see `MidiThru`).
pub const THRU_BYTES: usize = 64;
/// No clock change (pulse, button, PPQN, loss poll) starts this close to an armed clock (3 ms):
/// the longest change plus re-planning must finish before the compare fires (the simulator
/// measures about 1.5 ms at most; `make bench-firmware` prints it, and the tests fail if a
/// change ever overlaps an armed clock).
const GUARD: u32 = 6_000;
/// A byte goes out only if the line is idle again this long before the armed clock.
const TX_MARGIN: u32 = 24;
/// A clock change waits at most this long for thru bytes to go out first (four frames: a
/// note message and a real-time byte or two).
const TX_FIRST: u32 = 4 * FRAME;
/// Loss detection: poll the clock this often when nothing else happens (so a Stop follows the
/// core's loss timeout within about a millisecond).
const POLL_MS: u8 = 1;
/// Button: pressed after this many 1 ms samples low in a row, released after `DEBOUNCE_MS` high.
const PRESS_MS: u8 = 2;
/// PPQN switches: a new setting counts after this many 1 ms samples unchanged.
const DEBOUNCE_MS: u8 = 8;
/// LED: flash length on a beat while running, and the blip while stopped with a clock present.
const LED_BEAT_MS: u8 = 50;
const LED_READY_MS: u8 = 5;
/// LED blink period bit while waiting for a clock (2^20 ticks ≈ 0.52 s on, 0.52 s off).
const LED_WAIT_BIT: u32 = 1 << 20;

/// Input PPQN from PB1/PB2 (to ground, pulled up): open = 1, PB1 = 2, PB2 = 4, both = 24.
fn ppqn_from_pins(pinb: u8) -> Ppqn {
    let (pb1_low, pb2_low) = (pinb & 2 == 0, pinb & 4 == 0);
    if pb1_low && pb2_low {
        Ppqn::P24
    } else if pb2_low {
        Ppqn::P4
    } else if pb1_low {
        Ppqn::P2
    } else {
        Ppqn::P1
    }
}

/// True while a byte written to end at `line_free` is still on the line. Only the next two
/// frames count as "ahead": a time from long ago (the tick counter wraps every 36 minutes, and a
/// wrapping difference misreads anything older than half of that) never blocks the line.
fn line_busy(line_free: u32, now: u32) -> bool {
    let ahead = signed_diff(line_free, now);
    ahead > 0 && ahead <= 2 * FRAME as i32
}

fn later(a: u32, b: u32) -> u32 {
    if is_due(a, b) {
        a
    } else {
        b
    }
}

/// Ticks since `t0`, saturated to u16, folded into a maximum.
fn note_max(max: &Shared<u16>, t0: u32) {
    let d = hw::now().wrapping_sub(t0).min(u16::MAX as u32) as u16;
    if d > max.get() {
        max.set(d);
    }
}

/// Everything the main loop owns.
pub struct App {
    clock: ExternalClock,
    thru: MidiThru<THRU_BYTES>,
    /// Our own non-clock bytes (Start, Stop): ahead of thru traffic.
    prio: Deque<u8, 4>,
    /// A byte taken from `prio`/`thru` that waits for the line.
    pending: Option<u8>,
    /// Since when clock changes have waited for thru bytes (see `TX_FIRST`).
    tx_first_since: Option<u32>,
    /// When the last byte written leaves the line (see [`App::line_free`]).
    line_free: u32,
    /// The clock position whose preceding message (Start) was already sent.
    presend: Option<u32>,
    /// A due time the compare could not take (the clock would not emit one there).
    soft_due: Option<u32>,
    /// Milliseconds since the last loss poll.
    poll_ms: u8,
    // inputs
    last_tick: u8,
    button_down: bool,
    button_ms: u8,
    cand: u8,
    cand_ms: u8,
    stable: u8,
    want_toggle: bool,
    want_ppqn: Option<Ppqn>,
    // LED
    /// Milliseconds the beat flash stays on.
    led_ms: u8,
    led_on: bool,
}

impl App {
    /// The power-up state: transport stopped, MIDI clock follows the input as soon as it starts;
    /// a clock lost while running stops the transport.
    pub fn new(now: u32, pinb: u8) -> Self {
        let mut app = App {
            clock: ExternalClock::new(TickRate::new(TICK_HZ), ppqn_from_pins(pinb), now),
            thru: MidiThru::new(),
            prio: Deque::new(),
            pending: None,
            tx_first_since: None,
            line_free: now,
            presend: None,
            soft_due: None,
            poll_ms: 0,
            last_tick: hw::TICKS.get(),
            button_down: pinb & 1 == 0,
            button_ms: 0,
            cand: pinb & 6,
            cand_ms: DEBOUNCE_MS,
            stable: pinb & 6,
            want_toggle: false,
            want_ppqn: None,
            led_ms: 0,
            led_on: false,
        };
        app.clock.set_stop_on_loss(true);
        app
    }

    /// One pass of the main loop.
    pub fn step(&mut self) {
        if hw::ARM.get() == ARM_FIRED {
            self.commit();
        }
        self.inputs();
        // Thru bytes before clock changes, which can keep the loop busy for a millisecond: one
        // goes out now if the line is free, and a change waits while bytes wait for the line
        // (at most `TX_FIRST`, and only while the change can still start clear of the armed
        // clock after the next byte).
        self.thru_in();
        self.service_tx();
        let now = hw::now();
        let tx_first = self.tx_waiting()
            && self.may_change(self.line_free(now))
            && now.wrapping_sub(*self.tx_first_since.get_or_insert(now)) < TX_FIRST;
        if !tx_first {
            self.tx_first_since = None;
        }
        if !tx_first && self.may_change(now) {
            self.change(now);
        }
        self.thru_in();
        self.service_tx();
        self.led();
        FW_STATS
            .thru_dropped
            .set(self.thru.dropped().min(255) as u8);
        let tx_waiting = self.tx_waiting();
        // Work held back by the guard waits for the clock's compare interrupt: sleep till then.
        let can_change = self.may_change(hw::now());
        let changes = self.want_toggle || self.want_ppqn.is_some();
        hw::sleep_unless(|| {
            tx_waiting
                || (can_change && (changes || hw::pulse_pending()))
                || hw::rx_pending()
                || hw::ARM.get() == ARM_FIRED
                || hw::TICKS.get() != self.last_tick
        });
    }

    /// One change of the clock, the most urgent first: a pulse, the button, the PPQN switches,
    /// then the periodic poll; any change is followed by a new plan for the next clock byte.
    // Out of line: inlined into `step` it costs 40 B more flash (measured), and the firmware
    // sits 28 B under the 28 672 B ceiling (DEVELOPERS.md, "Flash size").
    #[inline(never)]
    fn change(&mut self, now: u32) {
        let changed = if let Some(t) = hw::pop_pulse() {
            self.clock.on_pulse(t);
            true
        } else if self.want_toggle {
            self.want_toggle = false;
            self.presend = None;
            self.toggle(now);
            true
        } else if let Some(p) = self.want_ppqn.take() {
            self.clock.set_input_ppqn(p);
            true
        } else if self.soft_due.is_some_and(|d| is_due(now, d)) || self.poll_ms >= POLL_MS {
            self.poll_now(now)
        } else {
            false
        };
        if changed {
            self.plan();
            note_max(&FW_STATS.max_change, now);
        }
    }

    /// True when bytes wait to go out (ours or thru).
    fn tx_waiting(&self) -> bool {
        self.pending.is_some() || !self.prio.is_empty() || !self.thru.is_empty()
    }

    /// MIDI-in bytes received so far into the thru FIFO.
    fn thru_in(&mut self) {
        while let Some(b) = hw::pop_rx() {
            self.thru.push(b);
        }
    }

    /// When the line is free, as seen at `now` (`now` if it already is).
    fn line_free(&self, now: u32) -> u32 {
        if line_busy(self.line_free, now) {
            self.line_free
        } else {
            now
        }
    }

    /// `at`, or `gap` after the line is free (as seen now) if that is later.
    fn not_before_line(&self, at: u32, gap: u32) -> u32 {
        later(at, self.line_free(hw::now()).wrapping_add(gap))
    }

    /// True when the clock may be changed now: no clock is armed within [`GUARD`].
    fn may_change(&self, now: u32) -> bool {
        match hw::ARM.get() {
            ARM_IDLE => true,
            ARM_ARMED => {
                let at = hw::critical(|| hw::ARM_AT.get());
                signed_diff(at, now) > GUARD as i32
            }
            _ => false,
        }
    }

    /// The button: Start on the next beat, or Stop now.
    fn toggle(&mut self, now: u32) {
        if !self.clock.running() {
            self.clock.start(now);
        } else if self.clock.stop() {
            self.send(ClockMessage::Stop);
        }
    }

    /// Queue one of our own messages (ahead of thru traffic). The queue holds what one poll can
    /// emit (Stop, Start, Clock); should it ever be full, the byte is dropped, not a clock late.
    fn send(&mut self, msg: ClockMessage) {
        // The box only sends one-byte real-time messages (Start, Stop, Clock).
        let _ = self.prio.push_back(msg.encode().0[0]);
    }

    /// Queue what a poll emitted that the compare handler does not send: Stop, and the message
    /// announced before the clock unless it already went out ahead of it.
    fn send_events(&mut self, ev: ClockEvents, announced_ahead: bool) {
        if ev.stopped {
            self.send(ClockMessage::Stop);
        }
        if let Some(msg) = ev.before_clock.filter(|_| !announced_ahead) {
            self.send(msg);
        }
    }

    /// Loss detection (and a due time the compare could not take). Returns true if anything
    /// changed that needs a new plan.
    fn poll_now(&mut self, now: u32) -> bool {
        self.poll_ms = 0;
        if self.soft_due.is_none() && self.clock.next_due().is_some_and(|d| is_due(now, d)) {
            return false; // the armed clock is about to go: commit polls
        }
        let before = (self.clock.lock_state(), self.clock.running());
        let ev = self.clock.poll(now);
        self.send_events(ev, false);
        if ev.clock {
            // Only a due time the compare could not take ends up here.
            FW_STATS.late_main.bump();
            self.send(ClockMessage::Clock);
        }
        let after = (self.clock.lock_state(), self.clock.running());
        self.soft_due.is_some() || before != after
    }

    /// Plan the next clock: see the module docs.
    fn plan(&mut self) {
        let t0 = hw::now();
        self.soft_due = None;
        if hw::disarm() == ARM_FIRED {
            return; // committed first, then planned again
        }
        let Some(due) = self.clock.next_due() else {
            return;
        };
        // Not before the byte on the line has left it.
        let mut at = self.not_before_line(due, TX_MARGIN);
        let ev = self.clock.peek(at);
        if !ev.clock {
            self.soft_due = Some(at);
            return;
        }
        // A Start belongs before the clock it announces (a Stop found here is the commit's).
        let id = self.clock.next_clock_pos();
        let sent_ahead = self.presend == Some(id);
        if let Some(msg) = ev.before_clock.filter(|_| !sent_ahead) {
            self.presend = Some(id);
            self.send(msg);
        }
        // Room for everything that must go out before the clock (when it announces anything:
        // then `presend` is this clock).
        let waiting = (self.prio.len() + self.pending.is_some() as usize) as u32;
        if self.presend == Some(id) && waiting > 0 {
            at = self.not_before_line(at, waiting * (FRAME + 2) + TX_MARGIN);
        }
        while !hw::arm(at) {
            at = hw::now().wrapping_add(LEAD + 2 * hw::ARM_SAFETY);
        }
        note_max(&FW_STATS.max_plan, t0);
    }

    /// The armed clock went out: let the clock emit it, then plan the next one.
    fn commit(&mut self) {
        let t0 = hw::now();
        let at = hw::critical(|| hw::ARM_AT.get());
        let id = self.clock.next_clock_pos();
        let s = &FW_STATS;
        // The clock must fire exactly this clock now. If it was changed too close to the armed
        // time and moved the clock later, fire it at its new time so the count stays exact.
        let t = match self.clock.next_due() {
            Some(d) if !is_due(at, d) => {
                s.guard_miss.bump();
                d
            }
            _ => at,
        };
        let ev = self.clock.poll(t);
        let clock = ev.clock;
        // A Start planned with this clock went out ahead of it.
        let announced_ahead = self.presend == Some(id);
        if ev.before_clock.is_some() && !announced_ahead {
            s.late_prefix.bump();
        }
        self.send_events(ev, announced_ahead);
        if !clock {
            s.desync.bump();
        }
        self.presend = None;
        self.line_free = at.wrapping_add(FRAME + 2);
        hw::ARM.set(ARM_IDLE);
        if clock && id % (UNITS_PER_BEAT) == 0 {
            self.led_ms = if self.clock.running() {
                LED_BEAT_MS
            } else {
                LED_READY_MS
            };
            self.led();
        }
        self.plan();
        note_max(&s.max_commit, t0);
    }

    /// Write the next non-clock byte if the line is free and stays clear of the armed clock.
    fn service_tx(&mut self) {
        if self.pending.is_none() {
            self.pending = self.prio.pop_front().or_else(|| self.thru.pop());
        }
        let Some(b) = self.pending else {
            return;
        };
        let line_free = self.line_free;
        let sent = hw::critical(|| {
            let now = hw::now_raw();
            if line_busy(line_free, now) {
                return None;
            }
            match hw::ARM.get() {
                ARM_FIRED => return None,
                ARM_ARMED => {
                    let room = signed_diff(hw::ARM_AT.get(), now);
                    if room < (FRAME + TX_MARGIN) as i32 {
                        return None;
                    }
                }
                _ => {}
            }
            hw::uart_write(b);
            Some(now)
        });
        if let Some(now) = sent {
            self.pending = None;
            self.line_free = now.wrapping_add(FRAME + 2);
            if self.soft_due.is_some() {
                // The line was busy when a due time could not be armed: try again now.
                self.plan();
            }
        }
    }

    /// Debounce the button and the PPQN switches once per millisecond. The button acts after
    /// two samples low (a press is never missed or doubled: release needs `DEBOUNCE_MS` high);
    /// the switches after `DEBOUNCE_MS` unchanged samples.
    fn inputs(&mut self) {
        let ticks = hw::TICKS.get();
        if ticks == self.last_tick {
            return;
        }
        let elapsed = ticks.wrapping_sub(self.last_tick);
        self.last_tick = ticks;
        self.poll_ms = self.poll_ms.saturating_add(elapsed);
        self.led_ms = self.led_ms.saturating_sub(elapsed);
        let raw = hw::portb().pinb().read().bits();
        let low = raw & 1 == 0;
        if low != self.button_down {
            self.button_ms += 1;
            let need = if low { PRESS_MS } else { DEBOUNCE_MS };
            if self.button_ms >= need {
                self.button_down = low;
                self.button_ms = 0;
                self.want_toggle |= low;
            }
        } else {
            self.button_ms = 0;
        }
        let sw = raw & 6;
        if sw != self.cand {
            self.cand = sw;
            self.cand_ms = 0;
        } else if self.cand_ms < DEBOUNCE_MS {
            self.cand_ms += 1;
            if self.cand_ms == DEBOUNCE_MS && sw != self.stable {
                self.stable = sw;
                self.want_ppqn = Some(ppqn_from_pins(sw));
            }
        }
    }

    /// PD6: a flash per beat while running, a blip per beat while stopped, a slow blink while
    /// waiting for a clock.
    fn led(&mut self) {
        let now = hw::now();
        let on = match self.clock.lock_state() {
            LockState::Stopped | LockState::Lost => now & LED_WAIT_BIT == 0,
            _ => self.led_ms > 0,
        };
        if on == self.led_on {
            return;
        }
        self.led_on = on;
        let pd = hw::portd();
        let v = pd.portd().read().bits();
        let v = if on { v | 1 << 6 } else { v & !(1 << 6) };
        pd.portd().write(|w| unsafe { w.bits(v) });
    }
}
