//! Input clocks with their truth.
//!
//! The true clock is integrated from a tempo curve at 96 PPQN (every supported PPQN divides it),
//! so the ideal output grid at any PPQN is a subsequence of it. The input pulses are the true
//! pulses at the input PPQN, then disturbed: jitter, transport quantisation, drops, double
//! triggers, gaps.

use crate::Rng;

/// The benchmark scenarios: S1–S10 from the tactus-core issue, S11–S14 from the real-world edges issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioId {
    /// 120 BPM, 24 PPQN, ±1 ms uniform jitter.
    S1,
    /// 24 PPQN MIDI clock stamped to 256-frame blocks at 48 kHz, ±0.5 ms arrival jitter.
    S2,
    /// 24 PPQN quantised to 1 ms USB frames.
    S3,
    /// Tempo step 120 → 140 BPM.
    S4,
    /// Ramp 90 → 150 BPM over 16 beats.
    S5,
    /// 5 % dropped pulses.
    S6,
    /// 5 % double triggers 0.5–3 ms after the real edge.
    S7,
    /// 1 PPQN at 30 BPM.
    S8,
    /// 24 PPQN at 300 BPM.
    S9,
    /// 3 s stop, then restart.
    S10,
    /// The clock stops at 4 PPQN and does not come back (a stop's overshoot).
    S11,
    /// Noise while stopped: a locked clock stops, random pulses and an audio-rate buzz arrive,
    /// then the clock returns.
    S12,
    /// Slow drift: the tempo changes linearly in time by 2 %/min (1 PPQN, 120 → about 123 BPM;
    /// [`Scenario::drift`] builds it at any PPQN, tempo and rate).
    S13,
    /// Cold start on a jittered 24 PPQN clock: every output judged from beat 1.
    S14,
}

impl ScenarioId {
    /// All scenarios in order.
    pub const ALL: [ScenarioId; 14] = [
        ScenarioId::S1,
        ScenarioId::S2,
        ScenarioId::S3,
        ScenarioId::S4,
        ScenarioId::S5,
        ScenarioId::S6,
        ScenarioId::S7,
        ScenarioId::S8,
        ScenarioId::S9,
        ScenarioId::S10,
        ScenarioId::S11,
        ScenarioId::S12,
        ScenarioId::S13,
        ScenarioId::S14,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioId::S1 => "S1",
            ScenarioId::S2 => "S2",
            ScenarioId::S3 => "S3",
            ScenarioId::S4 => "S4",
            ScenarioId::S5 => "S5",
            ScenarioId::S6 => "S6",
            ScenarioId::S7 => "S7",
            ScenarioId::S8 => "S8",
            ScenarioId::S9 => "S9",
            ScenarioId::S10 => "S10",
            ScenarioId::S11 => "S11",
            ScenarioId::S12 => "S12",
            ScenarioId::S13 => "S13",
            ScenarioId::S14 => "S14",
        }
    }

    /// One-line description.
    pub fn description(self) -> &'static str {
        match self {
            ScenarioId::S1 => "120 BPM 24 PPQN, ±1 ms uniform jitter",
            ScenarioId::S2 => "24 PPQN stamped to 256-frame blocks @48 kHz, ±0.5 ms",
            ScenarioId::S3 => "24 PPQN, 1 ms USB frame quantisation",
            ScenarioId::S4 => "tempo step 120 → 140 BPM (24 PPQN)",
            ScenarioId::S5 => "ramp 90 → 150 BPM over 16 beats (24 PPQN)",
            ScenarioId::S6 => "5 % dropped pulses (24 PPQN, 120 BPM)",
            ScenarioId::S7 => "5 % double triggers 0.5–3 ms late (24 PPQN)",
            ScenarioId::S8 => "1 PPQN at 30 BPM",
            ScenarioId::S9 => "24 PPQN at 300 BPM",
            ScenarioId::S10 => "3 s stop, then restart (24 PPQN, 120 BPM)",
            ScenarioId::S11 => "clock stops at 4 PPQN (120 BPM), 3 s of silence",
            ScenarioId::S12 => {
                "noise while stopped: 3 s of random pulses and a ~1.2 ms buzz \
                                 (24 PPQN, 120 BPM), then the clock returns"
            }
            ScenarioId::S13 => "slow drift +2 %/min from 120 BPM (1 PPQN)",
            ScenarioId::S14 => "cold start, 120 BPM 24 PPQN ±1 ms, judged from beat 1",
        }
    }

    /// Build the scenario with a seed.
    pub fn build(self, seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let steady = |bpm: f64| move |_beat: f64| bpm;
        match self {
            ScenarioId::S1 => {
                Scenario::new(self, 24, &[24, 4], 128.0, steady(120.0)).jitter(&mut rng, 0.001)
            }
            ScenarioId::S2 => Scenario::new(self, 24, &[24, 4], 128.0, steady(120.0))
                .jitter(&mut rng, 0.0005)
                .quantise(256.0 / 48_000.0),
            ScenarioId::S3 => {
                Scenario::new(self, 24, &[24, 4], 128.0, steady(120.0)).quantise(0.001)
            }
            ScenarioId::S4 => {
                let mut s = Scenario::new(self, 24, &[24, 4], 48.0, |b: f64| {
                    if b < 16.0 {
                        120.0
                    } else {
                        140.0
                    }
                });
                s.event_beat = Some(16.0);
                s
            }
            ScenarioId::S5 => {
                let mut s = Scenario::new(self, 24, &[24, 4], 40.0, |b: f64| {
                    if b < 8.0 {
                        90.0
                    } else if b < 24.0 {
                        90.0 + 60.0 * (b - 8.0) / 16.0
                    } else {
                        150.0
                    }
                });
                s.event_beat = Some(8.0);
                s
            }
            ScenarioId::S6 => {
                Scenario::new(self, 24, &[24, 4], 64.0, steady(120.0)).drop_pulses(&mut rng, 0.05)
            }
            ScenarioId::S7 => Scenario::new(self, 24, &[24, 4], 64.0, steady(120.0))
                .double_trigger(&mut rng, 0.05, 0.0005, 0.003),
            ScenarioId::S8 => Scenario::new(self, 1, &[24, 4], 24.0, steady(30.0)),
            ScenarioId::S9 => Scenario::new(self, 24, &[1, 4], 96.0, steady(300.0)),
            ScenarioId::S10 => {
                let mut s = Scenario::new(self, 24, &[24, 4], 40.0, steady(120.0));
                s.gap(16.0, 3.0);
                s.event_beat = Some(16.0);
                s
            }
            ScenarioId::S11 => Scenario::stopping(self, 4, &[24, 4], 16, 120.0, 3.0),
            ScenarioId::S12 => {
                let mut s = Scenario::new(self, 24, &[24, 4], 40.0, steady(120.0));
                s.gap(16.0, 4.0);
                s.event_beat = Some(16.0);
                let stop = s.truth96[16 * 96].expect("before the gap");
                // Noise from 0.5 s after the last pulse (the clock is long lost by then) to 0.5 s
                // before it returns: random pulses 1–5 ms apart, then a buzz of about 1.2 ms
                // (±20 % from one edge to the next: audio-rate hum or crackle that gets through
                // the 1 ms hold-off, not a clock).
                let (from, to) = (stop + 0.5, stop + 3.5);
                let mut t = from;
                while t < from + 1.5 {
                    s.input.push(t);
                    t += rng.range(0.001, 0.005);
                }
                while t < to {
                    s.input.push(t);
                    t += rng.range(0.00096, 0.00144);
                }
                s.input.sort_by(f64::total_cmp);
                s.quiet = Some((from, to));
                s
            }
            ScenarioId::S13 => Scenario::drift(1, 120.0, 2.0),
            ScenarioId::S14 => Scenario::new(self, 24, &[24, 4, 2, 1], S14_BEATS, steady(120.0))
                .jitter(&mut rng, 0.001),
        }
    }
}

/// Length of S14: the length of S1 (the same clock, judged from beat 1 instead of the second half).
pub const S14_BEATS: f64 = 128.0;
/// Length of S13 in beats: the mean phase error is taken over the second half, after lock.
pub const S13_BEATS: f64 = 96.0;

/// An input clock and the truth it was made from.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Which scenario.
    pub id: ScenarioId,
    /// Input pulses per beat.
    pub in_ppqn: u32,
    /// Output PPQNs to evaluate.
    pub out_ppqn: Vec<u32>,
    /// True clock at 96 PPQN, seconds.
    pub truth96: Vec<Option<f64>>,
    /// Input pulse times as received, seconds, sorted.
    pub input: Vec<f64>,
    /// The true time of each input pulse (same index as `input` before disturbances).
    pub input_truth: Vec<f64>,
    /// Beat at which something happens (tempo step, ramp start, stop), for settling metrics.
    pub event_beat: Option<f64>,
    /// Time of the end of the run, seconds.
    pub end: f64,
    /// For a clock that stops for good: the true time of its first missing pulse.
    pub first_missing: Option<f64>,
    /// A stretch (seconds, from, to) in which nothing may be output and the tempo must hold: the
    /// clock is stopped and the line carries noise.
    pub quiet: Option<(f64, f64)>,
}

impl Scenario {
    /// A clean clock following `tempo(beat)` for `beats` beats, starting at 0.1 s.
    pub fn new(
        id: ScenarioId,
        in_ppqn: u32,
        out_ppqn: &[u32],
        beats: f64,
        tempo: impl Fn(f64) -> f64,
    ) -> Scenario {
        let n = (beats * 96.0) as usize;
        let mut truth96 = Vec::with_capacity(n + 1);
        let mut t = 0.1;
        for k in 0..=n {
            truth96.push(Some(t));
            let bpm = tempo(k as f64 / 96.0);
            t += 60.0 / (bpm * 96.0);
        }
        let step = (96 / in_ppqn) as usize;
        let input: Vec<f64> = truth96.iter().step_by(step).map(|x| x.unwrap()).collect();
        Scenario {
            id,
            in_ppqn,
            out_ppqn: out_ppqn.to_vec(),
            truth96,
            input_truth: input.clone(),
            input,
            event_beat: None,
            end: t,
            first_missing: None,
            quiet: None,
        }
    }

    /// A clean clock at `bpm` that stops after the pulse of beat `beats` and stays silent for
    /// `silence` seconds. The truth runs on to its first missing pulse: outputs may finish the
    /// last input interval up to that pulse, and nothing after it.
    pub fn stopping(
        id: ScenarioId,
        in_ppqn: u32,
        out_ppqn: &[u32],
        beats: usize,
        bpm: f64,
        silence: f64,
    ) -> Scenario {
        let mut s = Scenario::new(id, in_ppqn, out_ppqn, beats as f64 + 1.0, move |_| bpm);
        let step = (96 / in_ppqn) as usize;
        s.truth96.truncate(beats * 96 + step + 1);
        let missing = s.truth96[beats * 96 + step].expect("truth");
        s.input = s
            .truth96
            .iter()
            .step_by(step)
            .flatten()
            .copied()
            .filter(|&t| t < missing)
            .collect();
        s.input_truth = s.input.clone();
        s.first_missing = Some(missing);
        s.event_beat = Some(beats as f64);
        s.end = missing + silence;
        s
    }

    /// S13 at any input PPQN: starting at `bpm`, the tempo changes linearly in *time* by
    /// `percent_per_min` % of the starting tempo per minute (negative: slowing down), like an
    /// analog clock warming up or a hand on a tempo knob; [`S13_BEATS`] beats, outputs 24 and 4.
    pub fn drift(in_ppqn: u32, bpm: f64, percent_per_min: f64) -> Scenario {
        // d(bpm)/dt = g per second and d(beat)/dt = bpm/60, so bpm² = bpm0² + 120·g·beat.
        let g = bpm * percent_per_min / 100.0 / 60.0;
        let tempo = move |beat: f64| (bpm * bpm + 120.0 * g * beat).max(1.0).sqrt();
        Scenario::new(ScenarioId::S13, in_ppqn, &[24, 4], S13_BEATS, tempo)
    }

    /// Uniform jitter of ±`amp` seconds on every pulse.
    pub fn jitter(mut self, rng: &mut Rng, amp: f64) -> Self {
        for x in self.input.iter_mut() {
            *x += rng.range(-amp, amp);
        }
        self.input.sort_by(f64::total_cmp);
        self
    }

    /// Delivery in frames of `frame` seconds: each pulse is stamped at the end of its frame.
    pub fn quantise(mut self, frame: f64) -> Self {
        for x in self.input.iter_mut() {
            // The nanosecond guard keeps a true time that lands on a frame boundary (up to float
            // rounding) in that frame instead of the next.
            *x = ((*x - 1e-9) / frame).ceil() * frame;
        }
        self
    }

    /// Drop each pulse with probability `p` (never the first two: the follower must start).
    pub fn drop_pulses(mut self, rng: &mut Rng, p: f64) -> Self {
        let mut keep = Vec::with_capacity(self.input.len());
        for (i, &x) in self.input.iter().enumerate() {
            if i < 2 || rng.unit() >= p {
                keep.push(x);
            }
        }
        self.input = keep;
        self
    }

    /// With probability `p` a second edge `lo..hi` seconds after a real one.
    pub fn double_trigger(mut self, rng: &mut Rng, p: f64, lo: f64, hi: f64) -> Self {
        let mut out = Vec::with_capacity(self.input.len() * 2);
        for (i, &x) in self.input.iter().enumerate() {
            out.push(x);
            if i >= 2 && rng.unit() < p {
                out.push(x + rng.range(lo, hi));
            }
        }
        out.sort_by(f64::total_cmp);
        self.input = out;
        self
    }

    /// Stop the clock at `beat` for `seconds`, then continue (the truth shifts by the gap).
    pub fn gap(&mut self, beat: f64, seconds: f64) {
        let k0 = (beat * 96.0) as usize;
        for x in self.truth96.iter_mut().skip(k0 + 1).flatten() {
            *x += seconds;
        }
        // No grid inside the gap: only the points before the stop and after the restart count.
        let step = (96 / self.in_ppqn) as usize;
        self.input = self
            .truth96
            .iter()
            .step_by(step)
            .map(|x| x.unwrap())
            .collect();
        self.input_truth = self.input.clone();
        self.end += seconds;
    }

    /// Input pulses dropped right after another dropped one: under the stop rule each is caught
    /// up when the clock returns rather than sent on time.
    pub fn second_drops(&self) -> usize {
        let dropped: Vec<bool> = self
            .input_truth
            .iter()
            .map(|t| self.input.binary_search_by(|x| x.total_cmp(t)).is_err())
            .collect();
        dropped.windows(2).filter(|w| w[0] && w[1]).count()
    }

    /// Ideal output times at `ppqn`.
    pub fn grid(&self, ppqn: u32) -> Vec<f64> {
        self.truth96
            .iter()
            .step_by((96 / ppqn) as usize)
            .flatten()
            .copied()
            .collect()
    }

    /// RMS of the input's timing error about its mean, seconds. Each true pulse is matched to
    /// the nearest received pulse, so dropped pulses and double triggers (count problems, not
    /// timing noise) stay out of it.
    pub fn input_jitter_rms(&self) -> f64 {
        let truth = &self.input_truth;
        let mut errs = Vec::with_capacity(truth.len());
        for (i, &x) in truth.iter().enumerate() {
            let j = nearest(&self.input, x);
            let e = self.input[j] - x;
            let period = if i + 1 < truth.len() {
                truth[i + 1] - x
            } else {
                x - truth[i.saturating_sub(1)]
            };
            if e.abs() < period / 2.0 {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            0.0
        } else {
            crate::metrics::spread(&errs).1
        }
    }

    /// Beat number (from 0 at the first true pulse) of time `t`.
    pub fn beat_at(&self, t: f64) -> f64 {
        let i = nearest_below(&self.truth96, t);
        i as f64 / 96.0
    }
}

/// Index of the value in sorted `xs` nearest to `x`.
pub fn nearest(xs: &[f64], x: f64) -> usize {
    match xs.binary_search_by(|v| v.total_cmp(&x)) {
        Ok(i) => i,
        Err(0) => 0,
        Err(i) if i >= xs.len() => xs.len() - 1,
        Err(i) => {
            if x - xs[i - 1] <= xs[i] - x {
                i - 1
            } else {
                i
            }
        }
    }
}

fn nearest_below(xs: &[Option<f64>], x: f64) -> usize {
    let mut lo = 0;
    for (i, v) in xs.iter().enumerate() {
        if let Some(v) = v {
            if *v <= x {
                lo = i;
            } else {
                break;
            }
        }
    }
    lo
}
