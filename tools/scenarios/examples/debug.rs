use tactus_core::engine::{ClockEngine, EngineConfig};
use tactus_core::output::OutputConfig;
use tactus_core::{Ppqn, TickRate};
use tactus_scenarios::ScenarioId;
fn main() {
    let id = match std::env::args().nth(1).as_deref() {
        Some("S5") => ScenarioId::S5,
        Some("S10") => ScenarioId::S10,
        _ => ScenarioId::S6,
    };
    let s = id.build(1);
    let rate = TickRate::new(48_000 * 256);
    let hz = rate.hz() as f64;
    let mut e = ClockEngine::new(
        EngineConfig::new(rate, Ppqn::from_value(s.in_ppqn).unwrap()),
        [OutputConfig::new(Ppqn::P24)],
        0,
    );
    for (k, &t) in s.input.iter().enumerate() {
        let tick = (t * hz).round() as u32;
        let v = e.on_pulse(tick);
        let tr = e.tracker();
        let beat = s.beat_at(t);
        let interesting = !matches!(v, tactus_core::PulseVerdict::Tracked { outlier: false });
        if interesting || std::env::args().nth(2).is_some() {
            println!(
                "k={k} beat={beat:.3} t={t:.5} {:?} pos={} P={:.4}ms om={:.5} jit={:.1}us st={:?}",
                v,
                tr.last_pulse_pos(),
                tr.period_q32() as f64 / 4294967296.0 / hz * 1e3,
                tr.omega() as f64 / 4294967296.0,
                tr.jitter_ticks() as f64 / hz * 1e6,
                tr.state()
            );
        }
    }
}
