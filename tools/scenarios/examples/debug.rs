use tactus_core::engine::{ClockEngine, EngineConfig};
use tactus_core::output::OutputConfig;
use tactus_core::{Ppqn, TickRate};
use tactus_scenarios::ScenarioId;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let id = ScenarioId::ALL.iter().copied().find(|i| i.name() == args[1]).unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let all = args.len() > 3;
    let s = id.build(seed);
    let rate = TickRate::new(48_000 * 256);
    let hz = rate.hz() as f64;
    let mut e = ClockEngine::new(EngineConfig::new(rate, Ppqn::from_value(s.in_ppqn).unwrap()), [OutputConfig::new(Ppqn::P24)], 0);
    for (k, &t) in s.input.iter().enumerate() {
        let tick = (t * hz).round() as u32;
        let v = e.on_pulse(tick);
        let tr = e.tracker();
        let beat = s.beat_at(t);
        let interesting = !matches!(v, tactus_core::PulseVerdict::Tracked { outlier: false });
        if interesting || all {
            println!("k={k} beat={beat:.3} {:?} pos={} P={:.4}ms mem={} jit={:.1}us st={:?}", v, tr.last_pulse_pos(), tr.period_q32() as f64 / 4294967296.0 / hz * 1e3, tr.memory(), tr.jitter_ticks() as f64 / hz * 1e6, tr.state());
        }
    }
}
