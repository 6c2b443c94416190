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

    /// The first position at or after `pos` that is a pulse of this resolution (a multiple of
    /// [`Ppqn::units`]; positions wrap).
    pub const fn pulse_at_or_after(self, pos: u32) -> u32 {
        let units = self.units();
        match pos % units {
            0 => pos,
            r => pos.wrapping_add(units - r),
        }
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
    fn pulse_at_or_after_rounds_up_to_the_grid() {
        assert_eq!(Ppqn::P4.pulse_at_or_after(0), 0);
        assert_eq!(Ppqn::P4.pulse_at_or_after(1), 24);
        assert_eq!(Ppqn::P4.pulse_at_or_after(48), 48);
        assert_eq!(Ppqn::P96.pulse_at_or_after(7), 7);
        assert_eq!(Ppqn::P16.pulse_at_or_after(u32::MAX), 2, "wraps");
    }
}
