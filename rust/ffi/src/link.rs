//! Ableton Link for the Bridge (cargo feature `link`): the network side of a [`Bridge`].
//!
//! [`LinkDriver`] owns one `rusty_link::AblLink` (Ableton's Link with its `abl_link` C
//! wrapper) and a `SessionState` buffer, both created once, and does the per-block work:
//!
//! - **Time.** Rack gives each engine block's first frame and its time (`getBlockFrame()`,
//!   `getBlockTime()`). [`HostTimeFilter`] fits a line through the last
//!   `FILTER_POINTS` (512) (frame, time) pairs, as Link's `HostTimeFilter` does for audio
//!   callbacks, so the jitter of the block start times does not reach the beat; the clock
//!   offset between Rack's clock and Link's is the smallest difference seen between Link's
//!   clock read at the call and the block time (see [`ClockOffset`]); the Link latency offset
//!   of the settings is subtracted: Link time of a sample = filtered block time + clock offset
//!   − latency offset.
//! - **Follow.** The session's tempo and beat at the block's first sample steer the Bridge's
//!   master timeline ([`Bridge::follow_link`]): the engine's usual tempo path, so outputs, MIDI
//!   clock and BPM out behave as after any master tempo change (continuous position, late
//!   pulses spread, never a burst). Bridge's beat 1 is the session beat `origin`, a bar
//!   (quantum) boundary, so Bridge's bars are the session's. Starts wait for the session's
//!   start time or next bar.
//! - **Lead.** The followed count and tempo ([`Bridge::lead_state`]) are published: the tempo
//!   when it moved by more than `LEAD_TEMPO_DEADBAND` (0.005 BPM) (the tracker's filtered tempo, not
//!   each interval), the beat when the session's phase is more than `LEAD_PHASE_US` (300 µs) off.
//!
//! Threading: [`LinkDriver::new`] allocates and starts Link's threads (not realtime-safe), as
//! do [`LinkDriver::apply`] when it enables or disables Link (Link posts the change to its
//! own thread): both happen at configure time, when the settings change. [`LinkDriver::block`]
//! uses only Link's realtime-safe calls (clock, peer count, capture/commit of the audio
//! session state) and allocates nothing.

use crate::bridge::{Bridge, Config, InputSource, LinkMode};
use rusty_link::{AblLink, SessionState};

/// Blocks the host-time filter fits its line through (about 2.7 s of 256-frame blocks at
/// 48 kHz).
pub(crate) const FILTER_POINTS: usize = 512;
/// Blocks over which the clock offset keeps its smallest sample (one window and the one
/// before it count).
const OFFSET_WINDOW: u32 = 2_048;
/// Leading: the session's tempo is updated when Bridge's differs by more than this (BPM).
pub(crate) const LEAD_TEMPO_DEADBAND: f64 = 0.005;
/// Leading: the session's beat is corrected when its phase is this far off (µs).
pub(crate) const LEAD_PHASE_US: f64 = 300.0;

/// A least-squares line `host µs = a + b · frame` through the last `FILTER_POINTS` (512) block
/// starts, in a fixed ring (no allocation). The sums are kept up to date as points come and go
/// (O(1) per block) relative to a base point, and recomputed from scratch relative to the newest
/// point every `FILTER_POINTS` blocks, so rounding never accumulates and an f64 keeps
/// sub-microsecond precision after days.
#[derive(Clone, Debug)]
pub struct HostTimeFilter {
    frames: [i64; FILTER_POINTS],
    hosts: [f64; FILTER_POINTS],
    len: usize,
    next: usize,
    /// Running sums of x = frame − `base_frame` and y = host − `base_host`.
    base_frame: i64,
    base_host: f64,
    sums: [f64; 4],
    since_rebase: usize,
    /// The fitted line: host µs at `ref_frame`, and µs per frame.
    ref_frame: i64,
    ref_host: f64,
    slope: f64,
    nominal: f64,
}

impl HostTimeFilter {
    /// An empty filter; `us_per_frame` is the nominal slope used until two points are in.
    pub fn new(us_per_frame: f64) -> Self {
        HostTimeFilter {
            frames: [0; FILTER_POINTS],
            hosts: [0.0; FILTER_POINTS],
            len: 0,
            next: 0,
            base_frame: 0,
            base_host: 0.0,
            sums: [0.0; 4],
            since_rebase: 0,
            ref_frame: 0,
            ref_host: 0.0,
            slope: us_per_frame,
            nominal: us_per_frame,
        }
    }

    /// Forget every point (a sample-rate change, a transport of frames that jumped back).
    pub fn reset(&mut self, us_per_frame: f64) {
        *self = HostTimeFilter::new(us_per_frame);
    }

    /// Number of points in the fit.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first point.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add a block start (`frame`, `host_us`) and refit.
    pub fn push(&mut self, frame: i64, host_us: f64) {
        if self.len > 0 {
            let newest = self.frames[(self.next + FILTER_POINTS - 1) % FILTER_POINTS];
            if frame <= newest {
                // Frames went backwards (engine restarted): start over.
                self.reset(self.nominal);
            }
        }
        if self.len == FILTER_POINTS {
            // The oldest point leaves.
            let (x, y) = self.rel(self.next);
            self.add(x, y, -1.0);
        }
        self.frames[self.next] = frame;
        self.hosts[self.next] = host_us;
        self.next = (self.next + 1) % FILTER_POINTS;
        self.len = (self.len + 1).min(FILTER_POINTS);
        self.since_rebase += 1;
        if self.len == 1 || self.since_rebase >= FILTER_POINTS {
            self.rebase(frame, host_us);
        } else {
            let (x, y) = self.rel((self.next + FILTER_POINTS - 1) % FILTER_POINTS);
            self.add(x, y, 1.0);
        }
        self.fit();
    }

    fn rel(&self, i: usize) -> (f64, f64) {
        (
            (self.frames[i] - self.base_frame) as f64,
            self.hosts[i] - self.base_host,
        )
    }

    fn add(&mut self, x: f64, y: f64, sign: f64) {
        self.sums[0] += sign * x;
        self.sums[1] += sign * y;
        self.sums[2] += sign * x * x;
        self.sums[3] += sign * x * y;
    }

    /// Recompute the sums from scratch relative to (`x0`, `y0`).
    fn rebase(&mut self, x0: i64, y0: f64) {
        self.base_frame = x0;
        self.base_host = y0;
        self.sums = [0.0; 4];
        self.since_rebase = 0;
        for i in 0..self.len {
            let (x, y) = self.rel(i);
            self.add(x, y, 1.0);
        }
    }

    fn fit(&mut self) {
        let n = self.len as f64;
        let [sx, sy, sxx, sxy] = self.sums;
        let den = n * sxx - sx * sx;
        let slope = if self.len >= 2 && den > 0.0 {
            (n * sxy - sx * sy) / den
        } else {
            self.nominal
        };
        // A fit far from the nominal rate (a stalled engine, a clock jump) is not trusted.
        self.slope = if (slope / self.nominal - 1.0).abs() < 0.01 {
            slope
        } else {
            self.nominal
        };
        let intercept = (sy - self.slope * sx) / n;
        self.ref_frame = self.base_frame;
        self.ref_host = self.base_host + intercept;
    }

    /// Host time (µs) of `frame` on the fitted line.
    pub fn host_at(&self, frame: i64) -> f64 {
        self.ref_host + (frame - self.ref_frame) as f64 * self.slope
    }

    /// µs per frame on the fitted line.
    pub fn slope(&self) -> f64 {
        self.slope
    }
}

/// Link's clock minus the caller's clock (µs): the smallest difference seen between Link's
/// clock read when the block time arrives and that block time (the call can only come after
/// the block started). The minimum of this window and the previous one, so it follows a slow
/// drift between the two clocks.
#[derive(Clone, Copy, Debug)]
pub struct ClockOffset {
    cur: f64,
    prev: f64,
    count: u32,
}

impl Default for ClockOffset {
    fn default() -> Self {
        ClockOffset {
            cur: f64::INFINITY,
            prev: f64::INFINITY,
            count: 0,
        }
    }
}

impl ClockOffset {
    /// One sample of Link's clock minus the block time.
    pub fn push(&mut self, diff_us: f64) {
        self.cur = self.cur.min(diff_us);
        self.count += 1;
        if self.count >= OFFSET_WINDOW {
            self.prev = self.cur;
            self.cur = f64::INFINITY;
            self.count = 0;
        }
    }

    /// The offset (µs).
    pub fn get(&self) -> f64 {
        self.cur.min(self.prev)
    }
}

/// The Link side of one Bridge. See the module docs.
pub struct LinkDriver {
    link: AblLink,
    state: SessionState,
    filter: HostTimeFilter,
    offset: ClockOffset,
    enabled: bool,
    start_stop: bool,
    sample_rate: u32,
    last_frame: Option<i64>,
    /// Session beat of Bridge's beat 1.
    origin: f64,
    /// Link time (µs) of a start that is still ahead.
    pending_start: Option<f64>,
    was_playing: bool,
    peers: u32,
    /// Last Link time mapped (µs), for the tests and the benchmark.
    last_host: f64,
}

impl LinkDriver {
    /// A Link instance at 120 BPM, disabled (no socket until [`LinkDriver::apply`] enables
    /// it). Allocates and starts Link's threads: not for the audio thread's per-sample path.
    pub fn new() -> Self {
        LinkDriver {
            link: AblLink::new(120.0),
            state: SessionState::new(),
            filter: HostTimeFilter::new(1e6 / 48_000.0),
            offset: ClockOffset::default(),
            enabled: false,
            start_stop: false,
            sample_rate: 0,
            last_frame: None,
            origin: 0.0,
            pending_start: None,
            was_playing: false,
            peers: 0,
            last_host: 0.0,
        }
    }

    /// Apply the Link settings: enable Link unless the mode is off, start/stop sync. Only
    /// changes reach Link (enabling is not realtime-safe: Link posts it to its own thread).
    pub fn apply(&mut self, cfg: &Config) {
        let on = cfg.link_mode != LinkMode::Off;
        if on != self.enabled {
            self.link.enable(on);
            self.enabled = on;
            self.pending_start = None;
            self.peers = 0;
        }
        if cfg.link_start_stop != self.start_stop {
            self.link.enable_start_stop_sync(cfg.link_start_stop);
            self.start_stop = cfg.link_start_stop;
        }
    }

    /// Link is enabled (mode not off).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Peers in the session (other apps, not counting this one), as of the last block.
    pub fn peers(&self) -> u32 {
        self.peers
    }

    /// Link's clock now (µs).
    pub fn clock_micros(&self) -> i64 {
        self.link.clock_micros()
    }

    /// Link time (µs) the last block's first sample was mapped to.
    pub fn last_host(&self) -> f64 {
        self.last_host
    }

    /// One engine block, before its first sample: `frame` is that sample's frame and
    /// `block_time_s` the block's start time in seconds on the caller's clock (Rack:
    /// `getBlockFrame()`, `getBlockTime()`). Follows or leads the session; nothing while Link
    /// is disabled. Realtime-safe.
    pub fn block(&mut self, b: &mut Bridge, frame: i64, block_time_s: f64) {
        if !self.enabled || !block_time_s.is_finite() {
            return;
        }
        let us_per_frame = 1e6 / b.sample_rate() as f64;
        if b.sample_rate() != self.sample_rate {
            self.sample_rate = b.sample_rate();
            self.filter.reset(us_per_frame);
        }
        let block_us = match self.last_frame {
            Some(f) if frame > f => (frame - f) as f64 * us_per_frame,
            _ => 0.0,
        };
        self.last_frame = Some(frame);
        let rack_us = block_time_s * 1e6;
        self.offset.push(self.link.clock_micros() as f64 - rack_us);
        self.filter.push(frame, rack_us);
        let cfg = *b.config();
        let host = self.filter.host_at(frame) + self.offset.get() - cfg.link_offset_us as f64;
        self.last_host = host;
        self.peers = self.link.num_peers().min(u32::MAX as u64) as u32;
        self.link.capture_audio_session_state(&mut self.state);
        let quantum = cfg.link_quantum.max(1) as f64;
        match cfg.link_mode {
            LinkMode::Lead => self.lead(b, host, quantum, cfg.link_start_stop),
            LinkMode::Follow | LinkMode::FollowAlways if b.source() == InputSource::Link => {
                self.follow(b, host, quantum, block_us, cfg.link_start_stop)
            }
            _ => {
                self.pending_start = None;
            }
        }
    }

    /// The session's beat at Link time `t` (µs, fractional).
    fn beat_at(&self, t: f64, quantum: f64) -> f64 {
        let whole = t.floor();
        let beat = self.state.beat_at_time(whole as i64, quantum);
        beat + (t - whole) * self.state.tempo() / 60e6
    }

    fn follow(&mut self, b: &mut Bridge, t: f64, q: f64, block_us: f64, start_stop: bool) {
        let tempo = self.state.tempo();
        if !(tempo.is_finite() && tempo > 0.0) {
            return;
        }
        let beat = self.beat_at(t, q);
        let request = b.take_link_request();
        let mut commit = false;
        if start_stop {
            // Panel starts and stops go to the session (a start on its next bar); the session's
            // play state comes back below and drives the transport.
            match request {
                Some(true) => {
                    let bar = (beat / q).ceil() * q;
                    let at = self.state.time_at_beat(bar, q);
                    self.state.set_is_playing(true, at);
                    commit = true;
                }
                Some(false) => {
                    self.state.set_is_playing(false, t as i64);
                    commit = true;
                }
                None => {}
            }
        }
        if commit {
            self.link.commit_audio_session_state(&self.state);
        }
        let playing = self.state.is_playing();
        let drives = b.link_drives_transport() || (start_stop && request.is_some());
        if b.link_engaged() {
            // Link just became the source: Bridge's beat 1 is the current bar (or, when the
            // session already plays and drives the transport, Bridge starts on the next bar).
            if drives && playing && !b.running() {
                self.schedule_start(beat, q);
            } else {
                self.origin = (beat / q).floor() * q;
            }
        } else if drives && playing && (!self.was_playing || !b.running()) {
            if self.pending_start.is_none() && !b.running() {
                let start = self.state.time_for_is_playing() as f64;
                if start + block_us >= t - 1_000.0 && !self.was_playing {
                    // A fresh start: beat 1 is the session's first bar at or after its start
                    // time (Link apps request beat 0 there, on the session's bar phase).
                    let b0 = self.beat_at(start, q);
                    self.origin = ((b0 - 1e-4) / q).ceil() * q;
                    self.pending_start = Some(self.state.time_at_beat(self.origin, q) as f64);
                } else {
                    self.schedule_start(beat, q);
                }
            }
        } else if drives && !playing && self.was_playing {
            self.pending_start = None;
            if b.running() {
                b.link_stop();
            }
        } else if !start_stop && request == Some(true) {
            // Our own start, without start/stop sync: on the session's next bar.
            self.schedule_start(beat, q);
        }
        self.was_playing = playing;
        if let Some(start) = self.pending_start {
            if start - t < block_us.max(1.0) {
                let ticks_per_us = b.subsample() as f64 / self.filter.slope();
                let at = ((start - t).max(0.0) * ticks_per_us).round() as u32;
                b.link_start(b.now().wrapping_add(at));
                self.pending_start = None;
            }
        }
        // Ticks per position unit (1/96 beat) at the session tempo, on the fitted clock.
        let us_per_unit = 60e6 / (tempo * 96.0);
        let slope_q8 = (us_per_unit * b.subsample() as f64 / self.filter.slope() * 256.0).round();
        let pos_q16 = ((beat - self.origin) * 96.0 * 65_536.0).round();
        if slope_q8 >= 1.0 && slope_q8 < u32::MAX as f64 && pos_q16.abs() < 9e15 {
            let milli_bpm = (tempo * 1000.0).round().min(u32::MAX as f64) as u32;
            b.follow_link(pos_q16 as i64, slope_q8 as u32, milli_bpm);
        }
    }

    /// Start on the session's next bar: that bar is Bridge's beat 1.
    fn schedule_start(&mut self, beat: f64, q: f64) {
        let bar = (beat / q).ceil() * q;
        self.origin = bar;
        self.pending_start = Some(self.state.time_at_beat(bar, q) as f64);
    }

    fn lead(&mut self, b: &mut Bridge, t: f64, q: f64, start_stop: bool) {
        self.pending_start = None;
        let Some((beat, frac, milli_bpm)) = b.lead_state() else {
            return;
        };
        let ours = beat as f64 + frac as f64 / 65_536.0;
        let bpm = milli_bpm as f64 / 1000.0;
        let mut commit = false;
        if (self.state.tempo() - bpm).abs() > LEAD_TEMPO_DEADBAND {
            self.state.set_tempo(bpm, t as i64);
            commit = true;
        }
        let theirs = self.beat_at(t, q);
        let d = (ours - theirs).rem_euclid(q);
        let d = if d > q / 2.0 { d - q } else { d };
        let err_us = d * 60e6 / self.state.tempo();
        if commit || err_us.abs() > LEAD_PHASE_US {
            self.state.force_beat_at_time(ours, t.round() as i64, q);
            commit = true;
        }
        if start_stop && self.state.is_playing() != b.running() {
            self.state.set_is_playing(b.running(), t as i64);
            commit = true;
        }
        if commit {
            self.link.commit_audio_session_state(&self.state);
        }
    }
}

impl Default for LinkDriver {
    fn default() -> Self {
        LinkDriver::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_filter_removes_block_jitter() {
        let mut f = HostTimeFilter::new(1e6 / 48_000.0);
        let mut x: u32 = 7;
        for k in 0..2_000i64 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let jitter = (x >> 16) as f64 / 65_536.0 * 800.0; // up to 0.8 ms late
            let frame = 1_000_000 + k * 256;
            // The audio clock runs 20 ppm fast against the host clock.
            let host = 5e9 + frame as f64 * (1e6 / 48_000.0) * 1.00002 + jitter;
            f.push(frame, host);
        }
        let frame = 1_000_000 + 2_000 * 256;
        let truth = 5e9 + frame as f64 * (1e6 / 48_000.0) * 1.00002 + 400.0;
        assert!(
            (f.host_at(frame) - truth).abs() < 40.0,
            "{}",
            f.host_at(frame) - truth
        );
        assert!((f.slope() / (1e6 / 48_000.0) - 1.00002).abs() < 5e-5);
        // Frames going backwards start over.
        f.push(0, 1.0);
        assert_eq!(f.len(), 1);
        assert_eq!(f.host_at(48_000), 1.0 + 1e6);
    }

    #[test]
    fn host_time_filter_stays_exact_over_days() {
        // Two days of 256-frame blocks (far beyond many rebases), then the incremental line is
        // compared with a fit from scratch over the same points.
        let us = 1e6 / 48_000.0;
        let mut f = HostTimeFilter::new(us);
        let mut x: u32 = 3;
        let start = 48_000i64 * 86_400 * 2;
        let blocks = 40_000i64;
        for k in 0..blocks {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let frame = start + k * 256;
            let host = 7e11 + frame as f64 * us + (x >> 16) as f64 / 65_536.0 * 1_000.0;
            f.push(frame, host);
        }
        let mut g = f.clone();
        g.rebase(g.frames[0], g.hosts[0]);
        g.fit();
        let frame = start + blocks * 256;
        assert!((f.host_at(frame) - g.host_at(frame)).abs() < 0.01);
        assert!((f.slope() - g.slope()).abs() < 1e-9);
    }

    #[test]
    fn clock_offset_keeps_the_smallest_delay() {
        let mut o = ClockOffset::default();
        for k in 0..5_000u32 {
            o.push(1_000.0 + (k % 17) as f64 * 10.0);
        }
        assert_eq!(o.get(), 1_000.0);
    }
}
