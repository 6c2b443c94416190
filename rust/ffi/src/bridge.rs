//! [`Bridge`]: what the Rack module does per sample, around one [`ClockEngine`] with four
//! outputs.
//!
//! The core knows clocks, transport and MIDI clock; the Bridge adds what a Rack module has on
//! top: sampled CV (clock, reset and run inputs), a MIDI input stream, source selection (CV
//! clock when CLOCK is patched, else MIDI clock when a MIDI input device is selected, else the
//! internal master tempo), the RUN/RESET buttons and the RESET trigger output. Time is the
//! core's integer ticks: every sample advances `subsample` ticks (see `tick_rate`).
//!
//! Nothing here allocates, locks or panics; every input value (NaN volts, unknown PPQN,
//! garbage settings) maps to something valid.

use heapless::Deque;
use tactus_core::edge::{EdgeConfig, EdgeDetector};
use tactus_core::engine::{ClockEngine, EngineConfig, Source, StartAlign, BEAT_ONE};
use tactus_core::midi::{ClockMessage, MidiClockDecoder};
use tactus_core::output::OutputConfig;
use tactus_core::tempo::voct_microvolts;
use tactus_core::time::{is_due, ticks_between};
use tactus_core::tracker::{LockState, DEFAULT_RESPONSE};
use tactus_core::{Ppqn, Tick, TickRate};

/// Number of clock outputs.
pub(crate) const OUTPUTS: usize = 4;
/// Output PPQN at power-up.
pub const DEFAULT_OUTPUT_PPQN: [Ppqn; OUTPUTS] = [Ppqn::P1, Ppqn::P2, Ppqn::P4, Ppqn::P24];
/// Input PPQN at power-up: one pulse per 16th, the usual Eurorack clock ("1 step" on Arturia).
pub const DEFAULT_INPUT_PPQN: Ppqn = Ppqn::P4;
/// Master tempo range in milli-BPM (the BPM knob's range).
pub const MASTER_MILLI_BPM: (u32, u32) = (30_000, 300_000);
/// Latency offset range in µs (each way).
pub(crate) const MAX_OFFSET_US: i32 = 50_000;
/// Sample rate assumed for garbage input (NaN, zero, negative).
pub(crate) const FALLBACK_SAMPLE_RATE: u32 = 48_000;
/// The engine is polled at least this often (samples) even when nothing is due, so that clock
/// loss is noticed (see [`ClockEngine::next_due`]).
pub(crate) const POLL_EVERY_SAMPLES: u32 = 32;
/// Length of the RESET output trigger (µs).
pub(crate) const RESET_TRIGGER_US: u32 = 1_000;
/// A RUN rise and a RESET this close together (either order) are a start from beat 1.
pub const RUN_RESET_WINDOW_US: u32 = 2_000;
/// Smallest distance between two pulses of one CV output (µs).
pub(crate) const OUTPUT_MIN_SPACING_US: u32 = 100;

/// A sample rate from the host as whole Hz; NaN, ±∞ and values below 1 kHz give 48 kHz,
/// values above [`TickRate::MAX`] Hz are clamped.
pub fn sanitize_sample_rate(sample_rate: f32) -> u32 {
    if !sample_rate.is_finite() || sample_rate < 1_000.0 {
        return FALLBACK_SAMPLE_RATE;
    }
    (sample_rate.round() as u32).min(TickRate::MAX)
}

/// Tick rate and ticks per sample for a (sanitized) sample rate: the core's
/// [`TickRate::for_sample_rate`] (256 ticks per sample up to 48 kHz, 128 at 88.2/96 kHz, 64
/// at 176.4/192 kHz, never more than 12.288 M ticks per second).
fn tick_rate(sample_rate_hz: u32) -> (TickRate, u32) {
    TickRate::for_sample_rate(sample_rate_hz)
}

/// Gate length of the CV clock outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PulseWidth {
    /// 1 ms.
    Ms1,
    /// 5 ms (default: what most clock inputs want).
    Ms5,
    /// 10 ms.
    Ms10,
    /// Half the output period.
    Duty50,
}

impl PulseWidth {
    /// From the ABI's number (0 = 1 ms, 1 = 5 ms, 2 = 10 ms, 3 = 50 %); anything else is 5 ms.
    pub const fn from_index(i: u32) -> PulseWidth {
        match i {
            0 => PulseWidth::Ms1,
            2 => PulseWidth::Ms10,
            3 => PulseWidth::Duty50,
            _ => PulseWidth::Ms5,
        }
    }

    /// The ABI's number.
    pub const fn index(self) -> u32 {
        match self {
            PulseWidth::Ms1 => 0,
            PulseWidth::Ms5 => 1,
            PulseWidth::Ms10 => 2,
            PulseWidth::Duty50 => 3,
        }
    }

    /// Gate length in µs; 0 is 50 % duty (the core caps every width at half the period).
    pub const fn micros(self) -> u32 {
        match self {
            PulseWidth::Ms1 => 1_000,
            PulseWidth::Ms5 => 5_000,
            PulseWidth::Ms10 => 10_000,
            PulseWidth::Duty50 => 0,
        }
    }
}

/// Signal level of the CLOCK and RESET inputs: which [`EdgeConfig`] their edge detectors use.
/// (RUN is a gate and always uses Rack's levels.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLevel {
    /// Rack's 0–10 V gates: edge above 1.5 V, re-arm below 0.5 V ([`EdgeConfig::RACK`];
    /// default).
    Rack,
    /// Low-level or AC-coupled clocks (an audio interface input, a line-level signal): edge
    /// above 0.1 V, re-arm below −0.1 V ([`EdgeConfig::AUDIO_INTERFACE`]). The signal has to
    /// swing below −0.1 V between pulses, as an AC-coupled one does.
    Low,
}

impl InputLevel {
    /// From the ABI's number (0 = Rack, 1 = low-level); anything else is Rack.
    pub const fn from_index(i: u32) -> InputLevel {
        match i {
            1 => InputLevel::Low,
            _ => InputLevel::Rack,
        }
    }

    /// The ABI's number.
    pub const fn index(self) -> u32 {
        match self {
            InputLevel::Rack => 0,
            InputLevel::Low => 1,
        }
    }

    /// Thresholds and hold-off of the edge detectors.
    pub const fn edge_config(self) -> EdgeConfig {
        match self {
            InputLevel::Rack => EdgeConfig::RACK,
            InputLevel::Low => EdgeConfig::AUDIO_INTERFACE,
        }
    }
}

/// Where the beat comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// CV clock on the CLOCK input.
    Cv,
    /// MIDI clock from the selected MIDI input device.
    Midi,
    /// The internal master tempo (BPM knob).
    Master,
    /// An Ableton Link session (the master timeline, steered by the session once per block).
    Link,
}

impl InputSource {
    /// The source the panel state asks for: CV when CLOCK is patched, else MIDI when a MIDI
    /// input device is selected, else Link when following a session, else the master tempo.
    /// [`LinkMode::FollowAlways`] puts Link first.
    pub const fn select(
        clock_patched: bool,
        midi_in_selected: bool,
        link: LinkMode,
    ) -> InputSource {
        if matches!(link, LinkMode::FollowAlways) {
            InputSource::Link
        } else if clock_patched {
            InputSource::Cv
        } else if midi_in_selected {
            InputSource::Midi
        } else if matches!(link, LinkMode::Follow) {
            InputSource::Link
        } else {
            InputSource::Master
        }
    }
}

/// What the Bridge does with an Ableton Link session (the network part lives in `link.rs`,
/// behind the `link` feature; without it every mode acts as `Off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMode {
    /// No Link at all (default): no Link object, no thread, no socket.
    Off,
    /// The session is the source after CV clock and MIDI IN (before the master tempo).
    Follow,
    /// The session is the source whatever is patched.
    FollowAlways,
    /// The followed clock (CV, MIDI or master) leads the session's tempo and phase.
    Lead,
}

impl LinkMode {
    /// From the ABI's number (0 = off, 1 = follow, 2 = follow always, 3 = lead); anything else
    /// is off.
    pub const fn from_index(i: u32) -> LinkMode {
        match i {
            1 => LinkMode::Follow,
            2 => LinkMode::FollowAlways,
            3 => LinkMode::Lead,
            _ => LinkMode::Off,
        }
    }

    /// The ABI's number.
    pub const fn index(self) -> u32 {
        match self {
            LinkMode::Off => 0,
            LinkMode::Follow => 1,
            LinkMode::FollowAlways => 2,
            LinkMode::Lead => 3,
        }
    }
}

/// Link quantum range (beats per bar for the phase), and its default.
pub const LINK_QUANTUM: (u8, u8, u8) = (1, 16, 4);

/// Settings of the Bridge, already validated (see [`Config::default`] for the power-up values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// PPQN of the CV clock input.
    pub input_ppqn: Ppqn,
    /// PPQN of each CV output.
    pub output_ppqn: [Ppqn; OUTPUTS],
    /// Master tempo (milli-BPM, within [`MASTER_MILLI_BPM`]).
    pub master_milli_bpm: u32,
    /// Tracker response: 0 = tight … 255 = smooth.
    pub response: u8,
    /// Latency offset of the CV outputs (µs, negative = earlier).
    pub cv_offset_us: i32,
    /// Latency offset of MIDI clock out (µs, negative = earlier).
    pub midi_offset_us: i32,
    /// Gate length of the CV outputs.
    pub pulse_width: PulseWidth,
    /// Signal level of the CLOCK and RESET inputs.
    pub input_level: InputLevel,
    /// A cable is plugged into CLOCK.
    pub clock_patched: bool,
    /// A cable is plugged into RUN (unpatched = running).
    pub run_patched: bool,
    /// A MIDI input device is selected.
    pub midi_in: bool,
    /// A MIDI output device is selected (nothing is queued without one).
    pub midi_out: bool,
    /// Send Song Position 0 on a reset while stopped.
    pub spp_on_reset: bool,
    /// Every RUN rise restarts from beat 1 (MIDI Start). Off (default): a RUN rise resumes the
    /// count (MIDI Continue) unless a RESET comes within [`RUN_RESET_WINDOW_US`] of it.
    pub run_restarts: bool,
    /// Ableton Link mode (default off).
    pub link_mode: LinkMode,
    /// Link quantum: the phase is shared per this many beats (1–16, default 4).
    pub link_quantum: u8,
    /// Link start/stop sync: the session's play state drives RUN (following) or Bridge's run
    /// state is published (leading). Default off, as Link's guidelines ask.
    pub link_start_stop: bool,
    /// Link latency offset (µs, negative = Bridge's beats earlier than the session's).
    pub link_offset_us: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            input_ppqn: DEFAULT_INPUT_PPQN,
            output_ppqn: DEFAULT_OUTPUT_PPQN,
            master_milli_bpm: 120_000,
            response: DEFAULT_RESPONSE,
            cv_offset_us: 0,
            midi_offset_us: 0,
            pulse_width: PulseWidth::Ms5,
            input_level: InputLevel::Rack,
            clock_patched: false,
            run_patched: false,
            midi_in: false,
            midi_out: false,
            spp_on_reset: true,
            run_restarts: false,
            link_mode: LinkMode::Off,
            link_quantum: LINK_QUANTUM.2,
            link_start_stop: false,
            link_offset_us: 0,
        }
    }
}

impl Config {
    fn output(&self, i: usize) -> OutputConfig {
        OutputConfig {
            ppqn: self.output_ppqn[i],
            offset_us: self.cv_offset_us,
            pulse_width_us: self.pulse_width.micros(),
            min_spacing_us: OUTPUT_MIN_SPACING_US,
        }
    }
}

/// New thresholds for an edge detector whose last sample was `last` volts, keeping its state
/// (armed or not, the last edge for the hold-off). The exception is a detector that is armed
/// while its input already sits at or above the new rising threshold (a low-level signal in its
/// high half when the level goes from Rack to low): it starts over disarmed, so the switch is
/// not taken as an edge and the next rising edge after a fall below the new re-arm level is.
fn retune(det: &mut EdgeDetector, edge: EdgeConfig, last: f32, rate: TickRate, sub: u32) {
    if !det.is_high() && last.is_finite() && last >= edge.high {
        *det = EdgeDetector::new(edge, rate, sub);
    } else {
        det.set_config(edge, rate, sub);
    }
}

/// Bits of [`Bridge::process`]'s result and of [`Status::events`].
pub(crate) mod bits {
    /// Gate of CV output `i` is bit `i` (0–3).
    pub(crate) const GATE_MASK: u32 = 0xF;
    /// RESET output trigger is high.
    pub(crate) const RESET_GATE: u32 = 1 << 4;
    /// The transport runs (RUN output).
    pub(crate) const RUN_GATE: u32 = 1 << 5;
    /// An input pulse (CV clock edge or MIDI clock) was taken.
    pub(crate) const INPUT_PULSE: u32 = 1 << 6;
    /// MIDI messages are waiting for [`super::Bridge::pop_midi`].
    pub(crate) const MIDI_PENDING: u32 = 1 << 7;
    /// CV output `i` started a pulse: bit `8 + i`.
    pub(crate) const FIRED_SHIFT: u32 = 8;
    /// A reset or start happened.
    pub(crate) const RESET_EVENT: u32 = 1 << 12;
}

/// Capacity of the Bridge's MIDI out queue (messages).
const MIDI_QUEUE: usize = 16;

/// What the panel shows, read at a low rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Status {
    /// Tempo of the active source (milli-BPM; 0 while unknown).
    pub tempo_milli_bpm: u32,
    /// BPM output voltage: log₂(BPM / 120); holds the last known tempo while none is known.
    pub bpm_volts: f32,
    /// Lock state of the active source.
    pub lock: LockState,
    /// The active source.
    pub source: InputSource,
    /// The transport runs.
    pub running: bool,
    /// Event bits seen since the previous status read (the `bits` constants).
    pub events: u32,
    /// Beat count at the current sample (wraps).
    pub beat: u32,
    /// MIDI messages lost because nobody drained the queue.
    pub midi_dropped: u32,
    /// Ticks per sample.
    pub subsample: u32,
    /// Sample rate in use (Hz).
    pub sample_rate: u32,
}

/// The Bridge module's engine. See the module docs.
#[derive(Clone, Debug)]
pub struct Bridge {
    engine: ClockEngine<OUTPUTS>,
    cfg: Config,
    source: InputSource,
    sample_rate: u32,
    subsample: u32,
    rate: TickRate,
    now: Tick,
    clock_in: EdgeDetector,
    reset_in: EdgeDetector,
    /// The last sample `clock_in` and `reset_in` saw (volts, as given).
    clock_v: f32,
    reset_v: f32,
    run_high: bool,
    /// The run level the transport last followed: the RUN gate when patched, else high except
    /// on MIDI IN, where MIDI Start/Stop/Continue drive the transport.
    run_level: bool,
    /// When the last RESET (input or button) came: a RUN rise this soon after it is a start.
    last_reset: Option<Tick>,
    /// Samples left before the RUN level counts; the last one takes it over silently. Rack
    /// delivers a cable's voltage one frame late, so a patch loads with RUN at 0 V for a frame
    /// even when the gate is high (no Stop and Continue at every load).
    run_settling: u8,
    /// A RESET out for a reset while stopped, unless a start takes it over first.
    reset_out_at: Option<Tick>,
    decoder: MidiClockDecoder,
    reset_out: bool,
    reset_until: Tick,
    queue: Deque<ClockMessage, MIDI_QUEUE>,
    dropped: u32,
    events: u32,
    bpm_volts: f32,
    /// Something changed the engine's schedule since the last poll.
    dirty: bool,
    /// The engine's next due time, as of the last poll.
    wake: Option<Tick>,
    last_poll: Tick,
    /// Output gates of the previous sample (a gate can only rise in a poll).
    gates: u32,
    /// A start (true) or stop (false) asked for while Link is the source, for the Link driver
    /// to quantize to the session's bar (and, with start/stop sync, to publish).
    link_request: Option<bool>,
    /// Link just became the source: the next steering renumbers the count.
    link_engaged: bool,
}

impl Bridge {
    /// A Bridge at `sample_rate` Hz with the default settings: master tempo, running.
    pub fn new(sample_rate: f32) -> Self {
        let cfg = Config::default();
        let sample_rate = sanitize_sample_rate(sample_rate);
        let (rate, subsample) = tick_rate(sample_rate);
        let mut ecfg = EngineConfig::new(rate, cfg.input_ppqn);
        ecfg.master_milli_bpm = cfg.master_milli_bpm;
        ecfg.spp_on_reset = cfg.spp_on_reset;
        let outputs = [0, 1, 2, 3].map(|i| cfg.output(i));
        let mut engine = ClockEngine::new(ecfg, outputs, 0);
        engine.set_response(cfg.response);
        engine.set_midi_enabled(cfg.midi_out);
        engine.set_source(Source::Master, 0);
        engine.set_running_silently(true);
        Bridge {
            engine,
            cfg,
            source: InputSource::Master,
            sample_rate,
            subsample,
            rate,
            now: 0,
            clock_in: EdgeDetector::new(cfg.input_level.edge_config(), rate, subsample),
            reset_in: EdgeDetector::new(cfg.input_level.edge_config(), rate, subsample),
            clock_v: 0.0,
            reset_v: 0.0,
            run_high: false,
            run_level: true,
            last_reset: None,
            run_settling: 2,
            reset_out_at: None,
            decoder: MidiClockDecoder::new(),
            reset_out: false,
            reset_until: 0,
            queue: Deque::new(),
            dropped: 0,
            events: 0,
            bpm_volts: 0.0,
            dirty: true,
            wake: None,
            last_poll: 0,
            gates: 0,
            link_request: None,
            link_engaged: false,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The engine (read-only).
    pub fn engine(&self) -> &ClockEngine<OUTPUTS> {
        &self.engine
    }

    /// Tick of the current sample.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// Apply settings; only what changed is touched, so calling this every few samples with the
    /// same values costs a comparison.
    pub fn configure(&mut self, c: &Config) {
        if *c == self.cfg {
            return;
        }
        let now = self.now;
        let old = self.cfg;
        self.cfg = *c;
        self.dirty = true;
        if c.master_milli_bpm != old.master_milli_bpm && self.source != InputSource::Link {
            self.engine.set_master_tempo(now, c.master_milli_bpm);
        }
        if c.response != old.response {
            self.engine.set_response(c.response);
        }
        for i in 0..OUTPUTS {
            let oc = c.output(i);
            if oc != old.output(i) {
                self.engine.set_output(i, oc);
            }
        }
        if c.input_level != old.input_level {
            // New thresholds only, the engine is untouched: a clock that reads at both levels
            // keeps its beat.
            let (edge, rate, sub) = (c.input_level.edge_config(), self.rate, self.subsample);
            retune(&mut self.clock_in, edge, self.clock_v, rate, sub);
            retune(&mut self.reset_in, edge, self.reset_v, rate, sub);
        }
        if c.midi_offset_us != old.midi_offset_us {
            self.engine.set_midi_offset(c.midi_offset_us);
        }
        if c.spp_on_reset != old.spp_on_reset {
            self.engine.set_spp_on_reset(c.spp_on_reset);
        }
        if c.midi_out != old.midi_out {
            self.engine.set_midi_enabled(c.midi_out);
            if !c.midi_out {
                self.queue.clear();
            }
        }
        if c.link_start_stop != old.link_start_stop && self.source == InputSource::Link {
            // The Link driver brings the transport to the session's play state; no RUN edge.
            self.run_level = !self.transport_from_source();
            self.link_engaged |= c.link_start_stop;
        }
        if c.link_quantum != old.link_quantum && self.source == InputSource::Link {
            self.link_engaged = true;
        }
        let want = InputSource::select(c.clock_patched, c.midi_in, c.link_mode);
        if want != self.source {
            self.switch_source(want);
        } else if want == InputSource::Cv && c.input_ppqn != old.input_ppqn {
            self.engine.set_input_ppqn(c.input_ppqn);
        }
    }

    fn switch_source(&mut self, to: InputSource) {
        let now = self.now;
        if self.source == InputSource::Link {
            // Back to the knob's tempo (the session steered the master meanwhile).
            self.engine.set_master_tempo(now, self.cfg.master_milli_bpm);
            self.link_request = None;
        }
        match to {
            InputSource::Master => self.engine.set_source(Source::Master, now),
            InputSource::Link => {
                self.engine.set_source(Source::Master, now);
                self.link_engaged = true;
            }
            InputSource::Cv | InputSource::Midi => {
                let ppqn = if to == InputSource::Cv {
                    self.cfg.input_ppqn
                } else {
                    Ppqn::P24
                };
                if self.engine.source() == Source::External {
                    // CV ↔ MIDI: hand the position over through the master timeline, so the
                    // tracker relocks on the new input and the beat count carries on.
                    self.engine.set_source(Source::Master, now);
                }
                self.engine.set_input_ppqn(ppqn);
                self.engine.set_source(Source::External, now);
            }
        }
        self.decoder = MidiClockDecoder::new();
        self.source = to;
        if self.transport_from_source() {
            // MIDI (or Link with start/stop sync) drives the transport: stopped until its
            // first Start (or Continue, or the session plays).
            self.engine.set_running_silently(false);
            self.run_level = false;
        }
    }

    /// The source drives the transport (RUN unpatched): MIDI IN's Start/Stop/Continue, or the
    /// Link session's play state with start/stop sync.
    fn transport_from_source(&self) -> bool {
        !self.cfg.run_patched
            && match self.source {
                InputSource::Midi => true,
                InputSource::Link => self.cfg.link_start_stop,
                _ => false,
            }
    }

    /// The active source.
    pub fn source(&self) -> InputSource {
        self.source
    }

    /// Change the sample rate: the tick rate is retuned, position, tempo, lock and counts are
    /// kept.
    pub fn set_sample_rate(&mut self, sample_rate: f32) {
        let sr = sanitize_sample_rate(sample_rate);
        if sr == self.sample_rate {
            return;
        }
        let (rate, sub) = tick_rate(sr);
        self.engine.set_rate(rate, self.now, self.now);
        self.dirty = true;
        let edge = self.cfg.input_level.edge_config();
        self.clock_in.set_config(edge, rate, sub);
        self.reset_in.set_config(edge, rate, sub);
        if self.reset_out {
            self.reset_until = self
                .now
                .wrapping_add(rate.ticks_from_micros(RESET_TRIGGER_US));
        }
        self.sample_rate = sr;
        self.subsample = sub;
        self.rate = rate;
    }

    fn trigger_reset_out(&mut self, at: Tick) {
        self.reset_out = true;
        self.reset_until = at.wrapping_add(self.rate.ticks_from_micros(RESET_TRIGGER_US));
        self.events |= bits::RESET_EVENT;
    }

    /// A reset: while running, beat 1 comes with the pulse the reset belongs to and RESET out
    /// fires with it (see [`Bridge::process`]). While stopped, RESET out waits out
    /// [`RUN_RESET_WINDOW_US`]: a RUN rise within it makes this a start, and RESET out then
    /// fires with beat 1 instead.
    fn do_reset(&mut self, at: Tick) {
        if self.source == InputSource::Link {
            // The session's bar decides where beat 1 is: a reset while running restarts on
            // the next bar.
            if self.engine.running() {
                self.link_request = Some(true);
            }
            return;
        }
        self.dirty = true;
        self.last_reset = Some(at);
        let running = self.engine.running();
        self.engine.reset(at);
        if !running {
            let window = self.rate.ticks_from_micros(RUN_RESET_WINDOW_US);
            self.reset_out_at = Some(at.wrapping_add(window));
        }
    }

    /// Start from beat 1 (MIDI Start); RESET out fires with that beat. On Link the start waits
    /// for the Link driver, which puts it on the session's next bar.
    fn start(&mut self, at: Tick, align: StartAlign) {
        if self.source == InputSource::Link {
            self.link_request = Some(true);
            return;
        }
        self.dirty = true;
        let align = if self.source == InputSource::Master {
            StartAlign::Now
        } else {
            align
        };
        self.engine.start(at, align);
        self.reset_out_at = None;
    }

    /// RUN went high: a start from beat 1 when a RESET came with it (within
    /// [`RUN_RESET_WINDOW_US`]; a RESET just after the rise turns it into one too, see
    /// [`ClockEngine::reset`]) or when [`Config::run_restarts`] is set, else the count resumes
    /// (MIDI Continue).
    fn run_rise(&mut self, at: Tick) {
        let window = self.rate.ticks_from_micros(RUN_RESET_WINDOW_US);
        let with_reset = self
            .last_reset
            .is_some_and(|r| ticks_between(r, at) <= window);
        if self.cfg.run_restarts || with_reset || self.source == InputSource::Link {
            self.start(at, StartAlign::NextPulse);
        } else {
            self.dirty = true;
            self.engine.cont(at);
        }
    }

    /// RESET button: reset at the current sample.
    pub fn reset(&mut self) {
        self.do_reset(self.now);
    }

    /// RUN button: stop when running, else start from beat 1; on an external clock the next
    /// beat becomes beat 1.
    pub fn toggle_run(&mut self) {
        let now = self.now;
        self.dirty = true;
        if self.engine.running() {
            self.stop_now(now);
        } else {
            self.start(now, StartAlign::NextBeat);
        }
    }

    /// Stop now; on Link with start/stop sync the session is asked to stop too.
    fn stop_now(&mut self, now: Tick) {
        self.dirty = true;
        self.engine.stop(now);
        if self.source == InputSource::Link && self.cfg.link_start_stop {
            self.link_request = Some(false);
        }
    }

    /// Set the transport state without MIDI or re-alignment (restoring a saved patch). Ignored
    /// while MIDI IN drives the transport (MIDI source, RUN unpatched): it waits for a Start.
    pub fn set_running(&mut self, running: bool) {
        if self.transport_from_source() {
            return;
        }
        self.dirty = true;
        self.engine.set_running_silently(running);
    }

    /// MIDI input bytes (one message or a fragment of a stream), taken at the current sample.
    /// Ignored unless MIDI is the active source. Start, Stop and Continue drive the transport,
    /// except with RUN patched: then the RUN gate alone does, and a Start only resets to beat 1.
    pub fn midi_in(&mut self, bytes: &[u8]) {
        if self.source != InputSource::Midi {
            return;
        }
        let now = self.now;
        for &b in bytes {
            let msg = self.decoder.feed(b);
            self.dirty |= msg.is_some();
            match msg {
                Some(ClockMessage::Clock) => {
                    self.engine.on_pulse(now);
                    self.events |= bits::INPUT_PULSE;
                }
                Some(ClockMessage::Start) if self.cfg.run_patched => self.do_reset(now),
                Some(ClockMessage::Start) => self.start(now, StartAlign::NextPulse),
                Some(ClockMessage::Continue | ClockMessage::Stop) if self.cfg.run_patched => {}
                Some(ClockMessage::Continue) => self.engine.cont(now),
                Some(ClockMessage::Stop) => self.engine.stop(now),
                Some(ClockMessage::SongPosition(p)) => self.engine.song_position(p),
                None => {}
            }
        }
    }

    /// One sample: the voltages of CLOCK, RESET and RUN (NaN/∞ read as 0 V). Returns the `bits` constants:
    /// output gates, RESET and RUN outputs, and whether MIDI is waiting.
    #[inline]
    pub fn process(&mut self, clock: f32, reset: f32, run: f32) -> u32 {
        let now = self.now;
        self.reset_v = reset;
        if let Some(t) = self.reset_in.process(reset, now) {
            self.do_reset(t);
        }
        let level = if self.cfg.run_patched {
            let v = if run.is_finite() { run } else { 0.0 };
            if v >= EdgeConfig::RACK.high {
                self.run_high = true;
            } else if v < EdgeConfig::RACK.low {
                self.run_high = false;
            }
            self.run_high
        } else {
            // Unpatched: running, except that MIDI IN (or Link with start/stop sync) drives
            // its own transport.
            !self.transport_from_source()
        };
        if self.run_settling > 0 {
            self.run_settling -= 1;
            if self.run_settling == 0 && level != self.run_level {
                self.run_level = level;
                self.set_running(level);
            }
        } else if level != self.run_level {
            self.run_level = level;
            if level {
                if !self.engine.running() {
                    self.run_rise(now);
                }
            } else {
                self.stop_now(now);
            }
        }
        let mut out = 0;
        if self.source == InputSource::Cv {
            self.clock_v = clock;
            if let Some(t) = self.clock_in.process(clock, now) {
                self.engine.on_pulse(t);
                self.dirty = true;
                out |= bits::INPUT_PULSE;
            }
        }
        // Event-driven polling, as a timer-driven caller would do it: poll when something is
        // due, after anything that changed the schedule, and every few samples for loss
        // detection. Between those a poll has nothing to do.
        let due = self.dirty
            || self.wake.is_some_and(|w| is_due(now, w))
            || now.wrapping_sub(self.last_poll) >= POLL_EVERY_SAMPLES * self.subsample;
        if due {
            self.dirty = false;
            let fired = self.engine.poll(now);
            if fired & BEAT_ONE != 0 {
                self.trigger_reset_out(now);
            }
            out |= (fired & bits::GATE_MASK) << bits::FIRED_SHIFT;
            self.last_poll = now;
            self.wake = self.engine.next_due();
            while let Some(m) = self.engine.pop_midi() {
                self.push_midi(m);
            }
        }
        if due || self.gates != 0 {
            let mut gates = 0;
            for i in 0..OUTPUTS {
                if self.engine.gate(i, now) {
                    gates |= 1 << i;
                }
            }
            self.gates = gates;
            out |= gates;
        }
        if self.reset_out_at.is_some_and(|t| is_due(now, t)) {
            self.reset_out_at = None;
            self.trigger_reset_out(now);
        }
        if self.reset_out {
            if is_due(now, self.reset_until) {
                self.reset_out = false;
            } else {
                out |= bits::RESET_GATE;
            }
        }
        if self.engine.running() {
            out |= bits::RUN_GATE;
        }
        if !self.queue.is_empty() {
            out |= bits::MIDI_PENDING;
        }
        self.events |= out;
        self.now = now.wrapping_add(self.subsample);
        out
    }

    fn push_midi(&mut self, m: ClockMessage) {
        if self.cfg.midi_out && self.queue.push_back(m).is_err() {
            self.dropped = self.dropped.wrapping_add(1);
        }
    }

    /// The next MIDI message to send at this sample, as bytes and their count.
    #[inline]
    pub fn pop_midi(&mut self) -> Option<([u8; 3], usize)> {
        self.queue.pop_front().map(ClockMessage::encode)
    }

    // ----- Ableton Link: network-free steering, called by the Link driver once per block ----

    /// Tick rate in use.
    pub fn tick_rate(&self) -> TickRate {
        self.rate
    }

    /// Ticks per sample.
    pub fn subsample(&self) -> u32 {
        self.subsample
    }

    /// Sample rate in use (Hz).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// True while the transport runs.
    pub fn running(&self) -> bool {
        self.engine.running()
    }

    /// Link is the source and RUN is unpatched, so the session's play state drives the
    /// transport when start/stop sync is on.
    pub fn link_drives_transport(&self) -> bool {
        self.source == InputSource::Link && self.transport_from_source()
    }

    /// The start (true) or stop (false) the panel asked for while Link is the source, once.
    pub fn take_link_request(&mut self) -> Option<bool> {
        self.link_request.take()
    }

    /// Link just became the source (the driver picks a new origin); cleared by
    /// [`Bridge::follow_link`].
    pub fn link_engaged(&self) -> bool {
        self.link_engaged
    }

    /// Steer the master timeline to the session (Link is the source): at the current sample
    /// the count stands at `pos_q16` position units (1/96 beat, 16 fractional bits; 0 is
    /// beat 1), advancing `slope_q8`/256 ticks per unit, at `milli_bpm` for the display and BPM
    /// out. The first call after Link became the
    /// source renumbers the count (see [`ClockEngine::follow_timeline`]). A negative position
    /// (a start that is still ahead) leaves the timeline alone. Returns true when it steered.
    pub fn follow_link(&mut self, pos_q16: i64, slope_q8: u32, milli_bpm: u32) -> bool {
        if self.source != InputSource::Link || pos_q16 < 0 || slope_q8 == 0 {
            return false;
        }
        let renumber = core::mem::take(&mut self.link_engaged);
        let (pos, frac) = ((pos_q16 >> 16) as u32, pos_q16 as u16);
        self.engine
            .follow_timeline(self.now, pos, frac, slope_q8, milli_bpm, renumber);
        self.dirty = true;
        true
    }

    /// Start from beat 1 at tick `at` (the session's start or next bar; at or after the
    /// current sample, else now). MIDI Start goes out with beat 1, RESET out fires with it.
    pub fn link_start(&mut self, at: Tick) {
        let at = if is_due(self.now, at) { self.now } else { at };
        self.dirty = true;
        self.link_engaged = false;
        self.engine.start(at, StartAlign::Now);
        self.reset_out_at = None;
    }

    /// Stop now (the session stopped).
    pub fn link_stop(&mut self) {
        self.dirty = true;
        self.engine.stop(self.now);
    }

    /// What a Link leader publishes: the followed count at the current sample (beats and the
    /// Q0.16 fraction of the beat) and the tempo (milli-BPM); `None` while there is no tempo.
    pub fn lead_state(&self) -> Option<(u32, u16, u32)> {
        let tempo = self.engine.tempo_milli_bpm();
        if tempo == 0 {
            return None;
        }
        let (beat, frac) = self.engine.beat_position(self.now)?;
        Some((beat, frac, tempo))
    }

    /// What the panel shows; clears the event bits.
    pub fn status(&mut self) -> Status {
        let tempo = self.engine.tempo_milli_bpm();
        if let Some(uv) = voct_microvolts(tempo) {
            self.bpm_volts = uv as f32 / 1e6;
        }
        let events = self.events;
        self.events = 0;
        Status {
            tempo_milli_bpm: tempo,
            bpm_volts: self.bpm_volts,
            lock: self.engine.lock_state(),
            source: self.source,
            running: self.engine.running(),
            events,
            beat: self
                .engine
                .beat_position(self.now)
                .map(|b| b.0)
                .unwrap_or(0),
            midi_dropped: self.dropped.wrapping_add(self.engine.midi_dropped()),
            subsample: self.subsample,
            sample_rate: self.sample_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_rate_stays_within_the_core_maximum() {
        for (sr, sub) in [
            (44_100, 256),
            (48_000, 256),
            (65_536, 128),
            (88_200, 128),
            (96_000, 128),
            (192_000, 64),
            (768_000, 16),
        ] {
            let b = Bridge::new(sr as f32);
            assert_eq!((b.subsample, b.rate.hz()), (sub, sr * sub), "{sr} Hz");
        }
        assert_eq!(sanitize_sample_rate(f32::NAN), FALLBACK_SAMPLE_RATE);
        assert_eq!(sanitize_sample_rate(-1.0), FALLBACK_SAMPLE_RATE);
        assert_eq!(sanitize_sample_rate(f32::INFINITY), FALLBACK_SAMPLE_RATE);
        assert_eq!(sanitize_sample_rate(1e12), TickRate::MAX);
        let huge = Bridge::new(1e12);
        assert!(huge.rate.hz() <= TickRate::MAX && huge.subsample == 1);
    }

    #[test]
    fn source_priority() {
        use LinkMode::*;
        assert_eq!(InputSource::select(true, true, Off), InputSource::Cv);
        assert_eq!(InputSource::select(false, true, Off), InputSource::Midi);
        assert_eq!(InputSource::select(false, false, Off), InputSource::Master);
        assert_eq!(InputSource::select(false, false, Lead), InputSource::Master);
        assert_eq!(InputSource::select(true, true, Follow), InputSource::Cv);
        assert_eq!(InputSource::select(false, true, Follow), InputSource::Midi);
        assert_eq!(InputSource::select(false, false, Follow), InputSource::Link);
        assert_eq!(
            InputSource::select(true, true, FollowAlways),
            InputSource::Link
        );
    }

    /// Feed a 0/10 V square-wave clock at `bpm`/`ppqn` for `samples` samples; returns rising
    /// edges per output.
    fn run_cv(b: &mut Bridge, bpm: f64, ppqn: u32, samples: u64, start: u64) -> [u32; 4] {
        run_square(b, bpm, ppqn, samples, start, (10.0, 0.0))
    }

    /// [`run_cv`] with the square wave between `levels.0` (first half) and `levels.1` volts.
    fn run_square(
        b: &mut Bridge,
        bpm: f64,
        ppqn: u32,
        samples: u64,
        start: u64,
        levels: (f32, f32),
    ) -> [u32; 4] {
        let sr = 48_000.0;
        let period = sr * 60.0 / bpm / ppqn as f64;
        let mut counts = [0; 4];
        for n in start..start + samples {
            let phase = (n as f64 / period).fract();
            let v = if phase < 0.5 { levels.0 } else { levels.1 };
            let out = b.process(v, 0.0, 0.0);
            for (i, c) in counts.iter_mut().enumerate() {
                if out & (1 << (bits::FIRED_SHIFT + i as u32)) != 0 {
                    *c += 1;
                }
            }
        }
        counts
    }

    #[test]
    fn cv_clock_is_converted_and_locks() {
        let mut b = Bridge::new(48_000.0);
        let c = Config {
            clock_patched: true,
            input_ppqn: Ppqn::P4,
            ..Config::default()
        };
        b.configure(&c);
        assert_eq!(b.source(), InputSource::Cv);
        // 8 beats at 120 BPM to lock, then 16 beats counted.
        run_cv(&mut b, 120.0, 4, 8 * 24_000, 0);
        assert_eq!(b.status().lock, LockState::Locked);
        // Count beats 8..24: every output fires on the beat, so each window edge holds one pulse.
        let counts = run_cv(&mut b, 120.0, 4, 16 * 24_000, 8 * 24_000);
        assert_eq!(counts, [16, 32, 64, 384]);
        let s = b.status();
        assert!(
            s.tempo_milli_bpm.abs_diff(120_000) < 50,
            "{}",
            s.tempo_milli_bpm
        );
        assert!(s.bpm_volts.abs() < 0.001);
    }

    #[test]
    fn noise_on_clock_cannot_flood_midi() {
        let mut b = Bridge::new(48_000.0);
        b.configure(&Config {
            clock_patched: true,
            midi_out: true,
            input_ppqn: Ppqn::P96,
            ..Config::default()
        });
        let mut x: u32 = 12345;
        let mut clocks = 0u32;
        let mut last: Option<u64> = None;
        let seconds = 4;
        for n in 0..48_000 * seconds {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = (x >> 8) as f32 / (1 << 24) as f32 * 20.0 - 10.0;
            let v = if n % 7 == 0 { f32::NAN } else { v };
            b.process(v, 0.0, 0.0);
            while let Some((m, _)) = b.pop_midi() {
                if m[0] == 0xF8 {
                    clocks += 1;
                    if let Some(l) = last {
                        // One DIN byte is 320 µs = 15.36 samples.
                        assert!(n - l >= 15, "clocks {} samples apart", n - l);
                    }
                    last = Some(n);
                }
            }
        }
        assert!(clocks <= 3_126 * seconds as u32, "{clocks} clocks");
        assert!(b.status().bpm_volts.is_finite());
    }

    /// Feed `samples` samples of `signal(n)` volts on CLOCK; returns the MIDI clocks (0xF8)
    /// popped meanwhile.
    fn run_signal(b: &mut Bridge, samples: u64, mut signal: impl FnMut(u64) -> f32) -> u32 {
        let mut clocks = 0;
        for n in 0..samples {
            b.process(signal(n), 0.0, 0.0);
            while let Some((m, _)) = b.pop_midi() {
                clocks += (m[0] == 0xF8) as u32;
            }
        }
        clocks
    }

    /// Volts at sample `n`.
    type Signal = Box<dyn FnMut(u64) -> f32>;

    /// The garbage of issue 12 on a stopped line: a 5 kHz square (0/10 V) and uniform white
    /// noise (±5 V), 2 s each.
    fn garbage() -> [(&'static str, Signal); 2] {
        let mut x: u32 = 0x1234_5678;
        [
            (
                "5 kHz square",
                Box::new(|n| {
                    if (n as f64 / 9.6).fract() < 0.5 {
                        10.0
                    } else {
                        0.0
                    }
                }),
            ),
            (
                "white noise",
                Box::new(move |_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 8) as f32 / (1 << 24) as f32 * 10.0 - 5.0
                }),
            ),
        ]
    }

    #[test]
    fn garbage_on_a_stopped_clock_sends_no_midi_clock_and_keeps_the_tempo() {
        let cfg = Config {
            clock_patched: true,
            midi_out: true,
            input_ppqn: Ppqn::P24,
            ..Config::default()
        };
        for (name, signal) in garbage() {
            // A locked 120 BPM 24 PPQN clock, then it stops (0 V) and is lost.
            let mut b = Bridge::new(48_000.0);
            b.configure(&cfg);
            run_cv(&mut b, 120.0, 24, 8 * 24_000, 0);
            run_signal(&mut b, 24_000, |_| 0.0);
            let before = b.status();
            assert_eq!(before.lock, LockState::Lost, "{name}");
            assert!(before.bpm_volts.abs() < 0.001, "{name}");
            let clocks = run_signal(&mut b, 2 * 48_000, signal);
            let after = b.status();
            assert_eq!(clocks, 0, "{name}: MIDI clocks from the noise");
            assert_eq!(after.bpm_volts, before.bpm_volts, "{name}: BPM out moved");
            assert!(
                after.tempo_milli_bpm.abs_diff(120_000) < 100,
                "{name}: {}",
                after.tempo_milli_bpm
            );
        }
        for (name, signal) in garbage() {
            // From cold: no tempo and BPM out where it was. The burst's first edge (the hold-off
            // keeps the rest out) reads as a new clock's first pulse, and a first pulse sends
            // its downbeat at once (a real clock's beat 1 must not wait for its second pulse):
            // at most that one 0xF8.
            let mut b = Bridge::new(48_000.0);
            b.configure(&cfg);
            let volts = b.status().bpm_volts;
            let clocks = run_signal(&mut b, 2 * 48_000, signal);
            assert!(clocks <= 1, "{name} from cold: {clocks} MIDI clocks");
            let s = b.status();
            assert_eq!(s.bpm_volts, volts, "{name} from cold");
            assert_eq!(s.tempo_milli_bpm, 0, "{name} from cold");
        }
    }

    #[test]
    fn sample_rate_change_keeps_the_beat() {
        let mut b = Bridge::new(48_000.0);
        b.configure(&Config {
            clock_patched: true,
            ..Config::default()
        });
        run_cv(&mut b, 120.0, 4, 8 * 24_000, 0);
        let beat = b.status().beat;
        b.set_sample_rate(44_100.0);
        let s = b.status();
        assert_eq!(s.beat, beat);
        assert_eq!(s.lock, LockState::Locked);
        assert_eq!(s.subsample, 256);
        assert!(
            s.tempo_milli_bpm.abs_diff(120_000) < 100,
            "{}",
            s.tempo_milli_bpm
        );
    }

    #[test]
    fn low_level_clock_needs_the_low_level_setting() {
        let ac = (0.3, -0.3);
        let patched = Config {
            clock_patched: true,
            ..Config::default()
        };
        let mut b = Bridge::new(48_000.0);
        b.configure(&patched);
        assert_eq!(run_square(&mut b, 120.0, 4, 8 * 24_000, 0, ac), [0; 4]);
        assert_eq!(b.status().lock, LockState::Stopped);
        // Switched on the running clock: followed from then on.
        let low = Config {
            input_level: InputLevel::Low,
            ..patched
        };
        b.configure(&low);
        run_square(&mut b, 120.0, 4, 8 * 24_000, 8 * 24_000, ac);
        assert_eq!(b.status().lock, LockState::Locked);
        let counts = run_square(&mut b, 120.0, 4, 16 * 24_000, 16 * 24_000, ac);
        assert_eq!(counts, [16, 32, 64, 384]);
        // A sample-rate change keeps the level.
        b.set_sample_rate(96_000.0);
        assert_eq!(b.config().input_level, InputLevel::Low);
        // A 0/10 V clock never re-arms at the low level (it does not go below −0.1 V).
        let mut u = Bridge::new(48_000.0);
        u.configure(&low);
        assert_eq!(run_cv(&mut u, 120.0, 4, 4 * 24_000, 0), [0; 4]);
    }

    #[test]
    fn input_level_switch_keeps_the_beat() {
        // ±5 V reads at both levels: switching back and forth mid-clock loses no pulse.
        let bipolar = (5.0, -5.0);
        let mut b = Bridge::new(48_000.0);
        let rack = Config {
            clock_patched: true,
            ..Config::default()
        };
        let low = Config {
            input_level: InputLevel::Low,
            ..rack
        };
        b.configure(&rack);
        run_square(&mut b, 120.0, 4, 8 * 24_000, 0, bipolar);
        assert_eq!(b.status().lock, LockState::Locked);
        let mut total = [0; 4];
        let mut n = 8 * 24_000;
        // Switch on a rising edge, in the high half and in the low half (one input pulse is
        // 6 000 samples).
        for (cfg, len) in [
            (&low, 4 * 24_000 + 1_500),
            (&rack, 4 * 24_000 + 2_000),
            (&low, 8 * 24_000 - 3_500),
        ] {
            b.configure(cfg);
            let c = run_square(&mut b, 120.0, 4, len, n, bipolar);
            for (t, c) in total.iter_mut().zip(c) {
                *t += c;
            }
            n += len;
            assert_eq!(b.status().lock, LockState::Locked);
        }
        assert_eq!(total, [16, 32, 64, 384]);
    }

    #[test]
    fn level_switch_in_a_high_phase_is_not_an_edge() {
        let mut b = Bridge::new(48_000.0);
        let rack = Config {
            clock_patched: true,
            ..Config::default()
        };
        b.configure(&rack);
        // Armed at Rack levels (−0.3 V), then resting at +0.3 V: no edge at 1.5 V.
        for _ in 0..100 {
            b.process(-0.3, -0.3, 0.0);
        }
        for _ in 0..100 {
            assert_eq!(b.process(0.3, 0.3, 0.0) & bits::INPUT_PULSE, 0);
        }
        b.status();
        b.configure(&Config {
            input_level: InputLevel::Low,
            ..rack
        });
        // The level is already above the new threshold: not an edge, and no reset either.
        for _ in 0..100 {
            assert_eq!(b.process(0.3, 0.3, 0.0) & bits::INPUT_PULSE, 0);
        }
        assert_eq!(b.status().events & bits::RESET_EVENT, 0);
        // The next rising edge is one.
        for _ in 0..100 {
            b.process(-0.3, -0.3, 0.0);
        }
        assert_ne!(b.process(0.3, 0.3, 0.0) & bits::INPUT_PULSE, 0);
        assert_ne!(b.status().events & bits::RESET_EVENT, 0);
    }

    /// A sequencer on CLOCK (4 PPQN, 120 BPM, 10 ms pulses) and RUN: `gate(k)` says whether
    /// RUN is high at input pulse `k` (pulses only come while it is), `reset(k)` whether a
    /// RESET trigger comes with pulse `k`. Returns, per output, the input-pulse index each
    /// output pulse coincided with (None: between pulses), and the MIDI transport bytes sent.
    fn sequencer(
        b: &mut Bridge,
        pulses: u64,
        gate: impl Fn(u64) -> bool,
        reset: impl Fn(u64) -> bool,
    ) -> ([Vec<Option<u64>>; 4], Vec<u8>) {
        let period = 6_000u64; // samples per 16th at 120 BPM, 48 kHz
        let mut fired: [Vec<Option<u64>>; 4] = Default::default();
        let mut transport = Vec::new();
        for n in 0..pulses * period {
            let (k, phase) = (n / period, n % period);
            let running = gate(k);
            let clock = if running && phase < 480 { 10.0 } else { 0.0 };
            let rst = if reset(k) && phase < 48 { 10.0 } else { 0.0 };
            let out = b.process(clock, rst, if running { 10.0 } else { 0.0 });
            for (i, f) in fired.iter_mut().enumerate() {
                if out & (1 << (bits::FIRED_SHIFT + i as u32)) != 0 {
                    f.push((phase == 0).then_some(k));
                }
            }
            while let Some((m, _)) = b.pop_midi() {
                if m[0] != 0xF8 {
                    transport.push(m[0]);
                }
            }
        }
        (fired, transport)
    }

    #[test]
    fn run_resumes_the_count_and_run_with_reset_restarts() {
        let mut b = Bridge::new(48_000.0);
        b.configure(&Config {
            clock_patched: true,
            run_patched: true,
            midi_out: true,
            ..Config::default()
        });
        // Run 4 beats, stop after pulse 17 (the second 16th of beat 4), resume at pulse 30.
        let gate = |k: u64| k <= 17 || k >= 30;
        let (fired, transport) = sequencer(&mut b, 48, gate, |_| false);
        // Pulse 0 is high from the first sample, so no edge: pulse 1 is the first pulse and beat
        // 1; beats on pulses 1, 5, … 17. The count resumes where it stopped: the
        // pulse at 30 is the sequencer's step 18, the third 16th of its beat, so the 1-PPQN
        // output stays on the sequencer's beats, three pulses later (a restart would put beat 1
        // on pulse 30 itself, half a beat off).
        let beats: Vec<Option<u64>> = fired[0].clone();
        assert_eq!(
            &beats[..5],
            &[Some(1), Some(5), Some(9), Some(13), Some(17)]
        );
        let after: Vec<Option<u64>> = beats.iter().copied().filter(|k| k >= &Some(30)).collect();
        assert_eq!(after, [Some(33), Some(37), Some(41), Some(45)], "{beats:?}");
        // The 4-PPQN output resumes with the first pulse, not before it.
        let sixteenths: Vec<Option<u64>> = fired[2]
            .iter()
            .copied()
            .filter(|k| k >= &Some(18))
            .collect();
        assert_eq!(sixteenths.first(), Some(&Some(30)), "{:?}", fired[2]);
        // Stop, Continue: no Song Position, as the receiver stopped where the count resumes.
        assert_eq!(transport, [0xFC, 0xFB]);

        // The same with a RESET on the resumed pulse: a start, beat 1 on that pulse.
        let mut b = Bridge::new(48_000.0);
        b.configure(&Config {
            clock_patched: true,
            run_patched: true,
            ..Config::default()
        });
        let (fired, _) = sequencer(&mut b, 48, gate, |k| k == 30);
        let after: Vec<Option<u64>> = fired[0]
            .iter()
            .copied()
            .filter(|k| k >= &Some(30))
            .collect();
        assert_eq!(after.first(), Some(&Some(30)), "{:?}", fired[0]);
        assert!(after.iter().all(|k| k.is_some_and(|k| (k - 30) % 4 == 0)));
    }

    #[test]
    fn a_patch_loading_with_run_high_sends_no_transport() {
        // Rack delivers the RUN cable's 10 V from the second frame on: no Stop and Continue.
        let mut b = Bridge::new(48_000.0);
        b.configure(&Config {
            run_patched: true,
            midi_out: true,
            ..Config::default()
        });
        for n in 0..4_800 {
            let out = b.process(0.0, 0.0, if n == 0 { 0.0 } else { 10.0 });
            assert_ne!(out & bits::RUN_GATE, 0, "running at sample {n}");
            while let Some((m, _)) = b.pop_midi() {
                assert_eq!(m[0], 0xF8, "only clocks at load");
            }
        }
        // After settling, a real fall is a Stop.
        b.process(0.0, 0.0, 0.0);
        assert_eq!(b.pop_midi().map(|m| m.0[0]), Some(0xFC));
    }
}

#[cfg(test)]
mod link_tests {
    //! The Bridge side of Link, without a network: a session timeline computed here, handed to
    //! the Bridge once per block as the Link driver does.
    use super::*;

    const SR: f64 = 48_000.0;
    const BLOCK: u64 = 256;

    /// Session: 120 BPM with beat 0.3 at t = 0, 140 BPM from t = 3 s (beat continuous there).
    fn session(t: f64) -> (f64, f64) {
        if t < 3.0 {
            (0.3 + 2.0 * t, 120.0)
        } else {
            (6.3 + (t - 3.0) * 140.0 / 60.0, 140.0)
        }
    }

    fn steer(b: &mut Bridge, beat: f64, bpm: f64) {
        // Q8 ticks per 1/96 beat.
        let slope_q8 = (b.tick_rate().hz() as f64 * 60.0 / (bpm * 96.0) * 256.0).round() as u32;
        let pos = (beat * 96.0 * 65_536.0).round() as i64;
        b.follow_link(pos, slope_q8, (bpm * 1000.0) as u32);
    }

    #[test]
    fn following_lands_on_the_session_beats_and_takes_a_late_tempo_change_without_a_burst() {
        let mut b = Bridge::new(SR as f32);
        b.configure(&Config {
            link_mode: LinkMode::Follow,
            ..Config::default()
        });
        assert_eq!(b.source(), InputSource::Link);
        assert!(b.link_engaged());
        let mut fires = [Vec::new(), Vec::new()];
        for n in 0..6 * SR as u64 {
            let t = n as f64 / SR;
            if n % BLOCK == 0 {
                // The tempo change reaches the Bridge 20 ms late: until then it steers by the
                // old line.
                let (beat, bpm) = if (3.0..3.02).contains(&t) {
                    (0.3 + 2.0 * t, 120.0)
                } else {
                    session(t)
                };
                steer(&mut b, beat, bpm);
            }
            let out = b.process(0.0, 0.0, 0.0);
            for (k, i) in [0usize, 3].iter().enumerate() {
                if out & (1 << (bits::FIRED_SHIFT + *i as u32)) != 0 {
                    fires[k].push(t);
                }
            }
        }
        assert!(!b.link_engaged());
        assert_eq!(b.status().tempo_milli_bpm, 140_000);
        // CLK 1: one pulse per session beat, each within a sample and a half of it (except
        // right after the late change, while the outputs catch up with the session).
        let beats: Vec<f64> = fires[0].iter().map(|&t| session(t).0).collect();
        for w in beats.windows(2) {
            assert!((w[1] - w[0] - 1.0).abs() < 0.02, "{beats:?}");
        }
        for (&t, &beat) in fires[0].iter().zip(&beats) {
            if !(3.0..3.5).contains(&t) {
                let err_s = (beat - beat.round()) / (session(t).1 / 60.0);
                assert!(err_s.abs() <= 1.5 / SR, "beat {beat} at {t}: {err_s} s");
            }
        }
        // CLK 4 (24 PPQN): never closer than half the faster period, never a gap, and as many
        // pulses as the session has 24ths.
        let half = 60.0 / 140.0 / 24.0 / 2.0;
        for w in fires[1].windows(2) {
            let d = w[1] - w[0];
            assert!(
                d >= half - 1.0 / SR && d < 60.0 / 120.0 / 24.0 * 1.1,
                "{d} at {}",
                w[0]
            );
        }
        let (first, last) = (session(fires[1][0]).0, session(*fires[1].last().unwrap()).0);
        assert_eq!(
            fires[1].len() as i64,
            ((last - first) * 24.0).round() as i64 + 1
        );
    }

    #[test]
    fn on_link_a_start_waits_for_the_driver_and_lands_where_it_says() {
        let mut b = Bridge::new(SR as f32);
        b.configure(&Config {
            link_mode: LinkMode::Follow,
            link_start_stop: true,
            ..Config::default()
        });
        // Start/stop sync with RUN unpatched: stopped until the session plays.
        b.process(0.0, 0.0, 0.0);
        b.process(0.0, 0.0, 0.0);
        assert!(b.link_drives_transport());
        assert!(!b.running());
        b.toggle_run();
        assert_eq!(b.take_link_request(), Some(true));
        assert!(!b.running(), "the session decides when");
        // The driver starts it 1000 samples from now: beat 1 and RESET out there.
        let at = b.now().wrapping_add(1_000 * b.subsample());
        b.link_start(at);
        let mut first = None;
        let mut reset = None;
        for n in 0..2_000u32 {
            let out = b.process(0.0, 0.0, 0.0);
            if out & (1 << bits::FIRED_SHIFT) != 0 && first.is_none() {
                first = Some(n);
            }
            if out & bits::RESET_GATE != 0 && reset.is_none() {
                reset = Some(n);
            }
        }
        assert_eq!((first, reset), (Some(1_000), Some(1_000)));
        // Stop: the session is asked to stop too.
        b.toggle_run();
        assert!(!b.running());
        assert_eq!(b.take_link_request(), Some(false));
        // Leaving Link: back to the knob's tempo.
        b.configure(&Config::default());
        assert_eq!(b.source(), InputSource::Master);
        assert_eq!(b.status().tempo_milli_bpm, 120_000);
    }
}
