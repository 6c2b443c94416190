//! Tempo conversions: period ↔ milli-BPM, and Rack's V/oct tempo convention (0 V = 120 BPM).

use crate::fixed::log2_q16;
use crate::ppqn::Ppqn;
use crate::time::TickRate;

/// Highest tempo accepted, in BPM (faster intervals are treated as spurious). Leaves headroom
/// above the 3000 BPM the engine promises, so a jittery 3000 BPM clock is still followed.
pub const MAX_BPM: u32 = 4000;
/// Lowest tempo accepted, in BPM (longer gaps restart acquisition).
pub const MIN_BPM: u32 = 1;

/// A tempo in milli-BPM limited to the supported [`MIN_BPM`]`..=`[`MAX_BPM`].
pub fn clamp_milli_bpm(milli_bpm: u32) -> u32 {
    milli_bpm.clamp(MIN_BPM * 1000, MAX_BPM * 1000)
}

/// Milli-BPM for a Q32.32 pulse period at `ppqn` (0 when the period is 0).
pub fn milli_bpm_from_period(period_q32: u64, ppqn: Ppqn, rate: TickRate) -> u32 {
    // Q16 period keeps the numerator (60 000 · rate · 2¹⁶) inside u64.
    let p16 = period_q32 >> 16;
    if p16 == 0 {
        return 0;
    }
    let num = 60_000u64 * rate.hz() as u64 * 65_536;
    let den = p16 * ppqn.value() as u64;
    (num / den).min(u32::MAX as u64) as u32
}

/// Ticks per position unit (1/96 beat) in Q24.8, the timeline's slope, at a
/// tempo in milli-BPM (0 for 0 BPM), rounded to the nearest 1/256 tick. Tempi are clamped to the
/// supported [`MIN_BPM`]`..=`[`MAX_BPM`], which keeps the result below 2³¹: at most 7 680 000 ticks
/// per unit (1 BPM at [`TickRate::MAX`]).
pub fn unit_period_from_milli_bpm(milli_bpm: u32, rate: TickRate) -> u32 {
    if milli_bpm == 0 {
        return 0;
    }
    let m = clamp_milli_bpm(milli_bpm);
    // ticks per unit · 2⁸ = rate · 60 000 · 2⁸ / (mbpm · 96) = rate · 160 000 / mbpm.
    ((rate.hz() as u64 * 160_000 + (m / 2) as u64) / m as u64) as u32
}

/// The tempo in milli-BPM of a timeline slope (Q24.8 ticks per unit): the inverse of
/// [`unit_period_from_milli_bpm`], rounded to the nearest milli-BPM (0 for a zero slope).
pub fn milli_bpm_from_slope(slope: u32, rate: TickRate) -> u32 {
    if slope == 0 {
        return 0;
    }
    ((rate.hz() as u64 * 160_000 + (slope / 2) as u64) / slope as u64).min(u32::MAX as u64) as u32
}

/// Tempo as Rack's V/oct convention, in microvolts: log₂(BPM / 120) V.
/// Returns `None` for 0 BPM (no tempo).
pub fn voct_microvolts(milli_bpm: u32) -> Option<i32> {
    if milli_bpm == 0 {
        return None;
    }
    // log2(mbpm / 120 000) = log2(mbpm · 2¹⁶ / 120 000 / 2¹⁶), computed in Q16.16.
    let x = (milli_bpm as u64 * 65_536 / 120_000).clamp(1, u32::MAX as u64) as u32;
    let l = log2_q16(x) as i64;
    Some((l * 1_000_000 / 65_536) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn milli_bpm_round_trip() {
        let rate = TickRate::new(2_000_000);
        // 120 BPM at 24 PPQN: 20 833.33 ticks per pulse.
        let p = (2_000_000u64 * 60 * (1 << 32)) / (120 * 24);
        let mbpm = milli_bpm_from_period(p, Ppqn::P24, rate);
        assert!((119_999..=120_001).contains(&mbpm), "{mbpm}");
        let unit = unit_period_from_milli_bpm(120_000, rate);
        assert_relative_eq!(
            unit as f64 / 256.0,
            2_000_000.0 * 0.5 / 96.0,
            max_relative = 1e-6
        );
        // The extremes of the clamped range stay in the documented bounds.
        let slowest = unit_period_from_milli_bpm(1, TickRate::new(TickRate::MAX));
        assert_eq!(slowest, 7_680_000 << 8);
        assert!(slowest < 1 << 31);
        let fastest = unit_period_from_milli_bpm(u32::MAX, TickRate::new(TickRate::MIN));
        assert_eq!(fastest, 400, "1.5625 ticks per unit");
        assert_eq!(milli_bpm_from_period(0, Ppqn::P1, rate), 0);
        assert_eq!(unit_period_from_milli_bpm(0, rate), 0);
    }

    #[test]
    fn voct_convention() {
        assert_eq!(voct_microvolts(120_000), Some(0));
        assert_relative_eq!(
            voct_microvolts(240_000).unwrap() as f64,
            1e6,
            epsilon = 20.0
        );
        assert_relative_eq!(
            voct_microvolts(60_000).unwrap() as f64,
            -1e6,
            epsilon = 20.0
        );
        assert_relative_eq!(
            voct_microvolts(90_000).unwrap() as f64 / 1e6,
            (90.0f64 / 120.0).log2(),
            epsilon = 1e-4
        );
        assert_eq!(voct_microvolts(0), None);
        assert!(voct_microvolts(u32::MAX).is_some());
    }
}
