//! Any byte stream into the MIDI clock decoder and the thru merge buffer: no panic, decoded
//! clock bytes match the real-time bytes in the stream, and the thru output never carries clock
//! or transport, never grows past its buffer, and never starts a data byte without a status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tactus_core::midi::{ClockMessage, MidiClockDecoder, MidiThru};

fuzz_target!(|data: &[u8]| {
    let mut d = MidiClockDecoder::new();
    let mut thru = MidiThru::<32>::new();
    let mut clocks = 0usize;
    let mut sent_status = false;
    for &b in data {
        if d.feed(b) == Some(ClockMessage::Clock) {
            clocks += 1;
        }
        thru.push(b);
        assert!(thru.len() <= 34);
        if b % 3 == 0 {
            while let Some(o) = thru.pop() {
                assert!(!(0xF8..=0xFC).contains(&o), "clock/transport never forwarded");
                if o >= 0x80 {
                    sent_status = true;
                } else {
                    assert!(sent_status, "data byte before any status");
                }
            }
        }
    }
    assert_eq!(clocks, data.iter().filter(|&&b| b == 0xF8).count());
});
