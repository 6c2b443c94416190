//! Per-sample cost of the Rack plugin's clock path at 48 kHz: `EdgeDetector::process` on the CV
//! clock input, `ClockEngine<4>::on_pulse` on an edge, `ClockEngine::poll`, draining the MIDI
//! queue, and the four gate reads. Input: a 120 BPM 24 PPQN square-wave clock (one pulse every
//! 1000 samples), clean and with ±1 ms uniform edge jitter, precomputed as 48 000 samples
//! (one second, replayed seamlessly). Target (tactus-core issue): ≤ 10 ns/sample.
//!
//! Besides criterion's own report, prints ns/sample for each variant and writes
//! `build/bench/per_sample.json`.

use std::cell::RefCell;
use std::hint::black_box;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tactus_core::edge::{EdgeConfig, EdgeDetector};
use tactus_core::engine::{ClockEngine, EngineConfig};
use tactus_core::output::OutputConfig;
use tactus_core::{Ppqn, Tick, TickRate};
use tactus_scenarios::Rng;

const SAMPLE_RATE: u32 = 48_000;
const SUB: u32 = TickRate::SUBSAMPLE;
/// One second of samples: 48 clock periods of 1000 samples (120 BPM, 24 PPQN).
const SAMPLES: usize = 48_000;
const PERIOD: usize = 1_000;
/// Gate high time of the input clock (10 ms).
const HIGH: usize = 480;
/// Target from the issue.
const TARGET_NS: f64 = 10.0;

/// A 0/10 V square wave with rising edges at `1000·k + 500 + jitter` samples (fractional edges
/// get one intermediate sample, as a band-limited source would).
fn clock_buffer(jitter_samples: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0.0f32; SAMPLES];
    for k in 0..SAMPLES / PERIOD {
        let j = if jitter_samples > 0.0 {
            rng.range(-jitter_samples, jitter_samples)
        } else {
            0.0
        };
        let edge = (k * PERIOD + PERIOD / 2) as f64 + j;
        let first = edge.ceil() as usize;
        for (i, v) in buf.iter_mut().enumerate().skip(first).take(HIGH) {
            *v = if i == first {
                (10.0 * (1.0 - (first as f64 - edge))).max(10.0 * f64::EPSILON) as f32
            } else {
                10.0
            };
        }
    }
    buf
}

/// The plugin's per-sample chain.
struct Chain {
    edge: EdgeDetector,
    engine: ClockEngine<4>,
    now: Tick,
}

impl Chain {
    fn new() -> Self {
        let rate = TickRate::from_sample_rate(SAMPLE_RATE);
        let outs = [Ppqn::P24, Ppqn::P4, Ppqn::P1, Ppqn::P96].map(OutputConfig::new);
        Chain {
            edge: EdgeDetector::new(EdgeConfig::RACK, rate, SUB),
            engine: ClockEngine::new(EngineConfig::new(rate, Ppqn::P24), outs, 0),
            now: 0,
        }
    }

    /// Process `buf`; returns a value depending on every output so nothing is optimised away,
    /// and the number of pulses started on output 0.
    #[inline(always)]
    fn run(&mut self, buf: &[f32]) -> (u32, u32) {
        let mut acc = 0u32;
        let mut fired0 = 0u32;
        for &v in buf {
            let now = self.now;
            if let Some(t) = self.edge.process(v, now) {
                self.engine.on_pulse(t);
            }
            let fired = self.engine.poll(now);
            while let Some(m) = self.engine.pop_midi() {
                black_box(m);
            }
            let mut gates = 0u32;
            for i in 0..4 {
                gates |= (self.engine.gate(i, now) as u32) << i;
            }
            acc = acc.rotate_left(1) ^ fired ^ (gates << 8);
            fired0 += fired & 1;
            self.now = now.wrapping_add(SUB);
        }
        (acc, fired0)
    }
}

/// A chain that has followed `buf` for a few seconds (locked), checked to be pulsing.
fn locked_chain(buf: &[f32]) -> Chain {
    let mut c = Chain::new();
    for _ in 0..4 {
        c.run(buf);
    }
    let (_, n) = c.run(buf);
    assert!(
        (46..=50).contains(&n),
        "the engine should follow the clock: {n} pulses at 24 PPQN in 1 s (want 48)"
    );
    c
}

/// Per-call timings criterion asked for: (iterations, elapsed).
type Timings = Rc<RefCell<Vec<(u64, Duration)>>>;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let sample_size = 100;
    let variants = [
        ("clean", clock_buffer(0.0, 1)),
        // ±1 ms = ±48 samples.
        ("jitter_1ms", clock_buffer(48.0, 7)),
    ];
    let mut results = Vec::new();
    {
        let mut group = c.benchmark_group("per_sample");
        group.throughput(Throughput::Elements(SAMPLES as u64));
        group.sample_size(sample_size);
        for (name, buf) in &variants {
            let mut chain = locked_chain(buf);
            let timings: Timings = Rc::default();
            let t = timings.clone();
            group.bench_function(*name, move |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(chain.run(black_box(buf)));
                    }
                    let d = start.elapsed();
                    t.borrow_mut().push((iters, d));
                    d
                })
            });
            results.push((*name, timings));
        }
        group.finish();
    }
    c.final_summary();

    // The measurement phase is the last `sample_size` calls (warm-up calls come first).
    let mut json = String::from("[\n");
    let mut lines = Vec::new();
    for (name, timings) in &results {
        let t = timings.borrow();
        if t.len() < 2 {
            continue; // filtered out, or --test / --list
        }
        let samples = &t[t.len().saturating_sub(sample_size)..];
        let mut per: Vec<f64> = samples
            .iter()
            .map(|(n, d)| d.as_secs_f64() * 1e9 / (*n as f64 * SAMPLES as f64))
            .collect();
        per.sort_by(f64::total_cmp);
        let median = per[per.len() / 2];
        let (iters, total) = samples
            .iter()
            .fold((0u64, 0.0), |(i, s), (n, d)| (i + n, s + d.as_secs_f64()));
        let mean = total * 1e9 / (iters as f64 * SAMPLES as f64);
        lines.push(format!(
            "{}  per_sample/{name}: {median:.2} ns/sample median, {mean:.2} mean, {:.2}–{:.2} \
             over {} samples (target ≤ {TARGET_NS} ns)",
            if median <= TARGET_NS { "PASS" } else { "MISS" },
            per[0],
            per[per.len() - 1],
            per.len()
        ));
        if json.len() > 2 {
            json.push_str(",\n");
        }
        json.push_str(&format!(
            "  {{\"bench\": \"per_sample/{name}\", \"ns_per_sample_median\": {median:.3}, \
             \"ns_per_sample_mean\": {mean:.3}, \"target_ns\": {TARGET_NS}, \"samples\": {}}}",
            per.len()
        ));
    }
    json.push_str("\n]\n");
    if lines.is_empty() {
        return;
    }
    println!();
    for l in &lines {
        println!("{l}");
    }
    // Timings on a shared machine are only as good as its idleness: say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "Load average {} on {cpus} CPU(s) (a loaded machine inflates these figures)",
            load.join(" ")
        );
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bench");
    match std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("per_sample.json"), json))
    {
        Ok(()) => println!(
            "Wrote {}/per_sample.json",
            std::fs::canonicalize(&dir).unwrap_or(dir).display()
        ),
        Err(e) => eprintln!("per_sample: could not write {}: {e}", dir.display()),
    }
}
