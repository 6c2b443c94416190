//! Property tests of the clock engine's contract: for any steady tempo from 1 to 3000 BPM, any
//! input/output PPQN, jitter, dropped pulses, double triggers and any starting tick (including
//! the u32 wrap), every output fires each of its positions exactly once and in order (so each
//! beat gets exactly PPQN pulses), the beat count follows the true pulse count, the output rate
//! stays bounded and nothing panics.

use proptest::prelude::*;
use tactus_core::engine::{ClockEngine, EngineConfig};
use tactus_core::output::OutputConfig;
use tactus_core::ClockMessage;
use tactus_core::{Ppqn, TickRate};
use tactus_scenarios::sim::{run, SimEvent};
use tactus_scenarios::Rng;

const RATE: u32 = 48_000 * 256;

#[derive(Debug, Clone)]
struct Case {
    bpm: f64,
    in_ppqn: Ppqn,
    out_ppqn: [Ppqn; 3],
    jitter: f64,
    drop: f64,
    double: f64,
    origin: u32,
    seed: u64,
    /// Longest run of dropped pulses; 0 for what the loss timeout waits for (see `pulses`).
    drop_run: u32,
}

fn ppqn() -> impl Strategy<Value = Ppqn> {
    (0usize..9).prop_map(|i| Ppqn::ALL[i])
}

fn case() -> impl Strategy<Value = Case> {
    (
        1.0f64..3000.0,
        ppqn(),
        [ppqn(), ppqn(), ppqn()],
        0.0f64..0.05,
        prop_oneof![Just(0.0), 0.0f64..0.05],
        prop_oneof![Just(0.0), 0.0f64..0.05],
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(bpm, in_ppqn, out_ppqn, jitter, drop, double, origin, seed)| Case {
                bpm,
                in_ppqn,
                out_ppqn,
                jitter,
                drop,
                double,
                origin,
                seed,
                drop_run: 0,
            },
        )
}

/// Pulse ticks (absolute) and the index of the true pulse each real pulse came from.
fn pulses(c: &Case, beats: u32) -> (Vec<u64>, u64, u64) {
    let hz = RATE as f64;
    let period = 60.0 / (c.bpm * c.in_ppqn.value() as f64);
    let n = beats * c.in_ppqn.value();
    let mut rng = Rng::new(c.seed);
    let mut out = Vec::new();
    let mut run_of_drops = 0;
    let mut kept_since_drop = 9;
    let mut last_index = 0;
    for k in 0..=n as u64 {
        let t = 0.01 + k as f64 * period + rng.range(-c.jitter, c.jitter) * period;
        // Keep the start clean (two pulses seed the tempo), never drop more than the loss
        // timeout waits for (one in a row from 8 PPQN up; two at 1–4 PPQN, where a drop is a
        // loss or a counted resume anyway), and keep two pulses between drop runs: every-other-
        // pulse missing three times running is, by the documented rule, indistinguishable from
        // a halved tempo.
        let max_run = match c.drop_run {
            0 if c.in_ppqn.value() >= 8 => 1,
            0 => 2,
            n => n,
        };
        let may_drop = run_of_drops > 0 && run_of_drops < max_run || kept_since_drop >= 2;
        if k > 3 && k < n as u64 && may_drop && rng.unit() < c.drop {
            run_of_drops += 1;
            kept_since_drop = 0;
            continue;
        }
        run_of_drops = 0;
        kept_since_drop += 1;
        out.push((t * hz) as u64);
        last_index = k;
        if k > 3 && rng.unit() < c.double {
            // Ringing: a second edge 0.5–3 ms after the real one (at most 15 % of a period).
            let d = rng.range(0.0005, 0.003).min(0.15 * period);
            out.push(((t + d) * hz) as u64);
        }
    }
    out.sort_unstable();
    out.dedup();
    // Run on long enough for catch-up pulses after a resumed dropout to be spread out.
    let end = ((0.01 + (n as f64 + 3.0) * period) * hz) as u64;
    (out, last_index, end)
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let rate = TickRate::new(RATE);
    let outs = c.out_ppqn.map(OutputConfig::new);
    let mut e = ClockEngine::new(EngineConfig::new(rate, c.in_ppqn), outs, c.origin);
    // Long enough to lock at every PPQN, short enough to keep 1 BPM cheap.
    let beats = if c.bpm < 20.0 { 6 } else { 12 };
    let (input, last_true, end) = pulses(c, beats);
    let period_ticks = 60.0 * RATE as f64 / (c.bpm * c.in_ppqn.value() as f64);
    let mut fired: [Vec<(u64, u32)>; 3] = Default::default();
    let mut midi: Vec<u64> = Vec::new();
    run(
        &mut e,
        c.origin,
        input,
        end,
        (period_ticks / 8.0).max(64.0) as u64,
        |ev| match ev {
            SimEvent::Pulse { output, at, pos } => fired[output].push((at, pos)),
            SimEvent::Midi { msg, at } => {
                if msg == ClockMessage::Clock {
                    midi.push(at)
                }
            }
        },
    );
    // The beat count follows the true pulse count exactly.
    let u_in = c.in_ppqn.units();
    prop_assert_eq!(
        e.tracker().last_pulse_pos(),
        (last_true as u32) * u_in,
        "tracker position after {} true pulses",
        last_true
    );
    let min_spacing = rate.ticks_from_micros(100) as u64;
    for (i, f) in fired.iter().enumerate() {
        let u = c.out_ppqn[i].units();
        prop_assert!(!f.is_empty(), "output {} never fired", i);
        prop_assert_eq!(f[0].1, 0, "first pulse on beat 0");
        // After the documented cold-start skip (the first input interval has no tempo yet),
        // positions are consecutive: nothing dropped, nothing doubled, aligned to the beat.
        let resume = f.iter().position(|&(_, p)| p >= u_in).unwrap_or(f.len());
        for w in f[resume..].windows(2) {
            prop_assert_eq!(w[1].1, w[0].1 + u, "output {} positions consecutive", i);
            prop_assert!(w[1].0 - w[0].0 >= min_spacing, "output {} rate bounded", i);
        }
        for &(_, p) in f.iter() {
            prop_assert_eq!(p % u, 0);
        }
        // Outputs keep up with the input: they reached the last real pulse, and never ran more
        // than the coasting allowance past it.
        let last = f.last().unwrap().1;
        let last_in = last_true as u32 * u_in;
        prop_assert!(
            last + u > last_in,
            "output {} lags: {} vs {}",
            i,
            last,
            last_in
        );
        prop_assert!(last <= last_in + 3 * u_in, "output {} ran ahead", i);
    }
    let din = rate.ticks_from_micros(320) as u64;
    for w in midi.windows(2) {
        prop_assert!(
            w[1] - w[0] >= din,
            "MIDI clocks at least one DIN byte apart"
        );
    }
    Ok(())
}

/// Found by proptest: at 1 BPM and 1 PPQN two dropped pulses are counted on resume, leaving the
/// outputs one or two pulses (a minute or more) behind the new anchor. They must catch up, not
/// skip the missing positions.
#[test]
fn slow_outputs_catch_up_after_counted_drops() {
    check(&Case {
        bpm: 1.0,
        in_ppqn: Ppqn::P1,
        out_ppqn: [Ppqn::P1; 3],
        jitter: 0.0,
        drop: 0.020_782_434_869_867_24,
        double: 0.0,
        origin: 0,
        seed: 116_923_812_197_265_373,
        drop_run: 0,
    })
    .unwrap();
}

/// Found by proptest after the loss timeout came under 3 periods (issue 13): at 96 PPQN two
/// dropped pulses in a row are a loss, the clock resumes with both counted, and a double trigger
/// 0.5 ms after the resumed pulse is then taken as the new period (`resume` leaves the tracker
/// provisional, and the provisional check re-seeds from any interval that is not a multiple of
/// the old period): one count too many. The resume rules of issue 12 (a provisional resume is
/// confirmed or replaced only by agreeing intervals) fixed it.
#[test]
fn double_trigger_after_a_resume_at_96_ppqn_keeps_the_count() {
    check(&Case {
        bpm: 184.1003667103276,
        in_ppqn: Ppqn::P96,
        out_ppqn: [Ppqn::P1; 3],
        jitter: 0.0,
        drop: 0.04141671543603229,
        double: 0.04433577674984309,
        origin: 0,
        seed: 6161100672158327843,
        drop_run: 2,
    })
    .unwrap();
}

/// Found by proptest: during acquisition a run of outliers ends on a pulse that follows a dropped
/// one. The re-seed must take the interval per pulse, or the tempo halves and the next pulse is
/// ignored as a double trigger, losing a count.
#[test]
fn jittery_drop_during_acquisition_keeps_the_count() {
    check(&Case {
        bpm: 1031.8200401175056,
        in_ppqn: Ppqn::P4,
        out_ppqn: [Ppqn::P1; 3],
        jitter: 0.049523231432458965,
        drop: 0.01706642960521075,
        double: 0.0,
        origin: 0,
        seed: 9961732655947914905,
        drop_run: 0,
    })
    .unwrap();
}

/// Found by proptest (issue 12 work): at 2 PPQN a single drop is a loss, and a double trigger
/// right after the resumed pulse must not replace it as the anchor, or the next pulse reads as
/// early and a count is lost.
#[test]
fn double_trigger_after_a_resume_keeps_the_count() {
    check(&Case {
        bpm: 2793.508959982448,
        in_ppqn: Ppqn::P2,
        out_ppqn: [Ppqn::P1; 3],
        jitter: 0.0,
        drop: 0.03348308613945084,
        double: 0.049705810787736664,
        origin: 0,
        seed: 1402187113558085035,
        drop_run: 0,
    })
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn counts_are_exact_and_rates_bounded(c in case()) {
        check(&c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Garbage in: random pulse times (bursts, audio-rate noise, long gaps), random transport
    /// calls and settings. Nothing panics and the outputs stay rate-bounded.
    #[test]
    fn arbitrary_input_never_breaks_it(
        gaps in proptest::collection::vec(1u32..20_000_000, 1..400),
        ops in proptest::collection::vec((0u8..8, any::<u32>()), 0..20),
        origin in any::<u32>(),
    ) {
        let rate = TickRate::new(RATE);
        let outs = [OutputConfig::new(Ppqn::P96), OutputConfig::new(Ppqn::P1)];
        let mut e = ClockEngine::new(EngineConfig::new(rate, Ppqn::P24), outs, origin);
        let mut t: u64 = 0;
        let mut last = [None::<u64>; 2];
        let mut midi_last = None::<u64>;
        let min_spacing = rate.ticks_from_micros(100) as u64;
        let din = rate.ticks_from_micros(320) as u64;
        let mut ops = ops.into_iter();
        let mut log: Vec<String> = Vec::new();
        for g in gaps {
            t += g as u64;
            if let Some((op, arg)) = ops.next() {
                let now = origin.wrapping_add(t as u32);
                log.push(format!("t={t} op={op} arg={arg}"));
                match op {
                    0 => e.start(now, tactus_core::StartAlign::NextPulse),
                    1 => e.stop(now),
                    2 => e.cont(now),
                    3 => e.reset(now),
                    4 => e.song_position(arg as u16),
                    5 => e.set_input_ppqn(Ppqn::from_index(arg % 9)),
                    6 => e.set_source(
                        if arg % 2 == 0 { tactus_core::Source::Master } else { tactus_core::Source::External },
                        now,
                    ),
                    _ => e.set_master_tempo(now, arg),
                }
            }
            let now = origin.wrapping_add(t as u32);
            e.on_pulse(now);
            log.push(format!("t={t} pulse"));
            for step in 0..64u64 {
                let at = t + step * 997;
                let fired = e.poll(origin.wrapping_add(at as u32));
                for (i, l) in last.iter_mut().enumerate() {
                    if fired & (1 << i) != 0 {
                        if let Some(prev) = *l {
                            prop_assert!(at - prev >= min_spacing, "out {} at {} after {}: {:?}", i, at, prev, &log[log.len().saturating_sub(30)..]);
                        }
                        *l = Some(at);
                    }
                }
                while let Some(m) = e.pop_midi() {
                    if m == ClockMessage::Clock {
                        if let Some(prev) = midi_last {
                            prop_assert!(at - prev >= din, "MIDI {} after {}: {:?}", at, prev, &log[log.len().saturating_sub(30)..]);
                        }
                        midi_last = Some(at);
                    }
                }
            }
            t += 64 * 997;
        }
    }
}

#[test]
fn tmp_case2() {
    check(&Case {
        bpm: 1031.8200401175056,
        in_ppqn: Ppqn::P4,
        out_ppqn: [Ppqn::P1; 3],
        jitter: 0.049523231432458965,
        drop: 0.01706642960521075,
        double: 0.0,
        origin: 0,
        seed: 9961732655947914905,
        drop_run: 0,
    })
    .unwrap();
}
