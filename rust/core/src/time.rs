//! Integer time: wrapping `u32` ticks at a configurable rate.
//!
//! Comparisons go through [`is_due`] / [`ticks_between`] so that they stay correct across the
//! `u32` wrap (about 87 s at Rack's 192 kHz × 256 rate, 35 min at the firmware's 2 MHz).

/// A point in time, in ticks. Wraps around.
pub type Tick = u32;

/// Ticks per second. Rack uses `sample_rate × 256` (sub-sample precision), the firmware 2 MHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickRate(u32);

impl TickRate {
    /// Lowest accepted rate: below it a 1 ms pulse would be under 10 ticks.
    pub const MIN: u32 = 10_000;
    /// Highest accepted rate (48 kHz × 256): the longest pulse (90 s, 1 BPM at 1 PPQN with
    /// headroom) and its loss timeout (1.5 pulses) stay inside the signed 32-bit range the
    /// schedule is compared in. Rack uses fewer ticks per sample above 48 kHz to stay under it.
    pub const MAX: u32 = 12_288_000;
    /// Rack's sub-sample factor: ticks per audio sample.
    pub const SUBSAMPLE: u32 = 256;

    /// A rate clamped to `MIN..=MAX` (bad input gets the nearest valid rate, never a panic).
    pub const fn new(ticks_per_second: u32) -> Self {
        let t = if ticks_per_second < Self::MIN {
            Self::MIN
        } else if ticks_per_second > Self::MAX {
            Self::MAX
        } else {
            ticks_per_second
        };
        TickRate(t)
    }

    /// The rate Rack uses for a sample rate in Hz: 256 ticks per sample.
    pub const fn from_sample_rate(sample_rate_hz: u32) -> Self {
        Self::new(sample_rate_hz.saturating_mul(Self::SUBSAMPLE))
    }

    /// Ticks per second.
    pub const fn hz(self) -> u32 {
        self.0
    }

    /// The rate and sub-sample factor for a sample rate: the largest power of two up to 256
    /// ticks per sample that keeps the rate at or below [`TickRate::MAX`].
    pub const fn for_sample_rate(sample_rate_hz: u32) -> (Self, u32) {
        let mut sub = Self::SUBSAMPLE;
        while sub > 1 && (sample_rate_hz as u64) * (sub as u64) > Self::MAX as u64 {
            sub /= 2;
        }
        (Self::new(sample_rate_hz.saturating_mul(sub)), sub)
    }

    /// Microseconds → ticks, saturating.
    pub const fn ticks_from_micros(self, us: u32) -> u32 {
        let t = (us as u64 * self.0 as u64) / 1_000_000;
        if t > u32::MAX as u64 {
            u32::MAX
        } else {
            t as u32
        }
    }

    /// Signed microseconds → signed ticks, saturating.
    pub const fn ticks_from_micros_signed(self, us: i32) -> i32 {
        let t = (us as i64 * self.0 as i64) / 1_000_000;
        if t > i32::MAX as i64 {
            i32::MAX
        } else if t < i32::MIN as i64 {
            i32::MIN
        } else {
            t as i32
        }
    }

    /// Ticks → microseconds, saturating.
    pub const fn micros_from_ticks(self, ticks: u32) -> u32 {
        let us = (ticks as u64 * 1_000_000) / self.0 as u64;
        if us > u32::MAX as u64 {
            u32::MAX
        } else {
            us as u32
        }
    }
}

/// Unsigned distance from `earlier` to `later`, correct across one wrap.
#[inline(always)]
pub const fn ticks_between(earlier: Tick, later: Tick) -> u32 {
    later.wrapping_sub(earlier)
}

/// Signed difference `a − b`, valid while the true difference is within ±2³¹ ticks.
#[inline(always)]
pub const fn signed_diff(a: Tick, b: Tick) -> i32 {
    a.wrapping_sub(b) as i32
}

/// True when `now` is at or after `at` (within half the wrap range).
#[inline(always)]
pub const fn is_due(now: Tick, at: Tick) -> bool {
    signed_diff(now, at) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_across_wrap() {
        assert!(is_due(5, u32::MAX - 3));
        assert!(!is_due(u32::MAX - 3, 5));
        assert_eq!(ticks_between(u32::MAX - 3, 5), 9);
        assert_eq!(signed_diff(2, u32::MAX), 3);
    }

    #[test]
    fn rates_clamp_and_convert() {
        assert_eq!(TickRate::new(0).hz(), TickRate::MIN);
        assert_eq!(TickRate::from_sample_rate(48_000).hz(), 12_288_000);
        assert_eq!(TickRate::from_sample_rate(10_000_000).hz(), TickRate::MAX);
        assert_eq!(
            TickRate::for_sample_rate(48_000),
            (TickRate::new(12_288_000), 256)
        );
        assert_eq!(
            TickRate::for_sample_rate(96_000),
            (TickRate::new(12_288_000), 128)
        );
        assert_eq!(
            TickRate::for_sample_rate(192_000),
            (TickRate::new(12_288_000), 64)
        );
        assert_eq!(TickRate::for_sample_rate(44_100).1, 256);
        let r = TickRate::new(2_000_000);
        assert_eq!(r.ticks_from_micros(320), 640);
        assert_eq!(r.micros_from_ticks(640), 320);
        assert_eq!(r.ticks_from_micros_signed(-50_000), -100_000);
        // 1.5 × 90 s at the highest rate still fits the signed range.
        assert!(TickRate::new(u32::MAX).ticks_from_micros(135_000_000) < i32::MAX as u32);
    }
}
