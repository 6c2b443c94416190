//! MIDI real-time codec: [`MidiClockDecoder`] pulls clock and transport out of any MIDI byte
//! stream, [`ClockMessage::encode`] writes them, and [`MidiThru`] streams MIDI in to an
//! output that also carries our own real-time bytes.
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

/// What the thru streamer does with the SysEx arriving now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sysex {
    /// No SysEx open on the input.
    None,
    /// Streaming it through: its bytes go out as they arrive, one FIFO slot kept for 0xF7.
    Passing,
    /// Cut short or dropped: the rest is skipped up to the next status byte.
    Skipping,
}

/// MIDI thru as a byte streamer: MIDI in → a FIFO of `N` bytes (at least 3, so that any channel
/// message fits) → MIDI out, merged with our own real-time bytes by the caller (between any two
/// bytes, as MIDI allows).
///
/// - **Transparent**: every byte goes out unchanged and in order, except clock and transport
///   (0xF8–0xFC), which the box's own clock replaces. Running status passes as received (no
///   status byte added or removed); SysEx of any length streams through, byte by byte.
/// - **Whole messages or nothing** when the input outruns the line and the FIFO is full: a
///   channel or system common message goes in only when the FIFO has room for all of it (its
///   room is reserved at its first byte), so it is passed or dropped whole. A dropped message
///   that carried a status byte leaves the receiver with the old running status, so the
///   running-status messages after it are skipped up to the next status byte. A SysEx keeps one
///   slot in reserve: when its next byte does not fit, 0xF7 goes out in that slot (the receiver
///   is never left inside SysEx) and the rest of it is skipped; a SysEx whose 0xF0 does not fit
///   is dropped whole. Other real-time bytes (active sensing, reset) are passed in order when
///   there is room.
#[derive(Clone, Debug)]
pub struct MidiThru<const N: usize> {
    fifo: Deque<u8, N>,
    /// The input's running status (a channel status, or a system common status waiting for its
    /// data), 0 for none.
    status: u8,
    /// Data bytes of the current message received so far.
    have: u8,
    /// The status byte of the current message was just received (not running status).
    fresh: bool,
    /// The current message goes out (room was reserved for it).
    pass: bool,
    /// The receiver's running status is not the input's (a status byte was dropped): skip
    /// running-status messages up to the next status byte.
    status_lost: bool,
    sysex: Sysex,
    /// FIFO slots promised to the message in progress (its missing data bytes, or the 0xF7 of
    /// a SysEx that streams): `fifo.len() + reserved <= N` always.
    reserved: u8,
    dropped: u32,
}

impl<const N: usize> Default for MidiThru<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MidiThru<N> {
    /// An empty streamer.
    pub const fn new() -> Self {
        MidiThru {
            fifo: Deque::new(),
            status: 0,
            have: 0,
            fresh: false,
            pass: false,
            status_lost: false,
            sysex: Sysex::None,
            reserved: 0,
            dropped: 0,
        }
    }

    /// Messages dropped or cut short because the FIFO was full (real-time bytes count one each;
    /// the running-status messages skipped after a dropped status byte are not counted).
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Bytes waiting to be sent.
    pub fn len(&self) -> usize {
        self.fifo.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.fifo.is_empty()
    }

    /// True when `n` more bytes fit beside what is reserved.
    fn room(&self, n: usize) -> bool {
        self.fifo.len() + self.reserved as usize + n <= N
    }

    /// Queue a byte whose room is known to be there.
    fn put(&mut self, b: u8) {
        // Cannot fail: every caller checked `room` or holds a reservation.
        let _ = self.fifo.push_back(b);
    }

    fn drop_one(&mut self) {
        self.dropped = self.dropped.wrapping_add(1);
    }

    /// Take one byte from MIDI in.
    pub fn push(&mut self, b: u8) {
        match b {
            0xF8..=0xFC => {} // clock and transport: ours replace them
            0xFD..=0xFF => {
                if self.room(1) {
                    self.put(b);
                } else {
                    self.drop_one();
                }
            }
            0x80..=0xF7 => self.status_byte(b),
            _ => self.data_byte(b),
        }
    }

    fn status_byte(&mut self, b: u8) {
        // Any status byte ends the message in progress (an incomplete one went out as the input
        // sent it) and ends SysEx.
        self.reserved = 0;
        self.have = 0;
        let closing_sysex = self.sysex == Sysex::Passing;
        let was_skipping = self.sysex == Sysex::Skipping;
        self.sysex = Sysex::None;
        if b == status::EOX && (closing_sysex || was_skipping) {
            if closing_sysex {
                self.put(b); // the slot kept for it
            }
            return;
        }
        let len = match b {
            status::SYSEX => 2, // 0xF0 and the 0xF7 kept in reserve
            _ => 1 + data_len(b) as usize,
        };
        self.status = if (0x80..=0xEF).contains(&b) || data_len(b) > 0 {
            b
        } else {
            0 // SysEx, EOX and data-less system common cancel running status
        };
        self.fresh = true;
        if self.room(len) {
            self.put(b);
            self.pass = true;
            self.status_lost = false;
            self.reserved = (len - 1) as u8;
            if b == status::SYSEX {
                self.sysex = Sysex::Passing;
            }
        } else {
            if closing_sysex {
                self.put(status::EOX); // the slot kept for it: the receiver leaves SysEx
            }
            self.drop_one();
            self.pass = false;
            self.status_lost = true;
            if b == status::SYSEX {
                self.sysex = Sysex::Skipping;
            }
        }
    }

    fn data_byte(&mut self, b: u8) {
        match self.sysex {
            Sysex::Passing => {
                if self.room(1) {
                    self.put(b);
                } else {
                    // Cut short: 0xF7 in the slot kept for it, the rest skipped.
                    self.put(status::EOX);
                    self.reserved = 0;
                    self.sysex = Sysex::Skipping;
                    self.drop_one();
                }
                return;
            }
            Sysex::Skipping => return,
            Sysex::None => {}
        }
        if self.status == 0 {
            // No status to belong to: passed as received, unless the receiver may still hold a
            // running status the input cancelled (its data would then be misread).
            if self.status_lost {
                return;
            }
            if self.room(1) {
                self.put(b);
            } else {
                self.drop_one();
            }
            return;
        }
        let need = data_len(self.status);
        if self.have == 0 && !self.fresh {
            // A running-status message starts.
            if self.status_lost {
                self.pass = false;
            } else if self.room(need as usize) {
                self.pass = true;
                self.reserved = need;
            } else {
                self.pass = false;
                self.drop_one();
            }
        }
        self.fresh = false;
        if self.pass {
            self.put(b);
            self.reserved = self.reserved.saturating_sub(1);
        }
        self.have += 1;
        if self.have >= need {
            self.have = 0;
            if self.status >= 0xF0 {
                self.status = 0; // system common: no running status
            }
        }
    }

    /// The next byte to send on MIDI out, if any.
    pub fn pop(&mut self) -> Option<u8> {
        self.fifo.pop_front()
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

    fn drain<const N: usize>(t: &mut MidiThru<N>, out: &mut [u8], n: &mut usize) {
        while let Some(b) = t.pop() {
            out[*n] = b;
            *n += 1;
        }
    }

    /// The input with clock and transport (0xF8–0xFC) removed: what thru must send.
    fn filtered(input: &[u8], out: &mut [u8]) -> usize {
        let mut n = 0;
        for &b in input.iter().filter(|&&b| !(0xF8..=0xFC).contains(&b)) {
            out[n] = b;
            n += 1;
        }
        n
    }

    /// Push everything, draining after every byte when `drain_each` (a line that keeps up).
    fn stream<const N: usize>(input: &[u8], drain_each: bool, out: &mut [u8]) -> (usize, u32) {
        let mut t = MidiThru::<N>::new();
        let mut n = 0;
        for &b in input {
            t.push(b);
            assert!(t.len() <= N);
            if drain_each {
                drain(&mut t, out, &mut n);
            }
        }
        drain(&mut t, out, &mut n);
        (n, t.dropped())
    }

    #[test]
    fn thru_is_byte_exact_with_clock_and_transport_removed() {
        #[rustfmt::skip]
        let input = [
            0x90, 0xF8, 0x3C, 0x40, 0x3E, 0xFA, 0x40, // running status, real-time inside
            0xF0, 0x7E, 0xF8, 0x01, 0xF7,             // SysEx with a clock inside
            0x3C, 0x00,                               // data after SysEx: no status, passed as is
            0xB0, 0x07, 0xFE, 0x64, 0x07, 0x50,       // active sensing inside a message
            0xF2, 0x10, 0xFB, 0x00, 0xF6, 0xFC,       // song position, tune request, Continue/Stop
            0xF9, 0xFD, 0xFF, 0xC0, 0x05, 0x06,       // 0xF9 removed, 0xFD/0xFF passed; PC + running
            0xF0, 0x01, 0x90, 0x3C, 0x40,             // SysEx ended by a status byte: no 0xF7 added
        ];
        let mut want = [0u8; 64];
        let k = filtered(&input, &mut want);
        for drain_each in [false, true] {
            let mut out = [0u8; 64];
            let (n, dropped) = stream::<64>(&input, drain_each, &mut out);
            assert_eq!(&out[..n], &want[..k]);
            assert_eq!(dropped, 0);
        }
    }

    #[test]
    fn thru_streams_long_sysex_with_clocks_interleaved() {
        // A 1500-byte patch dump with a clock every 7 bytes, through an 8-byte FIFO drained
        // as it goes: all of it arrives, byte for byte.
        let mut input = [0u8; 1800];
        let mut n = 0;
        for b in [0x90, 0x3C, 0x40, 0xF0] {
            input[n] = b;
            n += 1;
        }
        for i in 0..1500u32 {
            if i % 7 == 3 {
                input[n] = 0xF8;
                n += 1;
            }
            input[n] = (i * 13 % 128) as u8;
            n += 1;
        }
        for b in [0xF7, 0x90, 0x3C, 0x00] {
            input[n] = b;
            n += 1;
        }
        let mut want = [0u8; 1800];
        let k = filtered(&input[..n], &mut want);
        let mut out = [0u8; 1800];
        let (m, dropped) = stream::<8>(&input[..n], true, &mut out);
        assert_eq!(dropped, 0);
        assert_eq!(&out[..m], &want[..k]);
        assert!(k > 1500);
    }

    #[test]
    fn thru_ring_wraps_without_losing_bytes() {
        // Far more traffic than the FIFO holds: it wraps thousands of times; running status
        // passes as received (one status byte, then data only).
        let mut t = MidiThru::<8>::new();
        t.push(0x90);
        assert_eq!(t.pop(), Some(0x90));
        for i in 0..20_000u32 {
            let (k, v) = ((i % 128) as u8, (i / 128 % 128) as u8);
            t.push(k);
            t.push(v);
            assert_eq!((t.pop(), t.pop(), t.pop()), (Some(k), Some(v), None));
        }
        assert_eq!(t.dropped(), 0);
    }

    #[test]
    fn a_full_fifo_drops_whole_messages_and_skips_to_the_next_status() {
        let mut t = MidiThru::<8>::new();
        let mut out = [0u8; 64];
        let mut n = 0;
        for b in [0x90, 0x3C, 0x40, 0x3E, 0x40, 0x40, 0x40] {
            t.push(b); // 7 bytes queued
        }
        // A program change (2 bytes) does not fit: dropped whole, and the running-status data
        // for it is skipped up to the next status byte (the receiver still has 0x90).
        for b in [0xC0, 0x05] {
            t.push(b);
        }
        assert_eq!(t.dropped(), 1);
        drain(&mut t, &mut out, &mut n);
        for b in [0x06, 0x07, 0x80, 0x3C, 0x00, 0x3E, 0x00] {
            t.push(b);
        }
        drain(&mut t, &mut out, &mut n);
        assert_eq!(
            &out[..n],
            &[0x90, 0x3C, 0x40, 0x3E, 0x40, 0x40, 0x40, 0x80, 0x3C, 0x00, 0x3E, 0x00]
        );
        // A running-status message that does not fit is dropped alone: the status stays valid.
        let mut t = MidiThru::<4>::new();
        let mut n = 0;
        for b in [0x90, 0x3C, 0x40, 0x3E, 0x40] {
            t.push(b);
        }
        assert_eq!(t.dropped(), 1);
        drain(&mut t, &mut out, &mut n);
        for b in [0x41, 0x42] {
            t.push(b);
        }
        drain(&mut t, &mut out, &mut n);
        assert_eq!(&out[..n], &[0x90, 0x3C, 0x40, 0x41, 0x42]);
    }

    #[test]
    fn a_sysex_cut_short_is_terminated_and_the_rest_skipped() {
        let mut t = MidiThru::<8>::new();
        let mut out = [0u8; 64];
        let mut n = 0;
        // Nobody drains: the SysEx fills the FIFO, 0xF7 takes the slot kept for it.
        for b in [0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFE, 10, 0xF7] {
            t.push(b);
        }
        assert_eq!(t.dropped(), 2); // the SysEx and the active sensing byte
        drain(&mut t, &mut out, &mut n);
        assert_eq!(&out[..n], &[0xF0, 1, 2, 3, 4, 5, 6, 0xF7]);
        // After it, messages pass again.
        for b in [0x90, 0x3C, 0x40] {
            t.push(b);
        }
        drain(&mut t, &mut out, &mut n);
        assert_eq!(&out[8..n], &[0x90, 0x3C, 0x40]);
        // A SysEx whose 0xF0 does not fit is dropped whole (nothing to terminate).
        let mut t = MidiThru::<4>::new();
        let mut n = 0;
        for b in [0x90, 0x3C, 0x40, 0xF0, 1, 2, 0xF7, 0x80, 0x3C, 0x00] {
            t.push(b);
            if b == 0xF7 {
                drain(&mut t, &mut out, &mut n);
            }
        }
        drain(&mut t, &mut out, &mut n);
        assert_eq!(&out[..n], &[0x90, 0x3C, 0x40, 0x80, 0x3C, 0x00]);
        // A SysEx ended by another status byte that does not fit still ends with 0xF7.
        let mut t = MidiThru::<4>::new();
        let mut n = 0;
        for b in [0xF0, 1, 2, 0x90, 0x3C, 0x40] {
            t.push(b);
        }
        drain(&mut t, &mut out, &mut n);
        assert_eq!(&out[..n], &[0xF0, 1, 2, 0xF7]);
    }

    #[test]
    fn thru_overload_passes_only_whole_messages() {
        // Valid random traffic (notes with and without running status, program changes, SysEx
        // of any length, clocks and active sensing anywhere) into a small FIFO drained at a
        // third of the input rate: no channel message is ever cut on the output, and every
        // SysEx that starts there ends with 0xF7 before anything else.
        let mut t = MidiThru::<16>::new();
        let mut x: u32 = 12345;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut input = [0u8; 48];
        let (mut status, mut out_status, mut have, mut in_sysex) = (0u8, 0u8, 0u8, false);
        let mut pushed = 0u32;
        for _ in 0..20_000 {
            let r = rnd();
            // One whole message at a time: a program change, a SysEx, a note with or without
            // its status byte.
            let mut n;
            match r % 8 {
                0 => {
                    input[0] = 0xC0 | (r >> 4) as u8 & 0x0F;
                    input[1] = (r >> 9) as u8 & 0x7F;
                    n = 2;
                }
                1 | 2 => {
                    input[0] = 0xF0;
                    n = 1;
                    for _ in 0..(r >> 8) % 40 {
                        input[n] = (rnd() & 0x7F) as u8;
                        n += 1;
                    }
                    input[n] = 0xF7;
                    n += 1;
                }
                _ => {
                    n = 0;
                    if r % 8 == 3 || status == 0 {
                        input[0] = 0x90;
                        n = 1;
                        status = 0x90;
                    }
                    input[n] = (r >> 8) as u8 & 0x7F;
                    input[n + 1] = (r >> 16) as u8 & 0x7F;
                    n += 2;
                }
            }
            if input[0] == 0xF0 || input[0] >= 0xC0 {
                status = 0; // no running status for the notes after these
            }
            for &b in &input[..n] {
                if rnd() % 5 == 0 {
                    t.push([0xF8, 0xFE][(rnd() % 2) as usize]);
                }
                t.push(b);
                pushed += 1;
                if pushed.is_multiple_of(3) {
                    let Some(o) = t.pop() else { continue };
                    assert!(!(0xF8..=0xFC).contains(&o));
                    if o >= 0xF8 {
                        continue;
                    }
                    if o >= 0x80 {
                        assert!(have == 0, "a channel message was cut");
                        if in_sysex {
                            assert_eq!(o, 0xF7, "SysEx not terminated");
                        }
                        in_sysex = o == 0xF0;
                        out_status = if (0x80..=0xEF).contains(&o) { o } else { 0 };
                    } else if !in_sysex && out_status != 0 {
                        have = (have + 1) % data_len(out_status);
                    }
                }
            }
        }
        assert!(t.dropped() > 100, "{} dropped", t.dropped());
    }
}
