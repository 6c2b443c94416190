//! The engine's transport, MIDI output, source switching and tick-rate contract, driven the
//! way the Rack plugin and the firmware drive it.

use tactus_core::engine::{ClockEngine, EngineConfig, Source, StartAlign};
use tactus_core::output::OutputConfig;
use tactus_core::ClockMessage;
use tactus_core::Tick;
use tactus_core::{LockState, Ppqn, TickRate};
use tactus_scenarios::sim::{run_from, SimEvent};

const RATE: u32 = 1_000_000; // 1 µs ticks keep the arithmetic in these tests readable
const BEAT: u64 = 500_000; // 120 BPM

fn engine(in_ppqn: Ppqn) -> ClockEngine<2> {
    let rate = TickRate::new(RATE);
    ClockEngine::new(
        EngineConfig::new(rate, in_ppqn),
        [OutputConfig::new(Ppqn::P4), OutputConfig::new(Ppqn::P1)],
        0,
    )
}

/// Pulses of a steady 120 BPM clock at `ppqn` from `start` for `beats` beats.
fn clock(start: u64, ppqn: u64, beats: u64) -> Vec<u64> {
    (0..beats * ppqn).map(|k| start + k * BEAT / ppqn).collect()
}

#[derive(Default)]
struct Log {
    pulses: [Vec<(u64, u32)>; 2],
    midi: Vec<(u64, ClockMessage)>,
}

/// Absolute microseconds → engine ticks.
fn at(t: u64) -> Tick {
    t as Tick
}

/// Run from the first pulse (or `from`) to `end`, logging everything.
fn drive_from(e: &mut ClockEngine<2>, from: u64, pulses: Vec<u64>, end: u64, log: &mut Log) {
    run_from(e, 0, from, pulses, end, 1000, |ev| match ev {
        SimEvent::Pulse { output, at, pos } => log.pulses[output].push((at, pos)),
        SimEvent::Midi { msg, at } => log.midi.push((at, msg)),
    });
}

fn drive(e: &mut ClockEngine<2>, pulses: Vec<u64>, end: u64, log: &mut Log) {
    drive_from(e, 0, pulses, end, log);
}

fn clocks(log: &Log) -> usize {
    log.midi
        .iter()
        .filter(|(_, m)| *m == ClockMessage::Clock)
        .count()
}

#[test]
fn midi_clock_is_24_per_beat_whatever_the_input_ppqn() {
    for ppqn in [1u64, 2, 4, 24, 96] {
        let mut e = engine(Ppqn::from_value(ppqn as u32).unwrap());
        let mut log = Log::default();
        drive(&mut e, clock(0, ppqn, 9), 8 * BEAT + 1, &mut log);
        // Beats 1..=8 are fully tracked (beat 0 is the cold start's first interval).
        let counted = log
            .midi
            .iter()
            .filter(|(t, m)| *m == ClockMessage::Clock && *t >= BEAT && *t < 8 * BEAT)
            .count();
        assert_eq!(counted, 7 * 24, "input {ppqn} PPQN");
        for w in log.midi.windows(2) {
            assert!(w[1].0 - w[0].0 >= 320, "one DIN byte apart");
        }
    }
}

#[test]
fn start_puts_beat_zero_on_the_next_pulse_and_precedes_its_clock() {
    let mut e = engine(Ppqn::P24);
    e.set_running_silently(false);
    let mut log = Log::default();
    drive(&mut e, clock(0, 24, 4), 2 * BEAT + 10_000, &mut log);
    assert!(
        log.pulses[0].is_empty(),
        "CV outputs wait for the transport"
    );
    assert!(clocks(&log) > 24, "MIDI clock flows while stopped");
    e.start(at(2 * BEAT + 10_000), StartAlign::NextPulse);
    let mut log = Log::default();
    let next: Vec<u64> = clock(0, 24, 4)
        .into_iter()
        .filter(|&t| t > 2 * BEAT + 10_000)
        .collect();
    let first = next[0];
    drive_from(&mut e, 2 * BEAT + 10_000, next, 4 * BEAT, &mut log);
    let start_idx = log
        .midi
        .iter()
        .position(|(_, m)| *m == ClockMessage::Start)
        .expect("Start sent");
    assert_eq!(log.midi[start_idx + 1].1, ClockMessage::Clock);
    assert_eq!(
        log.midi[start_idx].0, first,
        "Start goes out with beat 0's clock"
    );
    assert_eq!(
        log.pulses[1][0],
        (first, 0),
        "the 1 PPQN output fires beat 0 there"
    );
}

#[test]
fn stop_is_immediate_and_continue_resumes_from_the_song_position() {
    let mut e = engine(Ppqn::P24);
    let mut log = Log::default();
    let pulses = clock(0, 24, 8);
    drive(&mut e, pulses[..50].to_vec(), pulses[49] + 100, &mut log);
    let stop_at = pulses[49] + 100;
    e.stop(at(stop_at));
    assert_eq!(e.pop_midi(), Some(ClockMessage::Stop));
    assert_eq!(e.song_pos(), 50 * 4, "the next pulse's position");
    // Song position pointer while stopped: 16th note 32 = beat 8.
    e.song_position(32);
    assert_eq!(e.song_pos(), 8 * 96);
    e.cont(at(stop_at));
    let mut log = Log::default();
    drive_from(&mut e, stop_at, pulses[50..].to_vec(), 8 * BEAT, &mut log);
    let i = log
        .midi
        .iter()
        .position(|(_, m)| *m == ClockMessage::Continue)
        .expect("Continue sent");
    assert_eq!(log.midi[i + 1].1, ClockMessage::Clock);
    assert_eq!(log.pulses[1][0].1, 8 * 96, "resumes on beat 8");
    assert!(
        log.pulses[1][0].0.abs_diff(pulses[50]) <= 1,
        "on the next pulse"
    );
}

#[test]
fn reset_just_after_a_pulse_makes_that_pulse_beat_zero() {
    let mut e = engine(Ppqn::P4);
    let mut log = Log::default();
    let pulses = clock(0, 4, 6);
    drive(&mut e, pulses[..10].to_vec(), pulses[9] + 1_500, &mut log);
    // 1.5 ms after pulse 9: inside the 2 ms window, so pulse 9 is beat 0.
    e.reset(at(pulses[9] + 1_500));
    let mut log = Log::default();
    drive_from(
        &mut e,
        pulses[9] + 1_500,
        pulses[10..].to_vec(),
        6 * BEAT,
        &mut log,
    );
    // Beat 0 was due at pulse 9 itself: it goes out at once, 1.5 ms late, and pulse 13 is
    // beat 1.
    assert_eq!(log.pulses[1][0], (pulses[9] + 1_500, 0));
    assert_eq!(log.pulses[1][1], (pulses[13], 96));
    assert!(log.midi.iter().any(|(_, m)| *m == ClockMessage::Start));
}

#[test]
fn reset_while_stopped_sends_song_position_zero() {
    let mut e = engine(Ppqn::P24);
    e.set_running_silently(false);
    e.stop(0);
    assert_eq!(e.pop_midi(), None, "not running: no Stop");
    e.set_running_silently(true);
    e.stop(10);
    assert_eq!(e.pop_midi(), Some(ClockMessage::Stop));
    e.reset(20);
    assert_eq!(e.pop_midi(), Some(ClockMessage::SongPosition(0)));
    e.set_spp_on_reset(false);
    e.reset(30);
    assert_eq!(e.pop_midi(), None);
}

#[test]
fn master_mode_runs_at_its_tempo_and_changes_without_a_jump() {
    let mut e = engine(Ppqn::P24);
    e.set_source(Source::Master, 0);
    e.start(0, StartAlign::Now);
    let mut log = Log::default();
    drive(&mut e, vec![], 4 * BEAT - 1, &mut log);
    let beats: Vec<u64> = log.pulses[1].iter().map(|p| p.0).collect();
    assert_eq!(beats, vec![0, BEAT, 2 * BEAT, 3 * BEAT]);
    assert_eq!(e.tempo_milli_bpm(), 120_000);
    assert_eq!(e.lock_state(), LockState::Locked);
    // 60 BPM from beat 4 on: the next beat is a second later, not earlier.
    let mut e2 = engine(Ppqn::P24);
    e2.set_source(Source::Master, 0);
    e2.start(0, StartAlign::Now);
    let mut log = Log::default();
    drive(&mut e2, vec![], 4 * BEAT, &mut log);
    e2.set_master_tempo(at(4 * BEAT), 60_000);
    let mut log = Log::default();
    drive_from(&mut e2, 4 * BEAT, vec![], 4 * BEAT + 2_100_000, &mut log);
    let after: Vec<u64> = log.pulses[1]
        .iter()
        .map(|p| p.0)
        .filter(|&t| t > 4 * BEAT)
        .collect();
    assert_eq!(after, vec![4 * BEAT + 1_000_000, 4 * BEAT + 2_000_000]);
}

#[test]
fn switching_source_keeps_the_position() {
    let mut e = engine(Ppqn::P4);
    let mut log = Log::default();
    let pulses = clock(0, 4, 4);
    drive(&mut e, pulses.clone(), 4 * BEAT - BEAT / 8, &mut log);
    let last = log.pulses[0].last().unwrap().1;
    // The CV clock is unplugged: the master takes over at the same place and tempo.
    e.set_source(Source::Master, at(4 * BEAT - BEAT / 8));
    let mut log = Log::default();
    drive_from(&mut e, 4 * BEAT - BEAT / 8, vec![], 5 * BEAT, &mut log);
    assert_eq!(log.pulses[0][0].1, last + 24, "no pulse lost or repeated");
    assert!(log.pulses[0][0].0.abs_diff(4 * BEAT) < 200, "on the grid");
}

#[test]
fn sample_rate_change_keeps_beat_count_and_tempo() {
    let mut e = engine(Ppqn::P24);
    let mut log = Log::default();
    let pulses = clock(0, 24, 4);
    drive(&mut e, pulses, 4 * BEAT - 100, &mut log);
    let pos = e.tracker().last_pulse_pos();
    let now = at(4 * BEAT - 100);
    e.set_rate(TickRate::new(2 * RATE), now, 2 * now);
    assert_eq!(e.tracker().last_pulse_pos(), pos);
    assert!((119_000..121_000).contains(&e.tempo_milli_bpm()));
    assert_eq!(e.config().rate.hz(), 2 * RATE);
    assert_ne!(e.lock_state(), LockState::Lost);
}

#[test]
fn clock_loss_stops_the_transport_when_asked() {
    let mut e = engine(Ppqn::P24);
    e.set_stop_on_loss(true);
    let mut log = Log::default();
    drive(&mut e, clock(0, 24, 2), 3 * BEAT, &mut log);
    assert_eq!(e.lock_state(), LockState::Lost);
    assert!(!e.running());
    // Stop, then at most the clock of the second missing pulse that the outputs still coast
    // (the loss comes 2.5 periods after the last pulse at 24 PPQN, before that clock).
    let stop = log.midi.iter().rposition(|m| m.1 == ClockMessage::Stop);
    let stop = stop.expect("no Stop");
    assert!(log.midi[stop + 1..]
        .iter()
        .all(|m| m.1 == ClockMessage::Clock));
    assert!(log.midi.len() - stop - 1 <= 1, "{:?}", &log.midi[stop..]);
}

#[test]
fn midi_can_be_disabled_and_queue_overflow_is_counted() {
    let mut e = engine(Ppqn::P24);
    e.set_midi_enabled(false);
    let mut log = Log::default();
    drive(&mut e, clock(0, 24, 2), 2 * BEAT, &mut log);
    assert!(log.midi.is_empty());
    e.set_midi_enabled(true);
    for t in 0..20 {
        e.set_running_silently(true);
        e.stop(t);
    }
    assert_eq!(
        e.midi_dropped(),
        12,
        "8 queued, the rest counted, never unbounded"
    );
}

#[test]
fn negative_offset_fires_early_using_the_prediction() {
    let rate = TickRate::new(RATE);
    let mut early = OutputConfig::new(Ppqn::P1);
    early.offset_us = -5_000;
    let mut e = ClockEngine::new(
        EngineConfig::new(rate, Ppqn::P24),
        [OutputConfig::new(Ppqn::P1), early],
        0,
    );
    let mut log = Log::default();
    drive(&mut e, clock(0, 24, 6), 6 * BEAT - 1, &mut log);
    let on: Vec<u64> = log.pulses[0].iter().skip(2).map(|p| p.0).collect();
    let lead: Vec<u64> = log.pulses[1].iter().skip(2).map(|p| p.0).collect();
    assert!(!on.is_empty());
    for (a, b) in on.iter().zip(&lead) {
        assert_eq!(a - b, 5_000, "5 ms ahead of the beat");
    }
}

fn engine_with(in_ppqn: Ppqn, outs: [Ppqn; 2]) -> ClockEngine<2> {
    ClockEngine::new(
        EngineConfig::new(TickRate::new(RATE), in_ppqn),
        outs.map(OutputConfig::new),
        0,
    )
}

#[test]
fn a_single_dropped_pulse_is_bridged_on_time() {
    // The tick at the first missing pulse is within the stop rule's horizon: at 8 and 24 PPQN
    // an output at the input's resolution and the MIDI clock fire it on time.
    for ppqn in [8u64, 24] {
        let p = Ppqn::from_value(ppqn as u32).unwrap();
        let mut e = engine_with(p, [p, Ppqn::P1]);
        let mut pulses = clock(0, ppqn, 8);
        let k = 5 * ppqn as usize + 3;
        let dropped = pulses.remove(k);
        let mut log = Log::default();
        drive(&mut e, pulses, 8 * BEAT - 1, &mut log);
        let u = p.units();
        let at = log.pulses[0]
            .iter()
            .find(|&&(_, pos)| pos == k as u32 * u)
            .expect("the dropped pulse's tick")
            .0;
        assert!(at.abs_diff(dropped) <= 2, "{ppqn} PPQN: {at} vs {dropped}");
        assert!(
            log.midi
                .iter()
                .any(|&(t, m)| m == ClockMessage::Clock && t.abs_diff(dropped) <= 2),
            "{ppqn} PPQN: MIDI clock at the dropped pulse"
        );
        // Nothing lost or doubled.
        for w in log.pulses[0].windows(2) {
            assert_eq!(w[1].1, w[0].1 + u, "{ppqn} PPQN");
        }
    }
}

#[test]
fn a_second_dropped_pulse_waits_for_the_clock_and_is_caught_up() {
    // Two drops in a row look like a stop until the next pulse: the tick at the second missing
    // pulse is not guessed, it goes out when the clock returns, and the count stays exact.
    let mut e = engine_with(Ppqn::P24, [Ppqn::P24, Ppqn::P1]);
    let mut pulses = clock(0, 24, 8);
    let k = 5 * 24 + 3;
    let second = pulses.remove(k + 1);
    let first = pulses.remove(k);
    let back = pulses[k];
    let mut log = Log::default();
    drive(&mut e, pulses, 8 * BEAT - 1, &mut log);
    let find = |pos: u32| log.pulses[0].iter().find(|&&(_, p)| p == pos).unwrap().0;
    assert!(
        find(k as u32 * 4).abs_diff(first) <= 2,
        "first drop bridged"
    );
    let caught = find((k as u32 + 1) * 4);
    assert!(
        caught >= back && caught > second,
        "second drop caught up: {caught}"
    );
    for w in log.pulses[0].windows(2) {
        assert_eq!(w[1].1, w[0].1 + 4, "count exact");
    }
    assert_eq!(
        log.pulses[0].last().map(|p| p.1),
        Some((8 * 24 - 1) * 4),
        "every position up to the last pulse"
    );
}

/// A clock that ran two beats, stopped (transport stopped with it, as a DAW does) and is lost;
/// returns the engine, its log and the time of the last pulse.
fn lost_clock() -> (ClockEngine<2>, u64) {
    let mut e = engine(Ppqn::P24);
    let mut log = Log::default();
    let pulses = clock(0, 24, 2);
    let last = *pulses.last().unwrap();
    drive(&mut e, pulses, last + 100_000, &mut log);
    e.stop(at(last + 100_000));
    let mut log = Log::default();
    drive_from(&mut e, last + 100_000, vec![], last + 1_000_000, &mut log);
    assert_eq!(e.lock_state(), LockState::Lost);
    (e, last)
}

#[test]
fn start_or_continue_while_lost_fires_with_the_next_pulse() {
    // RUN rises (or MIDI Start/Continue arrives) 2 ms before the clock restarts: nothing goes
    // out from the stale prediction; beat 0 (or the song position) fires with the pulse, MIDI
    // Start/Continue right before its clock.
    for cont in [false, true] {
        let (mut e, last) = lost_clock();
        let t_run = last + 1_000_000;
        let restart = t_run + 2_000;
        if cont {
            e.cont(at(t_run));
        } else {
            e.start(at(t_run), StartAlign::NextPulse);
        }
        let mut log = Log::default();
        drive_from(
            &mut e,
            t_run,
            clock(restart, 24, 2),
            restart + BEAT,
            &mut log,
        );
        let want = if cont { 2 * 96 } else { 0 };
        for out in 0..2 {
            let &(t, pos) = log.pulses[out].first().expect("fires");
            assert_eq!((t, pos), (restart, want), "cont {cont} output {out}");
        }
        let msg = if cont {
            ClockMessage::Continue
        } else {
            ClockMessage::Start
        };
        let i = log.midi.iter().position(|(_, m)| *m == msg).expect("sent");
        assert_eq!(log.midi[i].0, restart, "cont {cont}: {:?}", log.midi);
        assert_eq!(log.midi[i + 1], (restart, ClockMessage::Clock));
        // Nothing from the stale prediction. A continue first puts the receiver back to the
        // song position (it counted the coasted clock at the first missing pulse, which goes
        // out again after Continue).
        let early: Vec<(u64, ClockMessage)> = log.midi[..i]
            .iter()
            .copied()
            .filter(|(t, _)| *t < restart)
            .collect();
        let want_early = if cont {
            vec![(t_run, ClockMessage::SongPosition(8))]
        } else {
            vec![]
        };
        assert_eq!(early, want_early, "cont {cont}: before the pulse");
    }
}
