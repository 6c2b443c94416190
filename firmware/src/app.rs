//! The main loop: owns the [`MidiClockFollower`] and the MIDI thru buffer, and schedules the
//! clock.
//!
//! All musical decisions are the follower's (tactus-core's tracker, clock output and transport,
//! the same code as the Rack module's engine). This loop only moves data between it and the
//! hardware:
//!
//! 1. **Pulses** come from the capture handler as 32-bit timestamps and go to
//!    [`MidiClockFollower::on_pulse`] here, in thread context: the per-pulse work (64-bit
//!    fixed point) takes far too long for an interrupt (see `make bench`).
//! 2. **Clock bytes** are written by the compare handler at their exact tick. After every change
//!    the loop *plans* the next one: it asks [`MidiClockFollower::next_due`], runs a copy of the
//!    follower to that time ([`MidiClockFollower::poll`] on a copy) to learn exactly what it will
//!    emit there, sends any message that must precede the clock (a Start that lands on this
//!    beat) and arms the handler. Once the byte is out, it *commits*: the same `poll` on the real
//!    follower.
//!    Between planning and committing the follower is not touched when the armed time is near
//!    (closer than [`GUARD`]); a pulse that arrives then waits until just after the clock. So the
//!    follower sees exactly the byte stream that went out, and the clock is never late because
//!    the loop was busy.
//! 3. **Other bytes** (Stop, MIDI thru) go out from here, only when the line will be idle again
//!    before the next armed clock; thru bytes never delay a clock.

use tactus_core::midi::{status, MidiThru};
use tactus_core::ppqn::UNITS_PER_BEAT;
use tactus_core::time::{is_due, signed_diff};
use tactus_core::tracker::LockState;
use tactus_core::{FollowerEvents, MidiClockFollower, Ppqn, TickRate};

use crate::hw::{self, Shared, ARM_ARMED, ARM_FIRED, ARM_IDLE, FRAME, FW_STATS, LEAD, TICK_HZ};

/// Bytes of MIDI thru buffer (whole messages; longer SysEx is dropped whole).
pub const THRU_BYTES: usize = 32;
/// No follower change (pulse, button, PPQN, loss poll) starts this close to an armed clock (3 ms):
/// the longest change plus re-planning must finish before the compare fires (the simulator
/// measures about 1.5 ms at most; `make bench-firmware` prints it, and the tests fail if a
/// change ever overlaps an armed clock).
const GUARD: u32 = 6_000;
/// A byte goes out only if the line is idle again this long before the armed clock.
const TX_MARGIN: u32 = 24;
/// Loss detection: poll the follower this often when nothing else happens.
const POLL_MS: u8 = 4;
/// Button: pressed after this many 1 ms samples low in a row, released after `DEBOUNCE_MS` high.
const PRESS_MS: u8 = 2;
/// PPQN switches: a new setting counts after this many 1 ms samples unchanged.
const DEBOUNCE_MS: u8 = 8;
/// LED: flash length on a beat while running, and the blip while stopped with a clock present.
const LED_BEAT_MS: u8 = 50;
const LED_READY_MS: u8 = 5;
/// LED blink period bit while waiting for a clock (2^20 ticks ≈ 0.52 s on, 0.52 s off).
const LED_WAIT_BIT: u32 = 1 << 20;

/// A small FIFO of bytes.
struct Bytes<const N: usize> {
    buf: [u8; N],
    head: u8,
    len: u8,
}

impl<const N: usize> Bytes<N> {
    const fn new() -> Self {
        Bytes {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }
    /// `N` as a byte: positions in 8-bit arithmetic (AVR flash); head + len < 2N fits.
    const N8: u8 = {
        assert!(N <= 127);
        N as u8
    };
    fn push(&mut self, b: u8) {
        if self.len < Self::N8 {
            self.buf[((self.head + self.len) % Self::N8) as usize] = b;
            self.len += 1;
        }
    }
    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[(self.head % Self::N8) as usize];
        self.head = (self.head + 1) % Self::N8;
        self.len -= 1;
        Some(b)
    }
}

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

/// One out-of-line copy of each follower entry point called from several places (flash is
/// tight).
#[inline(never)]
fn poll(e: &mut MidiClockFollower, now: u32) -> FollowerEvents {
    e.poll(now)
}

#[inline(never)]
fn next_due(e: &MidiClockFollower) -> Option<u32> {
    e.next_due()
}

// The follower's entry points, out of line: keeps the main loop's own code small and readable
// in `avr-nm --size-sort` (each is called once).
#[inline(never)]
fn on_pulse(e: &mut MidiClockFollower, t: u32) {
    e.on_pulse(t);
}

#[inline(never)]
fn set_input_ppqn(e: &mut MidiClockFollower, p: Ppqn) {
    e.set_input_ppqn(p);
}

/// A copy of the follower to run ahead on. `Clone` would do, but its field-by-field code is
/// long AVR code; the follower is plain data (no heap, no references, no drop glue, checked
/// below), so a byte copy is the same clone.
#[inline(never)]
fn copy_follower(e: &MidiClockFollower) -> MidiClockFollower {
    const { assert!(!core::mem::needs_drop::<MidiClockFollower>()) };
    // SAFETY: a bitwise copy of a value without drop glue or ownership; the original stays valid.
    unsafe { core::ptr::read(e) }
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
    follower: MidiClockFollower,
    thru: MidiThru<THRU_BYTES>,
    /// Our own non-clock bytes (Start, Stop): ahead of thru traffic.
    prio: Bytes<4>,
    /// A byte taken from `prio`/`thru` that waits for the line.
    pending: Option<u8>,
    /// When the last byte written leaves the line (see [`App::line_free`]).
    line_free: u32,
    /// The clock position whose preceding message (Start) was already sent.
    presend: Option<u32>,
    /// A due time the compare could not take (the follower would not emit a clock there).
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
    /// The power-up state: transport stopped, MIDI clock follows the input as soon as it starts.
    /// Out of line, so it builds the state straight into the static (see `boot_app`).
    #[inline(never)]
    pub fn new(now: u32, pinb: u8) -> Self {
        App {
            follower: MidiClockFollower::new(TickRate::new(TICK_HZ), ppqn_from_pins(pinb), now),
            thru: MidiThru::new(),
            prio: Bytes::new(),
            pending: None,
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
        }
    }

    /// One pass of the main loop.
    pub fn step(&mut self) {
        while let Some(b) = hw::pop_rx() {
            self.thru.push(b);
        }
        if hw::ARM.get() == ARM_FIRED {
            self.commit();
        }
        self.inputs();
        let now = hw::now();
        if self.may_change(now) {
            let t0 = now;
            let mut changed = true;
            if let Some(t) = hw::pop_pulse() {
                on_pulse(&mut self.follower, t);
            } else if self.want_toggle {
                self.want_toggle = false;
                self.presend = None;
                self.toggle(now);
            } else if let Some(p) = self.want_ppqn.take() {
                set_input_ppqn(&mut self.follower, p);
            } else if self.soft_due.is_some_and(|d| is_due(now, d)) || self.poll_ms >= POLL_MS {
                changed = self.poll_now(now);
            } else {
                changed = false;
            }
            if changed {
                self.plan();
                note_max(&FW_STATS.max_change, t0);
            }
        }
        self.service_tx();
        self.led();
        FW_STATS
            .thru_dropped
            .set(self.thru.dropped().min(255) as u8);
        let tx_waiting = self.pending.is_some() || self.prio.len > 0 || !self.thru.is_empty();
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

    /// When the line is free, as seen at `now` (`now` if it already is).
    fn line_free(&self, now: u32) -> u32 {
        if line_busy(self.line_free, now) {
            self.line_free
        } else {
            now
        }
    }

    /// `at`, or `gap` after the line is free (as seen now) if that is later. One out-of-line
    /// copy for both uses in `plan` (AVR flash).
    #[inline(never)]
    fn not_before_line(&self, at: u32, gap: u32) -> u32 {
        later(at, self.line_free(hw::now()).wrapping_add(gap))
    }

    /// True when the follower may be changed now: no clock is armed within [`GUARD`].
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
    #[inline(never)]
    fn toggle(&mut self, now: u32) {
        if !self.follower.running() {
            self.follower.start(now);
        } else if self.follower.stop() {
            self.prio.push(status::STOP);
        }
    }

    /// Loss detection (and a due time the compare could not take). Returns true if anything
    /// changed that needs a new plan.
    fn poll_now(&mut self, now: u32) -> bool {
        self.poll_ms = 0;
        if self.soft_due.is_none() && next_due(&self.follower).is_some_and(|d| is_due(now, d)) {
            return false; // the armed clock is about to go: commit polls
        }
        let before = (self.follower.lock_state(), self.follower.running());
        let ev = poll(&mut self.follower, now);
        if ev.has(FollowerEvents::STOP) {
            self.prio.push(status::STOP);
        }
        if ev.has(FollowerEvents::START) {
            self.prio.push(status::START);
        }
        if ev.has(FollowerEvents::CLOCK) {
            // Only a due time the compare could not take ends up here.
            FW_STATS.late_main.bump();
            self.prio.push(status::CLOCK);
        }
        let after = (self.follower.lock_state(), self.follower.running());
        self.soft_due.is_some() || before != after
    }

    /// Plan the next clock: see the module docs.
    fn plan(&mut self) {
        let t0 = hw::now();
        self.soft_due = None;
        if hw::disarm() == ARM_FIRED {
            return; // committed first, then planned again
        }
        let Some(due) = next_due(&self.follower) else {
            return;
        };
        // Not before the byte on the line has left it.
        let mut at = self.not_before_line(due, TX_MARGIN);
        let mut preview = copy_follower(&self.follower);
        let ev = poll(&mut preview, at);
        if !ev.has(FollowerEvents::CLOCK) {
            self.soft_due = Some(at);
            return;
        }
        // A Start belongs before the clock it announces (a Stop found here is the commit's).
        let announced = ev.has(FollowerEvents::START);
        let id = self.follower.next_clock_pos();
        let sent_ahead = self.presend == Some(id);
        if announced && !sent_ahead {
            self.presend = Some(id);
            self.prio.push(status::START);
        }
        // Room for everything that must go out before the clock (when it announces anything:
        // then `presend` is this clock).
        // At most 5 bytes: a 16-bit product is exact (AVR flash).
        let waiting = self.prio.len as u16 + self.pending.is_some() as u16;
        if (announced || sent_ahead) && waiting > 0 {
            let room = waiting * (FRAME + 2) as u16 + TX_MARGIN as u16;
            at = self.not_before_line(at, room as u32);
        }
        while !hw::arm(at) {
            at = hw::now().wrapping_add(LEAD + 2 * hw::ARM_SAFETY);
        }
        note_max(&FW_STATS.max_plan, t0);
    }

    /// The armed clock went out: let the follower emit it, then plan the next one.
    fn commit(&mut self) {
        let t0 = hw::now();
        let at = hw::critical(|| hw::ARM_AT.get());
        let id = self.follower.next_clock_pos();
        let s = &FW_STATS;
        // The follower must fire exactly this clock now. If it was changed too close to the
        // armed time and moved the clock later, fire it at its new time so the count stays exact.
        let t = match next_due(&self.follower) {
            Some(d) if !is_due(at, d) => {
                s.guard_miss.bump();
                d
            }
            _ => at,
        };
        let ev = poll(&mut self.follower, t);
        let clock = ev.has(FollowerEvents::CLOCK);
        if ev.has(FollowerEvents::STOP) {
            self.prio.push(status::STOP);
        }
        // A Start planned with this clock went out ahead of it.
        if ev.has(FollowerEvents::START) && self.presend != Some(id) {
            s.late_prefix.bump();
            self.prio.push(status::START);
        }
        if !clock {
            s.desync.bump();
        }
        self.presend = None;
        self.line_free = at.wrapping_add(FRAME + 2);
        hw::ARM.set(ARM_IDLE);
        if clock && id % (UNITS_PER_BEAT) == 0 {
            self.led_ms = if self.follower.running() {
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
            self.pending = self.prio.pop().or_else(|| self.thru.pop());
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
        let on = match self.follower.lock_state() {
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
