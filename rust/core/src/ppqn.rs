//! Pulses per quarter note, and the 1/96-beat position unit that every supported PPQN divides.

/// Position units per beat: the least common multiple of all supported PPQN values.
pub const UNITS_PER_BEAT: u32 = 96;

/// A supported pulses-per-quarter-note resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Ppqn {
    /// 1 pulse per beat (quarter note).
    P1 = 1,
    /// 2: Korg "1 pulse" sync.
    P2 = 2,
    /// 4: one pulse per 16th ("1 step" on Arturia gear).
    P4 = 4,
    /// 8 pulses per beat.
    P8 = 8,
    /// 12 pulses per beat.
    P12 = 12,
    /// 16 pulses per beat.
    P16 = 16,
    /// 24: MIDI clock / DIN sync.
    P24 = 24,
    /// 48 pulses per beat.
    P48 = 48,
    /// 96 pulses per beat.
    P96 = 96,
}

impl Ppqn {
    /// All supported values, ascending.
    pub const ALL: [Ppqn; 9] = [
        Ppqn::P1,
        Ppqn::P2,
        Ppqn::P4,
        Ppqn::P8,
        Ppqn::P12,
        Ppqn::P16,
        Ppqn::P24,
        Ppqn::P48,
        Ppqn::P96,
    ];

    /// The PPQN for a number, or `None` when unsupported.
    pub const fn from_value(v: u32) -> Option<Ppqn> {
        match v {
            1 => Some(Ppqn::P1),
            2 => Some(Ppqn::P2),
            4 => Some(Ppqn::P4),
            8 => Some(Ppqn::P8),
            12 => Some(Ppqn::P12),
            16 => Some(Ppqn::P16),
            24 => Some(Ppqn::P24),
            48 => Some(Ppqn::P48),
            96 => Some(Ppqn::P96),
            _ => None,
        }
    }

    /// The PPQN at `index` in [`Ppqn::ALL`], clamped into range (for menu and knob indices).
    pub const fn from_index(index: u32) -> Ppqn {
        let i = if index as usize >= Self::ALL.len() {
            Self::ALL.len() - 1
        } else {
            index as usize
        };
        Self::ALL[i]
    }

    /// Index into [`Ppqn::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Ppqn::P1 => 0,
            Ppqn::P2 => 1,
            Ppqn::P4 => 2,
            Ppqn::P8 => 3,
            Ppqn::P12 => 4,
            Ppqn::P16 => 5,
            Ppqn::P24 => 6,
            Ppqn::P48 => 7,
            Ppqn::P96 => 8,
        }
    }

    /// Pulses per beat.
    pub const fn value(self) -> u32 {
        self as u32
    }

    /// Position units (1/96 beat) between two pulses.
    pub const fn units(self) -> u32 {
        UNITS_PER_BEAT / self as u32
    }
}

/// The first multiple of `m` at or after position `pos` (`m` of 0 counts as 1): the next pulse
/// of a resolution, the next beat. Positions wrap, like ticks.
pub const fn ceil_to_multiple(pos: u32, m: u32) -> u32 {
    let m = if m == 0 { 1 } else { m };
    match pos % m {
        0 => pos,
        r => pos.wrapping_add(m - r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ppqn_divides_the_beat() {
        for p in Ppqn::ALL {
            assert_eq!(p.units() * p.value(), UNITS_PER_BEAT);
            assert_eq!(Ppqn::from_value(p.value()), Some(p));
            assert_eq!(Ppqn::from_index(p.index() as u32), p);
        }
        assert_eq!(Ppqn::from_value(3), None);
        assert_eq!(Ppqn::from_index(99), Ppqn::P96);
    }

    #[test]
    fn ceil_to_multiple_rounds_up_to_the_grid() {
        assert_eq!(ceil_to_multiple(0, 24), 0);
        assert_eq!(ceil_to_multiple(1, 24), 24);
        assert_eq!(ceil_to_multiple(24, 24), 24);
        assert_eq!(ceil_to_multiple(97, UNITS_PER_BEAT), 192);
        assert_eq!(ceil_to_multiple(5, 0), 5, "0 counts as 1");
        // Near the top of the range the next multiple wraps around.
        assert_eq!(ceil_to_multiple(u32::MAX, 4), 0);
    }
}
