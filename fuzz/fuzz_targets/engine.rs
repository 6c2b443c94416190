//! Arbitrary pulse times, polls and transport/setting calls into the clock engine: it must never
//! panic, and its outputs must stay rate-bounded whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tactus_core::engine::{ClockEngine, EngineConfig, Source, StartAlign};
use tactus_core::ClockMessage;
use tactus_core::output::OutputConfig;
use tactus_core::{Ppqn, TickRate};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let rate = TickRate::new(u32::from_le_bytes([data[0], data[1], data[2], 0]).max(1));
    let outs = [
        OutputConfig::new(Ppqn::from_index(data[3] as u32 % 9)),
        OutputConfig::new(Ppqn::P96),
    ];
    let mut e = ClockEngine::new(EngineConfig::new(rate, Ppqn::P24), outs, 0);
    let min_spacing = rate.ticks_from_micros(100);
    let din = rate.ticks_from_micros(320);
    // The engine sees wrapping ticks; the spacing checks use the absolute time.
    let mut abs: u64 = 0;
    let mut last = [None::<u64>; 2];
    let mut last_clock = None::<u64>;
    for chunk in data[4..].chunks(5) {
        let (op, arg) = (chunk[0], chunk.get(1..).unwrap_or(&[]));
        let mut v = 0u32;
        for (i, b) in arg.iter().enumerate() {
            v |= (*b as u32) << (8 * i);
        }
        let now = abs as u32;
        match op % 12 {
            // Time only moves forward, polled at least every 2^28 ticks (the engine's contract).
            0..=4 => {
                abs += ((v >> (op % 5 * 4)) & 0x0FFF_FFFF) as u64;
                e.on_pulse(abs as u32);
            }
            5 => abs += (v & 0x0FFF_FFFF) as u64,
            6 => e.start(now, StartAlign::NextBeat),
            7 => e.stop(now),
            8 => e.cont(now),
            9 => e.reset(now),
            10 => e.set_source(if v & 1 == 0 { Source::Master } else { Source::External }, now),
            _ => e.set_input_ppqn(Ppqn::from_index(v % 9)),
        }
        // Poll across the next stretch of time like a host would.
        for _ in 0..32 {
            abs += 97;
            let now = abs as u32;
            let fired = e.poll(now);
            for (i, l) in last.iter_mut().enumerate() {
                if fired & (1 << i) != 0 {
                    if let Some(p) = *l {
                        assert!(abs - p >= min_spacing as u64);
                    }
                    *l = Some(abs);
                }
            }
            while let Some(m) = e.pop_midi() {
                if m == ClockMessage::Clock {
                    if let Some(p) = last_clock {
                        assert!(abs - p >= din as u64);
                    }
                    last_clock = Some(abs);
                }
            }
        }
    }
});
