//! Three baseline clock followers, run side by side with Tactus in the `make bench` scenario
//! report. Each works in `f64` seconds over a [`Scenario`]'s input pulse times and returns
//! output pulse times (rising edges) at a chosen output PPQN, so [`crate::evaluate`] scores
//! them exactly like Tactus.
//!
//! All three are event-driven in continuous time: none of the sample (20.8 µs at 48 kHz) or
//! timer quantisation of the real implementations is modelled. That can only flatter the
//! baselines.
//!
//! # (a) [`SeedFirmware`]: the seed Teensy project
//!
//! The firmware this project replaced followed a 1 PPQN CV clock: Timer1 measured the last beat
//! interval, and on every input pulse Timer3 was restarted to emit 24 MIDI clocks spaced by
//! `last_beat_interval / 24`. When the next pulse arrived before all 24 had gone out, the ISR
//! flushed the rest back-to-back, spaced only by the DIN byte time (320 µs), then sent the new
//! beat's first clock. When the pulse came late, the 24 clocks had all gone and the output
//! waited for it.
//!
//! Generalised to any input/output PPQN (the original is the `1 → 24` case):
//! - **Period**: the last *beat* interval, measured as the time spanned by the last `in_ppqn`
//!   input intervals (`t[k] − t[k − in_ppqn]`); until `in_ppqn` intervals exist, the last single
//!   interval × `in_ppqn`. Output spacing is that beat interval / `out_ppqn`.
//! - **`out ≥ in`**: each input pulse emits `out/in` ticks: the first at the pulse, the rest at
//!   the output spacing after it. A pulse arriving before the previous pulse's ticks were all
//!   sent flushes the remainder first, 320 µs apart, then sends its own first tick. The very
//!   first pulse has no period yet and emits only its own tick. With `out == in` there is nothing
//!   to schedule between pulses, so the method degenerates into pass-through.
//! - **`out < in`**: every `(in/out)`-th input pulse is passed on, counting from the first.
//! - Every tick goes through one DIN line: no two ticks closer than 320 µs. Output times are the
//!   start of each 0xF8 byte on the line.
//!
//! # (b) [`ImpromptuClocked`]: Impromptu Modular Clocked (and Clkd)
//!
//! Re-implemented from the BPM-detection ("P2…P24") mode of `src/Clocked.cpp` in
//! github.com/MarcBoule/ImpromptuModular (Clkd: `src/Clkd.cpp`, same code with a one-beat
//! period; constants in `src/ClockedCommon.hpp`). The module runs a master clock over a
//! *double period* of length `L` (two beats: `masterLength`); its outputs are at fixed fractions
//! of it (the ×r sub-clocks are `r` iterations of `L / r`, each with a pulse at its start and
//! middle; with no swing, output pulses sit at phase `k / (2·out_ppqn)` of `L`). External sync:
//! - input pulses are counted `extPulseNumber = 0 … 2·ppqn − 1`, restarting every double
//!   period; pulse 0 restarts the interval timer `extIntervalTime` (the cumulative mean is over
//!   the current period only and is restarted each period);
//! - on pulse `n > 0`: `timeLeft = extIntervalTime · (2·ppqn − n) / n` (the mean interval so far
//!   × the pulses still to come), `newMasterLength = clamp(step + timeLeft, 0.267 s, 6 s)` with
//!   `step` the master clock's position in its period, and the timeout becomes
//!   `extIntervalTime · (n + 1) / n + 0.1 s` (predicted next pulse + 100 ms);
//! - a length change stretches the running clocks: `step` and `length` are both multiplied by
//!   `new / old` (`Clock::applyNewLength`), so the *phase* `step / length` is kept and only the
//!   rate changes;
//! - `extIntervalTime > timeoutTime` stops the module (`running = false`); the next pulse
//!   restarts it (`resetClocked(false)`: pulse count, interval timer and clocks reset, the
//!   learned length kept; first timeout `2 / ppqn + 0.1 s`), with a master period starting at
//!   that pulse;
//! - `masterLength` is an `f32` in the module; so it is here.
//!
//! Modelling choices: the module starts stopped (where a Clocked in detection mode sits from
//! `2 / ppqn + 0.1` s after loading with no clock on), with the hard-reset length of 120 BPM;
//! every pulse is one edge (the module's Schmitt trigger sees each scenario pulse as one rising
//! edge). The module has no P1 mode; for 1 PPQN input (S8) the same arithmetic is run with
//! `ppqn = 1`, outside what the module offers.
//!
//! # (c) [`PassThrough`]: VCV Core MIDI-CV
//!
//! MIDI-CV's clock output fires a 1 ms pulse (`dsp::PulseGenerator::trigger(1e-3)`) for each
//! 0xF8 at its frame stamp, dividing by a counter that starts at the first clock. Here: every
//! input pulse becomes an output pulse at the same instant; for `out < in`, every `(in/out)`-th
//! pulse counting from the first. It cannot multiply: for `out > in` only the input pulses come
//! out, and the count errors show that failure. A pulse arriving while the previous 1 ms output
//! pulse is still high only extends it (Rack's `PulseGenerator` keeps the longer remaining
//! time), so it makes no new rising edge.

use crate::scenario::Scenario;

/// One MIDI byte on a DIN line: 10 bits at 31 250 baud.
pub const DIN_BYTE_S: f64 = 320e-6;

/// The baseline followers of the scenario report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// The seed Teensy firmware: last beat interval / 24, flush on an early pulse.
    SeedFirmware,
    /// Impromptu Modular Clocked: per-period cumulative mean, stop at +100 ms late.
    ImpromptuClocked,
    /// VCV Core MIDI-CV: every input tick is an output tick.
    PassThrough,
}

impl Baseline {
    /// All baselines, in report order.
    pub const ALL: [Baseline; 3] = [
        Baseline::SeedFirmware,
        Baseline::ImpromptuClocked,
        Baseline::PassThrough,
    ];

    /// Short name for tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::SeedFirmware => "SeedFirmware",
            Baseline::ImpromptuClocked => "Impromptu",
            Baseline::PassThrough => "PassThrough",
        }
    }

    /// Output pulse times (seconds) at `out_ppqn` for the scenario's input, up to its end.
    pub fn run(self, s: &Scenario, out_ppqn: u32) -> Vec<f64> {
        match self {
            Baseline::SeedFirmware => SeedFirmware::new(s.in_ppqn, out_ppqn).run(&s.input, s.end),
            Baseline::ImpromptuClocked => {
                ImpromptuClocked::clocked(s.in_ppqn, out_ppqn).run(&s.input, s.end)
            }
            Baseline::PassThrough => PassThrough::new(s.in_ppqn, out_ppqn).run(&s.input),
        }
    }
}

/// The seed firmware's follower, generalised to any PPQN pair. See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct SeedFirmware {
    /// Input pulses per beat.
    pub in_ppqn: u32,
    /// Output ticks per beat.
    pub out_ppqn: u32,
    /// Smallest spacing of two ticks on the output line (one DIN byte).
    pub byte_time: f64,
}

/// A serial line: ticks leave no closer than `byte_time` apart.
struct Line {
    out: Vec<f64>,
    free_at: f64,
    byte_time: f64,
}

impl Line {
    fn new(byte_time: f64) -> Self {
        Line {
            out: Vec::new(),
            free_at: f64::NEG_INFINITY,
            byte_time,
        }
    }

    fn send(&mut self, at: f64) {
        let t = at.max(self.free_at);
        self.out.push(t);
        self.free_at = t + self.byte_time;
    }
}

impl SeedFirmware {
    /// The follower for `in_ppqn → out_ppqn` on a DIN line.
    pub fn new(in_ppqn: u32, out_ppqn: u32) -> Self {
        SeedFirmware {
            in_ppqn: in_ppqn.max(1),
            out_ppqn: out_ppqn.max(1),
            byte_time: DIN_BYTE_S,
        }
    }

    /// Output tick times for sorted input pulse times, up to `end`.
    pub fn run(&self, input: &[f64], end: f64) -> Vec<f64> {
        let (inp, outp) = (self.in_ppqn as usize, self.out_ppqn as usize);
        let mut line = Line::new(self.byte_time);
        if outp < inp {
            let div = inp / outp;
            for (_, &t) in input.iter().enumerate().filter(|(i, _)| i % div == 0) {
                line.send(t);
            }
            return line.out;
        }
        let per_pulse = outp / inp;
        // Timer3's schedule for the current input pulse: (pulse time, spacing, next tick index).
        let mut sched: Option<(f64, f64, usize)> = None;
        for (k, &t) in input.iter().enumerate() {
            if let Some((t0, spacing, next)) = sched.as_mut() {
                // Ticks the timer sent before this pulse.
                while *next < per_pulse && *t0 + *next as f64 * *spacing < t {
                    line.send(*t0 + *next as f64 * *spacing);
                    *next += 1;
                }
                // Early pulse: flush the rest back-to-back.
                while *next < per_pulse {
                    line.send(t);
                    *next += 1;
                }
            }
            let beat = if k >= inp {
                Some(t - input[k - inp])
            } else if k >= 1 {
                Some((t - input[k - 1]) * inp as f64)
            } else {
                None
            };
            line.send(t);
            sched = beat.map(|b| (t, b / outp as f64, 1));
        }
        if let Some((t0, spacing, next)) = sched {
            for i in next..per_pulse {
                let at = t0 + i as f64 * spacing;
                if at > end {
                    break;
                }
                line.send(at);
            }
        }
        line.out
    }
}

/// Impromptu Modular Clocked's external-clock follower. See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct ImpromptuClocked {
    /// Input pulses per beat (the module's P2…P24 setting).
    pub in_ppqn: u32,
    /// Output pulses per beat (master = 1, ×r sub-clock = r).
    pub out_ppqn: u32,
    /// Beats per sync period: 2 for Clocked (double period), 1 for Clkd.
    pub period_beats: u32,
}

/// Clocked's master length range (`masterLengthMin / 1.5`, `masterLengthMax * 1.5` for a
/// 30…300 BPM knob): a double period of 20…450 BPM.
const CLOCKED_MIN_LEN: f32 = (120.0 / 300.0) / 1.5;
const CLOCKED_MAX_LEN: f32 = (120.0 / 30.0) * 1.5;

impl ImpromptuClocked {
    /// Clocked (two-beat period).
    pub fn clocked(in_ppqn: u32, out_ppqn: u32) -> Self {
        ImpromptuClocked {
            in_ppqn: in_ppqn.max(1),
            out_ppqn: out_ppqn.max(1),
            period_beats: 2,
        }
    }

    /// Clkd (one-beat period).
    pub fn clkd(in_ppqn: u32, out_ppqn: u32) -> Self {
        ImpromptuClocked {
            period_beats: 1,
            ..Self::clocked(in_ppqn, out_ppqn)
        }
    }

    /// Output pulse times for sorted input pulse times, up to `end`.
    pub fn run(&self, input: &[f64], end: f64) -> Vec<f64> {
        let b = self.period_beats.max(1);
        let pulses_per_period = (self.in_ppqn * b) as i64;
        let outs_per_period = (self.out_ppqn * b) as usize;
        let scale = b as f32 / 2.0;
        let (min_len, max_len) = (CLOCKED_MIN_LEN * scale, CLOCKED_MAX_LEN * scale);
        let first_timeout = b as f64 / self.in_ppqn as f64 + 0.1;

        let mut c = ClockedState {
            out: Vec::new(),
            running: false,
            len: scale, // hard reset: 120 BPM
            phase: 0.0,
            t_ref: 0.0,
            next_k: 1,
            outs_per_period,
        };
        let mut ext_n: i64 = -1;
        let mut t_period = 0.0;
        let mut timeout = first_timeout;
        for &t in input {
            if c.running {
                let stop_at = t_period + timeout;
                if stop_at < t {
                    c.advance(stop_at);
                    c.running = false;
                } else {
                    c.advance(t);
                }
            }
            let mut start = false;
            if !c.running {
                // resetClocked(false): counts and clocks reset, learned length kept.
                c.running = true;
                ext_n = -1;
                timeout = first_timeout;
                start = true;
            }
            ext_n += 1;
            if ext_n >= pulses_per_period {
                ext_n = 0;
            }
            if ext_n == 0 {
                t_period = t;
            } else {
                let ext = t - t_period;
                let n = ext_n as f64;
                let time_left = ext * (pulses_per_period as f64 - n) / n;
                let step = c.phase_at(t) * c.len as f64;
                let new_len = ((step + time_left) as f32).clamp(min_len, max_len);
                timeout = ext * (1.0 + n) / n + 0.1;
                if new_len != c.len {
                    // applyNewLength: step and length stretch together, the phase is kept.
                    c.phase = c.phase_at(t);
                    c.t_ref = t;
                    c.len = new_len;
                }
            }
            if start {
                // The master clock starts its period at this pulse.
                c.phase = 0.0;
                c.t_ref = t;
                c.next_k = 1;
                c.out.push(t);
            }
        }
        if c.running {
            let stop_at = t_period + timeout;
            if stop_at < end {
                c.advance(stop_at);
            } else {
                c.advance_through(end);
            }
        }
        c.out
    }
}

struct ClockedState {
    out: Vec<f64>,
    running: bool,
    len: f32,
    phase: f64,
    t_ref: f64,
    next_k: usize,
    outs_per_period: usize,
}

impl ClockedState {
    fn phase_at(&self, t: f64) -> f64 {
        self.phase + (t - self.t_ref) / self.len as f64
    }

    /// Emit every output pulse strictly before `t` (a pulse at the instant of an input pulse
    /// comes after that pulse's length update, as in the module's process()).
    fn advance(&mut self, t: f64) {
        self.emit_while(|at| at < t);
    }

    /// Emit every output pulse up to and including `t`.
    fn advance_through(&mut self, t: f64) {
        self.emit_while(|at| at <= t);
    }

    fn emit_while(&mut self, before: impl Fn(f64) -> bool) {
        let m = self.outs_per_period as f64;
        loop {
            let at = self.t_ref + (self.next_k as f64 / m - self.phase) * self.len as f64;
            if !before(at) {
                return;
            }
            self.out.push(at);
            if self.next_k >= self.outs_per_period {
                // End of the master period: a new one starts (its pulse 0 is this one).
                self.phase = 0.0;
                self.t_ref = at;
                self.next_k = 1;
            } else {
                self.next_k += 1;
            }
        }
    }
}

/// VCV Core MIDI-CV's clock output. See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct PassThrough {
    /// Input pulses per beat.
    pub in_ppqn: u32,
    /// Output pulses per beat (only divisions of the input are possible).
    pub out_ppqn: u32,
    /// Output pulse length (MIDI-CV: 1 ms).
    pub pulse_s: f64,
}

impl PassThrough {
    /// MIDI-CV with a 1 ms clock pulse.
    pub fn new(in_ppqn: u32, out_ppqn: u32) -> Self {
        PassThrough {
            in_ppqn: in_ppqn.max(1),
            out_ppqn: out_ppqn.max(1),
            pulse_s: 1e-3,
        }
    }

    /// Output rising edges for sorted input pulse times.
    pub fn run(&self, input: &[f64]) -> Vec<f64> {
        let div = (self.in_ppqn / self.out_ppqn).max(1) as usize;
        let mut out = Vec::with_capacity(input.len() / div + 1);
        let mut high_until = f64::NEG_INFINITY;
        for (_, &t) in input.iter().enumerate().filter(|(i, _)| i % div == 0) {
            if t >= high_until {
                out.push(t);
            }
            high_until = high_until.max(t + self.pulse_s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` pulses at `ppqn` and `bpm`, from 0.1 s.
    fn clock(bpm: f64, ppqn: u32, n: usize) -> Vec<f64> {
        let dt = 60.0 / bpm / ppqn as f64;
        (0..n).map(|i| 0.1 + i as f64 * dt).collect()
    }

    fn assert_grid(out: &[f64], first: f64, dt: f64, tol: f64) {
        for (i, &t) in out.iter().enumerate() {
            let want = first + i as f64 * dt;
            assert!(
                (t - want).abs() <= tol,
                "pulse {i} at {t} s, want {want} s (±{tol})"
            );
        }
    }

    #[test]
    fn seed_multiplies_a_beat_clock_by_24() {
        let input = clock(120.0, 1, 9);
        let out = SeedFirmware::new(1, 24).run(&input, 10.0);
        // Beat 0 has no period yet: one tick. Then 24 per beat, and the last beat's 24.
        assert_eq!(out.len(), 1 + 8 * 24);
        assert_eq!(out[0], 0.1);
        assert_grid(&out[1..], 0.6, 0.5 / 24.0, 1e-12);
    }

    #[test]
    fn seed_flushes_on_an_early_pulse() {
        // 120 BPM, then a beat cut short to 0.4 s.
        let input = [0.1, 0.6, 1.0];
        let out = SeedFirmware::new(1, 24).run(&input, 1.0);
        let dt = 0.5 / 24.0;
        // Beat 1: ticks 0..=19 are due before 1.0 s (19 × 20.8 ms = 396 ms).
        let beat1: Vec<f64> = out.iter().copied().filter(|&t| t < 1.0).collect();
        assert_eq!(beat1.len(), 1 + 20);
        assert_grid(&beat1[1..], 0.6, dt, 1e-12);
        // Ticks 20..=23 flushed back-to-back at 1.0 s, then the new beat's first tick.
        let burst: Vec<f64> = out.iter().copied().filter(|&t| t >= 1.0).collect();
        assert_eq!(burst.len(), 5);
        assert_grid(&burst, 1.0, DIN_BYTE_S, 1e-12);
    }

    #[test]
    fn seed_divides_and_passes_equal_rates() {
        let input = clock(120.0, 24, 96);
        let out = SeedFirmware::new(24, 4).run(&input, 10.0);
        assert_eq!(out.len(), 16);
        assert_grid(&out, 0.1, 0.125, 1e-12);
        assert_eq!(SeedFirmware::new(24, 24).run(&input, 10.0), input);
        // 4 → 24: 6 ticks per pulse, spaced by the beat spanning the last 4 pulses / 24.
        let input = clock(120.0, 4, 12);
        let out = SeedFirmware::new(4, 24).run(&input, 10.0);
        assert_eq!(out.len(), 1 + 11 * 6);
        assert_grid(&out[1..], 0.225, 0.5 / 24.0, 1e-12);
    }

    #[test]
    fn impromptu_locks_exactly_at_its_default_tempo() {
        // 120 BPM is the hard-reset length: every pulse lands on the prediction.
        let input = clock(120.0, 24, 24 * 8 + 1);
        let end = *input.last().unwrap();
        for (out_ppqn, dt) in [(24, 0.5 / 24.0), (4, 0.125), (1, 0.5)] {
            let out = ImpromptuClocked::clocked(24, out_ppqn).run(&input, end);
            assert_eq!(out.len(), 8 * out_ppqn as usize + 1, "out {out_ppqn}");
            assert_grid(&out, 0.1, dt, 1e-9);
        }
    }

    #[test]
    fn impromptu_learns_another_tempo_within_its_period() {
        // 100 BPM: the first period stretches the 120 BPM default to the measured tempo; the
        // phase error left at its end decays over the next periods.
        let input = clock(100.0, 24, 24 * 12 + 1);
        let dt = 0.6 / 24.0;
        let end = input.last().unwrap() + dt / 2.0;
        let out = ImpromptuClocked::clocked(24, 24).run(&input, end);
        assert_eq!(out.len(), 12 * 24 + 1);
        assert_grid(&out[48..], 0.1 + 48.0 * dt, dt, 200e-6);
        assert_grid(&out[96..], 0.1 + 96.0 * dt, dt, 3e-6);
        assert_grid(&out[144..], 0.1 + 144.0 * dt, dt, 1e-6);
        // Clkd corrects every beat.
        let out = ImpromptuClocked::clkd(24, 24).run(&input, end);
        assert_eq!(out.len(), 12 * 24 + 1);
        assert_grid(&out[24..], 0.1 + 24.0 * dt, dt, 300e-6);
        assert_grid(&out[72..], 0.1 + 72.0 * dt, dt, 1e-6);
    }

    #[test]
    fn impromptu_stops_100ms_after_a_missing_pulse_and_restarts() {
        // 120 BPM 24 PPQN for 4 beats and 1 pulse (ends on a period's pulse 0), a 3 s gap,
        // then 4 more beats.
        let mut input = clock(120.0, 24, 97);
        let stop = *input.last().unwrap(); // 2.1 s
        let restart = stop + 3.0;
        input.extend(clock(120.0, 24, 96).iter().map(|t| t - 0.1 + restart));
        let out = ImpromptuClocked::clocked(24, 24).run(&input, restart + 3.0);
        // After pulse 0 of a period the timeout still is the previous period's prediction:
        // a whole double period + 100 ms. The master keeps running until then.
        let during_gap: Vec<f64> = out
            .iter()
            .copied()
            .filter(|&t| t > stop && t < restart)
            .collect();
        assert!(!during_gap.is_empty());
        assert!(during_gap.iter().all(|&t| t <= stop + 1.0 + 0.1 + 1e-9));
        // Restart: a new period at the first pulse after the gap, on the grid. After the last
        // pulse (47 of its period) it free-runs to the predicted next pulse + 100 ms.
        let after: Vec<f64> = out.iter().copied().filter(|&t| t >= restart).collect();
        assert_eq!(after.len(), 96 + 5);
        assert_grid(&after, restart, 0.5 / 24.0, 1e-9);
    }

    #[test]
    fn impromptu_times_out_between_pulses() {
        // Stop after pulse 5 of a period: the timeout is the predicted 6th pulse + 100 ms.
        let input = clock(120.0, 24, 6);
        let out = ImpromptuClocked::clocked(24, 24).run(&input, 10.0);
        let last = out.last().copied().unwrap();
        let predicted = 0.1 + 6.0 * 0.5 / 24.0;
        assert!(last <= predicted + 0.1, "last output {last}");
        assert!(last > predicted + 0.1 - 0.5 / 24.0, "last output {last}");
    }

    #[test]
    fn passthrough_passes_and_divides() {
        let input = clock(120.0, 24, 96);
        assert_eq!(PassThrough::new(24, 24).run(&input), input);
        let out = PassThrough::new(24, 4).run(&input);
        assert_eq!(out.len(), 16);
        assert_grid(&out, 0.1, 0.125, 1e-12);
        // It cannot multiply: 1 → 24 gives the beats only.
        let input = clock(120.0, 1, 8);
        assert_eq!(PassThrough::new(1, 24).run(&input), input);
    }

    #[test]
    fn passthrough_merges_pulses_inside_its_1ms_gate() {
        let out = PassThrough::new(24, 24).run(&[0.1, 0.1005, 0.102, 0.2]);
        assert_eq!(out, vec![0.1, 0.102, 0.2]);
    }
}
