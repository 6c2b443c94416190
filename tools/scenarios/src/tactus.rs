//! Running the Tactus engine over a scenario.

use crate::scenario::Scenario;
use crate::sim::{run, run_from, SimEvent};
use tactus_core::engine::{ClockEngine, EngineConfig};
use tactus_core::output::OutputConfig;
use tactus_core::{Ppqn, TickRate};

/// Rack's tick rate at 48 kHz (256 ticks per sample).
pub const RACK_48K: u32 = 48_000 * 256;

/// Settings for a Tactus run.
#[derive(Clone, Copy, Debug)]
pub struct TactusRun {
    /// Tick rate.
    pub rate_hz: u32,
    /// Tick value at scenario time 0 (exercise wrap-around with values near `u32::MAX`).
    pub origin: u32,
    /// Tracker response (None = default).
    pub response: Option<u8>,
}

impl Default for TactusRun {
    fn default() -> Self {
        TactusRun {
            rate_hz: RACK_48K,
            origin: 0,
            response: None,
        }
    }
}

/// Output times (seconds) for each of the scenario's output PPQNs, plus MIDI clock times.
pub fn run_tactus(s: &Scenario, cfg: TactusRun) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (outs, midi, _) = run_tactus_traced(s, cfg, None);
    (outs, midi)
}

/// [`run_tactus`], and with `every` (seconds) the engine's tempo (milli-BPM) sampled at that
/// interval, as (time, tempo).
#[allow(clippy::type_complexity)]
pub fn run_tactus_traced(
    s: &Scenario,
    cfg: TactusRun,
    every: Option<f64>,
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<(f64, u32)>) {
    let rate = TickRate::new(cfg.rate_hz);
    let hz = rate.hz() as f64;
    let in_ppqn = Ppqn::from_value(s.in_ppqn).expect("scenario PPQN");
    let mut outs = [OutputConfig::new(Ppqn::P24); 4];
    for (i, &p) in s.out_ppqn.iter().take(4).enumerate() {
        outs[i] = OutputConfig::new(Ppqn::from_value(p).expect("output PPQN"));
    }
    let mut engine = ClockEngine::new(EngineConfig::new(rate, in_ppqn), outs, cfg.origin);
    if let Some(r) = cfg.response {
        engine.set_response(r);
    }
    let pulses: Vec<u64> = s.input.iter().map(|t| (t * hz).round() as u64).collect();
    let end = (s.end * hz) as u64;
    let mut per_out = vec![Vec::new(); s.out_ppqn.len().min(4)];
    let mut midi = Vec::new();
    let mut tempo = Vec::new();
    let poll = (hz / 1000.0) as u64;
    let mut on_event = |ev| match ev {
        SimEvent::Pulse { output, at, .. } => {
            if let Some(v) = per_out.get_mut(output) {
                v.push(at as f64 / hz);
            }
        }
        SimEvent::Midi { msg, at } => {
            if msg == tactus_core::ClockMessage::Clock {
                midi.push(at as f64 / hz);
            }
        }
    };
    match every {
        None => run(&mut engine, cfg.origin, pulses, end, poll, on_event),
        Some(every) => {
            // In slices, reading the tempo between them.
            let step = ((every * hz) as u64).max(1);
            let mut from = 0;
            let mut rest = pulses.as_slice();
            while from < end {
                let to = (from + step).min(end);
                let n = rest.partition_point(|&p| p < to);
                run_from(
                    &mut engine,
                    cfg.origin,
                    from,
                    rest[..n].iter().copied(),
                    to - 1,
                    poll,
                    &mut on_event,
                );
                rest = &rest[n..];
                from = to;
                tempo.push((from as f64 / hz, engine.tempo_milli_bpm()));
            }
        }
    }
    (per_out, midi, tempo)
}
