//! An event-driven driver for [`ClockEngine`]: runs it over a list of input pulse times the way
//! an interrupt-driven caller would (poll exactly when something is due, and at a fixed interval
//! for loss detection), without stepping every tick. Used by the tests and the benchmarks.

use tactus_core::Tick;
use tactus_core::{ClockEngine, ClockMessage};

/// Something the engine produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// CV output `output` started a pulse at `at` (absolute, unwrapped tick).
    Pulse {
        /// Output index.
        output: usize,
        /// Absolute time in ticks.
        at: u64,
        /// Musical position of the pulse (1/96 beat).
        pos: u32,
    },
    /// A MIDI message at `at`.
    Midi {
        /// The message.
        msg: ClockMessage,
        /// Absolute time in ticks.
        at: u64,
    },
}

/// Run `engine` from `start` to `end` (absolute ticks; the engine sees them wrapped by `origin`)
/// over the sorted absolute pulse times in `pulses`, calling `on_event` for every output event.
pub fn run<const N: usize>(
    engine: &mut ClockEngine<N>,
    origin: u32,
    pulses: impl IntoIterator<Item = u64>,
    end: u64,
    poll_every: u64,
    on_event: impl FnMut(SimEvent),
) {
    run_from(engine, origin, 0, pulses, end, poll_every, on_event)
}

/// [`run`] continuing from absolute time `start` (for runs split around transport calls).
pub fn run_from<const N: usize>(
    engine: &mut ClockEngine<N>,
    origin: u32,
    start: u64,
    pulses: impl IntoIterator<Item = u64>,
    end: u64,
    poll_every: u64,
    mut on_event: impl FnMut(SimEvent),
) {
    let wrap = |t: u64| -> Tick { origin.wrapping_add(t as u32) };
    let mut now: u64 = start;
    let mut pulses = pulses.into_iter().peekable();
    let poll_every = poll_every.max(1);
    let mut next_poll = start;
    loop {
        let due = engine.next_due().map(|d| {
            let ahead = d.wrapping_sub(wrap(now)) as i32;
            if ahead <= 0 {
                now
            } else {
                now + ahead as u64
            }
        });
        let pulse = pulses.peek().copied();
        let mut t = next_poll;
        if let Some(d) = due {
            t = t.min(d);
        }
        if let Some(p) = pulse {
            t = t.min(p);
        }
        if t > end {
            break;
        }
        now = t.max(now);
        if pulse == Some(now) {
            pulses.next();
            engine.on_pulse(wrap(now));
        }
        if now >= next_poll {
            next_poll = now + poll_every;
        }
        // Poll until nothing more is due at this instant (an output fires once per poll).
        for _ in 0..(N + 2) {
            let fired = engine.poll(wrap(now));
            for i in 0..N {
                if fired & (1 << i) != 0 {
                    let o = engine.output(i).expect("output index");
                    let units = o.config().ppqn.units();
                    let pos = o.next_pos().wrapping_sub(units);
                    on_event(SimEvent::Pulse {
                        output: i,
                        at: now,
                        pos,
                    });
                }
            }
            while let Some(msg) = engine.pop_midi() {
                on_event(SimEvent::Midi { msg, at: now });
            }
            if fired == 0 {
                break;
            }
        }
        if due == Some(now) && engine.next_due().map(|d| d == wrap(now)).unwrap_or(false) {
            // Something is still due at this very tick (spacing pushes it later next round).
            now += 1;
        }
    }
}
