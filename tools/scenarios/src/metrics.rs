//! How a follower's output compares with the truth.

use crate::scenario::{nearest, Scenario};

/// Results for one output PPQN of one follower on one scenario.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Output PPQN evaluated.
    pub out_ppqn: u32,
    /// RMS of the phase error about its mean (jitter) over the steady-state second half, µs.
    pub jitter_rms_us: f64,
    /// Largest deviation of the phase error from its mean over the second half, µs.
    pub jitter_max_us: f64,
    /// Mean phase error against the true grid over the second half (latency; transport delay
    /// shows here), µs.
    pub mean_us: f64,
    /// Input jitter RMS over output jitter RMS (both about their means), dB; `None` for a
    /// clean input.
    pub attenuation_db: Option<f64>,
    /// RMS of the phase error about its mean over every output from beat 1 on (acquisition
    /// included: the cold-start figure), µs.
    pub from_beat1_rms_us: f64,
    /// Input jitter RMS over [`Metrics::from_beat1_rms_us`], dB; `None` for a clean input.
    pub from_beat1_attenuation_db: Option<f64>,
    /// Grid points in the window without exactly one output, plus outputs matching no point.
    pub count_errors: usize,
    /// Beats until every later output (before the scenario's event) is within 1 ms of the latency.
    pub beats_to_lock: Option<f64>,
    /// Beats after the event until every later output is within 1 ms of the latency.
    pub beats_to_settle: Option<f64>,
    /// Outputs produced.
    pub outputs: usize,
    /// (beat, phase error in µs) of every matched output, for plots.
    pub trace: Vec<(f64, f64)>,
}

/// Warm-up excluded from count statistics (every follower needs a beat or two).
pub const WARMUP_BEATS: f64 = 4.0;
/// Error bound for "locked" and "settled".
pub const LOCK_BOUND_S: f64 = 0.001;

/// Evaluate output times `outputs` (seconds) at `ppqn` against the scenario's truth.
pub fn evaluate(s: &Scenario, ppqn: u32, outputs: &[f64]) -> Metrics {
    let grid = s.grid(ppqn);
    let mut m = Metrics {
        out_ppqn: ppqn,
        outputs: outputs.len(),
        ..Metrics::default()
    };
    if grid.len() < 2 {
        return m;
    }
    // Half the distance to the nearer neighbour: an output belongs to a grid point only when it
    // is closer to it than to any other point (across a stop the far neighbour is seconds away).
    let half_gap = |i: usize| -> f64 {
        let next = grid.get(i + 1).map(|n| n - grid[i]);
        let prev = i.checked_sub(1).map(|p| grid[i] - grid[p]);
        match (prev, next) {
            (Some(a), Some(b)) => a.min(b) / 2.0,
            (Some(a), None) | (None, Some(a)) => a / 2.0,
            (None, None) => f64::INFINITY,
        }
    };
    let start_idx = (WARMUP_BEATS * ppqn as f64) as usize;
    let end_idx = grid.len().saturating_sub(ppqn as usize);
    let mut hits = vec![0u32; grid.len()];
    let mut extras = 0usize;
    let mut errs: Vec<(usize, f64)> = Vec::with_capacity(outputs.len());
    for &o in outputs {
        let i = nearest(&grid, o);
        let e = o - grid[i];
        if e.abs() >= half_gap(i) {
            if i >= start_idx && i < end_idx {
                extras += 1;
            }
            continue;
        }
        hits[i] += 1;
        errs.push((i, e));
        m.trace.push((i as f64 / ppqn as f64, e * 1e6));
    }
    // Jitter is a steady-state figure: the second half of the run (acquisition is what
    // beats-to-lock describes). Counts cover everything after the warm-up.
    let steady_idx = start_idx.max(grid.len() / 2);
    let window: Vec<f64> = errs
        .iter()
        .filter(|(i, _)| *i >= steady_idx && *i < end_idx)
        .map(|(_, e)| *e)
        .collect();
    let missing_or_doubled: usize = hits
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= start_idx && *i < end_idx)
        .map(|(_, &h)| (h as i64 - 1).unsigned_abs() as usize)
        .sum();
    m.count_errors = missing_or_doubled + extras;
    if !window.is_empty() {
        let (mean, sd, max) = spread(&window);
        m.mean_us = mean * 1e6;
        m.jitter_rms_us = sd * 1e6;
        m.jitter_max_us = max * 1e6;
    }
    // The cold-start variant: every output from beat 1 on, not just the steady second half.
    let early: Vec<f64> = errs
        .iter()
        .filter(|(i, _)| *i >= ppqn as usize && *i < end_idx)
        .map(|(_, e)| *e)
        .collect();
    if !early.is_empty() {
        m.from_beat1_rms_us = spread(&early).1 * 1e6;
    }
    let input_sd = s.input_jitter_rms();
    if input_sd > 1e-7 {
        // Below 0.1 µs the output is exact to the tick; don't claim more than that.
        let out_us = m.jitter_rms_us.max(0.1);
        m.attenuation_db = Some(20.0 * (input_sd * 1e6 / out_us).log10());
        let early_us = m.from_beat1_rms_us.max(0.1);
        m.from_beat1_attenuation_db = Some(20.0 * (input_sd * 1e6 / early_us).log10());
    }
    // Lock and settle are judged about the latency (transport delay is not a lock failure).
    let latency = m.mean_us * 1e-6;
    let event_idx = s
        .event_beat
        .map(|b| (b * ppqn as f64) as usize)
        .unwrap_or(grid.len());
    // Lock: the last bad output before the event; settle: the last bad output after it.
    let last_bad_before = errs
        .iter()
        .filter(|(i, e)| *i < event_idx && (e - latency).abs() >= LOCK_BOUND_S)
        .map(|(i, _)| *i)
        .max();
    let first_out = errs.iter().map(|(i, _)| *i).min();
    m.beats_to_lock = match (first_out, last_bad_before) {
        (None, _) => None,
        (Some(_), None) => Some(errs[0].0 as f64 / ppqn as f64),
        (Some(_), Some(b)) if b + 1 < event_idx => Some((b + 1) as f64 / ppqn as f64),
        _ => None,
    };
    if s.event_beat.is_some() {
        let after: Vec<&(usize, f64)> = errs.iter().filter(|(i, _)| *i >= event_idx).collect();
        if !after.is_empty() {
            let last_bad = after
                .iter()
                .filter(|(_, e)| (e - latency).abs() >= LOCK_BOUND_S)
                .map(|(i, _)| *i)
                .max();
            m.beats_to_settle = match last_bad {
                None => Some(0.0),
                Some(b) if b + 1 < grid.len() => Some((b + 1 - event_idx) as f64 / ppqn as f64),
                _ => None,
            };
        }
    }
    m
}

/// Tolerance of [`overshoot`]: outputs within it of the first missing pulse are that pulse's.
pub const OVERSHOOT_TOLERANCE_S: f64 = 0.001;

/// Outputs (seconds) after the true time of the first missing input pulse plus
/// [`OVERSHOOT_TOLERANCE_S`]: how far a stop overshoots. `None` unless the scenario's clock stops
/// for good.
pub fn overshoot(s: &Scenario, outputs: &[f64]) -> Option<usize> {
    let limit = s.first_missing? + OVERSHOOT_TOLERANCE_S;
    Some(outputs.iter().filter(|&&t| t > limit).count())
}

/// Outputs (seconds) inside the scenario's quiet stretch (noise on a stopped line). `None` when
/// it has none.
pub fn in_quiet(s: &Scenario, outputs: &[f64]) -> Option<usize> {
    let (from, to) = s.quiet?;
    Some(outputs.iter().filter(|&&t| t >= from && t < to).count())
}

/// Mean, RMS about the mean, and largest deviation from the mean.
pub fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let max = xs.iter().map(|x| (x - mean).abs()).fold(0.0, f64::max);
    (mean, var.sqrt(), max)
}
