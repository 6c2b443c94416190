//! Registers, the 32-bit time base and the interrupt handlers.
//!
//! Everything an interrupt touches lives here. The handlers are deliberately tiny (no clock
//! calls, no 64-bit arithmetic, no floats) so that the one time-critical handler, the MIDI clock
//! compare, is never held up for long:
//!
//! - `TIMER1_CAPT`: captures both edges on ICP1 (PD4): a rising edge becomes a pulse candidate,
//!   a pulse once the line has stayed high for [`MIN_WIDTH`] (see `TIMER1_CAPT`); accepted
//!   pulses go into a small ring as their rising edge's timestamp.
//! - `TIMER1_OVF`: extends Timer1 to 32 bits.
//! - `TIMER1_COMPA`: writes the armed 0xF8 to UDR1 at its exact tick (see [`LEAD`]).
//! - `TIMER1_COMPB`: a 1 ms tick that wakes the main loop (debounce, LED, loss polling), and
//!   the [`MIN_WIDTH`] deadline of a pulse candidate (whichever comes first).
//! - `USART1_RX`: queues MIDI-in bytes for the thru merge.

use core::cell::UnsafeCell;
use core::ptr::{read_volatile, write_volatile};

use avr_device::atmega32u4 as pac;

/// Timer1 ticks per second (16 MHz / 8): 0.5 µs per tick.
pub const TICK_HZ: u32 = 2_000_000;
/// One MIDI byte on the wire (10 bits at 31 250 baud = 320 µs) in ticks.
pub const FRAME: u32 = 640;
/// The compare interrupt is set this many ticks before the armed time and spins to the exact tick,
/// so that another interrupt or a short critical section in progress at the due time cannot make
/// the clock late. Covers the longest other handler plus this handler's entry (measured in the
/// simulator: see `make bench`).
pub const LEAD: u32 = 48;
/// An arming must leave at least this many ticks before the compare time.
pub const ARM_SAFETY: u32 = 16;
/// Ticks between 1 ms wake-ups.
pub const MS: u16 = 2_000;
/// A pulse counts only when the line stays high this long (100 µs): shorter highs are glitches
/// (crosstalk, ringing, a hot-plugged cable). The shortest real clock pulses are about 1 ms.
pub const MIN_WIDTH: u16 = 200;

const PULSE_RING: u8 = 4;
pub const RX_RING: u8 = 16;

/// A value shared with interrupt handlers. Single-byte values are read and written atomically;
/// wider ones must be accessed inside a critical section (or from a handler).
pub struct Shared<T>(UnsafeCell<T>);

// SAFETY: single core; accesses are volatile and multi-byte ones are made under `cli`.
unsafe impl<T> Sync for Shared<T> {}

impl<T: Copy> Shared<T> {
    pub const fn new(v: T) -> Self {
        Shared(UnsafeCell::new(v))
    }
    #[inline(always)]
    pub fn get(&self) -> T {
        // SAFETY: see the `Sync` impl.
        unsafe { read_volatile(self.0.get()) }
    }
    #[inline(always)]
    pub fn set(&self, v: T) {
        // SAFETY: see the `Sync` impl.
        unsafe { write_volatile(self.0.get(), v) }
    }
}

/// State of the armed MIDI clock byte.
pub const ARM_IDLE: u8 = 0;
pub const ARM_ARMED: u8 = 1;
pub const ARM_FIRED: u8 = 2;

/// High half of the 32-bit time base (exported: the simulator tests start it near the wrap).
#[no_mangle]
static FW_OVF_HI: Shared<u16> = Shared::new(0);
use FW_OVF_HI as OVF_HI;
/// Armed clock: state, and the tick at which 0xF8 goes into UDR1.
pub static ARM: Shared<u8> = Shared::new(ARM_IDLE);
pub static ARM_AT: Shared<u32> = Shared::new(0);
/// Captured input edges (32-bit timestamps).
static PULSES: Shared<[u32; PULSE_RING as usize]> = Shared::new([0; PULSE_RING as usize]);
static P_HEAD: Shared<u8> = Shared::new(0);
static P_TAIL: Shared<u8> = Shared::new(0);
/// The input line's state, as the capture handler follows it (see `TIMER1_CAPT`).
const LINE_LOW: u8 = 0;
/// High for less than [`MIN_WIDTH`] so far: a candidate, decided by its falling edge or deadline.
const LINE_CANDIDATE: u8 = 1;
/// High and accepted as a pulse: waiting for the falling edge.
const LINE_PULSE: u8 = 2;
static LINE: Shared<u8> = Shared::new(LINE_LOW);
/// The candidate's rising edge (32-bit tick).
static RISE_AT: Shared<u32> = Shared::new(0);
/// Timer1's low half at the next 1 ms tick (OCR1B points at it or at an earlier deadline).
static NEXT_MS: Shared<u16> = Shared::new(MS);
/// MIDI-in bytes.
static RX: Shared<[u8; RX_RING as usize]> = Shared::new([0; RX_RING as usize]);
static RX_HEAD: Shared<u8> = Shared::new(0);
static RX_TAIL: Shared<u8> = Shared::new(0);
/// 1 ms tick counter.
pub static TICKS: Shared<u8> = Shared::new(0);

/// Counters for the simulator tests and a debugger (all zero in normal operation, except the
/// maxima). Fixed layout: the harness reads it by symbol.
#[repr(C)]
pub struct Stats {
    /// Clocks the main loop had to send itself (the compare could not be armed in time).
    pub late_main: Shared<u8>,
    /// A clock went out that the clock did not emit at commit (must never happen).
    pub desync: Shared<u8>,
    /// The clock was changed while a 0xF8 was armed too close (guard too small).
    pub guard_miss: Shared<u8>,
    /// A message that had to precede a clock went out after it.
    pub late_prefix: Shared<u8>,
    /// Edges and MIDI-in bytes lost because a ring was full; MIDI-in frame/overrun errors.
    pub pulse_lost: Shared<u8>,
    pub rx_lost: Shared<u8>,
    pub rx_err: Shared<u8>,
    /// Clocks the compare handler wrote after their tick (held up for more than [`LEAD`]).
    pub late_isr: Shared<u8>,
    /// Messages the thru FIFO dropped or cut short (saturating).
    pub thru_dropped: Shared<u8>,
    /// Longest clock change + re-plan, commit + re-plan, and plan alone (ticks).
    pub max_change: Shared<u16>,
    pub max_commit: Shared<u16>,
    pub max_plan: Shared<u16>,
    /// Input highs shorter than [`MIN_WIDTH`], rejected (wrapping).
    pub glitches: Shared<u8>,
}

#[no_mangle]
pub static FW_STATS: Stats = Stats {
    late_main: Shared::new(0),
    desync: Shared::new(0),
    guard_miss: Shared::new(0),
    late_prefix: Shared::new(0),
    pulse_lost: Shared::new(0),
    rx_lost: Shared::new(0),
    rx_err: Shared::new(0),
    late_isr: Shared::new(0),
    thru_dropped: Shared::new(0),
    max_change: Shared::new(0),
    max_commit: Shared::new(0),
    max_plan: Shared::new(0),
    glitches: Shared::new(0),
};

impl Shared<u8> {
    /// Count one (wrapping; single byte, so safe from any context that owns the counter).
    #[inline(always)]
    pub fn bump(&self) {
        self.set(self.get().wrapping_add(1));
    }
}

#[inline(always)]
pub fn tc1() -> &'static pac::tc1::RegisterBlock {
    // SAFETY: a fixed MMIO address; every register access is a volatile read or write.
    unsafe { &*pac::TC1::ptr() }
}

#[inline(always)]
pub fn usart1() -> &'static pac::usart1::RegisterBlock {
    // SAFETY: as above.
    unsafe { &*pac::USART1::ptr() }
}

#[inline(always)]
pub fn portb() -> &'static pac::portb::RegisterBlock {
    // SAFETY: as above.
    unsafe { &*pac::PORTB::ptr() }
}

#[inline(always)]
pub fn portd() -> &'static pac::portd::RegisterBlock {
    // SAFETY: as above.
    unsafe { &*pac::PORTD::ptr() }
}

/// Run `f` with interrupts disabled.
#[inline(always)]
pub fn critical<R>(f: impl FnOnce() -> R) -> R {
    avr_device::interrupt::free(|_| f())
}

/// Extend a 16-bit Timer1 value read now to 32 bits. Call with interrupts disabled (or from a
/// handler): an overflow that happened but is not counted yet shows as a pending TOV1, and
/// belongs to `lo` when `lo` is in the lower half (read after the wrap).
#[inline(always)]
fn extend(lo: u16) -> u32 {
    let mut hi = OVF_HI.get();
    if tc1().tifr1().read().tov1().bit_is_set() && lo < 0x8000 {
        hi = hi.wrapping_add(1);
    }
    ((hi as u32) << 16) | lo as u32
}

/// The current time in ticks; interrupts must be disabled. Inlined, for the interrupt handlers
/// and the critical section that writes a byte; elsewhere [`now`] is smaller.
#[inline(always)]
pub fn now_raw() -> u32 {
    extend(tc1().tcnt1().read().bits())
}

/// The current time in ticks, from anywhere (inside a critical section too: interrupts stay
/// disabled then). Out of line: one copy of the time read and the interrupt save/restore for
/// its many callers (AVR flash).
#[inline(never)]
pub fn now() -> u32 {
    critical(now_raw)
}

/// The next captured edge, if any.
pub fn pop_pulse() -> Option<u32> {
    let tail = P_TAIL.get();
    if P_HEAD.get() == tail {
        return None;
    }
    let t = critical(|| {
        // SAFETY: the handler only writes slots past the head; this slot is ours until the tail moves.
        unsafe { read_volatile(&(*PULSES.0.get())[(tail % PULSE_RING) as usize]) }
    });
    P_TAIL.set(tail.wrapping_add(1));
    Some(t)
}

/// True when edges are waiting.
#[inline(always)]
pub fn pulse_pending() -> bool {
    P_HEAD.get() != P_TAIL.get()
}

/// The next MIDI-in byte, if any.
pub fn pop_rx() -> Option<u8> {
    let tail = RX_TAIL.get();
    if RX_HEAD.get() == tail {
        return None;
    }
    // SAFETY: as in `pop_pulse` (a single byte needs no critical section).
    let b = unsafe { read_volatile(&(*RX.0.get())[(tail % RX_RING) as usize]) };
    RX_TAIL.set(tail.wrapping_add(1));
    Some(b)
}

/// True when MIDI-in bytes are waiting.
#[inline(always)]
pub fn rx_pending() -> bool {
    RX_HEAD.get() != RX_TAIL.get()
}

/// Arm the MIDI clock byte for tick `at`. Fails (returns false) when `at` is too close to arm
/// safely; the caller then picks a later time.
pub fn arm(at: u32) -> bool {
    critical(|| {
        let cmp = at.wrapping_sub(LEAD);
        if (cmp.wrapping_sub(now()) as i32) < ARM_SAFETY as i32 {
            return false;
        }
        tc1().ocr1a().write(|w| unsafe { w.bits(cmp as u16) });
        ARM_AT.set(at);
        ARM.set(ARM_ARMED);
        true
    })
}

/// Disarm unless the byte already went out; returns the arm state seen.
pub fn disarm() -> u8 {
    critical(|| {
        let s = ARM.get();
        if s == ARM_ARMED {
            ARM.set(ARM_IDLE);
        }
        s
    })
}

/// Set up clock, pins, Timer1 and USART1. Interrupts stay disabled.
pub fn init() {
    // SAFETY: fixed MMIO addresses; called once at boot, before interrupts are enabled.
    let (cpu, wdt) = unsafe { (&*pac::CPU::ptr(), &*pac::WDT::ptr()) };
    // A watchdog reset leaves the watchdog running: stop it first (MCUSR.WDRF must be cleared).
    cpu.mcusr().write(|w| unsafe { w.bits(0) });
    wdt.wdtcsr().write(|w| unsafe { w.bits(0x18) }); // WDCE | WDE
    wdt.wdtcsr().write(|w| unsafe { w.bits(0x00) });
    // The Teensy 2.0 runs at 16 MHz / 8 after reset (CKDIV8): switch to /1. The two writes
    // must be within four cycles; the caller runs with interrupts disabled.
    cpu.clkpr().write(|w| unsafe { w.bits(0x80) });
    cpu.clkpr().write(|w| unsafe { w.bits(0x00) });

    // PB0 button, PB1/PB2 PPQN select: inputs with pull-ups.
    let pb = portb();
    pb.ddrb().write(|w| unsafe { w.bits(0x00) });
    pb.portb().write(|w| unsafe { w.bits(0x07) });
    // PD4 = ICP1 input (no pull-up: driven by the protection stage), PD2 = RXD1 with pull-up (an
    // unplugged MIDI in idles high), PD3 = TXD1 and PD6 = LED outputs.
    let pd = portd();
    pd.portd().write(|w| unsafe { w.bits(1 << 2 | 1 << 3) });
    pd.ddrd().write(|w| unsafe { w.bits(1 << 3 | 1 << 6) });

    // USART1: 31 250 baud 8N1 (UBRR = 16 MHz / (16 · 31 250) − 1 = 31), RX interrupt.
    let u = usart1();
    u.ubrr1().write(|w| unsafe { w.bits(31) });
    u.ucsr1a().write(|w| unsafe { w.bits(0) });
    u.ucsr1c().write(|w| unsafe { w.bits(0x06) });
    u.ucsr1b()
        .write(|w| unsafe { w.bits(1 << 7 | 1 << 4 | 1 << 3) }); // RXCIE1 | RXEN1 | TXEN1

    // Timer1: normal mode, clk/8; input capture on the rising edge with the noise canceller.
    let t = tc1();
    t.tccr1a().write(|w| unsafe { w.bits(0) });
    t.ocr1b().write(|w| unsafe { w.bits(MS) });
    t.tccr1b().write(|w| unsafe { w.bits(TCCR1B_RISING) });
    t.tifr1().write(|w| unsafe { w.bits(0x2F) });
    t.timsk1()
        .write(|w| unsafe { w.bits(1 << 5 | 1 << 2 | 1 << 1 | 1 << 0) }); // ICIE1 OCIE1B OCIE1A TOIE1

    // Idle sleep (timers and the USART keep running).
    cpu.smcr().write(|w| unsafe { w.bits(0x01) });
}

/// Sleep until the next interrupt unless `busy`; `busy` is evaluated with interrupts disabled,
/// and `sei` takes effect only after `sleep`, so no wake-up can slip in between.
#[inline(always)]
pub fn sleep_unless(busy: impl FnOnce() -> bool) {
    avr_device::interrupt::disable();
    if busy() {
        // SAFETY: re-enable interrupts; nothing here relies on them being off.
        unsafe { avr_device::interrupt::enable() };
    } else {
        // SAFETY: `sei` then `sleep`: the instruction after `sei` always executes first.
        unsafe { core::arch::asm!("sei", "sleep") };
    }
}

/// Write a byte to the UART data register (the caller keeps the line free; see `App::service_tx`).
#[inline(always)]
pub fn uart_write(b: u8) {
    usart1().udr1().write(|w| unsafe { w.bits(b) });
}

#[avr_device::interrupt(atmega32u4)]
fn TIMER1_COMPA() {
    if ARM.get() != ARM_ARMED {
        return;
    }
    let at = ARM_AT.get();
    let wait = at.wrapping_sub(now_raw()) as i32;
    if wait > (LEAD + 16) as i32 {
        return; // an earlier lap of the 16-bit compare
    }
    let lo = at as u16;
    let t = tc1();
    if wait < 0 {
        FW_STATS.late_isr.bump();
    }
    while (t.tcnt1().read().bits().wrapping_sub(lo) as i16) < 0 {}
    uart_write(tactus_core::midi::status::CLOCK);
    ARM.set(ARM_FIRED);
}

/// TCCR1B: noise canceller, clk/8, and the capture edge (ICES1: rising when set).
const TCCR1B_FALLING: u8 = 1 << 7 | 1 << 1; // ICNC1 | CS11
const TCCR1B_RISING: u8 = TCCR1B_FALLING | 1 << 6; // | ICES1

/// The clock input's level now (PD4).
#[inline(always)]
fn line_high() -> bool {
    portd().pind().read().bits() & 1 << 4 != 0
}

fn set_capture_edge(rising: bool) {
    let v = if rising {
        TCCR1B_RISING
    } else {
        TCCR1B_FALLING
    };
    tc1().tccr1b().write(|w| unsafe { w.bits(v) });
}

/// Queue an accepted pulse (its rising edge's tick) for the main loop.
fn push_pulse(t: u32) {
    let head = P_HEAD.get();
    if head.wrapping_sub(P_TAIL.get()) >= PULSE_RING {
        FW_STATS.pulse_lost.bump();
        return;
    }
    // SAFETY: this slot is past the tail, so the main loop is not reading it.
    unsafe { write_volatile(&mut (*PULSES.0.get())[(head % PULSE_RING) as usize], t) };
    P_HEAD.set(head.wrapping_add(1));
}

// Both edges of the clock input, captured by Timer1 (exact to the tick, the noise canceller
// delays both alike). A rising edge makes a candidate and the capture edge flips to falling;
// the falling edge flips it back and decides: high for at least [`MIN_WIDTH`] is a pulse at
// the rising edge's time, shorter is a glitch. A candidate still high at its deadline is
// accepted then by `TIMER1_COMPB` (so a pulse is taken 100 µs after its edge, and a line
// stuck high is one pulse).
//
// After an edge flip the datasheet asks for ICF1 to be cleared, but a write to TIFR1 would
// clear every Timer1 flag in simavr; instead each capture is checked against the pin: a
// "rising" capture with the line low, or a "falling" one with the line high, is a spurious
// flag (or a glitch already over, far shorter than [`MIN_WIDTH`]) and is ignored.
#[avr_device::interrupt(atmega32u4)]
fn TIMER1_CAPT() {
    let t = extend(tc1().icr1().read().bits());
    let line = LINE.get();
    if line == LINE_LOW {
        if !line_high() {
            // Low again already: a glitch shorter than this handler's entry (or a spurious
            // flag after an edge flip, which only a glitch can cause).
            FW_STATS.glitches.bump();
            return;
        }
        RISE_AT.set(t);
        LINE.set(LINE_CANDIDATE);
        set_capture_edge(false);
        if !line_high() {
            // It fell around the flip (a glitch shorter than this handler's entry). A captured
            // fall comes back here as a "rising" capture with the line low and counts then.
            LINE.set(LINE_LOW);
            set_capture_edge(true);
            if !tc1().tifr1().read().icf1().bit_is_set() {
                FW_STATS.glitches.bump();
            }
            return;
        }
        schedule_compb();
    } else {
        if line_high() {
            return;
        }
        if line == LINE_CANDIDATE {
            if t.wrapping_sub(RISE_AT.get()) >= MIN_WIDTH as u32 {
                push_pulse(RISE_AT.get());
            } else {
                FW_STATS.glitches.bump();
            }
        }
        LINE.set(LINE_LOW);
        set_capture_edge(true);
        if line_high() {
            // It rose again before the flip: a new candidate from now (a dip this short only
            // happens on a ringing edge; the candidate is judged by its width like any other).
            RISE_AT.set(now_raw());
            LINE.set(LINE_CANDIDATE);
            set_capture_edge(false);
            schedule_compb();
        }
    }
}

/// The 1 ms tick and a candidate's deadline share OCR1B: take whatever is due, then point the
/// compare at the next one. Runs in interrupt context (COMPB, and CAPT for a new candidate).
fn schedule_compb() {
    let t = tc1();
    loop {
        let now = t.tcnt1().read().bits();
        let next_ms = NEXT_MS.get();
        if now.wrapping_sub(next_ms) as i16 >= 0 {
            NEXT_MS.set(next_ms.wrapping_add(MS));
            TICKS.set(TICKS.get().wrapping_add(1));
            continue;
        }
        let mut target = next_ms;
        if LINE.get() == LINE_CANDIDATE {
            let deadline = (RISE_AT.get() as u16).wrapping_add(MIN_WIDTH);
            // A pending capture is the falling edge (or a spurious flag): its handler decides.
            let fall_pending = t.tifr1().read().icf1().bit_is_set();
            if now.wrapping_sub(deadline) as i16 >= 0 {
                if !fall_pending {
                    // High from the rising edge until now, past the deadline: a pulse.
                    push_pulse(RISE_AT.get());
                    LINE.set(LINE_PULSE);
                }
            } else if next_ms.wrapping_sub(deadline) as i16 > 0 {
                target = deadline;
            }
        }
        t.ocr1b().write(|w| unsafe { w.bits(target) });
        // Passed while we were busy: the compare would only match a lap later.
        if (t.tcnt1().read().bits().wrapping_sub(target) as i16) < 0 {
            return;
        }
    }
}

#[avr_device::interrupt(atmega32u4)]
fn TIMER1_OVF() {
    OVF_HI.set(OVF_HI.get().wrapping_add(1));
}

#[avr_device::interrupt(atmega32u4)]
fn TIMER1_COMPB() {
    schedule_compb();
}

#[avr_device::interrupt(atmega32u4)]
fn USART1_RX() {
    let u = usart1();
    let status = u.ucsr1a().read().bits();
    let b = u.udr1().read().bits();
    if status & (1 << 4 | 1 << 3) != 0 {
        // Frame error or overrun: the byte is not trustworthy.
        FW_STATS.rx_err.bump();
        return;
    }
    let head = RX_HEAD.get();
    if head.wrapping_sub(RX_TAIL.get()) >= RX_RING {
        FW_STATS.rx_lost.bump();
        return;
    }
    // SAFETY: as in TIMER1_CAPT.
    unsafe { write_volatile(&mut (*RX.0.get())[(head % RX_RING) as usize], b) };
    RX_HEAD.set(head.wrapping_add(1));
}
