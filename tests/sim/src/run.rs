//! Scenarios (what the harness does to the pins and the MIDI input, and when) and running them.

use crate::sim::{Sim, F_CPU, NVEC};
use std::time::{Duration, Instant};

/// Cycles per microsecond and per millisecond at 16 MHz.
pub const US: u64 = 16;
pub const MS: u64 = 16_000;
/// One MIDI byte on the wire (10 bits at 31 250 baud), in cycles.
pub const FRAME: u64 = 5_120;
/// The firmware boots and settles in well under this.
pub const BOOT: u64 = 20 * MS;

/// A stimulus.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// The clock input (PD4) goes high or low.
    Clock(bool),
    /// PB`n` pulled to ground (`true`) or released.
    Switch(u8, bool),
    /// A byte starts arriving on MIDI in (its start bit).
    Rx(u8),
}

/// One true input pulse: its position in 1/96 beats and its exact time in cycles.
#[derive(Clone, Copy, Debug)]
pub struct TruePulse {
    pub pos: i64,
    pub t: f64,
}

/// A deterministic xorshift generator for jitter and traffic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [-1, 1).
    pub fn sym(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A pulse train: `count` pulses at `bpm` and `ppqn` from `start`.
#[derive(Clone, Debug)]
pub struct Train {
    pub start: f64,
    pub bpm: f64,
    pub ppqn: u32,
    pub count: usize,
    /// Uniform jitter amplitude (± cycles) and seed.
    pub jitter: Option<(f64, u64)>,
    /// Pulse indices that are not sent (the true grid keeps them).
    pub drop: Vec<usize>,
    /// Extra pulses (index, delay in cycles after that pulse's falling edge): a second trigger
    /// 0.5 ms wide (contact bounce, a doubled gate), long enough to count as a pulse.
    pub extra: Vec<(usize, u64)>,
    /// High time of every pulse (cycles); `None`: 2 ms or half the period, whichever is shorter.
    pub width: Option<u64>,
}

impl Train {
    pub fn new(start: f64, bpm: f64, ppqn: u32, count: usize) -> Train {
        Train {
            start,
            bpm,
            ppqn,
            count,
            jitter: None,
            drop: vec![],
            extra: vec![],
            width: None,
        }
    }
    pub fn period(&self) -> f64 {
        F_CPU as f64 * 60.0 / (self.bpm * self.ppqn as f64)
    }
    /// The time of the pulse after the last one.
    pub fn end(&self) -> f64 {
        self.start + self.count as f64 * self.period()
    }
}

/// What the harness does, and the truth to judge the output against.
pub struct Scenario {
    pub pb1_low: bool,
    pub pb2_low: bool,
    pub events: Vec<(u64, Ev)>,
    pub end: u64,
    /// The true input grid (every nominal pulse, sent or not), in position order.
    pub truth: Vec<TruePulse>,
    next_pos: i64,
    /// Set the high half of the firmware's 32-bit tick counter right after boot (to cross its
    /// wrap, 36 minutes after power-up, in a short run).
    pub time_hi: Option<u16>,
}

impl Scenario {
    pub fn new(ppqn_pins: u32) -> Scenario {
        let (pb1_low, pb2_low) = match ppqn_pins {
            1 => (false, false),
            2 => (true, false),
            4 => (false, true),
            24 => (true, true),
            _ => panic!("no pin setting for {ppqn_pins} PPQN"),
        };
        Scenario {
            pb1_low,
            pb2_low,
            events: vec![],
            end: 0,
            truth: vec![],
            next_pos: 0,
            time_hi: None,
        }
    }

    /// Add a pulse train; positions continue from the previous train. Each pulse is high for
    /// `tr.width`, by default 2 ms or half the period, whichever is shorter (real clocks send
    /// 1–15 ms; the firmware needs 100 µs).
    pub fn train(&mut self, tr: &Train) -> &mut Self {
        let p = tr.period();
        let units = 96 / tr.ppqn as i64;
        let width = tr
            .width
            .unwrap_or_else(|| (2.0 * MS as f64).min(p / 2.0) as u64);
        let mut rng = Rng::new(tr.jitter.map_or(1, |j| j.1));
        for i in 0..tr.count {
            let t = tr.start + i as f64 * p;
            self.truth.push(TruePulse {
                pos: self.next_pos,
                t,
            });
            self.next_pos += units;
            let j = tr.jitter.map_or(0.0, |(a, _)| a * rng.sym());
            if tr.drop.contains(&i) {
                continue;
            }
            let at = (t + j).round() as u64;
            self.pulse(at, width);
            for &(k, d) in &tr.extra {
                if k == i {
                    self.pulse(at + width + d, 500 * US);
                }
            }
        }
        self.end = self.end.max(tr.end() as u64);
        self
    }

    /// The clock line high at `at` for `width` cycles (a pulse, or a glitch if short).
    pub fn pulse(&mut self, at: u64, width: u64) {
        self.events.push((at, Ev::Clock(true)));
        self.events.push((at + width, Ev::Clock(false)));
    }

    /// A switch (PBn to ground) closed at `at` for `len` cycles, with contact bounce.
    pub fn press(&mut self, pin: u8, at: u64, len: u64) -> &mut Self {
        for (k, down) in [
            (0, true),
            (300, false),
            (700, true),
            (1_500, false),
            (2_000, true),
        ] {
            self.events.push((at + k * US, Ev::Switch(pin, down)));
        }
        self.events.push((at + len, Ev::Switch(pin, false)));
        self.events
            .push((at + len + 400 * US, Ev::Switch(pin, true)));
        self.events
            .push((at + len + 900 * US, Ev::Switch(pin, false)));
        self
    }

    /// Set switch `pin` (PB1/PB2) at `at` (no bounce: a toggle switch settles once).
    pub fn switch(&mut self, pin: u8, at: u64, low: bool) -> &mut Self {
        self.events.push((at, Ev::Switch(pin, low)));
        self
    }

    /// MIDI-in bytes from `at`, back to back at the line rate (or `gap` cycles apart).
    /// Returns the time after the last byte.
    pub fn midi_in(&mut self, at: u64, bytes: &[u8], gap: u64) -> u64 {
        let gap = gap.max(FRAME);
        for (i, &b) in bytes.iter().enumerate() {
            self.events.push((at + i as u64 * gap, Ev::Rx(b)));
        }
        at + bytes.len() as u64 * gap
    }

    pub fn until(&mut self, end: u64) -> &mut Self {
        self.end = self.end.max(end);
        self
    }
}

/// Counters the firmware keeps (`FW_STATS` in hw.rs; same layout).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub late_main: u8,
    pub desync: u8,
    pub guard_miss: u8,
    pub late_prefix: u8,
    pub pulse_lost: u8,
    pub rx_lost: u8,
    pub rx_err: u8,
    pub late_isr: u8,
    pub thru_dropped: u8,
    pub max_change: u16,
    pub max_commit: u16,
    pub max_plan: u16,
    pub glitches: u8,
    pub panics: u8,
}

/// What came out of one run.
pub struct Run {
    pub tx: Vec<(u8, u64)>,
    pub led: Vec<(bool, u64)>,
    pub stats: Stats,
    pub stack: u16,
    /// Stack high-water mark right after boot (the rest is the running peak).
    pub boot_stack: u16,
    pub isr_max: [u64; NVEC],
    pub cli_max: u64,
    pub sim_cycles: u64,
    pub wall: Duration,
}

impl Run {
    pub fn f8(&self) -> Vec<u64> {
        self.tx
            .iter()
            .filter(|b| b.0 == 0xF8)
            .map(|b| b.1)
            .collect()
    }
    /// Times of a given byte.
    pub fn times_of(&self, byte: u8) -> Vec<u64> {
        self.tx
            .iter()
            .filter(|b| b.0 == byte)
            .map(|b| b.1)
            .collect()
    }
}

fn read_stats(s: &Sim) -> Stats {
    let Some(a) = s.data_symbol("FW_STATS") else {
        return Stats::default();
    };
    let b = |o: u16| s.read_u8(a + o);
    let w = |o: u16| s.read_u16(a + o);
    Stats {
        late_main: b(0),
        desync: b(1),
        guard_miss: b(2),
        late_prefix: b(3),
        pulse_lost: b(4),
        rx_lost: b(5),
        rx_err: b(6),
        late_isr: b(7),
        thru_dropped: b(8),
        max_change: w(9),
        max_commit: w(11),
        max_plan: w(13),
        glitches: b(15),
        panics: s.data_symbol("FW_PANICS").map_or(0, |p| s.read_u8(p)),
    }
}

/// Cycles per Timer1 lap (65 536 ticks of 8 cycles).
pub const T1_LAP: u64 = 65_536 * 8;

/// The cycle at which Timer1 first wraps in this firmware (deterministic for a given ELF): a
/// probe run with the interrupt profile on, taking the first overflow handler's entry.
pub fn timer1_first_wrap(elf: &str) -> u64 {
    let mut s = Sim::new(elf);
    s.set_pin('D', 4, false);
    s.set_pin('D', 2, true);
    for pin in 0..3 {
        s.set_pin('B', pin, true);
    }
    s.profile = true;
    s.run_until(T1_LAP + BOOT);
    let e = s.isr_last(20);
    assert!(e > 0, "no Timer1 overflow in the probe run");
    e
}

/// Run the firmware through a scenario.
pub fn run(elf: &str, sc: &Scenario, profile: bool) -> Run {
    let wall = Instant::now();
    let mut s = Sim::new(elf);
    // Idle levels before the first instruction: clock low, MIDI in idle (high), switches open.
    s.set_pin('D', 4, false);
    s.set_pin('D', 2, true);
    s.set_pin('B', 0, true);
    s.set_pin('B', 1, !sc.pb1_low);
    s.set_pin('B', 2, !sc.pb2_low);
    s.run_until(BOOT / 2);
    let boot_stack = s.stack_depth();
    if let Some(hi) = sc.time_hi {
        let a = s.data_symbol("FW_OVF_HI").expect("FW_OVF_HI");
        s.write_u16(a, hi);
    }
    s.repaint();
    s.profile = profile;
    let mut ev = sc.events.clone();
    ev.sort_by_key(|e| e.0);
    for (t, e) in ev {
        s.run_until(t);
        match e {
            Ev::Clock(level) => s.set_pin('D', 4, level),
            Ev::Switch(pin, low) => s.set_pin('B', pin, !low),
            Ev::Rx(b) => s.uart_push(b),
        }
    }
    s.run_until(sc.end);
    let (isr_max, _, cli_max) = s.isr_profile();
    Run {
        tx: s.tx(),
        led: s.led(),
        stats: read_stats(&s),
        stack: s.stack_depth(),
        boot_stack,
        isr_max,
        cli_max,
        sim_cycles: s.cycle(),
        wall: wall.elapsed(),
    }
}
