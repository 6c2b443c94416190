//! tactus-core: the musical logic shared by the Tactus Rack plugin and the Teensy firmware.
//!
//! Everything here is `no_std`, allocation-free and panic-free on any input. Time is integer
//! [`Tick`]s at a configurable [`TickRate`] with wrapping arithmetic, so the host (samples × 256)
//! and the ATmega32U4 (2 MHz Timer1) compute identical results from identical inputs. The clock
//! path (tracker, timeline, outputs, MIDI) uses integer and fixed-point arithmetic only; the one
//! floating-point helper, [`edge::EdgeDetector`], is for sampled CV on the host.
//!
//! The pieces, in signal order:
//! - [`edge::EdgeDetector`]: Schmitt trigger + hold-off + sub-sample crossing time.
//! - [`tracker::BeatTracker`]: a second-order DLL over pulse times with outlier handling.
//! - `timeline::Timeline`: the tracked (or master) musical position as a function of time.
//! - [`output::ClockOutput`]: a phase-locked clock at any PPQN with offset and spacing.
//! - [`external::ExternalClock`]: the external-clock path: tracker, timeline, housekeeping, a
//!   24 PPQN MIDI clock and the run state (the firmware drives it directly).
//! - [`engine::ClockEngine`]: the external clock or the master tempo, transport and N CV outputs
//!   plus MIDI clock out (the Rack module).
//! - [`midi`]: the MIDI real-time decoder/encoder and the thru byte streamer.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod edge;
pub mod engine;
pub mod external;
pub(crate) mod fixed;
pub(crate) mod master;
pub mod midi;
pub mod output;
pub mod ppqn;
pub mod tempo;
pub mod time;
pub(crate) mod timeline;
pub mod tracker;

pub use engine::{ClockEngine, EngineConfig, Source, StartAlign};
pub use external::{ClockEvents, ExternalClock};
pub use midi::ClockMessage;
pub use output::{ClockOutput, OutputConfig};
pub use ppqn::Ppqn;
pub use time::{Tick, TickRate};
pub use tracker::{BeatTracker, LockState, PulseVerdict, TrackerConfig};
