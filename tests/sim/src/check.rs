//! Judging the output: clock bytes against the true input grid, spacing, MIDI parsing.

use crate::run::{TruePulse, US};

/// The ideal time of any position (1/96 beat), interpolated on the true input grid.
pub struct Grid<'a> {
    truth: &'a [TruePulse],
}

impl<'a> Grid<'a> {
    pub fn new(truth: &'a [TruePulse]) -> Self {
        assert!(truth.len() >= 2);
        Grid { truth }
    }

    /// Ideal time (cycles) of position `pos`.
    pub fn time(&self, pos: i64) -> f64 {
        let tr = self.truth;
        let i = match tr.binary_search_by_key(&pos, |p| p.pos) {
            Ok(i) => return tr[i].t,
            Err(i) => i.clamp(1, tr.len() - 1),
        };
        let (a, b) = (tr[i - 1], tr[i]);
        a.t + (pos - a.pos) as f64 * (b.t - a.t) / (b.pos - a.pos) as f64
    }

    /// The MIDI clock position (multiple of 4) nearest to time `t`.
    pub fn nearest(&self, t: f64) -> i64 {
        let tr = self.truth;
        let i = tr.partition_point(|p| p.t <= t).clamp(1, tr.len() - 1);
        let (a, b) = (tr[i - 1], tr[i]);
        let f = a.pos as f64 + (t - a.t) * (b.pos - a.pos) as f64 / (b.t - a.t);
        let mut p = (f / 4.0).round() as i64 * 4;
        // Refine against the interpolated times (segments may differ in tempo).
        for _ in 0..4 {
            let here = (self.time(p) - t).abs();
            if (self.time(p + 4) - t).abs() < here {
                p += 4;
            } else if (self.time(p - 4) - t).abs() < here {
                p -= 4;
            } else {
                break;
            }
        }
        p
    }

    /// Spacing of MIDI clocks at position `pos`.
    pub fn step(&self, pos: i64) -> f64 {
        self.time(pos + 4) - self.time(pos)
    }
}

/// Clock bytes in a window, matched one to one to consecutive grid positions.
#[derive(Clone, Debug, Default)]
pub struct Fit {
    pub n: usize,
    pub first_pos: i64,
    pub last_pos: i64,
    /// Largest |error| and RMS error against the ideal grid, in µs.
    pub max_abs_us: f64,
    pub rms_us: f64,
    /// Mean error (a constant latency), µs.
    pub mean_us: f64,
    /// True when every clock lands nearest its own grid point (no missing or extra clocks,
    /// and none lagging by half a clock or more).
    pub count_ok: bool,
    /// True when the clocks in the window are exactly the grid positions from the first one's to
    /// the last one's (the count is exact even if some lagged while catching up).
    pub total_ok: bool,
    pub worst_at: u64,
}

/// Fit the clocks in `[from, to)`: the first one is matched to its nearest grid position and the
/// rest to the following positions, one each; a missing or extra clock anywhere shows as an
/// error of a whole clock period from there on.
pub fn fit(f8: &[u64], grid: &Grid, from: u64, to: u64) -> Fit {
    let w: Vec<u64> = f8
        .iter()
        .copied()
        .filter(|&t| t >= from && t < to)
        .collect();
    if w.is_empty() {
        return Fit::default();
    }
    let p0 = grid.nearest(w[0] as f64);
    let mut f = Fit {
        n: w.len(),
        first_pos: p0,
        last_pos: p0 + 4 * (w.len() as i64 - 1),
        count_ok: true,
        ..Fit::default()
    };
    let (mut sum, mut sum2) = (0.0, 0.0);
    for (i, &t) in w.iter().enumerate() {
        let p = p0 + 4 * i as i64;
        let e = t as f64 - grid.time(p);
        if e.abs() * 2.0 >= grid.step(p) {
            f.count_ok = false;
        }
        let us = e / US as f64;
        sum += us;
        sum2 += us * us;
        if us.abs() > f.max_abs_us {
            f.max_abs_us = us.abs();
            f.worst_at = t;
        }
    }
    f.mean_us = sum / w.len() as f64;
    f.rms_us = (sum2 / w.len() as f64).sqrt();
    f.total_ok = grid.nearest(*w.last().unwrap() as f64) == f.last_pos;
    f.count_ok &= f.total_ok;
    f
}

/// Smallest distance between consecutive times, in cycles (u64::MAX for fewer than two).
pub fn min_spacing(t: &[u64]) -> u64 {
    t.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(u64::MAX)
}

/// A MIDI message as a receiver sees it: status plus data (running status resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg(pub Vec<u8>);

fn data_len(status: u8) -> usize {
    match status {
        0x80..=0xBF | 0xE0..=0xEF => 2,
        0xC0..=0xDF => 1,
        0xF1 | 0xF3 => 1,
        0xF2 => 2,
        _ => 0,
    }
}

/// Decode a byte stream the way a MIDI receiver does (independent of tactus-core): real-time
/// bytes are separate messages wherever they occur, running status applies to channel
/// messages, SysEx runs to 0xF7. Incomplete messages are reported as errors.
pub fn parse(bytes: &[u8]) -> (Vec<Msg>, Vec<Msg>, usize) {
    let mut msgs = vec![];
    let mut realtime = vec![];
    let mut errors = 0;
    let mut running: Option<u8> = None;
    let mut cur: Vec<u8> = vec![];
    let mut sysex = false;
    for &b in bytes {
        if b >= 0xF8 {
            realtime.push(Msg(vec![b]));
            continue;
        }
        if b >= 0x80 {
            if sysex {
                if b == 0xF7 {
                    cur.push(b);
                    msgs.push(Msg(std::mem::take(&mut cur)));
                    sysex = false;
                    continue;
                }
                errors += 1; // SysEx cut off by another status
                cur.clear();
                sysex = false;
            } else if !cur.is_empty() && cur.len() < 1 + data_len(cur[0]) {
                errors += 1; // message cut short
            }
            cur.clear();
            if b == 0xF0 {
                sysex = true;
                running = None;
                cur.push(b);
            } else if b >= 0xF0 {
                running = None;
                if data_len(b) == 0 {
                    msgs.push(Msg(vec![b]));
                } else {
                    cur.push(b);
                }
            } else {
                running = Some(b);
                cur.push(b);
            }
            continue;
        }
        if sysex {
            cur.push(b);
            continue;
        }
        if cur.is_empty() {
            match running {
                Some(s) => cur.push(s),
                None => {
                    errors += 1; // data byte without status
                    continue;
                }
            }
        }
        cur.push(b);
        if cur.len() == 1 + data_len(cur[0]) {
            msgs.push(Msg(std::mem::take(&mut cur)));
        }
    }
    if !cur.is_empty() {
        errors += 1;
    }
    (msgs, realtime, errors)
}

/// True when `sub` appears in `all` in order (not necessarily contiguously).
pub fn is_subsequence(sub: &[Msg], all: &[Msg]) -> bool {
    let mut it = all.iter();
    sub.iter().all(|m| it.any(|x| x == m))
}
