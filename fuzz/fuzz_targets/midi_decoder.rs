//! Any byte stream into the MIDI clock decoder and the thru streamer: no panic, decoded clock
//! bytes match the real-time bytes in the stream, and the thru output never carries clock or
//! transport, never grows past its FIFO, and (while nothing was dropped) is the input byte for
//! byte with 0xF8–0xFC removed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tactus_core::midi::{ClockMessage, MidiClockDecoder, MidiThru};

fuzz_target!(|data: &[u8]| {
    let mut d = MidiClockDecoder::new();
    let mut thru = MidiThru::<32>::new();
    let mut clocks = 0usize;
    let mut out = Vec::new();
    for &b in data {
        if d.feed(b) == Some(ClockMessage::Clock) {
            clocks += 1;
        }
        thru.push(b);
        assert!(thru.len() <= 32);
        if b % 3 == 0 {
            while let Some(o) = thru.pop() {
                assert!(!(0xF8..=0xFC).contains(&o), "clock/transport never forwarded");
                out.push(o);
            }
        }
    }
    while let Some(o) = thru.pop() {
        out.push(o);
    }
    if thru.dropped() == 0 {
        let want: Vec<u8> = data.iter().copied().filter(|b| !(0xF8..=0xFC).contains(b)).collect();
        assert_eq!(out, want, "thru is byte-transparent");
    }
    assert_eq!(clocks, data.iter().filter(|&&b| b == 0xF8).count());
});
