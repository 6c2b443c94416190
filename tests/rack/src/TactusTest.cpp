// TactusTest: a test-only plugin that drives Tactus's Bridge inside real Rack (never shipped).
//
// - Harness: generates a CV clock, RUN and RESET for one Bridge, sends MIDI to it and receives
//   MIDI from it through Rack's Loopback MIDI driver, and records every edge of Bridge's outputs
//   and every MIDI message with its engine frame and time. With "state" in its data it also
//   checks Bridge's patch state through the Module virtuals (dataToJson/dataFromJson/onReset).
//   It writes what it saw to USERDIR/tactus-test/<name>.txt; tests/rack/e2e.py judges it.
// - Stepper: becomes the engine's master module and steps blocks as fast as the CPU allows
//   (headless Rack otherwise paces the engine in real time), changing the engine sample rate on
//   a schedule between blocks; writes USERDIR/tactus-test/stepper.txt when done.
// - BridgeLive: a panel that shows Bridge's ModuleWidget over a real (stepped) Bridge module, so
//   Rack's screenshot mode (which creates every widget with module == NULL) also renders the
//   panel with a module.
//
// The test plugin knows Bridge only by its plugin/model slugs and its port numbers (the patch
// generator in e2e.py wires them); it never includes Tactus's sources.
#include <rack.hpp>
#include <plugin.hpp>  // plugin::getModel

#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

using namespace rack;

Plugin* pluginInstance;

namespace {

// Bridge's RUN output (src-cpp/Bridge.cpp OutputId: CLOCK 0-3, RESET 4, RUN 5, BPM 6).
const int BRIDGE_RUN_OUTPUT = 5;
const int LOOPBACK_DRIVER = -12;  // src/midiloopback.cpp

std::string resultPath(const std::string& name) {
	return system::join(asset::user("tactus-test"), name);
}

// Whole file at once, through a temporary name, so the test script never reads half a file.
void writeResult(const std::string& name, const std::string& text) {
	system::createDirectories(asset::user("tactus-test"));
	std::string path = resultPath(name);
	std::string tmp = path + ".tmp";
	FILE* f = std::fopen(tmp.c_str(), "w");
	if (!f) {
		WARN("TactusTest: cannot write %s", tmp.c_str());
		return;
	}
	std::fwrite(text.data(), 1, text.size(), f);
	std::fclose(f);
	std::rename(tmp.c_str(), path.c_str());
}

std::string dump(json_t* j) {
	if (!j)
		return "null";
	char* s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	std::string out = s ? s : "null";
	std::free(s);
	return out;
}

double numberOr(json_t* j, double d) {
	return json_is_number(j) ? json_number_value(j) : d;
}

// Pulses every `period` s from `start` until `stop`. A pause [from, to) stops the train the
// way a sequencer's clock stops: nothing in it, and the rest of the schedule moves later by
// its length (the step after the pause comes as far after `to` as it was due after `from`).
struct Train {
	double period = 0.0;
	double next = 0.0;
	double stop = 0.0;
	std::vector<std::pair<double, double>> pauses;
	size_t pauseNext = 0;

	void fromJson(json_t* j, double perBeat) {
		if (!json_is_object(j))
			return;
		double bpm = numberOr(json_object_get(j, "bpm"), 120.0);
		double ppqn = numberOr(json_object_get(j, "ppqn"), perBeat);
		period = 60.0 / bpm / ppqn;
		next = numberOr(json_object_get(j, "start"), 0.0);
		stop = numberOr(json_object_get(j, "stop"), 1e9);
		json_t* v;
		size_t i;
		json_array_foreach(json_object_get(j, "pauses"), i, v) {
			pauses.push_back(std::make_pair(numberOr(json_array_get(v, 0), 0.0), numberOr(json_array_get(v, 1), 0.0)));
		}
	}
	bool due(double t) {
		if (pauseNext < pauses.size() && t >= pauses[pauseNext].first) {
			double len = pauses[pauseNext].second - pauses[pauseNext].first;
			if (next >= pauses[pauseNext].first)
				next += len;
			stop += len;
			pauseNext++;
		}
		if (period <= 0.0 || t < next || next >= stop)
			return false;
		next += period;
		return true;
	}
};

// Garbage on the CLOCK cable during [from, to): white noise (uniform -5..5 V, new every
// frame) or a 5 kHz 0/10 V square (an audio-rate burst).
struct Noise {
	double from, to;
	bool square;
};

Module::ProcessArgs argsAt(int64_t frame) {
	Module::ProcessArgs a;
	a.sampleRate = 48000.f;
	a.sampleTime = 1.f / 48000.f;
	a.frame = frame;
	return a;
}

void stepAlone(Module* m, int frames) {
	for (int i = 0; i < frames; i++)
		m->process(argsAt(i));
}

std::string paramsOf(Module* m) {
	std::string s;
	for (size_t i = 0; i < m->params.size(); i++)
		s += string::f("%s%g", i ? " " : "", m->params[i].getValue());
	return s;
}

} // namespace

struct Harness : Module {
	enum InputId {
		ENUMS(CLK_INPUTS, 4),
		RESET_INPUT,
		RUN_INPUT,
		BPM_INPUT,
		INPUTS_LEN
	};
	enum OutputId {
		CLOCK_OUTPUT,
		RESET_OUTPUT,
		RUN_OUTPUT,
		OUTPUTS_LEN
	};

	std::string name;
	double end = 0.0;
	Train cvClock;
	Train midiClock;
	std::vector<std::pair<double, float>> runSteps;
	size_t runNext = 0;
	std::vector<double> resets;
	size_t resetNext = 0;
	std::vector<Noise> noise;
	uint32_t noiseState = 12345;
	std::vector<std::pair<double, std::vector<uint8_t>>> midiSends;
	size_t midiNext = 0;
	json_t* stateJ = NULL;
	midi::Output midiOut;
	midi::InputQueue midiIn;

	double t = 0.0;
	bool done = false;
	double clockHighUntil = -1.0;
	double resetHighUntil = -1.0;
	float runLevel = 10.f;
	bool high[INPUTS_LEN] = {};
	float lastRate = 0.f;
	double nextBpm = 0.0;
	std::string log;

	Harness() {
		config(0, INPUTS_LEN, OUTPUTS_LEN, 0);
		for (int i = 0; i < 4; i++)
			configInput(CLK_INPUTS + i, string::f("Bridge clock %d", i + 1));
		configInput(RESET_INPUT, "Bridge RESET out");
		configInput(RUN_INPUT, "Bridge RUN out");
		configInput(BPM_INPUT, "Bridge BPM out");
		configOutput(CLOCK_OUTPUT, "To Bridge CLOCK");
		configOutput(RESET_OUTPUT, "To Bridge RESET");
		configOutput(RUN_OUTPUT, "To Bridge RUN");
		log.reserve(1 << 20);
	}

	~Harness() override {
		json_decref(stateJ);
	}

	json_t* dataToJson() override {
		return json_object();  // the scenario lives in the test patch only
	}

	void dataFromJson(json_t* rootJ) override {
		json_t* j = json_object_get(rootJ, "name");
		name = json_is_string(j) ? json_string_value(j) : "unnamed";
		end = numberOr(json_object_get(rootJ, "end"), 1.0);
		cvClock.fromJson(json_object_get(rootJ, "cvClock"), 4.0);
		midiClock.fromJson(json_object_get(rootJ, "midiClock"), 24.0);
		runLevel = (float)numberOr(json_object_get(rootJ, "runInitial"), 10.0);
		json_t* v;
		size_t i;
		json_array_foreach(json_object_get(rootJ, "run"), i, v) {
			runSteps.push_back(std::make_pair(numberOr(json_array_get(v, 0), 0.0), (float)numberOr(json_array_get(v, 1), 0.0)));
		}
		json_array_foreach(json_object_get(rootJ, "resets"), i, v) {
			resets.push_back(numberOr(v, 0.0));
		}
		json_array_foreach(json_object_get(rootJ, "noise"), i, v) {
			Noise n;
			n.from = numberOr(json_array_get(v, 0), 0.0);
			n.to = numberOr(json_array_get(v, 1), 0.0);
			n.square = json_is_string(json_array_get(v, 2)) && std::string(json_string_value(json_array_get(v, 2))) == "square";
			noise.push_back(n);
		}
		json_array_foreach(json_object_get(rootJ, "midiSends"), i, v) {
			std::vector<uint8_t> bytes;
			for (size_t k = 1; k < json_array_size(v); k++)
				bytes.push_back((uint8_t)json_integer_value(json_array_get(v, k)));
			midiSends.push_back(std::make_pair(numberOr(json_array_get(v, 0), 0.0), bytes));
		}
		j = json_object_get(rootJ, "midiOutDevice");
		if (json_is_integer(j)) {
			midiOut.setDriverId(LOOPBACK_DRIVER);
			midiOut.setDeviceId((int)json_integer_value(j));
		}
		j = json_object_get(rootJ, "midiInDevice");
		if (json_is_integer(j)) {
			midiIn.setDriverId(LOOPBACK_DRIVER);
			midiIn.setDeviceId((int)json_integer_value(j));
		}
		j = json_object_get(rootJ, "state");
		if (json_is_object(j))
			stateJ = json_incref(j);
		log += string::f("# harness %s: midi out %d, midi in %d\n", name.c_str(), midiOut.getDeviceId(), midiIn.getDeviceId());
	}

	void send(const ProcessArgs& args, const std::vector<uint8_t>& bytes) {
		midi::Message m;
		m.setSize((int)bytes.size());
		for (size_t k = 0; k < bytes.size(); k++)
			m.bytes[k] = bytes[k];
		m.setFrame(args.frame);
		midiOut.sendMessage(m);
		log += string::f("msent %lld %.9f %s\n", (long long)args.frame, t, m.toString().c_str());
	}

	void process(const ProcessArgs& args) override {
		if (done)
			return;
		if (stateJ) {
			checkState();
			json_decref(stateJ);
			stateJ = NULL;
		}
		if (args.sampleRate != lastRate) {
			lastRate = args.sampleRate;
			log += string::f("rate %lld %.9f %g\n", (long long)args.frame, t, args.sampleRate);
		}

		// What Bridge did (its outputs reach us through the cables of the previous frame).
		for (int i = 0; i <= RUN_INPUT; i++) {
			bool h = inputs[i].getVoltage() >= 5.f;
			if (h != high[i]) {
				high[i] = h;
				log += string::f("in %d %d %lld %.9f\n", i, h ? 1 : 0, (long long)args.frame, t);
			}
		}
		if (t >= nextBpm) {
			nextBpm += 0.1;
			log += string::f("bpm %lld %.9f %.6f\n", (long long)args.frame, t, inputs[BPM_INPUT].getVoltage());
		}
		midi::Message m;
		while (midiIn.tryPop(&m, args.frame))
			log += string::f("midi %lld %lld %.9f %s\n", (long long)m.getFrame(), (long long)args.frame, t, m.toString().c_str());

		// What we drive.
		if (cvClock.due(t)) {
			clockHighUntil = t + 0.005;
			log += string::f("clock %lld %.9f\n", (long long)args.frame, t);
		}
		if (midiClock.due(t))
			send(args, std::vector<uint8_t>(1, 0xf8));
		while (midiNext < midiSends.size() && t >= midiSends[midiNext].first)
			send(args, midiSends[midiNext++].second);
		while (runNext < runSteps.size() && t >= runSteps[runNext].first) {
			runLevel = runSteps[runNext++].second;
			log += string::f("run %lld %.9f %g\n", (long long)args.frame, t, runLevel);
		}
		if (resetNext < resets.size() && t >= resets[resetNext]) {
			resetNext++;
			resetHighUntil = t + 0.005;
			log += string::f("reset %lld %.9f\n", (long long)args.frame, t);
		}
		float clockV = t < clockHighUntil ? 10.f : 0.f;
		for (const Noise& n : noise) {
			if (t < n.from || t >= n.to)
				continue;
			if (n.square) {
				clockV = std::fmod(t - n.from, 0.0002) < 0.0001 ? 10.f : 0.f;
			} else {
				noiseState = noiseState * 1664525u + 1013904223u;
				clockV = (float)(noiseState >> 8) / (float)(1 << 24) * 10.f - 5.f;
			}
		}
		outputs[CLOCK_OUTPUT].setVoltage(clockV);
		outputs[RESET_OUTPUT].setVoltage(t < resetHighUntil ? 10.f : 0.f);
		outputs[RUN_OUTPUT].setVoltage(runLevel);

		t += 1.0 / args.sampleRate;
		if (t >= end) {
			done = true;
			log += string::f("end %lld %.9f\n", (long long)args.frame, t);
			writeResult(name + ".txt", log);
		}
	}

	// Patch state of a Bridge, through the engine::Module virtuals only (engine thread, so no
	// other module runs meanwhile). Fresh modules are created from the target's Model and
	// stepped by hand, outside the engine.
	void checkState() {
		json_t* targetJ = json_object_get(stateJ, "target");
		Module* target = APP->engine->getModule_NoLock(json_integer_value(targetJ));
		if (!target) {
			log += "state error no-target\n";
			return;
		}
		plugin::Model* model = target->model;
		json_t* savedJ = target->dataToJson();
		log += "state target " + dump(savedJ) + "\n";

		Module* fresh = model->createModule();
		json_t* j = fresh->dataToJson();
		log += "state defaults " + dump(j) + "\n";
		json_decref(j);
		log += "state default-params " + paramsOf(fresh) + "\n";
		stepAlone(fresh, 4800);
		log += string::f("state defaults-run-out %g\n", fresh->outputs[BRIDGE_RUN_OUTPUT].getVoltage());
		delete fresh;

		// Save -> load into a new module -> save again.
		Module* copy = model->createModule();
		copy->dataFromJson(savedJ);
		j = copy->dataToJson();
		log += "state roundtrip " + dump(j) + "\n";
		json_decref(j);
		stepAlone(copy, 4800);
		j = copy->dataToJson();
		log += "state roundtrip-stepped " + dump(j) + "\n";
		json_decref(j);
		log += string::f("state roundtrip-run-out %g\n", copy->outputs[BRIDGE_RUN_OUTPUT].getVoltage());

		// Initialize (Rack's engine->resetModule dispatches exactly this event).
		for (size_t i = 0; i < copy->params.size(); i++)
			copy->params[i].setValue(copy->paramQuantities[i]->getMaxValue());
		ResetEvent re;
		copy->onReset(re);
		j = copy->dataToJson();
		log += "state reset " + dump(j) + "\n";
		json_decref(j);
		log += "state reset-params " + paramsOf(copy) + "\n";
		stepAlone(copy, 4800);
		log += string::f("state reset-run-out %g\n", copy->outputs[BRIDGE_RUN_OUTPUT].getVoltage());
		delete copy;

		// Garbage: each must load as defaults, run, and save as defaults.
		json_t* g;
		size_t i;
		json_array_foreach(json_object_get(stateJ, "garbage"), i, g) {
			Module* m = model->createModule();
			m->dataFromJson(g);
			stepAlone(m, 4800);
			j = m->dataToJson();
			log += string::f("state garbage %d ", (int)i) + dump(j) + "\n";
			json_decref(j);
			delete m;
		}
		// Bridges of the patch that were loaded from garbage data by Rack itself.
		json_t* idJ;
		json_array_foreach(json_object_get(stateJ, "patchGarbage"), i, idJ) {
			Module* m = APP->engine->getModule_NoLock(json_integer_value(idJ));
			j = m ? m->dataToJson() : NULL;
			log += string::f("state patch-garbage %d ", (int)json_integer_value(idJ)) + dump(j) + "\n";
			json_decref(j);
		}
		json_decref(savedJ);
	}
};

struct HarnessWidget : ModuleWidget {
	HarnessWidget(Harness* module) {
		setModule(module);
		box.size = Vec(RACK_GRID_WIDTH * 6, RACK_GRID_HEIGHT);
		for (int i = 0; i < Harness::INPUTS_LEN; i++)
			addInput(createInputCentered<PJ301MPort>(Vec(22.5, 40 + 40 * i), module, i));
		for (int i = 0; i < Harness::OUTPUTS_LEN; i++)
			addOutput(createOutputCentered<PJ301MPort>(Vec(67.5, 40 + 40 * i), module, i));
	}
	void draw(const DrawArgs& args) override {
		nvgBeginPath(args.vg);
		nvgRect(args.vg, 0, 0, box.size.x, box.size.y);
		nvgFillColor(args.vg, nvgRGB(0x70, 0x70, 0x70));
		nvgFill(args.vg);
		ModuleWidget::draw(args);
	}
};

struct Stepper : Module {
	double seconds = 0.0;
	std::vector<std::pair<double, float>> rates;
	bool started = false;
	std::atomic<bool> quit{false};
	std::thread thread;

	Stepper() {
		config(0, 0, 0, 0);
	}

	~Stepper() override {
		quit = true;
		if (thread.joinable())
			thread.join();
	}

	json_t* dataToJson() override {
		return json_object();
	}

	void dataFromJson(json_t* rootJ) override {
		seconds = numberOr(json_object_get(rootJ, "seconds"), 0.0);
		json_t* v;
		size_t i;
		json_array_foreach(json_object_get(rootJ, "rates"), i, v) {
			rates.push_back(std::make_pair(numberOr(json_array_get(v, 0), 0.0), (float)numberOr(json_array_get(v, 1), 48000.0)));
		}
	}

	// The first process() call means the patch is loaded and the fallback thread runs it.
	void process(const ProcessArgs& args) override {
		if (started || seconds <= 0.0)
			return;
		started = true;
		Context* context = contextGet();
		thread = std::thread([this, context]() { run(context); });
	}

	void run(Context* context) {
		contextSet(context);
		engine::Engine* engine = context->engine;
		double wall0 = system::getTime();
		// Waits for the fallback thread's block to end; it then sleeps until we unset ourselves.
		engine->setMasterModule(this);
		std::string log;
		double t = 0.0;
		int64_t blocks = 0;
		int64_t frames = 0;
		size_t next = 0;
		float savedRate = settings::sampleRate;
		while (!quit && t < seconds) {
			while (next < rates.size() && t >= rates[next].first) {
				// Engine::setSampleRate is PRIVATE; with a fixed rate in the settings
				// setSuggestedSampleRate applies it (exclusive lock: between blocks only).
				settings::sampleRate = rates[next].second;
				engine->setSuggestedSampleRate(0.f);
				log += string::f("rate %lld %.6f %g\n", (long long)engine->getFrame(), t, engine->getSampleRate());
				next++;
			}
			// The block size headless Rack uses (Engine_fallbackRun).
			int n = (int)std::floor(engine->getSampleRate() / 60);
			engine->stepBlock(n);
			t += n / (double)engine->getSampleRate();
			blocks++;
			frames += n;
		}
		settings::sampleRate = savedRate;
		engine->setMasterModule(NULL);
		log += string::f("done %lld blocks %lld frames %.3f engine-s %.3f wall-s\n", (long long)blocks, (long long)frames, t, system::getTime() - wall0);
		writeResult("stepper.txt", log);
	}
};

struct StepperWidget : ModuleWidget {
	StepperWidget(Stepper* module) {
		setModule(module);
		box.size = Vec(RACK_GRID_WIDTH * 2, RACK_GRID_HEIGHT);
	}
	void draw(const DrawArgs& args) override {
		nvgBeginPath(args.vg);
		nvgRect(args.vg, 0, 0, box.size.x, box.size.y);
		nvgFillColor(args.vg, nvgRGB(0x40, 0x40, 0x40));
		nvgFill(args.vg);
		ModuleWidget::draw(args);
	}
};

// A Bridge panel over a live Bridge module: 4 s of a 4 PPQN clock at 100 BPM on CLOCK, so the
// LCD shows tempo, source and lock. The module is not in the engine; this widget owns it.
struct BridgeLiveWidget : ModuleWidget {
	Module* bridge = NULL;
	ModuleWidget* bridgeWidget = NULL;

	BridgeLiveWidget(Module* module) {
		setModule(module);
		box.size = Vec(RACK_GRID_WIDTH * 3, RACK_GRID_HEIGHT);
		plugin::Model* model = plugin::getModel("Tactus", "Bridge");
		if (!model) {
			WARN("TactusTest: no Tactus Bridge model");
			return;
		}
		bridge = model->createModule();
		bridge->inputs[0].channels = 1;  // "patched" (setChannels keeps an unpatched port at 0)
		const int period = 48000 * 60 / 100 / 4;
		for (int i = 0; i < 4 * 48000; i++) {
			bridge->inputs[0].setVoltage(i % period < 240 ? 10.f : 0.f);
			bridge->process(argsAt(i));
		}
		bridgeWidget = model->createModuleWidget(bridge);
		addChild(bridgeWidget);
		box.size = bridgeWidget->box.size;
	}

	~BridgeLiveWidget() override {
		if (bridgeWidget) {
			removeChild(bridgeWidget);
			// Not in the engine: keep ~ModuleWidget from removing it there.
			bridgeWidget->module = NULL;
			delete bridgeWidget;
		}
		delete bridge;
	}
};

struct BridgeLive : Module {
	BridgeLive() {
		config(0, 0, 0, 0);
	}
};

Model* modelHarness = createModel<Harness, HarnessWidget>("Harness");
Model* modelStepper = createModel<Stepper, StepperWidget>("Stepper");
Model* modelBridgeLive = createModel<BridgeLive, BridgeLiveWidget>("BridgeLive");

void init(Plugin* p) {
	pluginInstance = p;
	p->addModel(modelHarness);
	p->addModel(modelStepper);
	p->addModel(modelBridgeLive);
}
