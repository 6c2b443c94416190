//! The benchmark scenarios as tests: the targets of the core issue and the behaviour each
//! scenario exists to show, asserted on Tactus' real output (and against the baselines where the
//! claim is "better than what musicians use today").

use tactus_scenarios::baselines::Baseline;
use tactus_scenarios::metrics::{in_quiet, overshoot};
use tactus_scenarios::tactus::{run_tactus, run_tactus_traced, TactusRun};
use tactus_scenarios::{evaluate, Metrics, Rng, Scenario, ScenarioId};

fn tactus(s: &Scenario, cfg: TactusRun) -> Vec<Metrics> {
    let (outs, _) = run_tactus(s, cfg);
    s.out_ppqn
        .iter()
        .zip(outs.iter())
        .map(|(&p, o)| evaluate(s, p, o))
        .collect()
}

fn run(id: ScenarioId, seed: u64) -> (Scenario, Vec<Metrics>) {
    let s = id.build(seed);
    let m = tactus(&s, TactusRun::default());
    (s, m)
}

#[test]
fn s1_jitter_is_attenuated_by_20_db() {
    for seed in 1..=4 {
        let (_, ms) = run(ScenarioId::S1, seed);
        for m in ms {
            let att = m.attenuation_db.expect("jittery input");
            assert!(att >= 20.0, "seed {seed} out {}: {att:.1} dB", m.out_ppqn);
            assert_eq!(m.count_errors, 0);
            assert!(m.mean_us.abs() < 100.0, "no latency added: {}", m.mean_us);
        }
    }
}

#[test]
fn s1_beats_every_baseline() {
    let s = ScenarioId::S1.build(1);
    let ours = tactus(&s, TactusRun::default())[0].jitter_rms_us;
    for b in Baseline::ALL {
        let theirs = evaluate(&s, 24, &b.run(&s, 24)).jitter_rms_us;
        assert!(
            ours * 4.0 < theirs,
            "{}: {ours:.0} µs vs {theirs:.0} µs",
            b.name()
        );
    }
}

#[test]
fn s2_s3_transport_quantisation_is_smoothed() {
    for (id, min_db) in [(ScenarioId::S2, 15.0), (ScenarioId::S3, 8.0)] {
        let (s, ms) = run(id, 1);
        for m in ms {
            assert_eq!(m.count_errors, 0, "{:?}", id);
            assert!(m.attenuation_db.unwrap() >= min_db, "{id:?}: {m:?}");
            // Stamps arrive late on average; that latency is what the offset controls fix.
            let input_latency = s
                .input
                .iter()
                .zip(&s.input_truth)
                .map(|(a, b)| a - b)
                .sum::<f64>()
                / s.input.len() as f64;
            assert!((m.mean_us - input_latency * 1e6).abs() < 300.0, "{id:?}");
        }
    }
}

#[test]
fn s4_tempo_step_settles_within_two_beats() {
    let (_, ms) = run(ScenarioId::S4, 1);
    for m in ms {
        let settle = m.beats_to_settle.expect("settles");
        assert!(settle <= 2.0, "out {}: {settle} beats", m.out_ppqn);
        assert_eq!(m.count_errors, 0);
    }
}

#[test]
fn s5_ramp_keeps_count_and_follows() {
    let (_, ms) = run(ScenarioId::S5, 1);
    for m in ms {
        assert_eq!(m.count_errors, 0);
        // Issue 12: the ramp term follows a ramp without lag (706 µs rms before it).
        assert!(m.jitter_rms_us <= 200.0, "out {}: {m:?}", m.out_ppqn);
        assert!(m.jitter_max_us < 1000.0, "out {}: {m:?}", m.out_ppqn);
    }
}

#[test]
fn s13_slow_drift_is_followed_without_lag() {
    // ±2 %/min from 60, 120 and 180 BPM at 1, 2, 4 and 24 PPQN: the mean phase error over the
    // second half of 96 beats (after lock) stays below 100 µs, with every pulse counted.
    for ppqn in [1, 2, 4, 24] {
        for bpm in [60.0, 120.0, 180.0] {
            for drift in [2.0, -2.0] {
                let s = Scenario::drift(ppqn, bpm, drift);
                for m in tactus(&s, TactusRun::default()) {
                    let at = format!("{ppqn} PPQN {bpm} BPM {drift:+} %/min out {}", m.out_ppqn);
                    assert_eq!(m.count_errors, 0, "{at}");
                    assert!(m.mean_us.abs() < 100.0, "{at}: mean {:.1} µs", m.mean_us);
                }
            }
        }
    }
}

#[test]
fn s14_cold_start_attenuation_from_beat_1() {
    // Every output judged from beat 1 (acquisition included) on the S1 clock: 20 dB on seed 1,
    // and on the errors of seeds 1–10 pooled (one run's figure hangs on its first few beats,
    // where even a least-squares fit is off by 2σ/√n, so single runs spread by several dB).
    let (_, ms) = run(ScenarioId::S14, 1);
    for m in &ms {
        let att = m.from_beat1_attenuation_db.expect("jittery input");
        assert!(att >= 20.0, "out {}: {att:.1} dB", m.out_ppqn);
        assert_eq!(m.count_errors, 0);
    }
    let mut input_sq = 0.0;
    let mut out_sq = vec![0.0; ms.len()];
    for seed in 1..=10 {
        let (s, ms) = run(ScenarioId::S14, seed);
        input_sq += (s.input_jitter_rms() * 1e6).powi(2);
        for (sq, m) in out_sq.iter_mut().zip(&ms) {
            *sq += m.from_beat1_rms_us.powi(2);
            assert_eq!(m.count_errors, 0, "seed {seed} out {}", m.out_ppqn);
        }
    }
    for (sq, m) in out_sq.iter().zip(&ms) {
        let att = 10.0 * (input_sq / sq).log10();
        assert!(att >= 20.0, "pooled, out {}: {att:.1} dB", m.out_ppqn);
    }
}

#[test]
fn a_tempo_step_on_a_jittery_clock_still_settles_within_two_beats() {
    // The locked loop narrows for jitter; a step (120 -> 140 BPM with ±1 ms on every pulse) is
    // still taken at once by the re-seed.
    for seed in 1..=4 {
        let mut rng = Rng::new(100 + seed);
        let s = ScenarioId::S4.build(seed).jitter(&mut rng, 0.001);
        for m in tactus(&s, TactusRun::default()) {
            let settle = m.beats_to_settle.expect("settles");
            assert!(
                settle <= 2.0,
                "seed {seed} out {}: {settle} beats",
                m.out_ppqn
            );
            assert_eq!(m.count_errors, 0);
        }
    }
}

/// Pulses dropped beyond the first of each run of consecutive drops: the ones a stop rule that
/// never overshoots cannot bridge on time (a stop and two drops look the same until a pulse
/// returns).
#[test]
fn s6_s7_drops_and_double_triggers_cost_no_pulse() {
    for seed in 1..=4 {
        let (_, ms) = run(ScenarioId::S7, seed);
        for m in ms {
            assert_eq!(m.count_errors, 0, "S7 seed {seed} out {}", m.out_ppqn);
            assert!(m.jitter_max_us < 50.0, "S7 seed {seed}: {m:?}");
        }
    }
    // Single drops are bridged on time. The second and later pulses of a run of drops are
    // caught up when the clock returns (issue 12: a stop never overshoots, and a stop cannot be
    // told from two drops until then): each such pulse costs at most two count errors (its
    // grid point empty, the caught-up pulse half a period late), never a pulse in total.
    for seed in 1..=4 {
        let (s, ms) = run(ScenarioId::S6, seed);
        let second = s.second_drops();
        let clean = tactus(
            &Scenario::new(ScenarioId::S6, 24, &[24, 4], 64.0, |_| 120.0),
            TactusRun::default(),
        );
        for (m, c) in ms.iter().zip(&clean) {
            assert!(
                m.count_errors <= 2 * second,
                "S6 seed {seed} out {}: {} errors, {second} second drops",
                m.out_ppqn,
                m.count_errors
            );
            assert_eq!(m.outputs, c.outputs, "S6 seed {seed}: the total is exact");
            if second == 0 {
                assert_eq!(m.count_errors, 0, "S6 seed {seed}");
                assert!(m.jitter_max_us < 50.0, "S6 seed {seed}: {m:?}");
            }
        }
    }
}

#[test]
fn s8_one_pulse_per_beat_becomes_24_exact_pulses() {
    let (_, ms) = run(ScenarioId::S8, 1);
    for m in ms {
        assert_eq!(m.count_errors, 0);
        assert!(m.jitter_max_us < 1.0 && m.mean_us.abs() < 1.0, "{m:?}");
    }
}

#[test]
fn s9_fast_24_ppqn_divides_on_the_beat() {
    let (_, ms) = run(ScenarioId::S9, 1);
    for m in ms {
        assert_eq!(m.count_errors, 0);
        assert!(m.mean_us.abs() < 1.0, "on the beat: {m:?}");
    }
}

#[test]
fn s10_stop_and_restart_overshoots_at_most_the_first_missing_pulse() {
    let (_, ms) = run(ScenarioId::S10, 1);
    for m in &ms {
        // At 24 PPQN out the tick at the first missing input pulse goes out into the stop (a
        // stray) and the restart's first pulse is then not repeated (a grid point without an
        // output): two count errors, the total stays exact. At 4 PPQN out that tick is no beat.
        let want = if m.out_ppqn == 24 { 2 } else { 0 };
        assert_eq!(m.count_errors, want, "{m:?}");
        assert_eq!(m.beats_to_settle.map(|b| b <= 1.0), Some(true), "{m:?}");
    }
}

#[test]
fn results_do_not_depend_on_the_tick_origin() {
    let s = ScenarioId::S1.build(3);
    let a = tactus(&s, TactusRun::default());
    let b = tactus(
        &s,
        TactusRun {
            origin: u32::MAX - 3_000_000,
            ..TactusRun::default()
        },
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.outputs, y.outputs);
        assert!((x.jitter_rms_us - y.jitter_rms_us).abs() < 0.5);
        assert!((x.mean_us - y.mean_us).abs() < 0.5);
    }
}

#[test]
fn firmware_rate_gives_the_same_musical_result() {
    // The chip ticks at 2 MHz: same algorithm, same counts, same quality.
    let s = ScenarioId::S1.build(2);
    let host = tactus(&s, TactusRun::default());
    let chip = tactus(
        &s,
        TactusRun {
            rate_hz: 2_000_000,
            ..TactusRun::default()
        },
    );
    for (h, c) in host.iter().zip(&chip) {
        assert_eq!(h.outputs, c.outputs);
        assert_eq!(c.count_errors, 0);
        assert!(
            (h.jitter_rms_us - c.jitter_rms_us).abs() < 2.0,
            "{h:?} {c:?}"
        );
    }
}

#[test]
fn response_trades_smoothing_for_speed() {
    let s = ScenarioId::S1.build(1);
    let tight = tactus(
        &s,
        TactusRun {
            response: Some(0),
            ..TactusRun::default()
        },
    );
    let smooth = tactus(
        &s,
        TactusRun {
            response: Some(255),
            ..TactusRun::default()
        },
    );
    assert!(smooth[0].jitter_rms_us * 2.0 < tight[0].jitter_rms_us);
    assert_eq!(tight[0].count_errors + smooth[0].count_errors, 0);
}

#[test]
fn s11_a_stop_never_overshoots_at_any_ppqn() {
    // Outputs (CV at 1, 2, 4 and 24 PPQN, and MIDI clock) finish the last input interval up to
    // the tick at the first missing pulse, and send nothing after it.
    for in_ppqn in [1u32, 2, 4, 8, 24] {
        for bpm in [30.0, 120.0, 300.0] {
            let s = Scenario::stopping(ScenarioId::S11, in_ppqn, &[1, 2, 4, 24], 16, bpm, 3.0);
            let (outs, midi) = run_tactus(&s, TactusRun::default());
            let missing = s.first_missing.unwrap();
            for (&p, o) in s.out_ppqn.iter().zip(&outs) {
                assert_eq!(overshoot(&s, o), Some(0), "in {in_ppqn} @{bpm} out {p}");
                // Every tick up to the first missing pulse went out, on time.
                let last = o.last().copied().unwrap_or(0.0);
                let grid = s.grid(p);
                let want = *grid.iter().rev().find(|&&g| g <= missing + 1e-9).unwrap();
                assert!(
                    (last - want).abs() < 0.001,
                    "in {in_ppqn} @{bpm} out {p}: last {last} want {want}"
                );
                assert_eq!(evaluate(&s, p, o).count_errors, 0, "in {in_ppqn} out {p}");
            }
            assert_eq!(overshoot(&s, &midi), Some(0), "in {in_ppqn} @{bpm} MIDI");
            let last = midi.last().copied().unwrap_or(0.0);
            assert!(
                (last - missing).abs() < 0.001,
                "in {in_ppqn} @{bpm} MIDI {last}"
            );
        }
    }
}

#[test]
fn s12_noise_while_stopped_sends_nothing_and_keeps_the_tempo() {
    for seed in 1..=4 {
        let s = ScenarioId::S12.build(seed);
        let (outs, midi, tempo) = run_tactus_traced(&s, TactusRun::default(), Some(0.01));
        let (from, to) = s.quiet.unwrap();
        for (&p, o) in s.out_ppqn.iter().zip(&outs) {
            assert_eq!(in_quiet(&s, o), Some(0), "seed {seed} out {p}");
            let m = evaluate(&s, p, o);
            // As S10: the restart's first pulse went out as the stop's tick.
            assert!(m.count_errors <= 2, "seed {seed}: {m:?}");
            assert_eq!(m.beats_to_settle.map(|b| b <= 1.0), Some(true), "{m:?}");
        }
        assert_eq!(in_quiet(&s, &midi), Some(0), "seed {seed} MIDI");
        for &(t, mbpm) in tempo.iter().filter(|(t, _)| *t >= from && *t < to) {
            assert!(
                mbpm.abs_diff(120_000) <= 1_200,
                "seed {seed} at {t:.3} s: {mbpm}"
            );
        }
        // After the return: 120 BPM, locked.
        let last = tempo.last().unwrap().1;
        assert!(last.abs_diff(120_000) <= 100, "seed {seed}: {last}");
    }
}
