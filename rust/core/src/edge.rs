//! [`EdgeDetector`]: rising edges of a sampled CV clock, with hysteresis, a retriggerable
//! hold-off against ringing lines and audio-rate signals, and the crossing time interpolated
//! between samples.
//!
//! This is the only floating-point part of the core: it runs on the host, where samples are
//! `f32` volts. The firmware gets its edges from Timer1 input capture instead.

use crate::time::{Tick, TickRate};

/// Settings of the Schmitt trigger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeConfig {
    /// Rising threshold in volts (a crossing above it is an edge).
    pub high: f32,
    /// Falling threshold in volts (the input must fall below it to re-arm).
    pub low: f32,
    /// An edge counts only after the line had no rising crossing for this long (µs): a crossing
    /// inside the hold-off is ignored and restarts it.
    pub holdoff_us: u32,
}

impl EdgeConfig {
    /// Rack's 0–10 V gate convention: edge above 1.5 V, re-arm below 0.5 V, 1 ms hold-off.
    pub const RACK: EdgeConfig = EdgeConfig {
        high: 1.5,
        low: 0.5,
        holdoff_us: 1_000,
    };
    /// Low-level or AC-coupled clocks from an audio interface: ±0.1 V around zero.
    pub const AUDIO_INTERFACE: EdgeConfig = EdgeConfig {
        high: 0.1,
        low: -0.1,
        holdoff_us: 1_000,
    };
}

/// Sampled-CV rising-edge detector.
#[derive(Clone, Copy, Debug)]
pub struct EdgeDetector {
    cfg: EdgeConfig,
    holdoff: u32,
    subsample: u32,
    armed: bool,
    /// False until the first sample: that one only decides the starting level.
    started: bool,
    prev: f32,
    last_edge: Option<Tick>,
}

impl EdgeDetector {
    /// A detector for samples `subsample` ticks apart (256 in Rack), hold-off at `rate`.
    pub fn new(cfg: EdgeConfig, rate: TickRate, subsample: u32) -> Self {
        let mut d = EdgeDetector {
            cfg,
            holdoff: 0,
            subsample: subsample.max(1),
            armed: false,
            started: false,
            prev: 0.0,
            last_edge: None,
        };
        d.set_config(cfg, rate, subsample);
        d
    }

    /// Change thresholds, hold-off or timing. Thresholds that are not finite, or inverted, fall
    /// back to [`EdgeConfig::RACK`].
    pub fn set_config(&mut self, cfg: EdgeConfig, rate: TickRate, subsample: u32) {
        let valid = cfg.high.is_finite() && cfg.low.is_finite() && cfg.low < cfg.high;
        self.cfg = if valid {
            cfg
        } else {
            EdgeConfig {
                holdoff_us: cfg.holdoff_us,
                ..EdgeConfig::RACK
            }
        };
        self.holdoff = rate.ticks_from_micros(self.cfg.holdoff_us);
        self.subsample = subsample.max(1);
    }

    /// Process the sample taken at tick `now`; returns the interpolated time of a rising edge
    /// between the previous sample and this one. NaN and ±∞ read as low (0 V).
    #[inline]
    pub fn process(&mut self, v: f32, now: Tick) -> Option<Tick> {
        let v = if v.is_finite() { v } else { 0.0 };
        let prev = self.prev;
        self.prev = v;
        if !self.started {
            // Anything below the rising threshold is low, so a line idling between the
            // thresholds (an AC-coupled clock at 0 V) counts its very first pulse; a line that is
            // already high at the start is not an edge.
            self.started = true;
            self.armed = v < self.cfg.high;
            return None;
        }
        if !self.armed {
            if v < self.cfg.low {
                self.armed = true;
            }
            return None;
        }
        if v < self.cfg.high {
            return None;
        }
        self.armed = false;
        // Linear interpolation of the crossing of `high` between the two samples.
        let span = v - prev;
        let frac = if span > 0.0 {
            ((self.cfg.high - prev) / span).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let back = ((1.0 - frac) * self.subsample as f32) as u32;
        let t = now.wrapping_sub(back.min(self.subsample));
        // The hold-off is retriggerable: a crossing inside it restarts it, so the line must have
        // been quiet for the whole hold-off before an edge counts. Ringing and audio-rate
        // signals (a tone, white noise) give at most the first edge of a burst.
        let quiet = self
            .last_edge
            .is_none_or(|last| t.wrapping_sub(last) >= self.holdoff);
        self.last_edge = Some(t);
        quiet.then_some(t)
    }

    /// Current level after hysteresis (true = high).
    pub fn is_high(&self) -> bool {
        !self.armed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: TickRate = TickRate::new(48_000 * 256);

    fn det() -> EdgeDetector {
        EdgeDetector::new(EdgeConfig::RACK, RATE, 256)
    }

    #[test]
    fn interpolates_the_crossing() {
        let mut d = det();
        assert_eq!(d.process(0.0, 0), None);
        // 0 V → 3 V: 1.5 V is crossed halfway between the samples.
        assert_eq!(d.process(3.0, 256), Some(128));
        assert_eq!(d.process(10.0, 512), None, "still high");
    }

    #[test]
    fn hysteresis_and_holdoff_reject_ringing() {
        let mut d = det();
        d.process(0.0, 0);
        assert!(d.process(10.0, 256).is_some());
        // Ringing: dips to 1 V (above low) do not re-arm.
        assert!(d.process(1.0, 512).is_none());
        assert!(d.process(9.0, 768).is_none());
        // A real dip re-arms, but a re-trigger inside 1 ms (48 samples) is held off.
        assert!(d.process(0.0, 1024).is_none());
        assert!(d.process(10.0, 1280).is_none());
        d.process(0.0, 1536);
        assert!(d.process(10.0, 256 * 60).is_some());
    }

    #[test]
    fn the_holdoff_restarts_on_every_crossing() {
        // A 5 kHz square (9.6 samples a cycle, 200 µs): the first edge counts, then the line is
        // never quiet for 1 ms, so nothing more, however long it lasts.
        let mut d = det();
        d.process(0.0, 0);
        let mut edges = 0;
        let mut n = 1u32;
        while n < 48_000 {
            let v = if (n as f32 / 9.6).fract() < 0.5 {
                10.0
            } else {
                0.0
            };
            edges += d.process(v, n * 256).is_some() as u32;
            n += 1;
        }
        assert_eq!(edges, 1);
        // 1 ms of quiet (the line low), and the next edge counts again.
        for k in 0..48 {
            d.process(0.0, (n + k) * 256);
        }
        assert!(d.process(10.0, (n + 48) * 256).is_some());
    }

    #[test]
    fn nan_and_inf_read_low() {
        let mut d = det();
        d.process(f32::NAN, 0);
        assert!(d.process(f32::INFINITY, 256).is_none());
        assert!(
            d.process(10.0, 512).is_some(),
            "NaN armed it as a low reading"
        );
        let mut bad = EdgeDetector::new(
            EdgeConfig {
                high: f32::NAN,
                low: 1.0,
                holdoff_us: 0,
            },
            RATE,
            256,
        );
        bad.process(0.0, 0);
        assert!(
            bad.process(2.0, 256).is_some(),
            "fell back to Rack thresholds"
        );
    }

    #[test]
    fn first_pulse_counts_from_an_idle_line_but_a_high_start_does_not() {
        let mut d = EdgeDetector::new(EdgeConfig::AUDIO_INTERFACE, RATE, 256);
        d.process(0.0, 0); // idle exactly between the thresholds
        assert!(
            d.process(0.3, 256).is_some(),
            "first pulse of an AC-coupled clock"
        );
        let mut d = det();
        d.process(10.0, 0); // already high when patched
        assert!(d.process(10.0, 256).is_none());
        d.process(0.0, 512);
        assert!(d.process(10.0, 768).is_some());
    }

    #[test]
    fn audio_interface_levels() {
        let mut d = EdgeDetector::new(EdgeConfig::AUDIO_INTERFACE, RATE, 256);
        d.process(-0.3, 0);
        assert_eq!(d.process(0.3, 256), Some(128 + 43));
    }
}
