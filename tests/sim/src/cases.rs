//! The firmware test cases. Each runs the real ELF in simavr and judges the UART output by its
//! timestamps against the true input grid.

use crate::check::{fit, is_subsequence, min_spacing, parse, Fit, Grid, Msg};
use crate::run::{run, Run, Scenario, Train, BOOT, FRAME, MS, US};
use std::time::Duration;

/// Timing target: every clock within ±4 µs of the ideal grid (steady state).
pub const TOL_US: f64 = 4.0;
/// Tempi and input resolutions of the steady-state matrix.
pub const TEMPI: [f64; 5] = [30.0, 60.0, 120.0, 200.0, 300.0];
pub const PPQNS: [u32; 4] = [1, 2, 4, 24];
/// Warm-up and measured beats in the steady-state runs.
const WARM_BEATS: usize = 4;
pub const MEASURE_BEATS: usize = 4;

/// The result of one case.
#[derive(Default)]
pub struct Outcome {
    pub name: String,
    pub fails: Vec<String>,
    pub notes: Vec<String>,
    /// Steady-state figures (for `make bench`): PPQN, BPM, fit, minimum clock spacing (cycles).
    pub steady: Option<(u32, f64, Fit, u64)>,
    pub sim_seconds: f64,
    pub wall: Duration,
    pub run_stats: Option<RunFigures>,
    /// A known limitation outside the firmware (with the reason): reported, not failed.
    pub known: Option<&'static str>,
}

/// Resource figures from a run.
#[derive(Clone, Copy)]
pub struct RunFigures {
    pub stack: u16,
    pub boot_stack: u16,
    pub isr_max: [u64; crate::sim::NVEC],
    pub cli_max: u64,
    pub max_change: u16,
    pub max_commit: u16,
    pub max_plan: u16,
}

impl Default for RunFigures {
    fn default() -> Self {
        RunFigures {
            stack: 0,
            boot_stack: 0,
            isr_max: [0; crate::sim::NVEC],
            cli_max: 0,
            max_change: 0,
            max_commit: 0,
            max_plan: 0,
        }
    }
}

impl Outcome {
    fn new(name: &str) -> Outcome {
        Outcome {
            name: name.to_string(),
            ..Outcome::default()
        }
    }
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.fails.push(msg());
        }
    }
    fn note(&mut self, s: String) {
        self.notes.push(s);
    }
    /// Checks every run must pass, and the resource figures.
    fn common(&mut self, r: &Run) {
        let s = r.stats;
        self.check(
            s.desync == 0 && s.guard_miss == 0 && s.late_main == 0 && s.late_prefix == 0,
            || format!("scheduling errors: {s:?}"),
        );
        self.check(s.late_isr == 0, || {
            format!("{} clock bytes written late", s.late_isr)
        });
        self.check(s.pulse_lost == 0 && s.rx_lost == 0 && s.rx_err == 0, || {
            format!("input lost: {s:?}")
        });
        self.check(s.panics == 0, || "the firmware panicked".into());
        let all: Vec<u64> = r.tx.iter().map(|b| b.1).collect();
        let sp = min_spacing(&all);
        self.check(sp >= FRAME, || {
            format!("two UART bytes {sp} cycles apart (< one frame, {FRAME})")
        });
        self.sim_seconds += r.sim_cycles as f64 / crate::sim::F_CPU as f64;
        self.wall += r.wall;
        self.run_stats = Some(RunFigures {
            stack: r.stack,
            boot_stack: r.boot_stack,
            isr_max: r.isr_max,
            cli_max: r.cli_max,
            max_change: s.max_change,
            max_commit: s.max_commit,
            max_plan: s.max_plan,
        });
    }
    /// A steady window: within tolerance and exactly one clock per grid point.
    fn steady_window(&mut self, what: &str, f: &Fit, expect: Option<usize>) {
        self.check(f.count_ok, || {
            format!("{what}: count error (clock missing or extra): {f:?}")
        });
        if let Some(n) = expect {
            self.check(f.n == n, || format!("{what}: {} clocks, expected {n}", f.n));
        }
        self.check(f.max_abs_us <= TOL_US, || {
            format!(
                "{what}: max |error| {:.2} µs > {TOL_US} µs (at cycle {})",
                f.max_abs_us, f.worst_at
            )
        });
    }
}

fn start_time() -> f64 {
    (BOOT + 10 * MS) as f64 + 0.37 * MS as f64
}

/// Window over whole beats `[from_beat, to_beat)` of a grid, shifted half a clock early.
fn beat_window(g: &Grid, from_beat: i64, to_beat: i64) -> (u64, u64) {
    let a = g.time(from_beat * 96) - g.step(from_beat * 96) / 2.0;
    let b = g.time(to_beat * 96) - g.step(to_beat * 96) / 2.0;
    (a as u64, b as u64)
}

/// Steady state at one tempo and input PPQN.
pub fn steady(elf: &str, ppqn: u32, bpm: f64) -> Outcome {
    let mut o = Outcome::new(&format!("steady {ppqn:>2} PPQN {bpm:>3} BPM"));
    let beats = WARM_BEATS + MEASURE_BEATS;
    let mut sc = Scenario::new(ppqn);
    let tr = Train::new(start_time(), bpm, ppqn, beats * ppqn as usize + 1);
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, ppqn == 24 && bpm == 300.0);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, WARM_BEATS as i64, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("steady", &f, Some(MEASURE_BEATS * 24));
    let sp = min_spacing(&r.f8());
    o.check(sp >= FRAME, || format!("clocks {sp} cycles apart"));
    o.check(
        r.times_of(0xFA).is_empty() && r.times_of(0xFC).is_empty(),
        || "transport bytes without a button".into(),
    );
    o.common(&r);
    o.steady = Some((ppqn, bpm, f, sp));
    o
}

/// Jittery input: counts stay exact, output jitter is a fraction of the input's.
pub fn jitter(elf: &str, ppqn: u32, amp_us: f64) -> Outcome {
    let mut o = Outcome::new(&format!("jitter ±{amp_us} µs {ppqn} PPQN"));
    let beats = 24;
    let mut sc = Scenario::new(ppqn);
    let mut tr = Train::new(start_time(), 120.0, ppqn, beats * ppqn as usize + 1);
    tr.jitter = Some((amp_us * US as f64, 7 + ppqn as u64));
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 8, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    let in_rms = amp_us / 3f64.sqrt();
    o.check(f.count_ok && f.n == (beats - 8) * 24, || {
        format!("count error: {f:?}")
    });
    o.check(f.rms_us < in_rms / 2.0, || {
        format!(
            "output jitter {:.1} µs RMS not below half the input's {:.1} µs",
            f.rms_us, in_rms
        )
    });
    o.check(f.max_abs_us < amp_us, || {
        format!(
            "worst clock {:.1} µs off, input jitter ±{amp_us} µs",
            f.max_abs_us
        )
    });
    o.note(format!(
        "input {in_rms:.0} µs RMS -> output {:.1} µs RMS, worst {:.1} µs",
        f.rms_us, f.max_abs_us
    ));
    o.common(&r);
    o
}

/// A tempo step: exactly 24 clocks per beat across it, caught up smoothly, steady after.
pub fn tempo_step(elf: &str, ppqn: u32, from: f64, to: f64) -> Outcome {
    let mut o = Outcome::new(&format!("tempo step {from}->{to} BPM {ppqn} PPQN"));
    let mut sc = Scenario::new(ppqn);
    let a = Train::new(start_time(), from, ppqn, 6 * ppqn as usize);
    let b = Train::new(a.end(), to, ppqn, 12 * ppqn as usize + 1);
    sc.train(&a).train(&b);
    sc.until(b.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let f8 = r.f8();
    let (w0a, w0b) = beat_window(&g, 3, 6);
    let before = fit(&f8, &g, w0a, w0b);
    o.steady_window("before the step", &before, Some(3 * 24));
    let (w1a, w1b) = beat_window(&g, 12, 18);
    let after = fit(&f8, &g, w1a, w1b);
    o.steady_window("settled after the step", &after, Some(6 * 24));
    // Exactly one clock per position between the two windows.
    let between = f8.iter().filter(|&&t| t >= w0b && t < w1a).count() as i64;
    let expect = (after.first_pos - before.last_pos) / 4 - 1;
    o.check(between == expect, || {
        format!("{between} clocks across the step, expected {expect}")
    });
    // Catching up is spread: never closer than half the new clock period (the engine's rule).
    let new_step = g.step(8 * 96);
    let old_step = g.step(0);
    let sp = min_spacing(&f8) as f64;
    o.check(sp >= 0.45 * new_step.min(old_step), || {
        format!(
            "clocks {:.0} µs apart while catching up (period {:.0} µs)",
            sp / US as f64,
            new_step / US as f64
        )
    });
    o.note(format!(
        "min clock spacing {:.2} ms (clock period {:.2} -> {:.2} ms)",
        sp / MS as f64,
        old_step / MS as f64,
        new_step / MS as f64
    ));
    o.common(&r);
    o
}

/// Slow drift (issue 12): the tempo changes linearly in time by `pct_per_min` % per minute of
/// the starting tempo, like an analog clock warming up. After lock the clocks follow without
/// lag: within `tol_us` of the true grid (interpolated between the true pulses), counts exact.
pub fn drift(elf: &str, ppqn: u32, bpm: f64, pct_per_min: f64, tol_us: f64) -> Outcome {
    let mut o = Outcome::new(&format!(
        "drift {pct_per_min:+} %/min {bpm} BPM {ppqn} PPQN"
    ));
    let beats = 40usize;
    let mut sc = Scenario::new(ppqn);
    let t0 = start_time();
    let mut t = t0;
    for _ in 0..beats * ppqn as usize + 1 {
        let minutes = (t - t0) / (crate::sim::F_CPU as f64 * 60.0);
        let tr = Train::new(t, bpm * (1.0 + pct_per_min / 100.0 * minutes), ppqn, 1);
        sc.train(&tr);
        t = tr.end();
    }
    sc.until(t as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 24, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    o.check(f.count_ok && f.n == (beats - 24) * 24, || {
        format!("count error: {f:?}")
    });
    o.check(f.max_abs_us <= tol_us, || {
        format!("max |error| {:.2} µs > {tol_us} µs", f.max_abs_us)
    });
    o.note(format!(
        "beats 24-40: mean {:.2} µs, worst {:.2} µs",
        f.mean_us, f.max_abs_us
    ));
    o.common(&r);
    o
}

/// Dropped pulses (single and two in a row): counts exact. Outputs never run past the first
/// missing pulse (issue 12: a stop never overshoots), so only a single drop at 24 PPQN is bridged
/// on time (the missing pulse's clock is the only one in its interval); two in a row, or a drop
/// at lower PPQN, leave the later clocks waiting for the next pulse, and they are caught up.
pub fn dropped(elf: &str, ppqn: u32) -> Outcome {
    let mut o = Outcome::new(&format!("dropped pulses {ppqn} PPQN"));
    let beats = 16;
    let mut sc = Scenario::new(ppqn);
    let mut tr = Train::new(start_time(), 120.0, ppqn, beats * ppqn as usize + 1);
    let n = ppqn as usize;
    tr.drop = if ppqn >= 8 {
        vec![6 * n + 5, 9 * n + 3, 9 * n + 4, 12 * n + 1]
    } else {
        vec![6 * n + n / 2, 10 * n + n / 2]
    };
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 4, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    // Every clock, exactly once, whatever the timing.
    o.check(f.total_ok && f.n == (beats - 4) * 24, || {
        format!("count error: {f:?}")
    });
    if ppqn >= 24 {
        // A single drop (beats 6 and 12): the missing pulse's clock goes out on time from the
        // prediction; the next clock is the returning pulse's own, which the chip can only send
        // once it has seen that pulse: no later than its longest pulse handling in this run
        // (FW_STATS.max_change) plus a byte. The pair in beat 9 is caught up after it. Away
        // from the drops everything is on time.
        let reaction_us = r.stats.max_change as f64 / 2.0 + 320.0;
        let f8 = r.f8();
        let us = MS as f64 / 1000.0;
        let err_at = |pos: i64| {
            let want = g.time(pos);
            f8.iter()
                .map(|&t| (t as f64 - want) / us)
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(f64::INFINITY)
        };
        for k in [6 * n + 5, 12 * n + 1] {
            let pos = (k * 96 / n) as i64;
            let e = err_at(pos);
            o.check(e.abs() <= TOL_US, || {
                format!("missing pulse {k}: its clock {e:.2} µs off")
            });
            let e = err_at(pos + 96 / n as i64);
            o.check((-TOL_US..=reaction_us).contains(&e), || {
                format!(
                    "pulse {} after a drop: its clock {e:.2} µs off (reaction {reaction_us:.0} µs)",
                    k + 1
                )
            });
            o.note(format!("clock after drop {k}: {e:+.0} µs"));
        }
        for (from, to) in [(4, 6), (7, 9), (10, 12), (13, beats as i64)] {
            let (a1, b1) = beat_window(&g, from, to);
            let f1 = fit(&f8, &g, a1, b1);
            o.steady_window("away from the drops", &f1, Some((to - from) as usize * 24));
        }
    } else {
        // Below 24 PPQN the clocks after the missing pulse wait at the gap and catch up when
        // the next pulse shows it was a drop.
        let (a2, b2) = beat_window(&g, 13, beats as i64);
        let f2 = fit(&r.f8(), &g, a2, b2);
        o.steady_window("after the drops", &f2, Some((beats - 13) * 24));
    }
    o.common(&r);
    o
}

/// Glitches (the line high for 1–50 µs) at random phases across the period, several per
/// period and some just after half a period (where a real pulse would pass the double-trigger
/// test), leave tempo, phase and counts untouched: the firmware rejects them before the core
/// sees them, and counts each one.
pub fn glitches(elf: &str, ppqn: u32) -> Outcome {
    let mut o = Outcome::new(&format!("glitches 1-50 µs {ppqn} PPQN"));
    let beats = 14;
    let mut sc = Scenario::new(ppqn);
    let tr = Train::new(start_time(), 120.0, ppqn, beats * ppqn as usize + 1);
    sc.train(&tr);
    let p = tr.period();
    let width = (2.0 * MS as f64).min(p / 2.0);
    let mut rng = crate::run::Rng::new(13 + ppqn as u64);
    // From beat 3 on: per period one glitch just after half a period and one anywhere in the
    // low part (more at low PPQN, where a period is long).
    let per_period = 2 + 24 / ppqn as usize / 4;
    let mut sent = 0usize;
    let mut widths = (u64::MAX, 0u64);
    for i in 3 * ppqn as usize..beats * ppqn as usize {
        let t0 = tr.start + i as f64 * p;
        let mut g: Vec<(u64, u64)> = (0..per_period)
            .map(|k| {
                let w = (1.0 + 49.0 * (rng.sym() + 1.0) / 2.0) * US as f64;
                let lo = width + 100.0 * US as f64;
                let phase = if k == 0 {
                    p * (0.5 + 0.1 * (rng.sym() + 1.0) / 2.0)
                } else {
                    lo + (p - lo - w - 100.0 * US as f64) * (rng.sym() + 1.0) / 2.0
                };
                ((t0 + phase) as u64, w as u64)
            })
            .collect();
        // Separate glitches (a second one starting within 100 µs of the first's end would be
        // ringing on it, not another glitch).
        g.sort();
        let mut end = 0;
        for (at, w) in g {
            if at < end + 100 * US {
                continue;
            }
            end = at + w;
            sc.pulse(at, w);
            widths = (widths.0.min(w), widths.1.max(w));
            sent += 1;
        }
    }
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, true);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 3, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("through the glitches", &f, Some((beats - 3) * 24));
    o.check(r.stats.glitches as usize == sent % 256, || {
        format!("{} glitches counted, {sent} sent", r.stats.glitches)
    });
    o.note(format!(
        "{sent} glitches of {:.1}-{:.1} µs rejected; clocks max |err| {:.2} µs",
        widths.0 as f64 / US as f64,
        widths.1 as f64 / US as f64,
        f.max_abs_us
    ));
    o.common(&r);
    o
}

/// The minimum pulse width: a clock of 110 µs pulses is followed exactly; one of 90 µs pulses
/// is nothing but glitches (no MIDI clock at all).
pub fn min_width(elf: &str) -> Outcome {
    let mut o = Outcome::new("minimum pulse width 100 µs (110 passes, 90 does not)");
    for (w, passes) in [(110, true), (90, false)] {
        let mut sc = Scenario::new(24);
        let mut tr = Train::new(start_time(), 120.0, 24, 6 * 24 + 1);
        tr.width = Some(w * US);
        sc.train(&tr);
        sc.until(tr.end() as u64);
        let r = run(elf, &sc, false);
        if passes {
            let g = Grid::new(&sc.truth);
            let (a, b) = beat_window(&g, 2, 6);
            let f = fit(&r.f8(), &g, a, b);
            o.steady_window(&format!("{w} µs pulses"), &f, Some(4 * 24));
            o.check(r.stats.glitches == 0, || {
                format!("{w} µs pulses: {} counted as glitches", r.stats.glitches)
            });
        } else {
            let n = r.f8().len();
            o.check(n == 0, || format!("{w} µs pulses made {n} clocks"));
            o.check(r.stats.glitches as usize == tr.count, || {
                format!("{w} µs pulses: {} glitches counted", r.stats.glitches)
            });
        }
        o.common(&r);
    }
    o
}

/// A line stuck high while running is one pulse, not a stream: the output coasts at most the
/// core's allowance, the loss Stop follows 1–3 periods after the edge, and when the line falls
/// and pulses return the clock resumes.
pub fn stuck_high(elf: &str) -> Outcome {
    let mut o = Outcome::new("clock line stuck high for 2 s");
    let ppqn = 24;
    let mut sc = Scenario::new(ppqn);
    let a = Train::new(start_time(), 120.0, ppqn, 6 * 24);
    sc.train(&a);
    sc.press(0, (a.start + 1.3 * 8e6) as u64, 60 * MS);
    // The next pulse rises on time and stays high for 2 s.
    let stuck = a.end() as u64;
    sc.pulse(stuck, 2_000 * MS);
    let b = Train::new(a.end() + 2.5 * 16e6, 120.0, ppqn, 6 * 24 + 1);
    sc.train(&b);
    sc.until(b.end() as u64);
    let r = run(elf, &sc, false);
    let p = a.period();
    let f8 = r.f8();
    let fc = r.times_of(0xFC);
    o.check(fc.len() == 1, || {
        format!("{} Stop bytes, expected 1", fc.len())
    });
    if let Some(&fc) = fc.first() {
        let after = (fc - stuck) as f64 / p;
        o.check((1.0..=3.0).contains(&after), || {
            format!("Stop {after:.2} periods after the stuck edge")
        });
        o.note(format!("Stop {after:.2} periods after the edge that stuck"));
    }
    let coast = f8
        .iter()
        .filter(|&&t| t > stuck + MS && (t as f64) < b.start)
        .count();
    // One pulse: the core coasts its allowance after it (today up to two missing pulses at
    // 24 PPQN, issue 13 makes it one), where a stream of pulses would run on for 2 s.
    o.check(coast <= 3, || {
        format!("{coast} clocks while the line was stuck high (one pulse allows 3)")
    });
    o.note(format!("{coast} clocks while stuck high"));
    let mut truth = sc.truth.clone();
    truth.retain(|t| t.t >= b.start);
    let g = Grid::new(&truth);
    let (wa, wb) = beat_window(&g, truth[0].pos / 96 + 2, truth[0].pos / 96 + 6);
    let f = fit(&f8, &g, wa, wb);
    o.steady_window("after the line recovered", &f, Some(4 * 24));
    o.common(&r);
    o
}

/// Double triggers (ringing, bounce 1 ms after the edge) are ignored.
pub fn doubled(elf: &str, ppqn: u32) -> Outcome {
    let mut o = Outcome::new(&format!("doubled pulses {ppqn} PPQN"));
    let beats = 12;
    let mut sc = Scenario::new(ppqn);
    let mut tr = Train::new(start_time(), 120.0, ppqn, beats * ppqn as usize + 1);
    let n = ppqn as usize;
    tr.extra = vec![(5 * n + 1, MS), (7 * n, 700 * US), (9 * n + n / 2, 2 * MS)];
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 4, beats as i64);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("through the doubles", &f, Some((beats - 4) * 24));
    o.common(&r);
    o
}

/// Start on the next beat, Stop at once; clock keeps flowing while stopped; LED flashes beats.
pub fn button(elf: &str, ppqn: u32) -> Outcome {
    let mut o = Outcome::new(&format!("button start/stop {ppqn} PPQN"));
    let beats = 14;
    let mut sc = Scenario::new(ppqn);
    let tr = Train::new(start_time(), 120.0, ppqn, beats * ppqn as usize + 1);
    sc.train(&tr);
    let bt = (tr.start + 4.0 * 60.0 / 120.0 * 16e6) as u64; // beat 4 of the input
    let press1 = bt + 200 * MS; // mid-beat
    let press2 = bt + 3_123 * MS;
    sc.press(0, press1, 80 * MS);
    sc.press(0, press2, 80 * MS);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let f8 = r.f8();
    let fa = r.times_of(0xFA);
    let fc = r.times_of(0xFC);
    o.check(fa.len() == 1, || {
        format!("{} Start bytes, expected 1", fa.len())
    });
    o.check(fc.len() == 1, || {
        format!("{} Stop bytes, expected 1", fc.len())
    });
    if let (Some(&fa), Some(&fc)) = (fa.first(), fc.first()) {
        // Start: after the press, before the next beat's clock, which is on the beat.
        let next_beat = (g.nearest(press1 as f64) / 96 + 1) * 96;
        let first = f8.iter().copied().find(|&t| t > fa);
        let beat_t = g.time(next_beat);
        o.check(fa > press1 && (fa as f64) < beat_t, || {
            format!(
                "Start at {:.2} ms, press at {:.2} ms, next beat at {:.2} ms",
                fa as f64 / MS as f64,
                press1 as f64 / MS as f64,
                beat_t / MS as f64
            )
        });
        match first {
            Some(t) => {
                let e = (t as f64 - beat_t) / US as f64;
                o.check(e.abs() <= TOL_US, || {
                    format!("first clock after Start is {e:.1} µs from the beat")
                });
            }
            None => o.fails.push("no clock after Start".into()),
        }
        // Stop: promptly after the (debounced) press.
        let lat = (fc - press2) as f64 / MS as f64;
        o.check(fc > press2 && lat < 15.0, || {
            format!("Stop {lat:.2} ms after the press")
        });
        o.note(format!(
            "Start {:.1} ms before the beat; Stop {lat:.1} ms after the press",
            (beat_t - fa as f64) / MS as f64
        ));
        // LED: one flash per beat while running.
        let flashes = r
            .led
            .iter()
            .filter(|(l, t)| *l && *t > fa && *t < fc)
            .count();
        let beats_run = ((g.nearest(fc as f64) - next_beat) / 96 + 1) as usize;
        o.check(flashes.abs_diff(beats_run) <= 1, || {
            format!("{flashes} LED flashes over {beats_run} running beats")
        });
    }
    // The clock flows before, during and after: steady throughout.
    let (a, b) = beat_window(&g, 3, beats as i64);
    let f = fit(&f8, &g, a, b);
    o.steady_window("clock across start/stop", &f, Some((beats - 3) * 24));
    o.common(&r);
    o
}

/// Changing the PPQN switches while the clock runs takes effect without a reboot: the source
/// changes its PPQN at the same tempo and the switches follow (just before, or a while after).
pub fn ppqn_live(elf: &str) -> Outcome {
    let mut o = Outcome::new("PPQN switches changed with the source");
    let mut sc = Scenario::new(4);
    let a = Train::new(start_time(), 120.0, 4, 6 * 4);
    let b = Train::new(a.end(), 120.0, 24, 8 * 24);
    let c = Train::new(b.end(), 120.0, 2, 8 * 2 + 1);
    sc.train(&a).train(&b).train(&c);
    // 4 -> 24: the switches move 2 ms before the source does.
    sc.switch(1, b.start as u64 - 2 * MS, true);
    // 24 -> 2: the switches follow 150 ms after the source.
    sc.switch(2, c.start as u64 + 150 * MS, false);
    sc.until(c.end() as u64);
    let r = run(elf, &sc, false);
    let f8 = r.f8();
    let g = Grid::new(&sc.truth);
    let (wa, wb) = beat_window(&g, 3, 6);
    let fa = fit(&f8, &g, wa, wb);
    o.steady_window("4 PPQN", &fa, Some(3 * 24));
    let (wa, wb) = beat_window(&g, 9, 14);
    let fb = fit(&f8, &g, wa, wb);
    o.steady_window("switched to 24 PPQN", &fb, Some(5 * 24));
    let (wa, wb) = beat_window(&g, 19, 22);
    let fc = fit(&f8, &g, wa, wb);
    o.steady_window("switched to 2 PPQN", &fc, Some(3 * 24));
    o.common(&r);
    o
}

/// The switches are corrected to match a source that did not change (switches said 1, the
/// source sends 4 PPQN): the MIDI tempo should drop to a quarter and settle on the grid.
pub fn ppqn_corrected(elf: &str) -> Outcome {
    let mut o = Outcome::new("PPQN switches corrected, source unchanged");
    let mut sc = Scenario::new(1);
    let a = Train::new(start_time(), 120.0, 4, 24);
    let b = Train::new(a.end(), 120.0, 4, 12 * 4 + 1);
    sc.train(&a).train(&b);
    sc.switch(2, b.start as u64 - 3 * MS, true);
    sc.until(b.end() as u64);
    let r = run(elf, &sc, false);
    let f8 = r.f8();
    let truth_a: Vec<_> = sc.truth[..24]
        .iter()
        .enumerate()
        .map(|(i, p)| crate::run::TruePulse {
            pos: i as i64 * 96,
            t: p.t,
        })
        .collect();
    let ga = Grid::new(&truth_a);
    let (wa, wb) = beat_window(&ga, 8, 23);
    let fa = fit(&f8, &ga, wa, wb);
    o.steady_window(
        "switches at 1, input 4 PPQN (each pulse a beat)",
        &fa,
        Some(15 * 24),
    );
    let g = Grid::new(&sc.truth);
    let (wa, wb) = beat_window(&g, 12, 18);
    let fb = fit(&f8, &g, wa, wb);
    o.steady_window("switches corrected to 4", &fb, Some(6 * 24));
    o.common(&r);
    o
}

/// The clock stops while running at `bpm`: Stop (0xFC) 1–3 input periods after the last pulse
/// (the core's loss timeout plus at most a millisecond of polling), the LED blinks while waiting,
/// and the clock comes back by itself.
pub fn loss(elf: &str, ppqn: u32, bpm: f64) -> Outcome {
    let mut o = Outcome::new(&format!("clock loss -> Stop {ppqn} PPQN {bpm} BPM"));
    let (sc, a, b) = loss_scenario(ppqn, bpm);
    let r = run(elf, &sc, false);
    let last = (a.end() - a.period()) as u64;
    let f8 = r.f8();
    let fc = r.times_of(0xFC);
    let fa = r.times_of(0xFA);
    o.check(fa.len() == 1, || {
        format!("{} Start bytes, expected 1", fa.len())
    });
    o.check(fc.len() == 1, || {
        format!("{} Stop bytes, expected 1 (loss)", fc.len())
    });
    let p = a.period();
    if let Some(&fc) = fc.first() {
        let after = (fc as f64 - last as f64) / p;
        // The core's timeout is 1.5 periods at 1–2 PPQN and 2.5 from 4 PPQN up (plus 4σ,
        // zero here): never sooner, and the Stop within 3 periods.
        let lo = if ppqn <= 2 { 1.5 } else { 2.5 };
        o.check(after >= lo && after <= 3.0, || {
            format!("Stop {after:.2} periods after the last pulse, expected {lo}..3")
        });
        // LED: slow blink while waiting (about 0.52 s on, 0.52 s off).
        let blinks = r
            .led
            .iter()
            .filter(|(l, t)| *l && *t > fc + 100 * MS && (*t as f64) < b.start)
            .count();
        o.check((2..=4).contains(&blinks), || {
            format!("{blinks} LED blinks in the 3 s without a clock")
        });
        let coast = f8.iter().filter(|&&t| t > last + MS && t < fc).count();
        o.note(format!(
            "Stop {:.1} ms after the last pulse ({after:.2} periods); {coast} clocks coasted",
            (fc - last) as f64 / MS as f64
        ));
    }
    // The clock comes back: clocks resume (no Start: the transport stays stopped).
    let g = Grid::new(&sc.truth);
    let resumed = f8.iter().filter(|&&t| t as f64 > b.start).count();
    o.check(resumed >= 4 * 24, || {
        format!("only {resumed} clocks after the clock returned")
    });
    let pos_b = sc.truth[a.count].pos;
    let (wa, wb) = beat_window(&g, pos_b / 96 + 3, pos_b / 96 + 6);
    let f = fit(&f8, &g, wa, wb);
    o.steady_window("after the clock returned", &f, Some(3 * 24));
    o.common(&r);
    o
}

/// Running at `bpm`, Start pressed, the clock stops after 8 beats and comes back about 3 s
/// later (not in phase with the old one: a restart, not a dropout).
fn loss_scenario(ppqn: u32, bpm: f64) -> (Scenario, Train, Train) {
    let mut sc = Scenario::new(ppqn);
    let a = Train::new(start_time(), bpm, ppqn, 8 * ppqn as usize + 1);
    sc.train(&a);
    sc.press(
        0,
        (a.start + 2.3 * a.period() * ppqn as f64) as u64,
        60 * MS,
    );
    let b = Train::new(a.end() + 3.27 * 16e6, bpm, ppqn, 6 * ppqn as usize + 1);
    sc.train(&b);
    sc.until(b.end() as u64);
    (sc, a, b)
}

/// After the last pulse the output sends at most the clocks of the last interval and the one
/// at the first missing pulse, and none after the Stop (issue 13: the coasting allowance of the
/// core's horizon; today the core coasts up to two missing pulses at 8 PPQN and up).
pub fn loss_coast(elf: &str, ppqn: u32) -> Outcome {
    let mut o = Outcome::new(&format!("clock loss: coasting {ppqn} PPQN"));
    let (sc, a, b) = loss_scenario(ppqn, 120.0);
    let r = run(elf, &sc, false);
    let last = (a.end() - a.period()) as u64;
    let f8 = r.f8();
    let stop = r.times_of(0xFC).first().copied().unwrap_or(b.start as u64);
    let coast = f8
        .iter()
        .filter(|&&t| t > last + MS && (t as f64) < b.start)
        .count();
    let allowed = 24 / ppqn as usize;
    o.check(coast <= allowed, || {
        format!("{coast} clocks after the last pulse, at most {allowed} allowed")
    });
    let stray = f8
        .iter()
        .filter(|&&t| t > stop && (t as f64) < b.start)
        .count();
    o.check(stray == 0, || format!("{stray} clocks after Stop"));
    o.note(format!("{coast} clocks after the last pulse"));
    o.common(&r);
    o
}

/// Check the thru output: every input message except clock/transport arrives intact, in order.
fn thru_expect(o: &mut Outcome, r: &Run, input: &[u8], exact: bool) {
    let out: Vec<u8> = r.tx.iter().map(|b| b.0).collect();
    let (want, want_rt, bad_in) = parse(input);
    assert_eq!(bad_in, 0, "test input must be valid MIDI");
    let (got, got_rt, bad) = parse(&out);
    o.check(bad == 0, || {
        format!("{bad} corrupt or incomplete messages on MIDI out")
    });
    let want_rt: Vec<Msg> = want_rt
        .into_iter()
        .filter(|m| !(0xF8..=0xFC).contains(&m.0[0]))
        .collect();
    let got_rt_other: Vec<Msg> = got_rt.iter().filter(|m| m.0[0] != 0xF8).cloned().collect();
    o.check(got_rt_other == want_rt, || {
        format!("real-time bytes passed: {got_rt_other:?}, expected {want_rt:?}")
    });
    if exact {
        o.check(got == want, || {
            format!("thru output\n  {got:02X?}\nexpected\n  {want:02X?}")
        });
    } else {
        o.check(is_subsequence(&got, &want), || {
            "thru output is not an in-order selection of whole input messages".into()
        });
    }
}

/// Thru merge under a running clock: running status, SysEx with clocks inside, incoming
/// clock/transport removed; our clocks stay on time.
pub fn thru(elf: &str) -> Outcome {
    let mut o = Outcome::new("thru merge: running status, SysEx, filters");
    let mut sc = Scenario::new(24);
    let tr = Train::new(start_time(), 120.0, 24, 10 * 24 + 1);
    sc.train(&tr);
    #[rustfmt::skip]
    let input: Vec<u8> = vec![
        0x90, 0x3C, 0x40, 0x3E, 0x40,             // note on + running status
        0x80, 0xF8, 0x3C, 0x00,                   // clock between status and data: removed
        0xB0, 0x07, 0x64, 0x07, 0x50,             // CC + running status
        0xF0, 0x7E, 0xF8, 0x7F, 0x06, 0x01, 0xF7, // SysEx with a clock inside
        0xFA, 0xC0, 0x05,                         // Start (removed), program change
        0xFE,                                     // active sensing: passed
        0x90, 0x40, 0x7F, 0xFC, 0x40, 0x00,       // Stop between bytes: removed
        0xE0, 0x00, 0x40, 0xF2, 0x10, 0x00,       // pitch bend, song position (system common)
        0xB1, 0x40, 0x7F, 0x40, 0x00,             // sustain on/off, running status
    ];
    // Twice: once in a burst at the line rate, once spread out; both while clocks run.
    let t1 = (tr.start + 3.0 * 8e6) as u64 + 12_345;
    let end1 = sc.midi_in(t1, &input, 0);
    sc.midi_in(end1 + 300 * MS, &input, 3 * MS + 777);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, true);
    let mut both = input.clone();
    both.extend_from_slice(&input);
    thru_expect(&mut o, &r, &both, true);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 2, 10);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("clocks under thru traffic", &f, Some(8 * 24));
    o.check(r.stats.thru_dropped == 0, || {
        format!("{} dropped", r.stats.thru_dropped)
    });
    o.common(&r);
    o
}

/// MIDI in as the harness sends it: each byte with the cycle its start bit begins.
struct MidiIn {
    bytes: Vec<(u64, u8)>,
}

impl MidiIn {
    /// `bytes` starting at `at`, one every `gap` cycles (at least a frame); returns the end.
    fn send(&mut self, sc: &mut Scenario, at: u64, bytes: &[u8], gap: u64) -> u64 {
        let gap = gap.max(FRAME);
        for (i, &b) in bytes.iter().enumerate() {
            self.bytes.push((at + i as u64 * gap, b));
        }
        sc.midi_in(at, bytes, gap)
    }
}

/// Dense running-status note traffic: `n` bytes at `rate` bytes per second on average (each
/// byte at least a frame after the previous one), with the sender's own clock and transport
/// mixed in, which thru must remove, and active sensing, which it passes. Returns the end.
fn notes(
    sc: &mut Scenario,
    mi: &mut MidiIn,
    rng: &mut crate::run::Rng,
    at: u64,
    n: usize,
    rate: f64,
) -> u64 {
    let mean = crate::sim::F_CPU as f64 / rate;
    let mut t = at;
    let mut k = 0;
    while k < n {
        let mut msg = vec![];
        if rng.next() % 8 == 0 {
            msg.push(0x90 | (rng.next() % 2) as u8);
        }
        msg.push((rng.next() % 128) as u8);
        msg.push((rng.next() % 128) as u8);
        if k == 0 {
            msg.insert(0, 0x90);
        }
        for b in msg {
            if rng.next() % 16 == 0 {
                // The sender's clock and transport (removed), or active sensing (passed).
                let rt = [0xF8, 0xF8, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE][(rng.next() % 7) as usize];
                t = mi.send(sc, t, &[rt], 0);
            }
            // Gaps from one frame up to twice the mean, so the mean rate is `rate`.
            let gap = (FRAME as f64).max(mean * (1.0 + rng.sym())) as u64;
            mi.send(sc, t, &[b], 0);
            t += gap;
            k += 1;
        }
    }
    t
}

/// A SysEx of `len` data bytes with the sender's clock (0xF8) every 37 bytes.
fn sysex(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0xF0, 0x7D];
    for i in 0..len {
        if i % 37 == 5 {
            v.push(0xF8);
        }
        v.push(((i * 7 + seed as usize) % 128) as u8);
    }
    v.push(0xF7);
    v
}

/// Thru is byte-transparent under a running clock: dense running-status notes at 800 B/s and
/// SysEx of 300 B to 4 KB (sent at 90 % of the line rate, with the sender's clocks inside) all
/// arrive byte for byte (ours and the sender's 0xF8/0xFA/0xFC aside), note latency ≤ 2 ms, and
/// every 0xF8 of ours stays within ±4 µs of its slot.
pub fn thru_stream(elf: &str) -> Outcome {
    let mut o = Outcome::new("thru stream: notes 800 B/s, SysEx 0.3-4 KB");
    let mut sc = Scenario::new(24);
    let tr = Train::new(start_time(), 120.0, 24, 16 * 24 + 1);
    sc.train(&tr);
    sc.press(0, (tr.start + 1.2 * 8e6) as u64, 60 * MS);
    let mut mi = MidiIn { bytes: vec![] };
    let mut rng = crate::run::Rng::new(800);
    let sysex_gap = (FRAME as f64 / 0.9) as u64;
    let mut t = (tr.start + 0.5 * 8e6) as u64;
    let mut note_spans = vec![];
    for (k, len) in [300usize, 1_000, 4_000].into_iter().enumerate() {
        let t0 = t;
        t = notes(&mut sc, &mut mi, &mut rng, t, 800, 800.0);
        note_spans.push((t0, t));
        t = mi.send(&mut sc, t + 3 * MS, &sysex(len, k as u8), sysex_gap) + 3 * MS;
    }
    let t0 = t;
    t = notes(&mut sc, &mut mi, &mut rng, t, 400, 800.0);
    note_spans.push((t0, t));
    sc.until((tr.end() as u64).max(t + 100 * MS));
    let r = run(elf, &sc, true);
    let input: Vec<u8> = mi
        .bytes
        .iter()
        .map(|b| b.1)
        .filter(|b| !(0xF8..=0xFC).contains(b))
        .collect();
    let out: Vec<(u8, u64)> =
        r.tx.iter()
            .copied()
            .filter(|b| ![0xF8, 0xFA, 0xFC].contains(&b.0))
            .collect();
    let got: Vec<u8> = out.iter().map(|b| b.0).collect();
    let same = got == input;
    o.check(same, || {
        let k = got.iter().zip(&input).take_while(|(a, b)| a == b).count();
        format!(
            "thru output differs at byte {k} of {} (got {} bytes): got {:02X?}, want {:02X?}",
            input.len(),
            got.len(),
            &got[k..(k + 8).min(got.len())],
            &input[k..(k + 8).min(input.len())]
        )
    });
    // Latency: from the end of each received byte to the start of its copy on MIDI out.
    let ins: Vec<u64> = mi
        .bytes
        .iter()
        .filter(|b| !(0xF8..=0xFC).contains(&b.1))
        .map(|b| b.0 + FRAME)
        .collect();
    let (mut note_max, mut all_max) = (0u64, 0u64);
    if same {
        for (&(_, t_out), &t_in) in out.iter().zip(&ins) {
            let lat = t_out.saturating_sub(t_in);
            all_max = all_max.max(lat);
            if note_spans.iter().any(|&(a, b)| t_in >= a && t_in < b) {
                note_max = note_max.max(lat);
            }
        }
    }
    o.check(note_max <= 2 * MS, || {
        format!(
            "note latency up to {:.2} ms (target 2 ms)",
            note_max as f64 / MS as f64
        )
    });
    o.check(r.stats.thru_dropped == 0, || {
        format!("{} messages dropped", r.stats.thru_dropped)
    });
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 1, 16);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("our clocks under thru traffic", &f, Some(15 * 24));
    o.note(format!(
        "{} bytes byte-exact; latency max {:.2} ms (notes), {:.2} ms (with SysEx at 90 % of the line); clocks max |err| {:.2} µs",
        input.len(),
        note_max as f64 / MS as f64,
        all_max as f64 / MS as f64,
        f.max_abs_us
    ));
    o.common(&r);
    o
}

/// True when every message of `got` appears in `want` in order, a SysEx possibly cut short
/// (its start, then 0xF7).
fn is_selection(got: &[Msg], want: &[Msg]) -> bool {
    let mut it = want.iter();
    got.iter().all(|m| {
        it.any(|x| {
            x == m
                || (m.0[0] == 0xF0
                    && x.0[0] == 0xF0
                    && m.0.len() < x.0.len()
                    && x.0.starts_with(&m.0[..m.0.len() - 1]))
        })
    })
}

/// Input beyond what the line carries beside our clock (back to back at the line rate): a long
/// SysEx is cut short and terminated with 0xF7, notes are dropped whole, everything that passes
/// is whole and in order, and our clocks stay on time.
pub fn thru_overflow(elf: &str) -> Outcome {
    let mut o = Outcome::new("thru overflow: whole messages, cut SysEx ends with F7");
    let mut sc = Scenario::new(24);
    let tr = Train::new(start_time(), 300.0, 24, 12 * 24 + 1);
    sc.train(&tr);
    let mut input = vec![0x90, 0x3C, 0x40];
    input.extend_from_slice(&sysex(3_000, 0));
    input.extend_from_slice(&[0x80, 0x3C, 0x00, 0xF0, 0x01, 0x02, 0xF7, 0x91, 0x10, 0x20]);
    let t1 = (tr.start + 2.0 * 3.2e6) as u64;
    let end1 = sc.midi_in(t1, &input, 0);
    // Then back-to-back notes at the full line rate.
    let mut rng = crate::run::Rng::new(99);
    let mut dense = vec![];
    while dense.len() < 2_400 {
        let st = 0x90 | (rng.next() % 3) as u8;
        dense.extend_from_slice(&[st, (rng.next() % 128) as u8, (rng.next() % 128) as u8]);
        if rng.next().is_multiple_of(4) {
            dense.extend_from_slice(&[(rng.next() % 128) as u8, 0]); // running status
        }
    }
    sc.midi_in(end1 + 50 * MS, &dense, 0);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, true);
    let out: Vec<u8> = r.tx.iter().map(|b| b.0).collect();
    let (got, _, bad) = parse(&out);
    o.check(bad == 0, || {
        format!("{bad} corrupt or incomplete messages on MIDI out")
    });
    let mut all = input.clone();
    all.extend_from_slice(&dense);
    let (want, _, _) = parse(&all);
    o.check(is_selection(&got, &want), || {
        "thru output is not an in-order selection of whole input messages (SysEx cut + F7)".into()
    });
    let long = got.iter().find(|m| m.0[0] == 0xF0 && m.0.len() > 10);
    o.check(
        long.is_some_and(|m| m.0.len() < 3_000 && m.0.last() == Some(&0xF7)),
        || "the long SysEx was not cut short and terminated".into(),
    );
    o.check(r.stats.thru_dropped >= 2, || {
        format!(
            "only {} messages dropped under overload",
            r.stats.thru_dropped
        )
    });
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 2, 12);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("clocks under a saturated MIDI in", &f, Some(10 * 24));
    o.note(format!(
        "{} of {} messages passed under overload (the 3 KB SysEx cut after {} bytes), {} dropped",
        got.len(),
        want.len(),
        long.map_or(0, |m| m.0.len()),
        r.stats.thru_dropped
    ));
    o.common(&r);
    o
}

/// Edges right at Timer1's 16-bit wrap: a capture taken just after the wrap while the
/// overflow is still pending (the clock's compare handler holds interrupts off around the
/// pulse) must get the new high half, one just before the wrap the old one. At 1 PPQN an error
/// of one lap (32.8 ms) shows as a large timing error; at higher rates the tracker would
/// dismiss such a pulse as a double trigger. The period is 15 timer laps plus 4 cycles, so the
/// edges sweep from 48 cycles before to 48 cycles after a wrap.
pub fn capture_at_wrap(elf: &str) -> Outcome {
    use crate::run::T1_LAP;
    let mut o = Outcome::new("captures at the Timer1 wrap (-48..+48 cycles)");
    let wrap0 = crate::run::timer1_first_wrap(elf);
    let period = (15 * T1_LAP + 4) as f64;
    let bpm = 16e6 * 60.0 / period;
    let mut sc = Scenario::new(1);
    // Pulse k lands 4k - 64 cycles from a wrap: four beats of warm-up, the sweep from pulse 4
    // (-48) to pulse 28 (+48), then two beats.
    let n = 31;
    let tr = Train::new((wrap0 + T1_LAP - 64) as f64, bpm, 1, n);
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 4, n as i64 - 1);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("through the sweep", &f, Some((n - 5) * 24));
    o.note(format!("{bpm:.2} BPM, first timer wrap at cycle {wrap0}"));
    o.common(&r);
    o
}

/// The 32-bit tick counter wraps (36 minutes after power-up) while the clock runs, after a
/// long idle time (the jump there looks like 36 minutes without input).
pub fn wrap(elf: &str) -> Outcome {
    let mut o = Outcome::new("tick counter wrap after a long idle");
    let mut sc = Scenario::new(24);
    // 60 laps of 32.8 ms before the wrap: it comes about 2 s into the clock.
    sc.time_hi = Some(0xFFFF - 60);
    let tr = Train::new(start_time(), 120.0, 24, 8 * 24 + 1);
    sc.train(&tr);
    sc.press(0, (tr.start + 2.6 * 8e6) as u64, 50 * MS);
    sc.midi_in(
        (tr.start + 3.1 * 8e6) as u64,
        &[0x90, 0x40, 0x7F, 0x40, 0x00],
        0,
    );
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 2, 8);
    let f = fit(&r.f8(), &g, a, b);
    o.steady_window("across the wrap", &f, Some(6 * 24));
    o.check(r.times_of(0xFA).len() == 1, || {
        "no Start after the long idle".into()
    });
    let thru: Vec<u8> = r.tx.iter().map(|b| b.0).filter(|&b| b < 0xF8).collect();
    o.check(thru == [0x90, 0x40, 0x7F, 0x40, 0x00], || {
        format!("thru after the long idle: {thru:02X?}")
    });
    o.common(&r);
    o
}

/// The checks have teeth: the same judging applied to a real run's output with one clock
/// removed, one added, one late by 5 µs, or a whole beat missing must fail.
pub fn self_check(elf: &str) -> Outcome {
    let mut o = Outcome::new("harness self-check (corrupted outputs fail)");
    let mut sc = Scenario::new(24);
    let tr = Train::new(start_time(), 120.0, 24, 6 * 24 + 1);
    sc.train(&tr);
    sc.until(tr.end() as u64);
    let r = run(elf, &sc, false);
    let g = Grid::new(&sc.truth);
    let (a, b) = beat_window(&g, 2, 6);
    let f8 = r.f8();
    let judge = |f8: &[u64]| {
        let mut t = Outcome::new("");
        let f = fit(f8, &g, a, b);
        t.steady_window("", &f, Some(4 * 24));
        t.fails.is_empty()
    };
    o.check(judge(&f8), || "the real output fails".into());
    let inside: Vec<usize> = (0..f8.len()).filter(|&i| f8[i] > a && f8[i] < b).collect();
    let mid = inside[inside.len() / 2];
    let mut missing = f8.clone();
    missing.remove(mid);
    o.check(!judge(&missing), || "a missing clock passed".into());
    let mut extra = f8.clone();
    extra.insert(mid + 1, (f8[mid] + f8[mid + 1]) / 2);
    o.check(!judge(&extra), || "an extra clock passed".into());
    let mut late = f8.clone();
    late[mid] += 5 * US;
    o.check(!judge(&late), || "a clock 5 µs late passed".into());
    let mut beat_short = f8.clone();
    beat_short.drain(mid..mid + 24);
    o.check(!judge(&beat_short), || {
        "a missing beat of clocks passed".into()
    });
    let mut burst = f8.clone();
    for k in 0..4 {
        burst[mid + k] = f8[mid] + k as u64 * 330 * US; // flushed back to back
    }
    o.check(!judge(&burst), || "a burst passed".into());
    o.common(&r);
    o
}

/// A named test case: runs the firmware ELF at the given path.
pub type Case = (String, Box<dyn Fn(&str) -> Outcome + Send + Sync>);

/// Every case of `make test-firmware`.
pub fn all() -> Vec<Case> {
    let mut v: Vec<Case> = vec![];
    for &p in &PPQNS {
        for &b in &TEMPI {
            v.push((
                format!("steady-{p}-{b}"),
                Box::new(move |e| steady(e, p, b)),
            ));
        }
    }
    v.push(("jitter-4".into(), Box::new(|e| jitter(e, 4, 1000.0))));
    v.push(("jitter-24".into(), Box::new(|e| jitter(e, 24, 500.0))));
    v.push((
        "step-up".into(),
        Box::new(|e| tempo_step(e, 4, 120.0, 150.0)),
    ));
    v.push((
        "step-down".into(),
        Box::new(|e| tempo_step(e, 24, 120.0, 90.0)),
    ));
    v.push((
        "drift-24".into(),
        Box::new(|e| drift(e, 24, 120.0, 2.0, TOL_US)),
    ));
    v.push((
        "drift-4".into(),
        Box::new(|e| drift(e, 4, 90.0, -2.0, TOL_US)),
    ));
    // At 1 PPQN the ramp term's trim rings by some 50 µs about the grid (README, S13).
    v.push((
        "drift-1".into(),
        Box::new(|e| drift(e, 1, 60.0, 2.0, 150.0)),
    ));
    v.push(("dropped-24".into(), Box::new(|e| dropped(e, 24))));
    v.push(("dropped-4".into(), Box::new(|e| dropped(e, 4))));
    v.push(("dropped-1".into(), Box::new(|e| dropped(e, 1))));
    v.push(("doubled-24".into(), Box::new(|e| doubled(e, 24))));
    v.push(("doubled-1".into(), Box::new(|e| doubled(e, 1))));
    v.push(("button-1".into(), Box::new(|e| button(e, 1))));
    v.push(("button-24".into(), Box::new(|e| button(e, 24))));
    v.push(("ppqn-live".into(), Box::new(ppqn_live)));
    v.push(("ppqn-corrected".into(), Box::new(ppqn_corrected)));
    v.push(("self-check".into(), Box::new(self_check)));
    for p in [1, 2, 4, 24] {
        v.push((format!("loss-{p}"), Box::new(move |e| loss(e, p, 120.0))));
    }
    v.push(("loss-24-300".into(), Box::new(|e| loss(e, 24, 300.0))));
    v.push(("loss-1-30".into(), Box::new(|e| loss(e, 1, 30.0))));
    for p in [1, 4, 24] {
        v.push((
            format!("loss-coast-{p}"),
            Box::new(move |e| loss_coast(e, p)),
        ));
        v.push((format!("glitch-{p}"), Box::new(move |e| glitches(e, p))));
    }
    v.push(("min-width".into(), Box::new(min_width)));
    v.push(("stuck-high".into(), Box::new(stuck_high)));
    v.push(("capture-at-wrap".into(), Box::new(capture_at_wrap)));
    v.push(("wrap".into(), Box::new(wrap)));
    v.push(("thru".into(), Box::new(thru)));
    v.push(("thru-stream".into(), Box::new(thru_stream)));
    v.push(("thru-overflow".into(), Box::new(thru_overflow)));
    v
}
