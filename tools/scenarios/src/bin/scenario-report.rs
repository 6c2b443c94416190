//! The `make bench` scenario report: Tactus and three baselines (see
//! [`tactus_scenarios::baselines`]) on the same inputs, every scenario × output PPQN.
//!
//! Prints a markdown table and the targets as PASS/MISS lines, and writes
//! `build/bench/scenarios.json` plus `build/bench/S1.svg` and `build/bench/S4.svg` (phase error
//! over time). The table is seed 1; the targets are checked on seed 1 and on the worst of seeds
//! 1–10. It is a report: the exit code is 0 even when a target is missed.
//!
//! Usage: `scenario-report [OUT_DIR]` (default: `build/bench` at the workspace root).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use plotters::prelude::*;
use tactus_scenarios::baselines::Baseline;
use tactus_scenarios::metrics::{in_quiet, overshoot, OVERSHOOT_TOLERANCE_S};
use tactus_scenarios::tactus::{run_tactus, run_tactus_traced, TactusRun};
use tactus_scenarios::{evaluate, Metrics, Scenario, ScenarioId};

/// The seed of the table, the JSON and the plots.
const SEED: u64 = 1;
/// Seeds for the robustness check of the targets.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

/// A follower in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algo {
    Tactus,
    Base(Baseline),
}

impl Algo {
    const ALL: [Algo; 4] = [
        Algo::Tactus,
        Algo::Base(Baseline::SeedFirmware),
        Algo::Base(Baseline::ImpromptuClocked),
        Algo::Base(Baseline::PassThrough),
    ];

    fn name(self) -> &'static str {
        match self {
            Algo::Tactus => "Tactus",
            Algo::Base(b) => b.name(),
        }
    }

    /// Output times for each of the scenario's output PPQNs.
    fn run(self, s: &Scenario) -> Vec<Vec<f64>> {
        match self {
            Algo::Tactus => run_tactus(s, TactusRun::default()).0,
            Algo::Base(b) => s.out_ppqn.iter().map(|&p| b.run(s, p)).collect(),
        }
    }

    fn colour(self) -> RGBColor {
        match self {
            Algo::Tactus => RGBColor(214, 39, 40),
            Algo::Base(Baseline::SeedFirmware) => RGBColor(31, 119, 180),
            Algo::Base(Baseline::ImpromptuClocked) => RGBColor(44, 160, 44),
            Algo::Base(Baseline::PassThrough) => RGBColor(180, 180, 180),
        }
    }
}

/// One evaluated scenario × algorithm × output PPQN.
struct Row {
    id: ScenarioId,
    algo: Algo,
    m: Metrics,
}

fn evaluate_all(s: &Scenario, algo: Algo) -> Vec<Metrics> {
    let outs = algo.run(s);
    s.out_ppqn
        .iter()
        .zip(outs.iter())
        .map(|(&p, o)| evaluate(s, p, o))
        .collect()
}

fn main() {
    let started = Instant::now();
    let out_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bench"));

    let mut rows = Vec::new();
    let mut scenarios = Vec::new();
    for id in ScenarioId::ALL {
        let s = id.build(SEED);
        for algo in Algo::ALL {
            for m in evaluate_all(&s, algo) {
                rows.push(Row { id, algo, m });
            }
        }
        scenarios.push(s);
    }

    println!("# Tactus scenario report (seed {SEED})\n");
    for s in &scenarios {
        let input = s.input_jitter_rms() * 1e6;
        println!(
            "- **{}**: {} — {} → {:?} PPQN, {} input pulses, input jitter rms {:.1} µs",
            s.id.name(),
            s.id.description(),
            s.in_ppqn,
            s.out_ppqn,
            s.input.len(),
            input
        );
    }
    println!();
    print!("{}", table(&rows));
    println!(
        "\nPhase error = output time − true grid time. Jitter is about its mean (the latency \
         column); attenuation = input jitter rms / output jitter rms; count errors = grid \
         points without exactly one output plus stray outputs, after a {}-beat warm-up; lock \
         and settle = beats until every later output is within 1 ms of the latency (— = never \
         / no event). Baselines are modelled in continuous time (see baselines.rs).\n",
        tactus_scenarios::metrics::WARMUP_BEATS
    );

    let misses = targets(&rows);

    match write_outputs(&out_dir, &rows, &scenarios) {
        Err(e) => eprintln!(
            "scenario-report: could not write {}: {e}",
            out_dir.display()
        ),
        Ok(()) => println!(
            "\nWrote {}/{{scenarios.json, S1.svg, S4.svg}}",
            std::fs::canonicalize(&out_dir).unwrap_or(out_dir).display()
        ),
    }
    println!(
        "Report took {:.1} s; {} target(s) missed.",
        started.elapsed().as_secs_f64(),
        misses
    );
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.decimals$}"))
}

fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(
        "| Scenario | Algorithm | Out PPQN | Jitter rms (µs) | Jitter max (µs) | Latency (µs) \
         | Attenuation (dB) | Count errors | Beats to lock | Beats to settle |\n",
    );
    t.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let m = &r.m;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |",
            r.id.name(),
            r.algo.name(),
            m.out_ppqn,
            m.jitter_rms_us,
            m.jitter_max_us,
            m.mean_us,
            fmt_opt(m.attenuation_db, 1),
            m.count_errors,
            fmt_opt(m.beats_to_lock, 2),
            fmt_opt(m.beats_to_settle, 2),
        );
    }
    t
}

// ----- targets ------------------------------------------------------------------------------

/// The worst case of a figure over seeds: (value, seed).
#[derive(Clone, Copy)]
struct Worst {
    value: f64,
    seed: u64,
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// Largest |phase error| (µs) of the outputs from `beats` after the scenario's event on.
fn max_error_after(s: &Scenario, m: &Metrics, beats: f64) -> f64 {
    let from = s.event_beat.unwrap_or(0.0) + beats;
    m.trace
        .iter()
        .filter(|(b, _)| *b >= from)
        .map(|(_, e)| e.abs())
        .fold(0.0, f64::max)
}

/// Check the targets on Tactus; returns the number of MISS lines.
fn targets(rows: &[Row]) -> usize {
    println!("## Targets (Tactus)\n");
    let mut misses = 0;
    let mut line = |ok: bool, text: String| {
        if !ok {
            misses += 1;
        }
        println!("{}  {text}", verdict(ok));
    };
    let tactus = |id: ScenarioId| {
        rows.iter()
            .filter(move |r| r.id == id && r.algo == Algo::Tactus)
    };

    // Seed 1, every output PPQN.
    for r in tactus(ScenarioId::S1) {
        let a = r.m.attenuation_db.unwrap_or(f64::NEG_INFINITY);
        line(
            a >= 20.0,
            format!(
                "S1 attenuation ≥ 20 dB, out {}: {} dB (seed {SEED})",
                r.m.out_ppqn,
                fmt_opt(r.m.attenuation_db, 1)
            ),
        );
    }
    let s4 = ScenarioId::S4.build(SEED);
    for r in tactus(ScenarioId::S4) {
        let settle = r.m.beats_to_settle;
        let ok = settle.is_some_and(|b| b <= 2.0);
        line(
            ok,
            format!(
                "S4 phase error < 1 ms within 2 beats of the step, out {}: settled after {} \
                 beats; largest |error| from step + 2 beats on {:.1} µs (seed {SEED})",
                r.m.out_ppqn,
                fmt_opt(settle, 2),
                max_error_after(&s4, &r.m, 2.0)
            ),
        );
    }
    for r in tactus(ScenarioId::S5) {
        line(
            r.m.jitter_rms_us <= 200.0 && r.m.count_errors == 0,
            format!(
                "S5 ramp ≤ 200 µs rms and zero count errors, out {}: {:.1} µs, {} (seed {SEED})",
                r.m.out_ppqn, r.m.jitter_rms_us, r.m.count_errors
            ),
        );
    }
    for r in tactus(ScenarioId::S14) {
        let a = r.m.from_beat1_attenuation_db.unwrap_or(f64::NEG_INFINITY);
        line(
            a >= 20.0,
            format!(
                "S14 attenuation from beat 1 ≥ 20 dB, out {}: {} dB ({:.1} µs rms; seed {SEED})",
                r.m.out_ppqn,
                fmt_opt(r.m.from_beat1_attenuation_db, 1),
                r.m.from_beat1_rms_us
            ),
        );
    }
    // S6 under the stop rule: a single drop costs nothing; the second of two in a row is caught
    // up when the clock returns, at most two count errors (an empty grid point, a late pulse).
    let s6 = ScenarioId::S6.build(SEED);
    for r in tactus(ScenarioId::S6) {
        line(
            r.m.count_errors <= 2 * s6.second_drops(),
            format!(
                "S6 count errors only from second drops in a row (≤ 2 each), out {}: {} for {} \
                 (seed {SEED})",
                r.m.out_ppqn,
                r.m.count_errors,
                s6.second_drops()
            ),
        );
    }
    for r in tactus(ScenarioId::S7) {
        line(
            r.m.count_errors == 0,
            format!(
                "S7 zero count errors, out {}: {} (seed {SEED})",
                r.m.out_ppqn, r.m.count_errors
            ),
        );
    }

    // S11: the stop's overshoot, CV outputs and MIDI clock.
    let s11 = ScenarioId::S11.build(SEED);
    let (outs, midi) = run_tactus(&s11, TactusRun::default());
    let tol_ms = OVERSHOOT_TOLERANCE_S * 1e3;
    for (&p, o) in s11.out_ppqn.iter().zip(&outs) {
        let n = overshoot(&s11, o).unwrap_or(usize::MAX);
        line(
            n == 0,
            format!(
                "S11 no output after the first missing pulse (+{tol_ms} ms), out {p}: {n} \
                 (seed {SEED})"
            ),
        );
    }
    let n = overshoot(&s11, &midi).unwrap_or(usize::MAX);
    line(
        n == 0,
        format!(
            "S11 no MIDI clock after the first missing pulse (+{tol_ms} ms): {n} (seed {SEED})"
        ),
    );

    // Worst case over seeds.
    let (lo, hi) = (*SEEDS.start(), *SEEDS.end());
    println!("\nWorst case over seeds {lo}–{hi}:\n");
    let worst_of =
        |id: ScenarioId, figure: &dyn Fn(&Scenario, &Metrics) -> f64, higher_worse: bool| {
            let mut per_out: Vec<(u32, Worst)> = Vec::new();
            for seed in SEEDS {
                let s = id.build(seed);
                for m in evaluate_all(&s, Algo::Tactus) {
                    let v = figure(&s, &m);
                    match per_out.iter_mut().find(|(p, _)| *p == m.out_ppqn) {
                        Some((_, w)) => {
                            let worse = if higher_worse {
                                v > w.value
                            } else {
                                v < w.value
                            };
                            if worse {
                                *w = Worst { value: v, seed };
                            }
                        }
                        None => per_out.push((m.out_ppqn, Worst { value: v, seed })),
                    }
                }
            }
            per_out
        };
    for (p, w) in worst_of(
        ScenarioId::S1,
        &|_, m| m.attenuation_db.unwrap_or(f64::NEG_INFINITY),
        false,
    ) {
        line(
            w.value >= 20.0,
            format!(
                "S1 attenuation ≥ 20 dB, out {p}: worst {:.1} dB (seed {})",
                w.value, w.seed
            ),
        );
    }
    for (p, w) in worst_of(
        ScenarioId::S4,
        &|_, m| m.beats_to_settle.unwrap_or(f64::INFINITY),
        true,
    ) {
        line(
            w.value <= 2.0,
            format!(
                "S4 settles within 2 beats of the step, out {p}: worst {:.2} beats (seed {})",
                w.value, w.seed
            ),
        );
    }
    // S14 over seeds: its figure for one run is dominated by the first few beats, where even
    // the least-squares fit of a line to the pulses so far is off by 2σ/√n (one unlucky beat 1
    // costs a run 3 dB, so single seeds range from about 17 to 26 dB). The target is checked on
    // the errors of all ten runs pooled (the expected figure); the worst run is shown as well.
    let mut pooled: Vec<(u32, f64, f64, Worst)> = Vec::new();
    for seed in SEEDS {
        let s = ScenarioId::S14.build(seed);
        let input_us = s.input_jitter_rms() * 1e6;
        for m in evaluate_all(&s, Algo::Tactus) {
            let db = m.from_beat1_attenuation_db.unwrap_or(f64::NEG_INFINITY);
            let out_sq = m.from_beat1_rms_us * m.from_beat1_rms_us;
            match pooled.iter_mut().find(|(p, ..)| *p == m.out_ppqn) {
                Some((_, input_sq, sq, w)) => {
                    *input_sq += input_us * input_us;
                    *sq += out_sq;
                    if db < w.value {
                        *w = Worst { value: db, seed };
                    }
                }
                None => pooled.push((
                    m.out_ppqn,
                    input_us * input_us,
                    out_sq,
                    Worst { value: db, seed },
                )),
            }
        }
    }
    for (p, input_sq, sq, w) in pooled {
        let db = 10.0 * (input_sq / sq.max(1e-6)).log10();
        line(
            db >= 20.0,
            format!(
                "S14 attenuation from beat 1 ≥ 20 dB, out {p}: {db:.1} dB over seeds {lo}–{hi} \
                 pooled (single runs from {:.1} dB, seed {})",
                w.value, w.seed
            ),
        );
    }
    let excess = |s: &Scenario, m: &Metrics| m.count_errors as f64 - 2.0 * s.second_drops() as f64;
    for (p, w) in worst_of(ScenarioId::S6, &excess, true) {
        line(
            w.value <= 0.0,
            format!(
                "S6 count errors beyond 2 per second drop in a row, out {p}: worst {} (seed {})",
                w.value, w.seed
            ),
        );
    }
    for (p, w) in worst_of(ScenarioId::S7, &|_, m| m.count_errors as f64, true) {
        line(
            w.value == 0.0,
            format!(
                "S7 zero count errors, out {p}: worst {} (seed {})",
                w.value, w.seed
            ),
        );
    }
    // S12: noise on the stopped line, every seed.
    let none = Worst {
        value: 0.0,
        seed: lo,
    };
    let (mut cv, mut clocks, mut dev, mut settle) = (none, none, none, none);
    let worse = |w: &mut Worst, v: f64, seed: u64| {
        if v > w.value {
            *w = Worst { value: v, seed };
        }
    };
    for seed in SEEDS {
        let s = ScenarioId::S12.build(seed);
        let (outs, midi, tempo) = run_tactus_traced(&s, TactusRun::default(), Some(0.01));
        let (from, to) = s.quiet.expect("S12 has a quiet stretch");
        let n: usize = outs.iter().map(|o| in_quiet(&s, o).unwrap_or(0)).sum();
        worse(&mut cv, n as f64, seed);
        worse(&mut clocks, in_quiet(&s, &midi).unwrap_or(0) as f64, seed);
        let d = tempo
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|&(_, m)| (m as f64 / 120_000.0 - 1.0).abs() * 100.0)
            .fold(0.0, f64::max);
        worse(&mut dev, d, seed);
        for (&p, o) in s.out_ppqn.iter().zip(&outs) {
            let b = evaluate(&s, p, o).beats_to_settle.unwrap_or(f64::INFINITY);
            worse(&mut settle, b, seed);
        }
    }
    line(
        cv.value == 0.0,
        format!(
            "S12 no CV output during the noise: worst {} (seed {})",
            cv.value, cv.seed
        ),
    );
    line(
        clocks.value == 0.0,
        format!(
            "S12 no MIDI clock during the noise: worst {} (seed {})",
            clocks.value, clocks.seed
        ),
    );
    line(
        dev.value <= 1.0,
        format!(
            "S12 tempo within 1 % through the noise: worst {:.2} % (seed {})",
            dev.value, dev.seed
        ),
    );
    line(
        settle.value <= 1.0,
        format!(
            "S12 locked within 1 beat after the clock returns: worst {:.2} beats (seed {})",
            settle.value, settle.seed
        ),
    );

    // S13 has no randomness: it is swept over input PPQN, tempo and direction instead of seeds.
    println!(
        "\nS13 slow drift (±2 %/min from 60, 120, 180 BPM), worst over tempo and direction:\n"
    );
    for ppqn in S13_PPQN {
        let mut worst: Option<(f64, String)> = None;
        let mut errors = 0;
        for bpm in [60.0, 120.0, 180.0] {
            for drift in [2.0, -2.0] {
                let s = Scenario::drift(ppqn, bpm, drift);
                for m in evaluate_all(&s, Algo::Tactus) {
                    errors += m.count_errors;
                    let v = m.mean_us.abs();
                    if worst.as_ref().is_none_or(|(w, _)| v > *w) {
                        let at = format!("{bpm} BPM {drift:+} %/min, out {}", m.out_ppqn);
                        worst = Some((v, at));
                    }
                }
            }
        }
        let (v, at) = worst.unwrap_or((f64::INFINITY, String::new()));
        line(
            v < 100.0 && errors == 0,
            format!(
                "S13 mean phase error < 100 µs after lock, {ppqn} PPQN in: worst {v:.1} µs \
                 ({at}), {errors} count errors"
            ),
        );
    }
    misses
}

/// Input PPQNs of the S13 sweep.
const S13_PPQN: [u32; 4] = [1, 2, 4, 24];

// ----- files ---------------------------------------------------------------------------------

fn write_outputs(dir: &Path, rows: &[Row], scenarios: &[Scenario]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("scenarios.json"), json(rows))?;
    for id in [ScenarioId::S1, ScenarioId::S4] {
        let s = scenarios.iter().find(|s| s.id == id).expect("scenario");
        plot(&dir.join(format!("{}.svg", id.name())), s, rows)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".to_string()
    }
}

fn json_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), json_num)
}

fn json(rows: &[Row]) -> String {
    let mut o = String::from("[\n");
    for (i, r) in rows.iter().enumerate() {
        let m = &r.m;
        let _ = write!(
            o,
            "  {{\"scenario\": {}, \"description\": {}, \"algorithm\": {}, \"out_ppqn\": {}, \
             \"seed\": {SEED}, \"jitter_rms_us\": {}, \"jitter_max_us\": {}, \"latency_us\": {}, \
             \"attenuation_db\": {}, \"count_errors\": {}, \"beats_to_lock\": {}, \
             \"beats_to_settle\": {}, \"outputs\": {}, \"from_beat1_attenuation_db\": {}}}",
            json_str(r.id.name()),
            json_str(r.id.description()),
            json_str(r.algo.name()),
            m.out_ppqn,
            json_num(m.jitter_rms_us),
            json_num(m.jitter_max_us),
            json_num(m.mean_us),
            json_opt(m.attenuation_db),
            m.count_errors,
            json_opt(m.beats_to_lock),
            json_opt(m.beats_to_settle),
            m.outputs,
            json_opt(m.from_beat1_attenuation_db),
        );
        o.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    o.push_str("]\n");
    o
}

/// Largest |phase error| shown before clipping (µs).
const PLOT_CLIP_US: f64 = 20_000.0;

/// Phase error (µs) against beat for every algorithm, one panel per output PPQN.
fn plot(path: &Path, s: &Scenario, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1200, 420 * s.out_ppqn.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((s.out_ppqn.len(), 1));
    let beats = s.beat_at(s.end).ceil().max(1.0);
    for (panel, &p) in panels.iter().zip(s.out_ppqn.iter()) {
        let these: Vec<&Row> = rows
            .iter()
            .filter(|r| r.id == s.id && r.m.out_ppqn == p)
            .collect();
        let peak = these
            .iter()
            .flat_map(|r| r.m.trace.iter().map(|(_, e)| e.abs()))
            .fold(0.0, f64::max);
        let span = (peak * 1.1).clamp(100.0, PLOT_CLIP_US);
        let clipped = if peak > PLOT_CLIP_US { ", clipped" } else { "" };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{}: {} — phase error at {} PPQN out (seed {SEED}{clipped})",
                    s.id.name(),
                    s.id.description(),
                    p
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..beats, -span..span)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|b| format!("{b:.0}"))
            .y_label_formatter(&|e| format!("{e:.0}"))
            .x_desc("beat")
            .y_desc("phase error (µs)")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        // Baselines first, Tactus on top. Pass-through is drawn wide underneath: where it equals
        // the seed firmware's output (24 → 24) both stay visible.
        for r in these.iter().rev() {
            let colour = r.algo.colour();
            let width = match r.algo {
                Algo::Tactus => 2,
                Algo::Base(Baseline::PassThrough) => 4,
                Algo::Base(_) => 1,
            };
            let data: Vec<(f64, f64)> =
                r.m.trace
                    .iter()
                    .map(|&(b, e)| (b, e.clamp(-span, span)))
                    .collect();
            chart
                .draw_series(LineSeries::new(data, colour.stroke_width(width)))?
                .label(r.algo.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
