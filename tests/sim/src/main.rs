//! fwsim: the Tactus Teensy firmware, as its real ELF, in simavr.
//!
//! ```text
//! fwsim test  FIRMWARE.elf [FILTER]   run the test cases (exit status 1 on any failure)
//! fwsim bench FIRMWARE.elf            timing figures for `make bench`
//! fwsim demo  FIRMWARE.elf            a demo clock; prints every MIDI byte with its time
//! ```
mod cases;
mod check;
mod run;
mod sim;

use cases::{Case, Outcome, RunFigures};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Run cases on all cores; results in the original order.
fn run_all(elf: &str, cases: Vec<Case>) -> Vec<Outcome> {
    let n = cases.len();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..n).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(n.max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let out = (cases[i].1)(elf);
                results.lock().unwrap()[i] = Some(out);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap())
        .collect()
}

fn test(elf: &str, filter: Option<&str>) -> bool {
    let t0 = Instant::now();
    let cases: Vec<Case> = cases::all()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.0.contains(f)))
        .collect();
    let out = run_all(elf, cases);
    let mut failed = 0;
    let (mut sim_s, mut wall) = (0.0, 0.0);
    let mut known = 0;
    for o in &out {
        let ok = o.fails.is_empty();
        let is_known = !ok && o.known.is_some();
        failed += (!ok && !is_known) as usize;
        known += is_known as usize;
        sim_s += o.sim_seconds;
        wall += o.wall.as_secs_f64();
        let fig = match &o.steady {
            Some((_, _, f, sp)) => format!(
                "max |err| {:5.2} µs, mean {:+5.2} µs, {} clocks, min spacing {:.2} ms",
                f.max_abs_us,
                f.mean_us,
                f.n,
                *sp as f64 / run::MS as f64
            ),
            None => o.notes.join("; "),
        };
        println!(
            "{} {:<44} {:>6.1} s sim {:>5.2} s  {}",
            if ok {
                "ok  "
            } else if is_known {
                "KNOWN"
            } else {
                "FAIL"
            },
            o.name,
            o.sim_seconds,
            o.wall.as_secs_f64(),
            fig
        );
        if is_known {
            println!("       known limitation, not counted: {}", o.known.unwrap());
        } else if ok && o.known.is_some() {
            println!("       (the known limitation no longer shows: remove its `known` mark)");
        }
        for f in &o.fails {
            println!("       {f}");
        }
    }
    let mut worst = RunFigures::default();
    for x in out.iter().filter_map(|o| o.run_stats) {
        worst.stack = worst.stack.max(x.stack);
        worst.max_change = worst.max_change.max(x.max_change);
        worst.max_commit = worst.max_commit.max(x.max_commit);
    }
    println!(
        "main loop over all cases: follower change + plan ≤ {:.0} µs, commit + plan ≤ {:.0} µs; \
         running stack ≤ {} B",
        worst.max_change as f64 / 2.0,
        worst.max_commit as f64 / 2.0,
        worst.stack
    );
    println!(
        "{} cases, {failed} failed, {known} known limitations; {sim_s:.0} s simulated in {wall:.1} s of simulator time \
         ({:.0}x real time per core), {:.1} s wall",
        out.len(),
        sim_s / wall.max(1e-9),
        t0.elapsed().as_secs_f64()
    );
    failed == 0
}

fn bench(elf: &str) {
    let t0 = Instant::now();
    let mut cases: Vec<Case> = vec![];
    for &p in &cases::PPQNS {
        for &b in &cases::TEMPI {
            cases.push((String::new(), Box::new(move |e| cases::steady(e, p, b))));
        }
    }
    cases.push((String::new(), Box::new(cases::thru_stream)));
    cases.push((String::new(), Box::new(cases::thru_overflow)));
    cases.push((String::new(), Box::new(|e| cases::jitter(e, 24, 500.0))));
    for p in [1, 2, 4, 24] {
        cases.push((String::new(), Box::new(move |e| cases::loss(e, p, 120.0))));
    }
    cases.push((String::new(), Box::new(|e| cases::loss(e, 24, 300.0))));
    for p in [1, 4, 24] {
        cases.push((String::new(), Box::new(move |e| cases::glitches(e, p))));
    }
    cases.push((String::new(), Box::new(cases::stuck_high)));
    let out = run_all(elf, cases);
    println!(
        "Firmware timing in simavr (16 MHz ATmega32U4), MIDI clock (0xF8) write time vs the ideal"
    );
    println!(
        "24 PPQN grid of the true input tempo, steady state ({} beats measured):",
        cases::MEASURE_BEATS
    );
    print!("{:>6} |", "PPQN");
    for b in cases::TEMPI {
        print!(" {:>17}", format!("{b} BPM"));
    }
    println!();
    for &p in &cases::PPQNS {
        print!("{p:>6} |");
        for &b in &cases::TEMPI {
            let o = out
                .iter()
                .find(|o| o.steady.as_ref().is_some_and(|s| s.0 == p && s.1 == b))
                .unwrap();
            let (_, _, f, _) = o.steady.as_ref().unwrap();
            let mark = if f.count_ok && o.fails.is_empty() {
                ' '
            } else {
                '!'
            };
            print!(" {:>6.2} µs ({:+.2}){mark}", f.max_abs_us, f.mean_us);
        }
        println!();
    }
    println!("  (max |error|, and in brackets the mean error = fixed latency; ! = a check failed)");
    let steady: Vec<&Outcome> = out.iter().filter(|o| o.steady.is_some()).collect();
    let worst = steady
        .iter()
        .map(|o| o.steady.as_ref().unwrap().2.max_abs_us)
        .fold(0.0, f64::max);
    let min_sp = steady
        .iter()
        .map(|o| o.steady.as_ref().unwrap().3)
        .min()
        .unwrap();
    let count_errors = steady
        .iter()
        .filter(|o| !o.steady.as_ref().unwrap().2.count_ok)
        .count();
    println!(
        "worst |error| {worst:.2} µs (target 4), count errors {count_errors}, \
         min 0xF8 spacing {:.2} ms (target ≥ 0.32)",
        min_sp as f64 / run::MS as f64
    );
    for o in out.iter().filter(|o| o.steady.is_none()) {
        println!("{}: {}", o.name, o.notes.join("; "));
    }
    // Resources: the worst over all runs.
    let mut r = RunFigures::default();
    for o in &out {
        if let Some(x) = o.run_stats {
            r.stack = r.stack.max(x.stack);
            r.boot_stack = r.boot_stack.max(x.boot_stack);
            r.cli_max = r.cli_max.max(x.cli_max);
            r.max_change = r.max_change.max(x.max_change);
            r.max_commit = r.max_commit.max(x.max_commit);
            r.max_plan = r.max_plan.max(x.max_plan);
            for i in 0..sim::NVEC {
                r.isr_max[i] = r.isr_max[i].max(x.isr_max[i]);
            }
        }
    }
    let us = |t: u16| t as f64 / 2.0;
    println!(
        "main loop (thread context): follower change + plan ≤ {:.0} µs, commit + plan ≤ {:.0} µs, \
         plan alone ≤ {:.0} µs",
        us(r.max_change),
        us(r.max_commit),
        us(r.max_plan)
    );
    let names = [
        (16, "TIMER1_CAPT"),
        (17, "TIMER1_COMPA (clock byte, incl. spin)"),
        (18, "TIMER1_COMPB (1 ms)"),
        (20, "TIMER1_OVF"),
        (25, "USART1_RX"),
    ];
    let isr: Vec<String> = names
        .iter()
        .map(|(v, n)| format!("{n} {} cycles", r.isr_max[*v]))
        .collect();
    println!(
        "interrupt handlers, longest (vector to reti): {}",
        isr.join(", ")
    );
    println!(
        "longest interrupts-off stretch in the main loop: {} cycles ({:.1} µs); stack high-water \
         {} B ({} B during boot)",
        r.cli_max,
        r.cli_max as f64 / 16.0,
        r.stack,
        r.boot_stack
    );
    let sim_s: f64 = out.iter().map(|o| o.sim_seconds).sum();
    let wall: f64 = out.iter().map(|o| o.wall.as_secs_f64()).sum();
    println!(
        "simavr speed: {sim_s:.0} s simulated in {wall:.1} s ({:.0}x real time per core); bench wall {:.1} s",
        sim_s / wall,
        t0.elapsed().as_secs_f64()
    );
}

fn demo(elf: &str) {
    let mut sc = run::Scenario::new(4);
    let tr = run::Train::new(run::BOOT as f64 + 5e5, 100.0, 4, 4 * 4 + 1);
    sc.train(&tr);
    let beat = 60.0 / 100.0 * 16e6;
    sc.press(0, (tr.start + 1.5 * beat) as u64, 50 * run::MS);
    sc.midi_in(
        (tr.start + 2.2 * beat) as u64,
        &[0x90, 0x3C, 0x64, 0xF8, 0x3C, 0x00],
        0,
    );
    sc.press(0, (tr.start + 3.3 * beat) as u64, 50 * run::MS);
    sc.until((tr.end() + 2.0 * beat) as u64);
    let r = run::run(elf, &sc, false);
    println!("Demo: 100 BPM at 4 PPQN into PD4 (switch PB2 to ground = 4 PPQN); the button is");
    println!(
        "pressed at beat 1.5 (Start on beat 2) and 3.3 (Stop); a note on/off with a clock byte"
    );
    println!("inside arrives on MIDI in at beat 2.2; the clock then stops (-> slow LED blink).");
    let mut pulses: Vec<(u64, String)> = sc
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            run::Ev::Clock(true) => Some((*t, "   ^ clock in (PD4 rising)".to_string())),
            run::Ev::Switch(0, true) => Some((*t, "   v button".to_string())),
            run::Ev::Rx(b) => Some((*t, format!("   < MIDI in  {b:02X}"))),
            _ => None,
        })
        .collect();
    pulses.dedup_by(|a, b| a.1 == b.1 && a.1.contains("button") && a.0 - b.0 < 3 * run::MS);
    let mut lines: Vec<(u64, String)> =
        r.tx.iter()
            .map(|(b, t)| {
                let name = match b {
                    0xF8 => "clock",
                    0xFA => "START",
                    0xFC => "STOP",
                    _ => "thru",
                };
                (*t, format!("> MIDI out {b:02X} {name}"))
            })
            .collect();
    lines.extend(pulses);
    lines.extend(
        r.led
            .iter()
            .map(|(l, t)| (*t, format!("      LED {}", if *l { "on" } else { "off" }))),
    );
    lines.sort_by_key(|l| l.0);
    let mut prev = 0;
    for (t, s) in lines {
        println!(
            "{:>12.3} ms  (+{:>8.3}) {s}",
            t as f64 / 16e3,
            (t - prev) as f64 / 16e3
        );
        if s.starts_with('>') {
            prev = t;
        }
    }
    println!(
        "{} clocks, {} ms simulated in {:.2} s",
        r.f8().len(),
        r.sim_cycles / run::MS,
        r.wall.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fwsim test|bench|demo FIRMWARE.elf [FILTER]";
    let (Some(cmd), Some(elf)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    match cmd.as_str() {
        "test" => {
            if !test(elf, args.get(3).map(|s| s.as_str())) {
                std::process::exit(1);
            }
        }
        "bench" => bench(elf),
        "demo" => demo(elf),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

#[allow(dead_code)]
pub fn debug_trace(r: &run::Run, from: u64, to: u64) {
    let mut prev = 0;
    for (b, t) in &r.tx {
        if *t >= from && *t < to {
            eprintln!(
                "{:>12.3} ms {b:02X} +{:.3}",
                *t as f64 / 16e3,
                (*t - prev) as f64 / 16e3
            );
        }
        prev = *t;
    }
}
