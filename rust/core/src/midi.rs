//! MIDI real-time codec: [`MidiClockDecoder`] pulls clock and transport out of any MIDI byte
//! stream, [`ClockMessage::encode`] writes them, and [`MidiThru`] merges a MIDI-in stream into
//! an output that also carries our own real-time bytes.
//!
//! MIDI allows real-time bytes (0xF8–0xFF) anywhere, even between a status byte and its data or
//! inside SysEx; they never change running status. System common messages cancel running status;
//! SysEx ends at 0xF7 or at any non-real-time status byte.

use heapless::Deque;

/// A clock or transport message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMessage {
    /// 0xF8: one of 24 pulses per quarter note.
    Clock,
    /// 0xFA: start from the beginning at the next clock.
    Start,
    /// 0xFB: continue from the song position at the next clock.
    Continue,
    /// 0xFC: stop.
    Stop,
    /// 0xF2 lsb msb: song position in 16th notes (14 bits).
    SongPosition(u16),
}

/// MIDI status bytes used here.
pub mod status {
    /// Timing clock.
    pub const CLOCK: u8 = 0xF8;
    /// Start.
    pub const START: u8 = 0xFA;
    /// Continue.
    pub const CONTINUE: u8 = 0xFB;
    /// Stop.
    pub const STOP: u8 = 0xFC;
    /// Active sensing.
    pub const ACTIVE_SENSING: u8 = 0xFE;
    /// System reset.
    pub const RESET: u8 = 0xFF;
    /// Song position pointer.
    pub const SONG_POSITION: u8 = 0xF2;
    /// Start of SysEx.
    pub const SYSEX: u8 = 0xF0;
    /// End of SysEx.
    pub const EOX: u8 = 0xF7;
}

impl ClockMessage {
    /// The bytes of this message: a buffer and how many of it are used.
    pub const fn encode(self) -> ([u8; 3], usize) {
        match self {
            ClockMessage::Clock => ([status::CLOCK, 0, 0], 1),
            ClockMessage::Start => ([status::START, 0, 0], 1),
            ClockMessage::Continue => ([status::CONTINUE, 0, 0], 1),
            ClockMessage::Stop => ([status::STOP, 0, 0], 1),
            ClockMessage::SongPosition(p) => {
                let p = p & 0x3FFF;
                ([status::SONG_POSITION, (p & 0x7F) as u8, (p >> 7) as u8], 3)
            }
        }
    }

    /// The message for a single real-time byte, if it is clock or transport.
    pub const fn from_realtime(b: u8) -> Option<ClockMessage> {
        match b {
            status::CLOCK => Some(ClockMessage::Clock),
            status::START => Some(ClockMessage::Start),
            status::CONTINUE => Some(ClockMessage::Continue),
            status::STOP => Some(ClockMessage::Stop),
            _ => None,
        }
    }
}

/// Data bytes that follow a status byte (for non-SysEx statuses).
const fn data_len(status: u8) -> u8 {
    match status {
        0x80..=0xBF | 0xE0..=0xEF => 2,
        0xC0..=0xDF => 1,
        0xF1 | 0xF3 => 1,
        0xF2 => 2,
        _ => 0,
    }
}

/// Decodes clock, transport and song position from a raw MIDI byte stream; everything else is
/// parsed only far enough to be skipped correctly.
#[derive(Clone, Copy, Debug, Default)]
pub struct MidiClockDecoder {
    status: u8,
    have: u8,
    data0: u8,
    in_sysex: bool,
}

impl MidiClockDecoder {
    /// A decoder with no running status.
    pub const fn new() -> Self {
        MidiClockDecoder {
            status: 0,
            have: 0,
            data0: 0,
            in_sysex: false,
        }
    }

    /// Feed one byte; returns a clock message when one completes.
    pub fn feed(&mut self, b: u8) -> Option<ClockMessage> {
        if b >= 0xF8 {
            if b == status::RESET {
                *self = MidiClockDecoder::new();
            }
            return ClockMessage::from_realtime(b);
        }
        if b >= 0x80 {
            self.in_sysex = b == status::SYSEX;
            self.status = if b == status::SYSEX || b == status::EOX {
                0
            } else {
                b
            };
            self.have = 0;
            return None;
        }
        if self.in_sysex || self.status == 0 {
            return None;
        }
        let need = data_len(self.status);
        if self.have == 0 && need == 2 {
            self.data0 = b;
            self.have = 1;
            return None;
        }
        let msg = if self.status == status::SONG_POSITION {
            Some(ClockMessage::SongPosition(
                (self.data0 as u16) | ((b as u16) << 7),
            ))
        } else {
            None
        };
        self.have = 0;
        if self.status >= 0xF0 {
            // System common messages carry no running status.
            self.status = 0;
        }
        msg
    }
}

/// A MIDI-in → MIDI-out merge buffer of `N` bytes (4 ≤ `N` ≤ 255).
///
/// Incoming clock and transport (0xF8–0xFC) are removed so downstream gear never sees two clocks;
/// everything else is forwarded. A message becomes visible to [`MidiThru::pop`] only when it is
/// complete, so when the buffer is full the *whole* message is dropped, never part of one (SysEx
/// longer than the buffer is therefore dropped whole). Running status is re-created on the output
/// side: a status byte is written only when the downstream running status differs, so dropping a
/// message never leaves the receiver with the wrong status.
#[derive(Clone, Debug)]
pub struct MidiThru<const N: usize> {
    /// Complete messages, then the bytes of the one still arriving (`staged` of them).
    buf: Deque<u8, N>,
    staged: usize,
    in_status: u8,
    in_have: u8,
    in_sysex: bool,
    dropping: bool,
    out_running: u8,
    pending_sense: bool,
    pending_reset: bool,
    dropped: u32,
}

impl<const N: usize> Default for MidiThru<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MidiThru<N> {
    /// An empty merge buffer.
    pub const fn new() -> Self {
        MidiThru {
            buf: Deque::new(),
            staged: 0,
            in_status: 0,
            in_have: 0,
            in_sysex: false,
            dropping: false,
            out_running: 0,
            pending_sense: false,
            pending_reset: false,
            dropped: 0,
        }
    }

    /// Messages dropped because the buffer was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Bytes waiting to be sent.
    pub fn len(&self) -> usize {
        self.committed() + self.pending_sense as usize + self.pending_reset as usize
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of complete messages.
    fn committed(&self) -> usize {
        self.buf.len() - self.staged
    }

    fn stage(&mut self, b: u8) {
        if self.dropping {
            return;
        }
        if self.buf.push_back(b).is_err() {
            self.discard_staged();
            self.dropping = true;
            self.dropped = self.dropped.wrapping_add(1);
            return;
        }
        self.staged += 1;
    }

    /// Forget the bytes of the message still arriving.
    fn discard_staged(&mut self) {
        for _ in 0..self.staged {
            self.buf.pop_back();
        }
        self.staged = 0;
    }

    fn commit(&mut self) {
        if self.dropping {
            self.discard_staged();
        }
        self.staged = 0;
        self.dropping = false;
    }

    fn begin(&mut self) {
        self.discard_staged();
        self.dropping = false;
    }

    /// Take one byte from MIDI in.
    pub fn push(&mut self, b: u8) {
        if b >= 0xF8 {
            match b {
                status::ACTIVE_SENSING => self.pending_sense = true,
                status::RESET => {
                    self.pending_reset = true;
                    self.in_status = 0;
                    self.in_sysex = false;
                    self.begin();
                }
                _ => {} // clock/transport are ours; 0xF9/0xFD are undefined
            }
            return;
        }
        if b >= 0x80 {
            if self.in_sysex {
                // Any status ends SysEx; only 0xF7 ends it properly.
                self.stage(status::EOX);
                self.commit();
                self.in_sysex = false;
                self.out_running = 0;
                if b == status::EOX {
                    self.in_status = 0;
                    return;
                }
            }
            self.begin();
            self.in_have = 0;
            match b {
                status::SYSEX => {
                    self.in_sysex = true;
                    self.in_status = 0;
                    self.stage(b);
                }
                status::EOX => self.in_status = 0,
                0xF1..=0xF6 => {
                    self.in_status = b;
                    if data_len(b) == 0 {
                        self.stage(b);
                        self.commit();
                        self.out_running = 0;
                        self.in_status = 0;
                    }
                }
                _ => self.in_status = b,
            }
            return;
        }
        if self.in_sysex {
            self.stage(b);
            return;
        }
        if self.in_status == 0 {
            return; // stray data byte
        }
        if self.in_have == 0 {
            self.begin();
            let st = self.in_status;
            if st >= 0xF0 || st != self.out_running {
                self.stage(st);
            }
        }
        self.stage(b);
        self.in_have += 1;
        if self.in_have >= data_len(self.in_status) {
            let st = self.in_status;
            let ok = !self.dropping;
            self.commit();
            self.in_have = 0;
            if st >= 0xF0 {
                self.in_status = 0;
                if ok {
                    self.out_running = 0;
                }
            } else if ok {
                self.out_running = st;
            }
        }
    }

    /// The next byte to send on MIDI out, if any.
    pub fn pop(&mut self) -> Option<u8> {
        if self.pending_reset {
            self.pending_reset = false;
            return Some(status::RESET);
        }
        if self.pending_sense {
            self.pending_sense = false;
            return Some(status::ACTIVE_SENSING);
        }
        if self.committed() == 0 {
            return None;
        }
        self.buf.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> ([Option<ClockMessage>; 32], usize) {
        let mut d = MidiClockDecoder::new();
        let mut out = [None; 32];
        let mut n = 0;
        for &b in bytes {
            if let Some(m) = d.feed(b) {
                out[n] = Some(m);
                n += 1;
            }
        }
        (out, n)
    }

    #[test]
    fn encode_decode_round_trip() {
        for m in [
            ClockMessage::Clock,
            ClockMessage::Start,
            ClockMessage::Continue,
            ClockMessage::Stop,
            ClockMessage::SongPosition(0),
            ClockMessage::SongPosition(0x3FFF),
            ClockMessage::SongPosition(1234),
        ] {
            let (b, n) = m.encode();
            let (out, k) = decode(&b[..n]);
            assert_eq!(k, 1);
            assert_eq!(out[0], Some(m));
        }
    }

    #[test]
    fn realtime_inside_messages_and_sysex() {
        // Note on with a clock between status and data, then running status, SysEx with a
        // clock inside, and an SPP split by a start byte.
        let bytes = [
            0x90, 0xF8, 0x3C, 0x40, 0x3E, 0xF8, 0x40, 0xF0, 0x7E, 0xF8, 0xF2, 0x01, 0xF7, 0xF2,
            0x05, 0xFA, 0x01,
        ];
        let (out, n) = decode(&bytes);
        assert_eq!(
            &out[..n],
            &[
                Some(ClockMessage::Clock),
                Some(ClockMessage::Clock),
                Some(ClockMessage::Clock),
                Some(ClockMessage::Start),
                Some(ClockMessage::SongPosition(5 + 128)),
            ]
        );
    }

    #[test]
    fn data_that_looks_like_spp_is_skipped() {
        // 0xF2 inside SysEx is impossible (status), but data bytes after a cancelled SPP are not.
        let bytes = [0xF2, 0x01, 0x90, 0x02, 0x03, 0x04, 0x05];
        let (_, n) = decode(&bytes);
        assert_eq!(n, 0);
        // A stray data byte with no status is ignored; SysEx cancels running status.
        let (_, n) = decode(&[0x01, 0xB0, 0x07, 0xF0, 0x10, 0xF7, 0x07, 0x10]);
        assert_eq!(n, 0);
    }

    fn drain<const N: usize>(t: &mut MidiThru<N>) -> ([u8; 256], usize) {
        let mut out = [0u8; 256];
        let mut n = 0;
        while let Some(b) = t.pop() {
            out[n] = b;
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn thru_removes_clock_keeps_running_status_and_sysex() {
        let mut t = MidiThru::<64>::new();
        for b in [
            0x90, 0xF8, 0x3C, 0x40, 0x3E, 0xFA, 0x40, 0xF0, 0x7E, 0xF8, 0x01, 0xF7, 0x3C, 0x00,
        ] {
            t.push(b);
        }
        let (out, n) = drain(&mut t);
        // The data after SysEx has no running status any more: dropped as the spec requires.
        assert_eq!(
            &out[..n],
            &[0x90, 0x3C, 0x40, 0x3E, 0x40, 0xF0, 0x7E, 0x01, 0xF7]
        );
    }

    #[test]
    fn thru_drops_whole_messages_when_full() {
        let mut t = MidiThru::<8>::new();
        // Two note-ons (6 bytes with explicit status... second uses running status: 5 bytes).
        for b in [0x90, 0x3C, 0x40, 0x3E, 0x40] {
            t.push(b);
        }
        // A SysEx that cannot fit: dropped whole.
        for b in [0xF0, 1, 2, 3, 4, 5, 6, 7, 0xF7] {
            t.push(b);
        }
        // Room again after draining: the next message gets its status byte back, because
        // the dropped SysEx never reached the receiver.
        let (out, n) = drain(&mut t);
        assert_eq!(&out[..n], &[0x90, 0x3C, 0x40, 0x3E, 0x40]);
        assert_eq!(t.dropped(), 1);
        for b in [0x80, 0x3C, 0x00, 0x3E, 0x00] {
            t.push(b);
        }
        let (out, n) = drain(&mut t);
        assert_eq!(&out[..n], &[0x80, 0x3C, 0x00, 0x3E, 0x00]);
    }

    #[test]
    fn thru_ring_wraps_without_losing_bytes() {
        // Far more traffic than the buffer holds: the ring wraps thousands of times.
        let mut t = MidiThru::<8>::new();
        for i in 0..20_000u32 {
            let (k, v) = ((i % 128) as u8, (i / 128 % 128) as u8);
            t.push(0x90);
            t.push(k);
            t.push(v);
            let (out, n) = drain(&mut t);
            let want: &[u8] = if i == 0 { &[0x90, k, v] } else { &[k, v] };
            assert_eq!(&out[..n], want, "message {i}");
        }
        assert_eq!(t.dropped(), 0);
    }

    #[test]
    fn thru_restores_status_after_a_dropped_message() {
        let mut t = MidiThru::<4>::new();
        for b in [0x90, 0x3C, 0x40] {
            t.push(b);
        }
        // Buffer holds 3 of 4 bytes; a program change (2 bytes) does not fit and is dropped.
        for b in [0xC0, 0x05] {
            t.push(b);
        }
        assert_eq!(t.dropped(), 1);
        let (out, n) = drain(&mut t);
        assert_eq!(&out[..n], &[0x90, 0x3C, 0x40]);
        // A new running-status note: downstream still has 0x90, but the input's status is
        // 0xC0 now, so its data bytes are program changes (status written out explicitly).
        t.push(0x07);
        let (out, n) = drain(&mut t);
        assert_eq!(&out[..n], &[0xC0, 0x07]);
    }
}
