use tactus_scenarios::{
    evaluate,
    tactus::{run_tactus, TactusRun},
    ScenarioId,
};
fn main() {
    for id in ScenarioId::ALL {
        let s = id.build(1);
        let (outs, _) = run_tactus(&s, TactusRun::default());
        for (k, &p) in s.out_ppqn.iter().enumerate() {
            let m = evaluate(&s, p, &outs[k]);
            println!("{:4} out{:3} n={:5} rms={:8.1}us max={:8.1}us mean={:7.1} att={:?} cnt={} lock={:?} settle={:?}",
                id.name(), p, m.outputs, m.jitter_rms_us, m.jitter_max_us, m.mean_us, m.attenuation_db.map(|x| (x*10.0).round()/10.0), m.count_errors, m.beats_to_lock, m.beats_to_settle);
        }
    }
}
