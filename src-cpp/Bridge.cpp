// Bridge: clock follower / PPQN converter with MIDI clock in and out.
//
// A thin shell: params, ports, lights, MIDI ports and JSON live here; every musical decision is
// made by the Rust core behind tactus.h (one call per sample, plain values only).
#include "plugin.hpp"

#include "tactus.h"

#include <algorithm>
#include <cmath>

// BEGIN GENERATED LAYOUT (tools/panels/bridge_panel.py)
namespace layout {
static const Vec CLOCK_INPUT(8, 62);
static const Vec RESET_INPUT(20.573, 62);
static const Vec RUN_INPUT(33.147, 62);
static const Vec IN_PPQN_PARAM(45.72, 62);
static const Vec RESPONSE_PARAM(58.293, 62);
static const Vec CV_OFFSET_PARAM(70.867, 62);
static const Vec MIDI_OFFSET_PARAM(83.44, 62);
static const Vec OUT_PPQN_PARAM_1(8, 82);
static const Vec OUT_PPQN_PARAM_2(20.573, 82);
static const Vec OUT_PPQN_PARAM_3(33.147, 82);
static const Vec OUT_PPQN_PARAM_4(45.72, 82);
static const Vec RESET_PARAM(58.293, 82);
static const Vec RUN_PARAM(70.867, 82);
static const Vec BPM_PARAM(83.44, 82);
static const Vec OUT_LIGHT_1(8, 90);
static const Vec OUT_LIGHT_2(20.573, 90);
static const Vec OUT_LIGHT_3(33.147, 90);
static const Vec OUT_LIGHT_4(45.72, 90);
static const Vec CLOCK_OUTPUT_1(8, 105);
static const Vec CLOCK_OUTPUT_2(20.573, 105);
static const Vec CLOCK_OUTPUT_3(33.147, 105);
static const Vec CLOCK_OUTPUT_4(45.72, 105);
static const Vec RESET_OUTPUT(58.293, 105);
static const Vec RUN_OUTPUT(70.867, 105);
static const Vec BPM_OUTPUT(83.44, 105);
static const Vec IN_LIGHT(77.6, 15);
static const Vec LOCK_LIGHT(85.6, 15);
static const Rect LCD(Vec(5, 11), Vec(66.5, 12));
static const Rect MIDI_IN_DISPLAY(Vec(5, 28.6), Vec(39.72, 18.667));
static const Rect MIDI_OUT_DISPLAY(Vec(46.72, 28.6), Vec(39.72, 18.667));
} // namespace layout
// END GENERATED LAYOUT

namespace {

const int NUM_OUTPUTS = TACTUS_OUTPUTS;

// Every default comes from the core (tactus_settings_default), every PPQN from its table.
TactusSettings coreDefaults() {
	TactusSettings s;
	tactus_settings_default(&s);
	return s;
}
const TactusSettings DEFAULTS = coreDefaults();
const uint32_t DEFAULT_MILLI_BPM = (uint32_t)(DEFAULTS.master_bpm * 1000.f + 0.5f);

// The table index of a PPQN value (0 when it is not in the table).
uint32_t ppqnIndex(uint32_t ppqn) {
	for (uint32_t i = 0; i < TACTUS_PPQN_COUNT; i++) {
		if (tactus_ppqn_at(i) == ppqn)
			return i;
	}
	return 0;
}

std::vector<std::string> ppqnLabels() {
	std::vector<std::string> labels;
	for (uint32_t i = 0; i < TACTUS_PPQN_COUNT; i++) {
		uint32_t p = tactus_ppqn_at(i);
		std::string hint;
		if (p == 1) hint = " (quarter notes)";
		else if (p == 2) hint = " (8ths, Korg sync)";
		else if (p == 4) hint = " (16ths, Arturia \"1 step\")";
		else if (p == 24) hint = " (DIN sync, MIDI clock)";
		labels.push_back(string::f("%u PPQN", (unsigned)p) + hint);
	}
	return labels;
}

// A snapped knob value as a PPQN table index (NaN and negatives read as 0; tactus_ppqn_at
// clamps the top, this only keeps the float-to-integer conversion defined).
uint32_t indexOf(float v) {
	return v > 0.f ? (uint32_t)std::min(v + 0.5f, 1000.f) : 0;
}

const char* lockName(uint32_t lock) {
	switch (lock) {
		case TACTUS_LOCK_ACQUIRING: return "ACQUIRING";
		case TACTUS_LOCK_LOCKED: return "LOCKED";
		case TACTUS_LOCK_LOST: return "LOST";
		default: return "NO CLOCK";
	}
}

void flash(float& v, bool hit, float dt) {
	v = hit ? 1.f : std::max(0.f, v - dt * 8.f);
}

} // namespace

struct Bridge : Module {
	enum ParamId {
		IN_PPQN_PARAM,
		ENUMS(OUT_PPQN_PARAMS, NUM_OUTPUTS),
		BPM_PARAM,
		RESPONSE_PARAM,
		CV_OFFSET_PARAM,
		MIDI_OFFSET_PARAM,
		RUN_PARAM,
		RESET_PARAM,
		PARAMS_LEN
	};
	enum InputId {
		CLOCK_INPUT,
		RESET_INPUT,
		RUN_INPUT,
		INPUTS_LEN
	};
	enum OutputId {
		ENUMS(CLOCK_OUTPUTS, NUM_OUTPUTS),
		RESET_OUTPUT,
		RUN_OUTPUT,
		BPM_OUTPUT,
		OUTPUTS_LEN
	};
	enum LightId {
		IN_LIGHT,
		ENUMS(LOCK_LIGHT, 2),  // green, red
		ENUMS(OUT_LIGHTS, NUM_OUTPUTS),
		RUN_LIGHT,
		RESET_LIGHT,
		LIGHTS_LEN
	};

	// Tooltips that show the resolution in use.
	struct ClockOutputInfo : PortInfo {
		std::string getName() override {
			int i = portId - CLOCK_OUTPUTS;
			if (!module || i < 0 || i >= NUM_OUTPUTS)
				return name;
			uint32_t p = tactus_ppqn_at(indexOf(module->params[OUT_PPQN_PARAMS + i].getValue()));
			return string::f("Clock %d (%u PPQN)", i + 1, (unsigned)p);
		}
	};
	struct ClockInputInfo : PortInfo {
		std::string getName() override {
			if (!module)
				return name;
			uint32_t p = tactus_ppqn_at(indexOf(module->params[IN_PPQN_PARAM].getValue()));
			return string::f("Clock (%u PPQN)", (unsigned)p);
		}
	};

	TactusBridge* bridge = NULL;
	float sampleRate = 48000.f;
	midi::InputQueue midiInput;
	midi::Output midiOutput;
	midi::Message inMessage;
	midi::Message outMessage;
	dsp::ClockDivider settingsDivider;
	dsp::ClockDivider statusDivider;
	dsp::BooleanTrigger runButton;
	dsp::BooleanTrigger resetButton;

	// Menu options (saved with the patch).
	int pulseWidth = DEFAULTS.pulse_width;
	int inputLevel = DEFAULTS.input_level;  // CLOCK and RESET thresholds
	bool sppOnReset = DEFAULTS.flags & TACTUS_FLAG_SPP_ON_RESET;
	bool runRestarts = DEFAULTS.flags & TACTUS_FLAG_RUN_RESTARTS;
	// Ableton Link (saved with the patch; Off by default: no Link object, no network traffic).
	int linkMode = DEFAULTS.link_mode;
	int linkQuantum = DEFAULTS.link_quantum;
	bool linkStartStop = DEFAULTS.flags & TACTUS_FLAG_LINK_START_STOP;
	float linkOffsetMs = DEFAULTS.link_offset_ms;
	// The engine block whose start time Link last got (see process()).
	int64_t linkBlockFrame = -1;

	// Written by the engine thread, read by the panel and dataToJson (plain values).
	bool running = true;
	int restoreRunning = -1;
	// Apply the settings before the next sample (cables are connected after the constructor and
	// dataFromJson run, so the first sample must not use the constructor's view of them).
	bool settingsPending = true;
	float bpmVolts = 0.f;
	uint32_t shownTempo = DEFAULT_MILLI_BPM;
	uint32_t shownSource = TACTUS_SOURCE_MASTER;
	uint32_t shownLock = TACTUS_LOCK_LOCKED;
	bool shownLink = false;
	uint32_t shownPeers = 0;
	float inFlash = 0.f;
	float outFlash[NUM_OUTPUTS] = {};
	float resetFlash = 0.f;

	Bridge() {
		config(PARAMS_LEN, INPUTS_LEN, OUTPUTS_LEN, LIGHTS_LEN);
		std::vector<std::string> ppqn = ppqnLabels();
		configSwitch(IN_PPQN_PARAM, 0.f, TACTUS_PPQN_COUNT - 1, ppqnIndex(DEFAULTS.input_ppqn), "Input clock resolution", ppqn);
		for (int i = 0; i < NUM_OUTPUTS; i++)
			configSwitch(OUT_PPQN_PARAMS + i, 0.f, TACTUS_PPQN_COUNT - 1, ppqnIndex(DEFAULTS.output_ppqn[i]), string::f("Clock %d resolution", i + 1), ppqn);
		ParamQuantity* q = configParam(BPM_PARAM, TACTUS_BPM_MIN, TACTUS_BPM_MAX, DEFAULTS.master_bpm, "Master tempo", " BPM");
		q->description = "Used when CLOCK is unpatched and no MIDI input device is selected.";
		q = configParam(RESPONSE_PARAM, 0.f, 1.f, DEFAULTS.response, "Response", "%", 0.f, 100.f);
		q->description = "0 % = tight: follows tempo changes fast, passes more input jitter.\n100 % = smooth: filters jitter, follows changes slowly.";
		q = configParam(CV_OFFSET_PARAM, -(float)TACTUS_OFFSET_MAX_MS, TACTUS_OFFSET_MAX_MS, DEFAULTS.cv_offset_ms, "Clock output offset", " ms");
		q->description = "Moves the four clock outputs in time. Negative = earlier (uses the predicted beat).";
		q = configParam(MIDI_OFFSET_PARAM, -(float)TACTUS_OFFSET_MAX_MS, TACTUS_OFFSET_MAX_MS, DEFAULTS.midi_offset_ms, "MIDI clock out offset", " ms");
		q->description = "Moves MIDI clock out in time, to line hardware up with Rack's audio. Negative = earlier.";
		configButton(RUN_PARAM, "Run (start / stop)");
		configButton(RESET_PARAM, "Reset to beat 1");

		configInput<ClockInputInfo>(CLOCK_INPUT, "Clock")->description =
			"Rising edges above 1.5 V (re-arms below 0.5 V). When patched this is the clock source. "
			"For a clock from an audio interface input or an AC-coupled line, choose the low-level CLOCK input level in the menu.";
		configInput(RESET_INPUT, "Reset trigger")->description =
			"Rising edge: back to beat 1. A reset up to 2 ms after a clock pulse makes that pulse beat 1, otherwise the next pulse is. "
			"Sends MIDI Start while running, Song Position 0 while stopped. Same levels as CLOCK (menu).";
		configInput(RUN_INPUT, "Run gate")->description =
			"High = running, unpatched = running. Rising starts from beat 1 (MIDI Start), falling stops (MIDI Stop).";
		for (int i = 0; i < NUM_OUTPUTS; i++)
			configOutput<ClockOutputInfo>(CLOCK_OUTPUTS + i, string::f("Clock %d", i + 1));
		configOutput(RESET_OUTPUT, "Reset trigger (on reset and start)");
		configOutput(RUN_OUTPUT, "Run gate");
		configOutput(BPM_OUTPUT, "Tempo (V/oct: 0 V = 120 BPM, +1 V per doubling)");
		configLight(IN_LIGHT, "Input pulse");
		configLight(LOCK_LIGHT, "Lock (green = locked, yellow = acquiring, red = lost, off = no clock)");
		for (int i = 0; i < NUM_OUTPUTS; i++)
			configLight(OUT_LIGHTS + i, string::f("Clock %d pulse", i + 1));
		configLight(RUN_LIGHT, "Running");
		configLight(RESET_LIGHT, "Reset");

		settingsDivider.setDivision(16);
		statusDivider.setDivision(64);
		bridge = tactus_bridge_new(sampleRate);
	}

	~Bridge() override {
		tactus_bridge_free(bridge);
	}

	void onSampleRateChange(const SampleRateChangeEvent& e) override {
		sampleRate = e.sampleRate;
		tactus_bridge_set_sample_rate(bridge, e.sampleRate);
	}

	void onReset(const ResetEvent& e) override {
		Module::onReset(e);
		pulseWidth = DEFAULTS.pulse_width;
		inputLevel = DEFAULTS.input_level;
		sppOnReset = DEFAULTS.flags & TACTUS_FLAG_SPP_ON_RESET;
		runRestarts = DEFAULTS.flags & TACTUS_FLAG_RUN_RESTARTS;
		linkMode = DEFAULTS.link_mode;
		linkQuantum = DEFAULTS.link_quantum;
		linkStartStop = DEFAULTS.flags & TACTUS_FLAG_LINK_START_STOP;
		linkOffsetMs = DEFAULTS.link_offset_ms;
		linkBlockFrame = -1;
		midiInput.reset();
		midiOutput.reset();
		tactus_bridge_free(bridge);
		bridge = tactus_bridge_new(sampleRate);
		running = true;
		restoreRunning = -1;
		settingsPending = true;
	}

	void updateSettings() {
		TactusSettings s;
		tactus_settings_default(&s);
		s.input_ppqn = tactus_ppqn_at(indexOf(params[IN_PPQN_PARAM].getValue()));
		for (int i = 0; i < NUM_OUTPUTS; i++)
			s.output_ppqn[i] = tactus_ppqn_at(indexOf(params[OUT_PPQN_PARAMS + i].getValue()));
		s.master_bpm = params[BPM_PARAM].getValue();
		s.response = params[RESPONSE_PARAM].getValue();
		s.cv_offset_ms = params[CV_OFFSET_PARAM].getValue();
		s.midi_offset_ms = params[MIDI_OFFSET_PARAM].getValue();
		s.pulse_width = (uint32_t)pulseWidth;
		s.input_level = (uint32_t)inputLevel;
		uint32_t f = 0;
		if (inputs[CLOCK_INPUT].isConnected())
			f |= TACTUS_FLAG_CLOCK_PATCHED;
		if (inputs[RUN_INPUT].isConnected())
			f |= TACTUS_FLAG_RUN_PATCHED;
		if (midiInput.getDeviceId() >= 0)
			f |= TACTUS_FLAG_MIDI_IN;
		if (midiOutput.getDeviceId() >= 0)
			f |= TACTUS_FLAG_MIDI_OUT;
		if (sppOnReset)
			f |= TACTUS_FLAG_SPP_ON_RESET;
		if (runRestarts)
			f |= TACTUS_FLAG_RUN_RESTARTS;
		if (linkStartStop)
			f |= TACTUS_FLAG_LINK_START_STOP;
		s.flags = f;
		// The first time Link is switched on here, the library creates its Link instance (one
		// allocation, Link's threads start; never again per sample). Off: nothing is created.
		s.link_mode = (uint32_t)linkMode;
		s.link_quantum = (uint32_t)linkQuantum;
		s.link_offset_ms = linkOffsetMs;
		tactus_bridge_configure(bridge, &s);
	}

	void updateStatus(float dt) {
		TactusStatus st;
		if (!tactus_bridge_status(bridge, &st))
			return;
		bpmVolts = st.bpm_volts;
		running = st.running != 0;
		shownTempo = st.tempo_milli_bpm;
		shownSource = st.source;
		shownLock = st.lock_state;
		shownLink = st.link_enabled != 0;
		shownPeers = st.link_peers;
		flash(inFlash, st.events & TACTUS_OUT_INPUT_PULSE, dt);
		lights[IN_LIGHT].setBrightness(inFlash);
		for (int i = 0; i < NUM_OUTPUTS; i++) {
			flash(outFlash[i], st.events & (1u << (TACTUS_OUT_FIRED_SHIFT + i)), dt);
			lights[OUT_LIGHTS + i].setBrightness(outFlash[i]);
		}
		bool locked = st.lock_state == TACTUS_LOCK_LOCKED;
		bool acquiring = st.lock_state == TACTUS_LOCK_ACQUIRING;
		bool lost = st.lock_state == TACTUS_LOCK_LOST;
		lights[LOCK_LIGHT + 0].setBrightness(locked || acquiring ? 1.f : 0.f);
		lights[LOCK_LIGHT + 1].setBrightness(lost || acquiring ? 1.f : 0.f);
		lights[RUN_LIGHT].setBrightness(running ? 1.f : 0.f);
		flash(resetFlash, st.events & TACTUS_OUT_RESET_EVENT, dt);
		lights[RESET_LIGHT].setBrightness(resetFlash);
	}

	void process(const ProcessArgs& args) override {
		if (restoreRunning >= 0) {
			tactus_bridge_set_running(bridge, restoreRunning != 0);
			restoreRunning = -1;
		}
		if (settingsDivider.process() || settingsPending) {
			settingsPending = false;
			updateSettings();
		}
		// MIDI in: each message at its frame, before this sample's CV.
		while (midiInput.tryPop(&inMessage, args.frame)) {
			if (!inMessage.bytes.empty())
				tactus_bridge_midi_in(bridge, inMessage.bytes.data(), inMessage.bytes.size());
		}
		if (runButton.process(params[RUN_PARAM].getValue() > 0.f))
			tactus_bridge_toggle_run(bridge);
		if (resetButton.process(params[RESET_PARAM].getValue() > 0.f))
			tactus_bridge_reset(bridge);
		// Link: once per engine block, before its first sample, the block's frame and start time
		// (Link fits a line through them: its host-time filter). Nothing while Link is off.
		if (linkMode != TACTUS_LINK_OFF) {
			int64_t blockFrame = APP->engine->getBlockFrame();
			if (blockFrame != linkBlockFrame && args.frame == blockFrame) {
				linkBlockFrame = blockFrame;
				tactus_bridge_host_time(bridge, blockFrame, APP->engine->getBlockTime());
			}
		}

		uint32_t out = tactus_bridge_process(bridge, inputs[CLOCK_INPUT].getVoltage(), inputs[RESET_INPUT].getVoltage(), inputs[RUN_INPUT].getVoltage());
		for (int i = 0; i < NUM_OUTPUTS; i++)
			outputs[CLOCK_OUTPUTS + i].setVoltage((out >> i) & 1u ? 10.f : 0.f);
		outputs[RESET_OUTPUT].setVoltage(out & TACTUS_OUT_RESET ? 10.f : 0.f);
		outputs[RUN_OUTPUT].setVoltage(out & TACTUS_OUT_RUN ? 10.f : 0.f);
		outputs[BPM_OUTPUT].setVoltage(bpmVolts);

		// MIDI out: every message stamped with this sample's frame.
		if (out & TACTUS_OUT_MIDI_PENDING) {
			uint8_t bytes[3];
			uint32_t n;
			while ((n = tactus_bridge_pop_midi(bridge, bytes)) > 0) {
				outMessage.setSize((int)n);
				for (uint32_t k = 0; k < n; k++)
					outMessage.bytes[k] = bytes[k];
				outMessage.setFrame(args.frame);
				midiOutput.sendMessage(outMessage);
			}
		}

		if (statusDivider.process())
			updateStatus(args.sampleTime * statusDivider.getDivision());
	}

	json_t* dataToJson() override {
		json_t* rootJ = json_object();
		json_object_set_new(rootJ, "pulseWidth", json_integer(pulseWidth));
		json_object_set_new(rootJ, "inputLevel", json_integer(inputLevel));
		json_object_set_new(rootJ, "sppOnReset", json_boolean(sppOnReset));
		json_object_set_new(rootJ, "runRestarts", json_boolean(runRestarts));
		json_object_set_new(rootJ, "linkMode", json_integer(linkMode));
		json_object_set_new(rootJ, "linkQuantum", json_integer(linkQuantum));
		json_object_set_new(rootJ, "linkStartStop", json_boolean(linkStartStop));
		json_object_set_new(rootJ, "linkOffsetMs", json_real(linkOffsetMs));
		json_object_set_new(rootJ, "running", json_boolean(running));
		json_object_set_new(rootJ, "midiInput", midiInput.toJson());
		json_object_set_new(rootJ, "midiOutput", midiOutput.toJson());
		return rootJ;
	}

	// Every field is optional; a missing or mistyped one keeps its default.
	void dataFromJson(json_t* rootJ) override {
		if (!json_is_object(rootJ))
			return;
		json_t* j = json_object_get(rootJ, "pulseWidth");
		if (json_is_integer(j) && json_integer_value(j) >= 0 && json_integer_value(j) <= TACTUS_PULSE_DUTY50)
			pulseWidth = (int)json_integer_value(j);
		// Patches from before the option have no inputLevel: Rack levels, as they were made with.
		j = json_object_get(rootJ, "inputLevel");
		inputLevel = TACTUS_INPUT_LEVEL_RACK;
		if (json_is_integer(j) && json_integer_value(j) >= TACTUS_INPUT_LEVEL_RACK && json_integer_value(j) <= TACTUS_INPUT_LEVEL_LOW)
			inputLevel = (int)json_integer_value(j);
		j = json_object_get(rootJ, "sppOnReset");
		if (json_is_boolean(j))
			sppOnReset = json_is_true(j);
		j = json_object_get(rootJ, "runRestarts");
		if (json_is_boolean(j))
			runRestarts = json_is_true(j);
		// Link: unknown or mistyped values keep the defaults (Off), the library validates again.
		j = json_object_get(rootJ, "linkMode");
		if (json_is_integer(j) && json_integer_value(j) >= TACTUS_LINK_OFF && json_integer_value(j) <= TACTUS_LINK_LEAD)
			linkMode = (int)json_integer_value(j);
		j = json_object_get(rootJ, "linkQuantum");
		if (json_is_integer(j) && json_integer_value(j) >= 1 && json_integer_value(j) <= 16)
			linkQuantum = (int)json_integer_value(j);
		j = json_object_get(rootJ, "linkStartStop");
		if (json_is_boolean(j))
			linkStartStop = json_is_true(j);
		j = json_object_get(rootJ, "linkOffsetMs");
		if (json_is_number(j) && std::isfinite(json_number_value(j)))
			linkOffsetMs = (float)std::max(-(double)TACTUS_OFFSET_MAX_MS, std::min((double)TACTUS_OFFSET_MAX_MS, json_number_value(j)));
		// Saved right away (dataToJson before the next sample must not report the old state);
		// the engine thread applies it before the next sample.
		j = json_object_get(rootJ, "running");
		if (json_is_boolean(j)) {
			running = json_is_true(j);
			restoreRunning = running ? 1 : 0;
		}
		midiPortFromJson(json_object_get(rootJ, "midiInput"), &midiInput);
		midiPortFromJson(json_object_get(rootJ, "midiOutput"), &midiOutput);
		settingsPending = true;
	}

	// midi::Port::fromJson trusts the field types (a non-string deviceName would throw), so it
	// gets only the well-formed fields. It also selects the driver's default device when the
	// saved one is absent or was "(No device)" (Port::setDriverId), which would make a MIDI
	// input the clock source, or send clock, on a device nobody chose: that device is cleared.
	static void midiPortFromJson(json_t* portJ, midi::Port* port) {
		if (!json_is_object(portJ))
			return;
		json_t* clean = json_object();
		json_t* driverJ = json_object_get(portJ, "driver");
		if (json_is_integer(driverJ))
			json_object_set(clean, "driver", driverJ);
		json_t* nameJ = json_object_get(portJ, "deviceName");
		if (json_is_string(nameJ))
			json_object_set(clean, "deviceName", nameJ);
		json_t* channelJ = json_object_get(portJ, "channel");
		if (json_is_integer(channelJ) && json_integer_value(channelJ) >= -1 && json_integer_value(channelJ) < 16)
			json_object_set(clean, "channel", channelJ);
		port->fromJson(clean);
		json_decref(clean);
		if (port->getDeviceId() >= 0 && (!json_is_string(nameJ) || port->getDeviceName(port->getDeviceId()) != json_string_value(nameJ)))
			port->setDeviceId(-1);
	}
};

// Tempo and source on an LCD (emissive layer, so it stays readable with the room lights off).
struct BridgeDisplay : LedDisplay {
	Bridge* module = NULL;

	void drawLayer(const DrawArgs& args, int layer) override {
		if (layer == 1) {
			std::shared_ptr<window::Font> font = APP->window->loadFont(asset::system("res/fonts/ShareTechMono-Regular.ttf"));
			if (font && font->handle >= 0)
				drawText(args, font->handle);
		}
		LedDisplay::drawLayer(args, layer);
	}

	void drawText(const DrawArgs& args, int fontHandle) {
		uint32_t tempo = module ? module->shownTempo : DEFAULT_MILLI_BPM;
		uint32_t source = module ? module->shownSource : (uint32_t)TACTUS_SOURCE_MASTER;
		uint32_t lock = module ? module->shownLock : (uint32_t)TACTUS_LOCK_LOCKED;
		bool running = module ? module->running : true;
		bool leading = module ? module->shownLink && module->linkMode == TACTUS_LINK_LEAD : false;
		uint32_t peers = module ? module->shownPeers : 0;
		uint32_t inPpqn = module ? tactus_ppqn_at(indexOf(module->params[Bridge::IN_PPQN_PARAM].getValue())) : DEFAULTS.input_ppqn;
		uint32_t outPpqn[NUM_OUTPUTS];
		for (int i = 0; i < NUM_OUTPUTS; i++)
			outPpqn[i] = module ? tactus_ppqn_at(indexOf(module->params[Bridge::OUT_PPQN_PARAMS + i].getValue())) : DEFAULTS.output_ppqn[i];

		std::string bpm = "---.-";
		if (tempo > 0) {
			uint32_t tenths = (tempo + 50) / 100;
			bpm = string::f("%5u.%u", (unsigned)(tenths / 10), (unsigned)(tenths % 10));
		}
		std::string src;
		if (source == TACTUS_SOURCE_CV)
			src = string::f("CV %u PPQN  %s", (unsigned)inPpqn, lockName(lock));
		else if (source == TACTUS_SOURCE_MIDI)
			src = string::f("MIDI  %s", lockName(lock));
		else if (source == TACTUS_SOURCE_LINK)
			src = string::f("LINK %u PEER%s", (unsigned)peers, peers == 1 ? "" : "S");
		else
			src = "INTERNAL";
		// Leading a session: the followed source, then LINK and its peers.
		if (leading)
			src = (source == TACTUS_SOURCE_CV ? string::f("CV %u", (unsigned)inPpqn) : source == TACTUS_SOURCE_MIDI ? std::string("MIDI") : std::string("INT")) + string::f(">LINK %u", (unsigned)peers);
		std::string outs = string::f("OUT %u/%u/%u/%u", (unsigned)outPpqn[0], (unsigned)outPpqn[1], (unsigned)outPpqn[2], (unsigned)outPpqn[3]);

		float pad = 5.f;
		NVGcolor yellow = nvgRGB(0xff, 0xd7, 0x14);
		nvgFontFaceId(args.vg, fontHandle);
		nvgFillColor(args.vg, yellow);
		nvgTextLetterSpacing(args.vg, 0.f);
		nvgTextAlign(args.vg, NVG_ALIGN_LEFT | NVG_ALIGN_BASELINE);
		nvgFontSize(args.vg, 19.f);
		float x = nvgText(args.vg, pad, 18.5f, bpm.c_str(), NULL);
		nvgFontSize(args.vg, 10.f);
		nvgText(args.vg, x + 3.f, 18.5f, "BPM", NULL);
		nvgTextAlign(args.vg, NVG_ALIGN_RIGHT | NVG_ALIGN_BASELINE);
		nvgText(args.vg, box.size.x - pad, 18.5f, running ? "RUN" : "STOP", NULL);
		nvgTextAlign(args.vg, NVG_ALIGN_LEFT | NVG_ALIGN_BASELINE);
		nvgFontSize(args.vg, 9.5f);
		nvgText(args.vg, pad, 30.5f, src.c_str(), NULL);
		nvgTextAlign(args.vg, NVG_ALIGN_RIGHT | NVG_ALIGN_BASELINE);
		nvgText(args.vg, box.size.x - pad, 30.5f, outs.c_str(), NULL);
	}
};

// Driver and device rows of a MIDI port (Core's MidiDisplay without the channel row: clock and
// transport are system messages and ignore channels).
struct MidiPortDisplay : LedDisplay {
	void setMidiPort(midi::Port* port) {
		clearChildren();
		Vec pos;
		MidiDriverChoice* driverChoice = createWidget<MidiDriverChoice>(pos);
		driverChoice->box.size.x = box.size.x;
		driverChoice->port = port;
		addChild(driverChoice);
		pos = driverChoice->box.getBottomLeft();
		LedDisplaySeparator* separator = createWidget<LedDisplaySeparator>(pos);
		separator->box.size.x = box.size.x;
		addChild(separator);
		MidiDeviceChoice* deviceChoice = createWidget<MidiDeviceChoice>(pos);
		deviceChoice->box.size.x = box.size.x;
		deviceChoice->port = port;
		addChild(deviceChoice);
	}
};

struct SmallSnapKnob : RoundSmallBlackKnob {
	SmallSnapKnob() {
		snap = true;
	}
};

struct BridgeWidget : ModuleWidget {
	BridgeWidget(Bridge* module) {
		setModule(module);
		setPanel(createPanel(asset::plugin(pluginInstance, "res/Bridge.svg"), asset::plugin(pluginInstance, "res/Bridge-dark.svg")));

		addChild(createWidget<ThemedScrew>(Vec(RACK_GRID_WIDTH, 0)));
		addChild(createWidget<ThemedScrew>(Vec(box.size.x - 2 * RACK_GRID_WIDTH, 0)));
		addChild(createWidget<ThemedScrew>(Vec(RACK_GRID_WIDTH, RACK_GRID_HEIGHT - RACK_GRID_WIDTH)));
		addChild(createWidget<ThemedScrew>(Vec(box.size.x - 2 * RACK_GRID_WIDTH, RACK_GRID_HEIGHT - RACK_GRID_WIDTH)));

		BridgeDisplay* display = createWidget<BridgeDisplay>(mm2px(layout::LCD.pos));
		display->box.size = mm2px(layout::LCD.size);
		display->module = module;
		addChild(display);
		MidiPortDisplay* midiIn = createWidget<MidiPortDisplay>(mm2px(layout::MIDI_IN_DISPLAY.pos));
		midiIn->box.size = mm2px(layout::MIDI_IN_DISPLAY.size);
		midiIn->setMidiPort(module ? &module->midiInput : NULL);
		addChild(midiIn);
		MidiPortDisplay* midiOut = createWidget<MidiPortDisplay>(mm2px(layout::MIDI_OUT_DISPLAY.pos));
		midiOut->box.size = mm2px(layout::MIDI_OUT_DISPLAY.size);
		midiOut->setMidiPort(module ? &module->midiOutput : NULL);
		addChild(midiOut);

		addInput(createInputCentered<ThemedPJ301MPort>(mm2px(layout::CLOCK_INPUT), module, Bridge::CLOCK_INPUT));
		addInput(createInputCentered<ThemedPJ301MPort>(mm2px(layout::RESET_INPUT), module, Bridge::RESET_INPUT));
		addInput(createInputCentered<ThemedPJ301MPort>(mm2px(layout::RUN_INPUT), module, Bridge::RUN_INPUT));
		addParam(createParamCentered<SmallSnapKnob>(mm2px(layout::IN_PPQN_PARAM), module, Bridge::IN_PPQN_PARAM));
		addParam(createParamCentered<RoundSmallBlackKnob>(mm2px(layout::RESPONSE_PARAM), module, Bridge::RESPONSE_PARAM));
		addParam(createParamCentered<RoundSmallBlackKnob>(mm2px(layout::CV_OFFSET_PARAM), module, Bridge::CV_OFFSET_PARAM));
		addParam(createParamCentered<RoundSmallBlackKnob>(mm2px(layout::MIDI_OFFSET_PARAM), module, Bridge::MIDI_OFFSET_PARAM));

		const Vec outPpqn[NUM_OUTPUTS] = {layout::OUT_PPQN_PARAM_1, layout::OUT_PPQN_PARAM_2, layout::OUT_PPQN_PARAM_3, layout::OUT_PPQN_PARAM_4};
		const Vec outLight[NUM_OUTPUTS] = {layout::OUT_LIGHT_1, layout::OUT_LIGHT_2, layout::OUT_LIGHT_3, layout::OUT_LIGHT_4};
		const Vec outJack[NUM_OUTPUTS] = {layout::CLOCK_OUTPUT_1, layout::CLOCK_OUTPUT_2, layout::CLOCK_OUTPUT_3, layout::CLOCK_OUTPUT_4};
		for (int i = 0; i < NUM_OUTPUTS; i++) {
			addParam(createParamCentered<SmallSnapKnob>(mm2px(outPpqn[i]), module, Bridge::OUT_PPQN_PARAMS + i));
			addChild(createLightCentered<SmallLight<YellowLight>>(mm2px(outLight[i]), module, Bridge::OUT_LIGHTS + i));
			addOutput(createOutputCentered<ThemedPJ301MPort>(mm2px(outJack[i]), module, Bridge::CLOCK_OUTPUTS + i));
		}
		addParam(createLightParamCentered<VCVLightBezel<WhiteLight>>(mm2px(layout::RESET_PARAM), module, Bridge::RESET_PARAM, Bridge::RESET_LIGHT));
		addParam(createLightParamCentered<VCVLightBezel<GreenLight>>(mm2px(layout::RUN_PARAM), module, Bridge::RUN_PARAM, Bridge::RUN_LIGHT));
		addParam(createParamCentered<RoundBlackKnob>(mm2px(layout::BPM_PARAM), module, Bridge::BPM_PARAM));
		addOutput(createOutputCentered<ThemedPJ301MPort>(mm2px(layout::RESET_OUTPUT), module, Bridge::RESET_OUTPUT));
		addOutput(createOutputCentered<ThemedPJ301MPort>(mm2px(layout::RUN_OUTPUT), module, Bridge::RUN_OUTPUT));
		addOutput(createOutputCentered<ThemedPJ301MPort>(mm2px(layout::BPM_OUTPUT), module, Bridge::BPM_OUTPUT));

		addChild(createLightCentered<MediumLight<YellowLight>>(mm2px(layout::IN_LIGHT), module, Bridge::IN_LIGHT));
		addChild(createLightCentered<MediumLight<GreenRedLight>>(mm2px(layout::LOCK_LIGHT), module, Bridge::LOCK_LIGHT));
	}

	void appendContextMenu(Menu* menu) override {
		Bridge* module = getModule<Bridge>();
		if (!module)
			return;
		menu->addChild(new MenuSeparator);
		menu->addChild(createIndexPtrSubmenuItem("Output pulse width", {"1 ms", "5 ms", "10 ms", "50 % duty"}, &module->pulseWidth));
		// The choices spell out their thresholds; the item itself shows a short name.
		static const char* const levelNames[] = {"Rack 0–10 V", "Low-level / AC-coupled"};
		static const char* const levelLabels[] = {"Rack 0–10 V (edge above 1.5 V)", "Low-level / AC-coupled (edge above 0.1 V, re-arm below −0.1 V)"};
		int level = module->inputLevel == TACTUS_INPUT_LEVEL_LOW ? TACTUS_INPUT_LEVEL_LOW : TACTUS_INPUT_LEVEL_RACK;
		menu->addChild(createSubmenuItem("CLOCK input level", levelNames[level], [=](Menu* menu) {
			for (int i = TACTUS_INPUT_LEVEL_RACK; i <= TACTUS_INPUT_LEVEL_LOW; i++) {
				menu->addChild(createCheckMenuItem(levelLabels[i], "",
					[=]() { return module->inputLevel == i; },
					[=]() { module->inputLevel = i; }));
			}
		}));
		menu->addChild(new MenuSeparator);
		menu->addChild(createMenuLabel("MIDI"));
		menu->addChild(createBoolPtrMenuItem("Send Song Position on reset while stopped", "", &module->sppOnReset));
		menu->addChild(createBoolPtrMenuItem("RUN rise always restarts (Start, not Continue)", "", &module->runRestarts));
		menu->addChild(createSubmenuItem("MIDI input (clock source)", "", [=](Menu* menu) {
			appendMidiMenu(menu, &module->midiInput);
		}));
		menu->addChild(createSubmenuItem("MIDI output (clock to hardware)", "", [=](Menu* menu) {
			appendMidiMenu(menu, &module->midiOutput);
		}));

		menu->addChild(new MenuSeparator);
		menu->addChild(createMenuLabel(tactus_link_available() ? "Ableton Link" : "Ableton Link (not in this build)"));
		static const char* const linkNames[] = {"Off", "Follow", "Follow (always)", "Lead"};
		static const char* const linkLabels[] = {
			"Off (no network traffic)",
			"Follow (after CLOCK and MIDI IN, before the BPM knob)",
			"Follow (always: the session beats CLOCK and MIDI IN)",
			"Lead (the followed clock sets the session's tempo and phase)",
		};
		int mode = std::max((int)TACTUS_LINK_OFF, std::min((int)TACTUS_LINK_LEAD, module->linkMode));
		menu->addChild(createSubmenuItem("Link", linkNames[mode], [=](Menu* menu) {
			for (int i = TACTUS_LINK_OFF; i <= TACTUS_LINK_LEAD; i++) {
				menu->addChild(createCheckMenuItem(linkLabels[i], "",
					[=]() { return module->linkMode == i; },
					[=]() { module->linkMode = i; }));
			}
		}));
		menu->addChild(createSubmenuItem("Link quantum (beats per bar)", string::f("%d", module->linkQuantum), [=](Menu* menu) {
			for (int q = 1; q <= 16; q++) {
				menu->addChild(createCheckMenuItem(string::f("%d", q), "",
					[=]() { return module->linkQuantum == q; },
					[=]() { module->linkQuantum = q; }));
			}
		}));
		menu->addChild(createBoolPtrMenuItem("Link start/stop sync (the session's play state drives RUN)", "", &module->linkStartStop));
		static const float offsets[] = {0.f, -2.f, -5.f, -10.f, -15.f, -20.f, -30.f, -40.f, -50.f, 5.f, 10.f};
		menu->addChild(createSubmenuItem("Link latency offset", string::f("%+g ms", module->linkOffsetMs), [=](Menu* menu) {
			for (float o : offsets) {
				menu->addChild(createCheckMenuItem(string::f("%+g ms%s", o, o < 0.f ? " (earlier: audio output latency)" : ""), "",
					[=]() { return module->linkOffsetMs == o; },
					[=]() { module->linkOffsetMs = o; }));
			}
		}));
	}
};

Model* modelBridge = createModel<Bridge, BridgeWidget>("Bridge");
