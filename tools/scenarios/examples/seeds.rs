use tactus_scenarios::{evaluate, tactus::{run_tactus, TactusRun}, ScenarioId};
fn main() {
    let id = match std::env::args().nth(1).as_deref() { Some("S2") => ScenarioId::S2, Some("S3") => ScenarioId::S3, _ => ScenarioId::S1 };
    let resp: Option<u8> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    let mut att = vec![];
    for seed in 1..=8 {
        let s = id.build(seed);
        let (outs, _) = run_tactus(&s, TactusRun { response: resp, ..TactusRun::default() });
        let m = evaluate(&s, 24, &outs[0]);
        println!("seed {seed}: sd={:.1} mean={:.1} max={:.1} att={:.2} cnt={} lock={:?}", m.jitter_rms_us, m.mean_us, m.jitter_max_us, m.attenuation_db.unwrap_or(0.0), m.count_errors, m.beats_to_lock);
        att.push(m.attenuation_db.unwrap_or(0.0));
    }
    println!("min att {:.2}", att.iter().cloned().fold(f64::MAX, f64::min));
}
