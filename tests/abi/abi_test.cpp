// ABI tests of the Tactus Bridge: C++11 against rust/ffi/include/tactus.h only (no Rack headers),
// linked with libtactus_ffi.a. Drives the C ABI sample by sample as the Rack module does and
// checks what a user would patch: conversion counts, lock, reset, transport, MIDI bytes out,
// MIDI clock in, bad input, sample-rate changes, and the tactus-core scenarios.
//
//   abi_test            run every test (exit status 1 on any failure)
//   abi_test --bench    per-sample cost through the ABI (four outputs + MIDI out)

#include "tactus.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" int tactus_c_compat_check(void);  // c_compat.c: the header compiled as C99

namespace {

int g_failures = 0;
int g_checks = 0;
const char* g_test = "";

#define CHECK(cond)                                                                     \
	do {                                                                                \
		++g_checks;                                                                     \
		if (!(cond)) {                                                                  \
			++g_failures;                                                               \
			std::fprintf(stderr, "FAIL [%s] %s:%d: %s\n", g_test, __FILE__, __LINE__, #cond); \
		}                                                                               \
	} while (0)

#define CHECK_MSG(cond, ...)                                                            \
	do {                                                                                \
		++g_checks;                                                                     \
		if (!(cond)) {                                                                  \
			++g_failures;                                                               \
			std::fprintf(stderr, "FAIL [%s] %s:%d: %s: ", g_test, __FILE__, __LINE__, #cond); \
			std::fprintf(stderr, __VA_ARGS__);                                          \
			std::fprintf(stderr, "\n");                                                 \
		}                                                                               \
	} while (0)

// Deterministic generator for jitter, drops and noise.
struct Rng {
	uint64_t s;
	explicit Rng(uint64_t seed) : s(seed * 2654435761u + 1) {}
	uint64_t next() {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		return s;
	}
	double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

struct MidiMsg {
	uint64_t sample;
	uint8_t bytes[3];
	uint32_t len;
};

// A pulse train as the CLOCK input sees it: 10 V from each pulse time for `width` seconds.
struct PulseTrain {
	std::vector<double> times;  // seconds, ascending
	std::vector<int> index;     // grid index of each pulse (true position in input pulses)
	double width;
	size_t next;
	double last;
	PulseTrain() : width(0.002), next(0), last(-1e9) {}
	void add(double t, int k) {
		times.push_back(t);
		index.push_back(k);
	}
	float volts(double t) {
		while (next < times.size() && times[next] <= t) last = times[next++];
		return (t - last) < width ? 10.f : 0.f;
	}
};

// One Bridge plus everything a test looks at.
struct Rig {
	TactusBridge* b;
	TactusSettings s;
	double sr;
	uint64_t n;  // samples processed
	uint32_t last;
	std::vector<std::vector<uint64_t> > fired;  // per output: samples where a pulse started
	std::vector<uint64_t> gate_edges[4];        // rising edges of the gate bits
	std::vector<uint64_t> reset_edges;
	std::vector<MidiMsg> midi;
	uint32_t pending_seen;

	explicit Rig(double sample_rate) : b(tactus_bridge_new((float)sample_rate)), sr(sample_rate), n(0), last(0), fired(4), pending_seen(0) {
		tactus_settings_default(&s);
	}
	~Rig() { tactus_bridge_free(b); }

	void apply() { tactus_bridge_configure(b, &s); }
	void flag(uint32_t f, bool on) {
		s.flags = on ? (s.flags | f) : (s.flags & ~f);
		apply();
	}
	double t() const { return n / sr; }

	uint32_t step(float clock, float reset = 0.f, float run = 0.f) {
		uint32_t out = tactus_bridge_process(b, clock, reset, run);
		for (int i = 0; i < 4; i++) {
			if (out & (1u << (TACTUS_OUT_FIRED_SHIFT + i))) fired[i].push_back(n);
			if ((out & (1u << i)) && !(last & (1u << i))) gate_edges[i].push_back(n);
		}
		if ((out & TACTUS_OUT_RESET) && !(last & TACTUS_OUT_RESET)) reset_edges.push_back(n);
		if (out & TACTUS_OUT_MIDI_PENDING) {
			pending_seen++;
			MidiMsg m;
			m.sample = n;
			while ((m.len = tactus_bridge_pop_midi(b, m.bytes)) > 0) midi.push_back(m);
		}
		last = out;
		n++;
		return out;
	}
	void run_train(PulseTrain& p, double until) {
		while (t() < until) step(p.volts(t()));
	}
	void run_silent(double until, float clock = 0.f) {
		while (t() < until) step(clock);
	}
	TactusStatus status() {
		TactusStatus st;
		std::memset(&st, 0, sizeof st);
		tactus_bridge_status(b, &st);
		return st;
	}
	size_t count(int out, double from, double to) const {
		size_t c = 0;
		for (size_t i = 0; i < fired[out].size(); i++) {
			double tt = fired[out][i] / sr;
			if (tt >= from && tt < to) c++;
		}
		return c;
	}
	size_t midi_count(uint8_t status, double from, double to) const {
		size_t c = 0;
		for (size_t i = 0; i < midi.size(); i++) {
			double tt = midi[i].sample / sr;
			if (midi[i].bytes[0] == status && tt >= from && tt < to) c++;
		}
		return c;
	}
	// Index in `midi` of the first message with this status at or after `from` seconds.
	long midi_find(uint8_t status, double from) const {
		for (size_t i = 0; i < midi.size(); i++)
			if (midi[i].bytes[0] == status && midi[i].sample / sr >= from) return (long)i;
		return -1;
	}
};

// A clean clock from `start` (not 0: an input that is already high on the first sample is not
// an edge) until `seconds`.
PulseTrain steady(double bpm, int ppqn, double seconds, double start = 0.1) {
	PulseTrain p;
	double period = 60.0 / bpm / ppqn;
	int k = 0;
	for (double t = start; t < seconds; t = start + (++k) * period) p.add(t, k);
	return p;
}

void set_outputs(Rig& r, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
	r.s.output_ppqn[0] = a;
	r.s.output_ppqn[1] = b;
	r.s.output_ppqn[2] = c;
	r.s.output_ppqn[3] = d;
	r.apply();
}

// ---------------------------------------------------------------------------------------------

void test_c_header_and_null_safety() {
	g_test = "null-safety";
	CHECK(tactus_c_compat_check() == 0);
	CHECK(std::string(tactus_version()) == "2.0.0");
	CHECK(tactus_ppqn_at(0) == 1 && tactus_ppqn_at(6) == 24 && tactus_ppqn_at(8) == 96);
	CHECK(tactus_ppqn_at(1000) == 96);
	uint8_t buf[3];
	TactusStatus st;
	TactusSettings s;
	tactus_settings_default(&s);
	CHECK(tactus_bridge_process(NULL, 10.f, 10.f, 10.f) == 0);
	CHECK(tactus_bridge_pop_midi(NULL, buf) == 0);
	CHECK(!tactus_bridge_status(NULL, &st));
	tactus_bridge_configure(NULL, &s);
	tactus_bridge_settings(NULL, &s);
	tactus_bridge_midi_in(NULL, buf, 3);
	tactus_bridge_reset(NULL);
	tactus_bridge_toggle_run(NULL);
	tactus_bridge_set_running(NULL, false);
	tactus_bridge_set_sample_rate(NULL, 44100.f);
	tactus_bridge_host_time(NULL, 0, 0.0);
	tactus_bridge_free(NULL);
	tactus_settings_default(NULL);
	TactusBridge* b = tactus_bridge_new(48000.f);
	tactus_bridge_configure(b, NULL);
	tactus_bridge_settings(b, NULL);
	tactus_bridge_midi_in(b, NULL, 100);
	CHECK(tactus_bridge_pop_midi(b, NULL) == 0);
	CHECK(!tactus_bridge_status(b, NULL));
	// Link off (the default): the block call does nothing, the status says off, no peers.
	tactus_bridge_host_time(b, 1234, NAN);
	tactus_bridge_host_time(b, 1234, 1.5);
	CHECK(tactus_bridge_status(b, &st) && st.link_enabled == 0 && st.link_peers == 0);
	CHECK(st.source == TACTUS_SOURCE_MASTER);
	tactus_bridge_free(b);
}

void test_defaults_and_garbage_settings() {
	g_test = "settings";
	TactusSettings s;
	tactus_settings_default(&s);
	CHECK(s.input_ppqn == 4);
	CHECK(s.output_ppqn[0] == 1 && s.output_ppqn[1] == 2 && s.output_ppqn[2] == 4 && s.output_ppqn[3] == 24);
	CHECK(s.master_bpm == 120.f);
	CHECK(s.pulse_width == TACTUS_PULSE_5MS);
	CHECK(s.flags & TACTUS_FLAG_SPP_ON_RESET);
	CHECK(s.input_level == TACTUS_INPUT_LEVEL_RACK);
	CHECK(s.link_mode == TACTUS_LINK_OFF && s.link_quantum == 4 && s.link_offset_ms == 0.f);
	CHECK(!(s.flags & TACTUS_FLAG_LINK_START_STOP));
	Rig r(48000);
	r.s.input_ppqn = 3;
	r.s.output_ppqn[0] = 0;
	r.s.output_ppqn[1] = 1000;
	r.s.master_bpm = NAN;
	r.s.response = -INFINITY;
	r.s.cv_offset_ms = 1e30f;
	r.s.midi_offset_ms = NAN;
	r.s.pulse_width = 77;
	r.s.flags = 0xFFFFFF80u;
	r.s.input_level = 0xFFFFFFFFu;
	r.s.link_mode = 99;
	r.s.link_quantum = 0;
	r.s.link_offset_ms = NAN;
	r.apply();
	TactusSettings back;
	tactus_bridge_settings(r.b, &back);
	CHECK(back.input_ppqn == 4);
	CHECK(back.output_ppqn[0] == 1 && back.output_ppqn[1] == 2);
	CHECK(back.master_bpm == 120.f);
	TactusSettings def;
	tactus_settings_default(&def);
	CHECK(back.response == def.response);
	CHECK(back.cv_offset_ms == 50.f);
	CHECK(back.midi_offset_ms == 0.f);
	CHECK(back.pulse_width == TACTUS_PULSE_5MS);
	CHECK(back.flags == 0);
	CHECK(back.input_level == TACTUS_INPUT_LEVEL_RACK);
	CHECK(back.link_mode == TACTUS_LINK_OFF && back.link_quantum == 4 && back.link_offset_ms == 0.f);
	r.s.link_quantum = 17;
	r.s.link_offset_ms = -1e9f;
	r.apply();
	tactus_bridge_settings(r.b, &back);
	CHECK(back.link_quantum == 4 && back.link_offset_ms == -50.f);
	r.s.master_bpm = 1000.f;
	r.apply();
	tactus_bridge_settings(r.b, &back);
	CHECK(back.master_bpm == 300.f);
	TactusBridge* odd = tactus_bridge_new(-5.f);
	TactusStatus st;
	CHECK(tactus_bridge_status(odd, &st) && st.sample_rate == 48000 && st.subsample == 256);
	tactus_bridge_free(odd);
}

// Lock to a CV clock at every input PPQN and count the converted pulses beat by beat.
void test_conversion_counts() {
	g_test = "conversion";
	const uint32_t ins[] = {1, 2, 4, 24, 96};
	const uint32_t outs[][4] = {{1, 2, 4, 24}, {8, 12, 16, 48}, {96, 1, 24, 4}};
	for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
		for (size_t o = 0; o < 3; o++) {
			Rig r(48000);
			r.s.input_ppqn = ins[i];
			set_outputs(r, outs[o][0], outs[o][1], outs[o][2], outs[o][3]);
			r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
			r.flag(TACTUS_FLAG_MIDI_OUT, true);
			PulseTrain p = steady(120.0, (int)ins[i], 24.0);
			p.width = std::min(0.002, 0.25 / ins[i]);
			r.run_train(p, 24.0);
			// Beats 16..40 (8.1 s .. 20.1 s); window edges a quarter of a 96-PPQN period early.
			double eps = 0.5 / 96 / 4;
			for (int k = 0; k < 4; k++) {
				size_t c = r.count(k, 8.1 - eps, 20.1 - eps);
				CHECK_MSG(c == 24 * outs[o][k], "in %u out %u: %zu pulses in 24 beats", ins[i], outs[o][k], c);
				CHECK(r.gate_edges[k].size() == r.fired[k].size());
			}
			size_t clocks = r.midi_count(0xF8, 8.1 - eps, 20.1 - eps);
			CHECK_MSG(clocks == 24 * 24, "in %u: %zu MIDI clocks in 24 beats", ins[i], clocks);
			// Phase: the 1-PPQN-or-slower outputs land on the input beats.
			for (int k = 0; k < 4; k++) {
				if (outs[o][k] != 1) continue;
				double worst = 0;
				for (size_t j = 0; j < r.fired[k].size(); j++) {
					double tt = r.fired[k][j] / r.sr - 0.1;
					if (tt < 8.0 || tt > 20.0) continue;
					double beat = std::floor(tt / 0.5 + 0.5) * 0.5;
					worst = std::max(worst, std::fabs(tt - beat));
				}
				CHECK_MSG(worst < 0.0005, "in %u: 1-PPQN output %.3f ms off the beat", ins[i], worst * 1e3);
			}
			TactusStatus st = r.status();
			CHECK(st.lock_state == TACTUS_LOCK_LOCKED);
			CHECK(st.source == TACTUS_SOURCE_CV);
		}
	}
}

void test_lock_tempo_and_loss() {
	g_test = "lock";
	Rig r(48000);
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	TactusStatus st = r.status();
	CHECK(st.lock_state == TACTUS_LOCK_STOPPED);
	CHECK(st.tempo_milli_bpm == 0);
	PulseTrain p = steady(90.0, 4, 30.0);
	r.run_train(p, 0.11);
	CHECK(r.status().lock_state == TACTUS_LOCK_ACQUIRING);
	r.run_train(p, 8.0);
	st = r.status();
	CHECK(st.lock_state == TACTUS_LOCK_LOCKED);
	CHECK_MSG(std::abs((int)st.tempo_milli_bpm - 90000) <= 50, "tempo %u", st.tempo_milli_bpm);
	CHECK_MSG(std::fabs(st.bpm_volts - std::log2(90.0 / 120.0)) < 0.001, "%f V", st.bpm_volts);
	CHECK(st.events & TACTUS_OUT_INPUT_PULSE);
	// The clock stops: Lost within two beats, outputs stop after at most one coasted pulse.
	double stop = p.times.back();
	r.run_train(p, stop + 0.001);
	size_t before = r.fired[3].size();
	r.run_silent(stop + 60.0 / 90.0 * 2);
	CHECK(r.status().lock_state == TACTUS_LOCK_LOST);
	size_t coasted = r.fired[3].size() - before;
	CHECK_MSG(coasted <= 2 * 24 / 4, "%zu pulses after the clock stopped", coasted);
	size_t after_lost = r.fired[3].size();
	r.run_silent(stop + 5.0);
	CHECK(r.fired[3].size() == after_lost);
	CHECK_MSG(std::fabs(r.status().bpm_volts - std::log2(90.0 / 120.0)) < 0.01, "BPM out holds the last tempo");
}

// A reset that arrives with a clock pulse in the middle of a bar makes that pulse beat 0.
void test_reset() {
	g_test = "reset";
	Rig r(48000);
	r.s.input_ppqn = 4;
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	PulseTrain p = steady(120.0, 4, 20.0);
	r.run_train(p, 4.0);
	CHECK(r.status().lock_state == TACTUS_LOCK_LOCKED);
	// Pulse 34 is the third 16th of beat 8; reset rises on the same sample as its clock.
	double tr = p.times[34];
	while (r.t() < tr) r.step(p.volts(r.t()));
	uint64_t reset_sample = r.n;
	while (r.t() < tr + 0.003) r.step(p.volts(r.t()), 10.f);
	r.run_train(p, 16.0);
	CHECK(r.reset_edges.size() == 1);
	CHECK(!r.reset_edges.empty() && r.reset_edges[0] == reset_sample);
	// Beat 0 is the reset pulse: the 1-PPQN output fires there, then every 4 input pulses.
	long first = -1;
	for (size_t j = 0; j < r.fired[0].size(); j++)
		if (r.fired[0][j] + 2 >= reset_sample) {
			first = (long)j;
			break;
		}
	CHECK(first >= 0);
	if (first >= 0) {
		double t0 = r.fired[0][first] / r.sr;
		CHECK_MSG(std::fabs(t0 - tr) < 0.0005, "beat 0 at %.4f s, reset pulse at %.4f s", t0, tr);
		CHECK((size_t)first + 1 < r.fired[0].size());
		if ((size_t)first + 1 < r.fired[0].size()) {
			double t1 = r.fired[0][first + 1] / r.sr;
			CHECK_MSG(std::fabs(t1 - p.times[38]) < 0.0005, "beat 1 at %.4f s, want %.4f s", t1, p.times[38]);
		}
	}
	// MIDI: Start, then the clock of beat 0.
	long start = r.midi_find(0xFA, tr - 0.001);
	long clock = r.midi_find(0xF8, tr - 0.001);
	CHECK(start >= 0 && clock > start);
	CHECK(r.midi_count(0xFA, 0, 100) == 1);
	// The RESET output is a 1 ms trigger.
	Rig q(48000);
	q.flag(TACTUS_FLAG_CLOCK_PATCHED, false);
	tactus_bridge_reset(q.b);
	size_t high = 0;
	for (int i = 0; i < 200; i++)
		if (q.step(0.f) & TACTUS_OUT_RESET) high++;
	CHECK_MSG(high == 48, "RESET out high for %zu samples", high);
}

// Master mode: MIDI clock bytes, transport and Song Position.
void test_master_midi_out() {
	g_test = "master-midi";
	Rig r(48000);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	CHECK(r.status().source == TACTUS_SOURCE_MASTER);
	r.run_silent(4.0);
	// 120 BPM at 24 PPQN: one clock every 1000 samples exactly.
	size_t clocks = r.midi_count(0xF8, 0, 4.0);
	CHECK_MSG(clocks == 192, "%zu clocks in 4 s", clocks);
	bool even = true;
	uint64_t prev = 0;
	bool have = false;
	for (size_t i = 0; i < r.midi.size(); i++) {
		if (r.midi[i].bytes[0] != 0xF8) continue;
		if (have && (r.midi[i].sample - prev < 999 || r.midi[i].sample - prev > 1001)) even = false;
		prev = r.midi[i].sample;
		have = true;
	}
	CHECK(even);
	// The CV outputs run with it: 1, 2, 4, 24 PPQN over 8 beats.
	CHECK(r.count(0, 0, 4.0) == 8 && r.count(1, 0, 4.0) == 16 && r.count(2, 0, 4.0) == 32);
	CHECK(r.count(3, 0, 4.0) == 192);
	// RUN button: Stop; CV outputs halt, MIDI clock keeps running for the slaves.
	tactus_bridge_toggle_run(r.b);
	r.run_silent(6.0);
	CHECK(r.midi_count(0xFC, 4.0, 6.0) == 1);
	CHECK(r.count(3, 4.0, 6.0) == 0);
	CHECK(r.midi_count(0xF8, 4.0, 6.0) >= 95);
	CHECK(!(r.last & TACTUS_OUT_RUN));
	CHECK(r.status().running == 0);
	// Reset while stopped: Song Position 0.
	tactus_bridge_reset(r.b);
	r.run_silent(6.1);
	long spp = r.midi_find(0xF2, 6.0);
	CHECK(spp >= 0 && r.midi[spp].len == 3 && r.midi[spp].bytes[1] == 0 && r.midi[spp].bytes[2] == 0);
	// Start: 0xFA, then the first clock, beat 0 on the CV outputs at the same sample.
	tactus_bridge_toggle_run(r.b);
	uint64_t s0 = r.n;
	r.run_silent(8.0);
	long fa = r.midi_find(0xFA, 6.1);
	long f8 = r.midi_find(0xF8, s0 / r.sr);
	CHECK(fa >= 0 && f8 > fa);
	CHECK(!r.fired[0].empty() && r.fired[0][r.fired[0].size() - 4] == s0);
	CHECK(r.status().running == 1);
	// Song Position off: nothing on a stopped reset.
	r.flag(TACTUS_FLAG_SPP_ON_RESET, false);
	tactus_bridge_toggle_run(r.b);
	tactus_bridge_reset(r.b);
	r.run_silent(8.5);
	CHECK(r.midi_find(0xF2, 8.0) < 0);
	// The RUN button always starts from beat 1 (the RUN-rise option is about the RUN input).
	tactus_bridge_toggle_run(r.b);
	r.run_silent(9.0);
	CHECK(r.midi_find(0xFA, 8.5) >= 0);
	CHECK(r.midi_find(0xFB, 8.5) < 0);
	// Tempo knob: 150 BPM → 800 samples per clock.
	r.s.master_bpm = 150.f;
	r.apply();
	r.run_silent(11.0);
	CHECK_MSG(r.midi_count(0xF8, 9.5, 10.5) == 60, "%zu", r.midi_count(0xF8, 9.5, 10.5));
	CHECK(r.status().tempo_milli_bpm == 150000);
	CHECK(std::fabs(r.status().bpm_volts - std::log2(150.0 / 120.0)) < 0.001);
}

// The RUN input: a gate; unpatched = running.
void test_run_gate() {
	g_test = "run-gate";
	Rig r(48000);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	r.flag(TACTUS_FLAG_RUN_PATCHED, true);
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 0.f);
	CHECK(r.status().running == 0);
	// Low from the first sample (a patch loading with its RUN gate low): stopped, silently, since
	// nothing was started (Rack delivers cable voltages a frame late, so the first two samples
	// only settle the level).
	CHECK(r.midi_count(0xFC, 0, 1) == 0);
	CHECK(!(r.last & TACTUS_OUT_RUN));
	size_t n0 = r.fired[3].size();
	for (int i = 0; i < 48000; i++) r.step(0.f, 0.f, NAN);
	CHECK(r.fired[3].size() == n0);
	// A RUN rise alone resumes the count: Continue, and no RESET out.
	uint64_t up = r.n;
	for (int i = 0; i < 48000; i++) r.step(0.f, 0.f, 10.f);
	CHECK(r.status().running == 1);
	CHECK(r.midi_count(0xFB, 0, 10) == 1 && r.midi_count(0xFA, 0, 10) == 0);
	CHECK(r.reset_edges.empty());
	CHECK(r.count(0, up / r.sr, r.t()) == 2);
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 0.f);
	CHECK(r.status().running == 0);
	// A RESET 1 ms before the RUN rise: a start from beat 1 (Start), one RESET out, with beat 1.
	for (int i = 0; i < 48; i++) r.step(0.f, 10.f, 0.f);
	uint64_t up2 = r.n;
	for (int i = 0; i < 24000; i++) r.step(0.f, 0.f, 10.f);
	CHECK(r.midi_count(0xFA, up2 / r.sr - 0.01, r.t()) == 1);
	CHECK_MSG(r.reset_edges.size() == 1 && r.reset_edges[0] == up2, "%zu RESET out edges", r.reset_edges.size());
	CHECK(!r.fired[0].empty() && r.count(0, up2 / r.sr, up2 / r.sr + 0.0001) == 1);
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 0.f);
	// A RESET 1 ms after the RUN rise: a start as well.
	uint64_t up3 = r.n;
	for (int i = 0; i < 48; i++) r.step(0.f, 0.f, 10.f);
	for (int i = 0; i < 24000; i++) r.step(0.f, i < 48 ? 10.f : 0.f, 10.f);
	CHECK(r.midi_count(0xFA, up3 / r.sr - 0.001, r.t()) == 1);
	CHECK(r.reset_edges.size() == 2);
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 0.f);
	// "RUN rise always restarts": a rise alone is a start.
	r.flag(TACTUS_FLAG_RUN_RESTARTS, true);
	uint64_t up4 = r.n;
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 10.f);
	CHECK(r.midi_count(0xFA, up4 / r.sr - 0.001, r.t()) == 1 && r.midi_count(0xFB, up4 / r.sr - 0.001, r.t()) == 0);
	CHECK(r.reset_edges.size() == 3 && r.reset_edges.back() == up4);
	r.flag(TACTUS_FLAG_RUN_RESTARTS, false);
	for (int i = 0; i < 4800; i++) r.step(0.f, 0.f, 0.f);
	CHECK(r.status().running == 0);
	// Unpatching RUN means running again.
	r.flag(TACTUS_FLAG_RUN_PATCHED, false);
	r.step(0.f);
	CHECK(r.status().running == 1);
}

// MIDI clock in as the source, converted to every output; MIDI transport drives RUN.
void test_midi_in_source() {
	g_test = "midi-in";
	Rig r(48000);
	r.flag(TACTUS_FLAG_MIDI_IN, true);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	CHECK(r.status().source == TACTUS_SOURCE_MIDI);
	const uint8_t start = 0xFA, clock = 0xF8, stop = 0xFC, cont = 0xFB;
	// 100 BPM: a clock every 25 ms = 1200 samples; Start just before the first one.
	const uint64_t per = 1200;
	tactus_bridge_midi_in(r.b, &start, 1);
	uint64_t base = r.n;
	for (uint64_t i = 0; i < per * 24 * 32; i++) {
		if ((r.n - base) % per == 0) tactus_bridge_midi_in(r.b, &clock, 1);
		r.step(0.f);
	}
	TactusStatus st = r.status();
	CHECK(st.lock_state == TACTUS_LOCK_LOCKED);
	CHECK_MSG(std::abs((int)st.tempo_milli_bpm - 100000) <= 20, "%u", st.tempo_milli_bpm);
	double beat = 0.6, eps = 0.001;
	for (int k = 0; k < 4; k++) {
		size_t c = r.count(k, 8 * beat - eps, 24 * beat - eps);
		CHECK_MSG(c == 16 * r.s.output_ppqn[k], "out %d: %zu", k, c);
	}
	CHECK(r.midi_count(0xF8, 8 * beat - eps, 24 * beat - eps) == 16 * 24);
	// The forwarded Start precedes the first clock out.
	long fa = r.midi_find(0xFA, 0);
	long f8 = r.midi_find(0xF8, 0);
	CHECK(fa >= 0 && (f8 < 0 || fa < f8));
	CHECK(!r.reset_edges.empty() && r.reset_edges[0] == base);
	// Stop: outputs halt, RUN low; Continue resumes.
	tactus_bridge_midi_in(r.b, &stop, 1);
	size_t n3 = r.fired[3].size();
	uint64_t b2 = r.n;
	for (uint64_t i = 0; i < per * 24 * 2; i++) {
		if ((r.n - b2) % per == 0) tactus_bridge_midi_in(r.b, &clock, 1);
		r.step(0.f);
	}
	CHECK(r.fired[3].size() == n3);
	CHECK(!(r.last & TACTUS_OUT_RUN));
	tactus_bridge_midi_in(r.b, &cont, 1);
	for (uint64_t i = 0; i < per * 24 * 2; i++) {
		if ((r.n - b2) % per == 0) tactus_bridge_midi_in(r.b, &clock, 1);
		r.step(0.f);
	}
	CHECK(r.last & TACTUS_OUT_RUN);
	CHECK(r.fired[3].size() >= n3 + 40);
	CHECK(r.midi_find(0xFB, 0) >= 0);
	// Real-time bytes inside other messages still count; running status survives them.
	Rig q(48000);
	q.flag(TACTUS_FLAG_MIDI_IN, true);
	const uint8_t stream[] = {0x90, 0xF8, 0x3C, 0x40, 0x3E, 0xF8, 0x40};
	tactus_bridge_midi_in(q.b, stream, sizeof stream);
	CHECK(q.status().lock_state == TACTUS_LOCK_ACQUIRING);
	// MIDI drives the transport: stopped until its first Start.
	CHECK(!(q.step(0.f) & TACTUS_OUT_RUN));
	// MIDI while the CV clock is the source is ignored.
	q.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	tactus_bridge_midi_in(q.b, &stop, 1);
	CHECK(q.step(0.f) & TACTUS_OUT_RUN);
}

void test_source_priority_and_no_device() {
	g_test = "sources";
	Rig r(48000);
	r.flag(TACTUS_FLAG_MIDI_IN, true);
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	CHECK(r.status().source == TACTUS_SOURCE_CV);
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, false);
	CHECK(r.status().source == TACTUS_SOURCE_MIDI);
	r.flag(TACTUS_FLAG_MIDI_IN, false);
	CHECK(r.status().source == TACTUS_SOURCE_MASTER);
	CHECK(r.status().lock_state == TACTUS_LOCK_LOCKED);
	// No MIDI output device: nothing is queued, nothing breaks, the CV side runs.
	tactus_bridge_toggle_run(r.b);
	tactus_bridge_reset(r.b);
	tactus_bridge_toggle_run(r.b);
	r.run_silent(3.0);
	CHECK(r.midi.empty());
	CHECK(r.pending_seen == 0);
	CHECK(r.count(0, 0, 3.0) >= 5);
	CHECK(r.status().midi_dropped == 0);
	// Turning MIDI out on later starts the clock stream.
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	r.run_silent(4.0);
	CHECK(r.midi_count(0xF8, 3.0, 4.0) >= 47);
	// Beat carries over when the source changes: CV clock patched on a running master.
	Rig m(48000);
	m.run_silent(2.0);
	m.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	PulseTrain p = steady(120.0, 4, 10.0, 2.0);
	m.run_train(p, 10.0);
	CHECK(m.status().lock_state == TACTUS_LOCK_LOCKED);
	CHECK_MSG(m.status().beat >= 18 && m.status().beat <= 20, "beat %u", m.status().beat);
}

// NaN, infinities and audio-rate noise: no burst on MIDI out, no NaN out, state intact.
void test_bad_input() {
	g_test = "bad-input";
	Rig r(48000);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	const float bad[] = {NAN, INFINITY, -INFINITY, 1e38f, -1e38f};
	for (int i = 0; i < 48000 * 2; i++) r.step(bad[i % 5], bad[(i / 3) % 5], bad[(i / 7) % 5]);
	TactusStatus st = r.status();
	CHECK(std::isfinite(st.bpm_volts));
	CHECK(st.source == TACTUS_SOURCE_MASTER);
	CHECK(r.count(0, 0, 2.0) >= 1);

	Rig c(48000);
	c.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	for (int i = 0; i < 48000; i++) c.step(NAN);
	CHECK(c.status().lock_state == TACTUS_LOCK_STOPPED);
	CHECK(c.fired[0].empty());

	// White noise ±10 V at the highest input PPQN, for 10 s.
	Rig z(48000);
	z.s.input_ppqn = 96;
	z.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	z.flag(TACTUS_FLAG_MIDI_OUT, true);
	Rng rng(7);
	for (int i = 0; i < 48000 * 10; i++) z.step((float)(rng.uniform() * 20.0 - 10.0));
	size_t clocks = 0;
	uint64_t prev = 0, closest = UINT64_MAX;
	for (size_t i = 0; i < z.midi.size(); i++) {
		if (z.midi[i].bytes[0] != 0xF8) continue;
		if (clocks) closest = std::min(closest, z.midi[i].sample - prev);
		prev = z.midi[i].sample;
		clocks++;
	}
	// One DIN byte takes 320 µs (15.36 samples): never closer, never more than the line carries.
	CHECK_MSG(clocks == 0 || closest >= 15, "MIDI clocks %llu samples apart", (unsigned long long)closest);
	CHECK_MSG(clocks <= 31250, "%zu clocks from noise in 10 s", clocks);
	CHECK(z.status().midi_dropped == 0);
	CHECK(std::isfinite(z.status().bpm_volts));
	// Re-patching a clean clock afterwards (unplug, plug) starts a fresh lock.
	z.flag(TACTUS_FLAG_CLOCK_PATCHED, false);
	z.s.input_ppqn = 4;
	z.apply();
	z.step(0.f);
	z.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	PulseTrain p = steady(120.0, 4, 30.0, 10.0);
	z.run_train(p, 30.0);
	CHECK(z.status().lock_state == TACTUS_LOCK_LOCKED);
	CHECK(z.count(0, 20.0 - 0.001, 28.0 - 0.001) == 16);
}

// A sample-rate change in the middle of a locked clock keeps the beat count and lock.
void test_sample_rate_change() {
	g_test = "sample-rate";
	const double rates[][2] = {{48000, 96000}, {44100, 48000}, {96000, 192000}, {48000, 44100}};
	for (int k = 0; k < 4; k++) {
		Rig r(rates[k][0]);
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		PulseTrain p = steady(120.0, 4, 16.0);
		r.run_train(p, 6.0 - 0.1);
		uint32_t beat = r.status().beat;
		size_t ones = r.count(0, 0, 100);
		// Switch: same instant, new rate.
		double t_switch = r.t();
		tactus_bridge_set_sample_rate(r.b, (float)rates[k][1]);
		TactusStatus st = r.status();
		CHECK(st.beat == beat);
		CHECK(st.lock_state == TACTUS_LOCK_LOCKED);
		CHECK(st.sample_rate == (uint32_t)rates[k][1]);
		uint32_t want_sub = rates[k][1] > 131072 ? 64 : rates[k][1] > 65536 ? 128 : 256;
		CHECK(st.subsample == want_sub);
		// Continue at the new rate from the same time.
		double sr2 = rates[k][1];
		uint64_t n2 = 0;
		std::vector<uint64_t> f0;
		while (t_switch + n2 / sr2 < 16.0) {
			uint32_t out = tactus_bridge_process(r.b, p.volts(t_switch + n2 / sr2), 0.f, 0.f);
			if (out & (1u << TACTUS_OUT_FIRED_SHIFT)) f0.push_back(n2);
			n2++;
		}
		// 1 PPQN from 0.1 s to 16 s at 120 BPM: beats 0 … 31.
		size_t total = ones;
		for (size_t j = 0; j < f0.size(); j++)
			if (t_switch + f0[j] / sr2 < 16.0) total++;
		CHECK_MSG(total == 32, "%.0f → %.0f Hz: %zu beats", rates[k][0], rates[k][1], total);
		double worst = 0;
		for (size_t j = 0; j < f0.size(); j++) {
			double tt = t_switch + f0[j] / sr2 - 0.1;
			double b = std::floor(tt / 0.5 + 0.5) * 0.5;
			if (tt > 8.0) worst = std::max(worst, std::fabs(tt - b));
		}
		CHECK_MSG(worst < 0.0005, "%.3f ms off the beat after the change", worst * 1e3);
		CHECK(r.status().lock_state == TACTUS_LOCK_LOCKED);
	}
}

// Latency offsets: CV outputs and MIDI clock move by the set time, both ways.
void test_offsets() {
	g_test = "offsets";
	const float offs[] = {-20.f, 0.f, 15.f};
	for (int k = 0; k < 3; k++) {
		Rig r(48000);
		r.s.input_ppqn = 24;
		r.s.cv_offset_ms = offs[k];
		r.s.midi_offset_ms = -offs[k];
		r.apply();
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		r.flag(TACTUS_FLAG_MIDI_OUT, true);
		PulseTrain p = steady(120.0, 24, 12.0);
		r.run_train(p, 12.0);
		double worst_cv = 0, worst_midi = 0;
		for (size_t j = 0; j < r.fired[0].size(); j++) {
			double tt = r.fired[0][j] / r.sr - 0.1;
			if (tt < 6.0 || tt > 11.0) continue;
			double want = std::floor((tt - offs[k] / 1000.0) / 0.5 + 0.5) * 0.5 + offs[k] / 1000.0;
			worst_cv = std::max(worst_cv, std::fabs(tt - want));
		}
		for (size_t j = 0; j < r.midi.size(); j++) {
			if (r.midi[j].bytes[0] != 0xF8) continue;
			double tt = r.midi[j].sample / r.sr - 0.1;
			if (tt < 6.0 || tt > 11.0) continue;
			double per = 0.5 / 24, off = -offs[k] / 1000.0;
			double want = std::floor((tt - off) / per + 0.5) * per + off;
			worst_midi = std::max(worst_midi, std::fabs(tt - want));
		}
		CHECK_MSG(worst_cv < 0.0005, "CV offset %g ms: %.3f ms off", offs[k], worst_cv * 1e3);
		CHECK_MSG(worst_midi < 0.0005, "MIDI offset %g ms: %.3f ms off", -offs[k], worst_midi * 1e3);
	}
}

void test_pulse_width() {
	g_test = "pulse-width";
	const uint32_t modes[] = {TACTUS_PULSE_1MS, TACTUS_PULSE_5MS, TACTUS_PULSE_10MS, TACTUS_PULSE_DUTY50};
	// 1 PPQN and 96 PPQN at 120 BPM (period 500 ms and 5.2 ms).
	const double want1[] = {48, 240, 480, 12000};
	for (int k = 0; k < 4; k++) {
		Rig r(48000);
		r.s.pulse_width = modes[k];
		set_outputs(r, 1, 96, 4, 24);
		size_t high1 = 0, high96 = 0;
		for (int i = 0; i < 48000 * 2; i++) {
			uint32_t out = r.step(0.f);
			if (i >= 48000 && i < 48000 + 24000) {
				high1 += out & 1;
				high96 += (out >> 1) & 1;
			}
		}
		CHECK_MSG(std::fabs(high1 - want1[k]) <= 1, "mode %u: 1-PPQN gate %zu samples", modes[k], high1);
		// Never above half the period: 96 PPQN gets at most 50 % duty.
		CHECK_MSG(high96 <= 12000 + 96, "mode %u: 96-PPQN gate high %zu of 24000 samples", modes[k], high96);
		CHECK(r.gate_edges[1].size() == r.fired[1].size());
	}
}

// A square-wave clock between `hi` (first half of each input pulse period) and `lo` volts,
// rising at `start` (low before it): a clock as an audio interface input delivers it, AC-coupled
// (centred on 0 V), often at line level. (A line resting at exactly 0 V before its first pulse
// would not arm the low-level detector, which re-arms below -0.1 V, so that first pulse would
// not count.)
struct SquareClock {
	double start, period;
	float hi, lo;
	SquareClock(double bpm, int ppqn, float hi_, float lo_, double start_ = 0.1)
	    : start(start_), period(60.0 / bpm / ppqn), hi(hi_), lo(lo_) {}
	float volts(double t) const {
		if (t < start) return lo;
		double phase = (t - start) / period;
		return phase - std::floor(phase) < 0.5 ? hi : lo;
	}
};

void run_square(Rig& r, const SquareClock& c, double until) {
	while (r.t() < until) r.step(c.volts(r.t()));
}

// Pulses of each output over beats 16..40 of a 120 BPM clock that starts at 0.1 s (as in
// test_conversion_counts), lock, tempo, and the 1-PPQN output's worst distance from the beats
// counted from `first`, the first input pulse Bridge took (beat 0).
void check_counts_120(Rig& r, const char* what, double first = 0.1) {
	double eps = 0.5 / 96 / 4;
	for (int k = 0; k < 4; k++) {
		size_t c = r.count(k, 8.1 - eps, 20.1 - eps);
		CHECK_MSG(c == 24 * r.s.output_ppqn[k], "%s: out %u PPQN: %zu pulses in 24 beats", what, r.s.output_ppqn[k], c);
	}
	double worst = 0;
	for (size_t j = 0; j < r.fired[0].size(); j++) {
		double tt = r.fired[0][j] / r.sr - first;
		if (tt < 8.0 || tt > 20.0) continue;
		worst = std::max(worst, std::fabs(tt - std::floor(tt / 0.5 + 0.5) * 0.5));
	}
	CHECK_MSG(worst < 0.0005, "%s: 1-PPQN output %.3f ms off the beat", what, worst * 1e3);
	TactusStatus st = r.status();
	CHECK_MSG(st.lock_state == TACTUS_LOCK_LOCKED, "%s: lock %u", what, st.lock_state);
	CHECK_MSG(std::abs((int)st.tempo_milli_bpm - 120000) <= 50, "%s: tempo %u", what, st.tempo_milli_bpm);
}

// The CLOCK input level menu option: a ±0.3 V clock is nothing at Rack levels and a clock at the
// low level; the setting survives a settings round trip; switching it keeps the beat.
void test_input_level() {
	g_test = "input-level";
	const SquareClock line(120.0, 4, 0.3f, -0.3f);

	// Default (Rack levels): the ±0.3 V clock is ignored entirely.
	{
		Rig r(48000);
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		r.flag(TACTUS_FLAG_MIDI_OUT, true);
		run_square(r, line, 24.0);
		TactusStatus st = r.status();
		CHECK(st.source == TACTUS_SOURCE_CV);
		CHECK_MSG(st.lock_state == TACTUS_LOCK_STOPPED, "lock %u", st.lock_state);
		CHECK(st.tempo_milli_bpm == 0);
		CHECK(!(st.events & TACTUS_OUT_INPUT_PULSE));
		for (int k = 0; k < 4; k++) CHECK(r.fired[k].empty());
		CHECK(r.midi_count(0xF8, 0, 100) == 0);
	}

	// Low level from the start: followed, exact counts, tempo, phase, MIDI clock.
	{
		Rig r(48000);
		r.s.input_level = TACTUS_INPUT_LEVEL_LOW;
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		r.flag(TACTUS_FLAG_MIDI_OUT, true);
		run_square(r, line, 24.0);
		check_counts_120(r, "low level");
		double eps = 0.5 / 96 / 4;
		size_t clocks = r.midi_count(0xF8, 8.1 - eps, 20.1 - eps);
		CHECK_MSG(clocks == 24 * 24, "low level: %zu MIDI clocks in 24 beats", clocks);
	}

	// Settings round trip: read back from one Bridge, applied to a fresh one, which then follows
	// the clock; garbage reads as Rack levels.
	{
		TactusBridge* a = tactus_bridge_new(48000.f);
		TactusSettings s;
		tactus_settings_default(&s);
		s.input_level = TACTUS_INPUT_LEVEL_LOW;
		s.flags |= TACTUS_FLAG_CLOCK_PATCHED;
		tactus_bridge_configure(a, &s);
		TactusSettings back;
		tactus_settings_default(&back);
		tactus_bridge_settings(a, &back);
		CHECK(back.input_level == TACTUS_INPUT_LEVEL_LOW);
		tactus_bridge_free(a);
		Rig r(48000);
		r.s = back;
		r.apply();
		TactusSettings again;
		tactus_bridge_settings(r.b, &again);
		CHECK(again.input_level == TACTUS_INPUT_LEVEL_LOW);
		CHECK(std::memcmp(&again, &back, sizeof back) == 0);
		run_square(r, line, 24.0);
		check_counts_120(r, "round trip");
		const uint32_t garbage[] = {2, 255, 0x80000001u, 0xFFFFFFFFu};
		for (size_t i = 0; i < 4; i++) {
			r.s.input_level = garbage[i];
			r.apply();
			tactus_bridge_settings(r.b, &back);
			CHECK_MSG(back.input_level == TACTUS_INPUT_LEVEL_RACK, "input_level %u read back as %u", garbage[i], back.input_level);
		}
	}

	// Chosen in the menu while the ±0.3 V clock runs (in the high half of a pulse, where a naive
	// threshold change would take the click as an edge): no pulse at the switch, then followed.
	{
		Rig r(48000);
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		double t_switch = 4.1 + 0.125 * 0.25;  // a quarter into input pulse 32, at +0.3 V
		run_square(r, line, t_switch);
		CHECK(r.status().lock_state == TACTUS_LOCK_STOPPED);
		CHECK(line.volts(r.t()) > 0.f);
		r.s.input_level = TACTUS_INPUT_LEVEL_LOW;
		r.apply();
		// Until the next rising edge (pulse 33 at 4.225 s) nothing is taken.
		bool pulse = false;
		while (r.t() < 4.1 + 0.125 - 0.001) pulse |= (r.step(line.volts(r.t())) & TACTUS_OUT_INPUT_PULSE) != 0;
		CHECK(!pulse);
		run_square(r, line, 24.0);
		check_counts_120(r, "switched while running", 4.225);
	}

	// Switching the level under a locked ±5 V clock (which reads at both levels) keeps the beat:
	// every pulse is counted, lock and beat count carry on.
	{
		Rig r(48000);
		r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
		const SquareClock bipolar(120.0, 4, 5.f, -5.f);
		run_square(r, bipolar, 6.0 + 0.03);
		CHECK(r.status().lock_state == TACTUS_LOCK_LOCKED);
		const double switches[] = {6.03, 9.1, 12.09, 15.0, 17.2};  // high half, on an edge, low half, ...
		for (int i = 1; i < 5; i++) {
			uint32_t beat = r.status().beat;
			r.s.input_level = (i % 2) ? TACTUS_INPUT_LEVEL_LOW : TACTUS_INPUT_LEVEL_RACK;
			r.apply();
			TactusStatus st = r.status();
			CHECK(st.beat == beat);
			CHECK(st.lock_state == TACTUS_LOCK_LOCKED);
			run_square(r, bipolar, switches[i]);
		}
		run_square(r, bipolar, 24.0);
		check_counts_120(r, "level switched under a locked clock");
		CHECK(r.status().beat >= 46 && r.status().beat <= 48);
	}

	// RESET reads at the same level: a ±0.3 V trigger resets only at the low level.
	{
		Rig r(48000);
		for (int i = 0; i < 480; i++) r.step(0.f, i < 240 ? -0.3f : 0.3f);
		CHECK(r.reset_edges.empty());
		r.s.input_level = TACTUS_INPUT_LEVEL_LOW;
		r.apply();
		for (int i = 0; i < 240; i++) r.step(0.f, 0.3f);
		CHECK(r.reset_edges.empty());
		for (int i = 0; i < 240; i++) r.step(0.f, -0.3f);
		uint64_t at = r.n;
		for (int i = 0; i < 240; i++) r.step(0.f, 0.3f);
		CHECK(r.reset_edges.size() == 1 && r.reset_edges[0] == at);
	}
}

// ---- the tactus-core scenarios (S1–S10), through the ABI ------------------------------------

struct Scenario {
	const char* name;
	int in_ppqn;
	PulseTrain train;
	double end;        // seconds
	double win_from;   // a true pulse time where counting starts
	double win_to;     // and ends
	int k_from, k_to;  // their grid indices
};

// Time of grid pulse k for a tempo curve bpm(beat), integrated at the input PPQN.
std::vector<double> grid(int ppqn, double beats, double (*bpm)(double)) {
	std::vector<double> t;
	double now = 0.1;
	for (int k = 0; k <= (int)(beats * ppqn); k++) {
		t.push_back(now);
		double beat = (double)k / ppqn;
		now += 60.0 / bpm(beat) / ppqn;
	}
	return t;
}

double bpm120(double) { return 120.0; }
double bpm_step(double b) { return b < 16 ? 120.0 : 140.0; }
double bpm_ramp(double b) { return b < 8 ? 90.0 : b < 24 ? 90.0 + 60.0 * (b - 8) / 16 : 150.0; }
double bpm30(double) { return 30.0; }
double bpm300(double) { return 300.0; }

Scenario make(const char* name, int ppqn, double beats, double (*bpm)(double), int seed, double jitter, double quant,
              double drop, double dbl, double win_beat_from, double win_beat_to) {
	Scenario s;
	s.name = name;
	s.in_ppqn = ppqn;
	std::vector<double> g = grid(ppqn, beats, bpm);
	Rng rng(seed);
	s.train.width = std::min(0.002, 0.3 * (g[1] - g[0]));
	if (dbl > 0) s.train.width = 0.0003;
	size_t last_drop = 0;
	for (size_t k = 0; k < g.size(); k++) {
		double t = g[k] + (rng.uniform() * 2 - 1) * jitter;
		if (quant > 0) t = std::ceil(t / quant) * quant;
		// Drops at least 4 pulses apart: every one is a clean missing pulse. (Drops on
		// alternate pulses are indistinguishable from a halved tempo; that call is the core's.)
		bool dropped = k > 8 && k >= last_drop + 4 && rng.uniform() < drop;
		if (dropped) last_drop = k;
		if (!dropped) s.train.add(t, (int)k);
		if (dbl > 0 && rng.uniform() < dbl) s.train.add(t + 0.0005 + rng.uniform() * 0.0025, -1);
	}
	// Keep the train sorted (double triggers can pass a jittered next pulse).
	for (size_t i = 1; i < s.train.times.size(); i++)
		for (size_t j = i; j > 0 && s.train.times[j] < s.train.times[j - 1]; j--) {
			std::swap(s.train.times[j], s.train.times[j - 1]);
			std::swap(s.train.index[j], s.train.index[j - 1]);
		}
	s.end = g.back() + 0.001;
	s.k_from = (int)(win_beat_from * ppqn);
	s.k_to = (int)(win_beat_to * ppqn);
	s.win_from = g[s.k_from];
	s.win_to = g[s.k_to];
	return s;
}

void check_scenario(Scenario& sc, const uint32_t outs[4]) {
	Rig r(48000);
	r.s.input_ppqn = (uint32_t)sc.in_ppqn;
	set_outputs(r, outs[0], outs[1], outs[2], outs[3]);
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	r.flag(TACTUS_FLAG_MIDI_OUT, true);
	r.run_train(sc.train, sc.end);
	double beats = (double)(sc.k_to - sc.k_from) / sc.in_ppqn;
	// Window edges a quarter of the finest output period before the true pulses.
	double eps = (sc.win_to - sc.win_from) / beats / 96 / 4;
	for (int k = 0; k < 4; k++) {
		size_t c = r.count(k, sc.win_from - eps, sc.win_to - eps);
		size_t want = (size_t)std::floor(beats * outs[k] + 0.5);
		CHECK_MSG(c == want, "%s: output %u PPQN gave %zu pulses over %.1f beats, want %zu", sc.name, outs[k], c, beats, want);
	}
	size_t clocks = r.midi_count(0xF8, sc.win_from - eps, sc.win_to - eps);
	size_t want = (size_t)std::floor(beats * 24 + 0.5);
	CHECK_MSG(clocks == want, "%s: %zu MIDI clocks over %.1f beats, want %zu", sc.name, clocks, beats, want);
	CHECK(r.status().midi_dropped == 0);
}

void test_core_scenarios() {
	g_test = "scenarios";
	const uint32_t outs[4] = {1, 4, 24, 96};
	const uint32_t slow[4] = {1, 2, 4, 24};
	Scenario s1 = make("S1 jitter ±1 ms", 24, 64, bpm120, 1, 0.001, 0, 0, 0, 16, 60);
	check_scenario(s1, slow);
	Scenario s2 = make("S2 block-stamped", 24, 64, bpm120, 2, 0.0005, 256.0 / 48000, 0, 0, 16, 60);
	check_scenario(s2, slow);
	Scenario s3 = make("S3 1 ms USB frames", 24, 64, bpm120, 3, 0, 0.001, 0, 0, 16, 60);
	check_scenario(s3, outs);
	Scenario s4 = make("S4 step 120→140", 24, 48, bpm_step, 4, 0, 0, 0, 0, 8, 44);
	check_scenario(s4, outs);
	Scenario s5 = make("S5 ramp 90→150", 24, 40, bpm_ramp, 5, 0, 0, 0, 0, 4, 36);
	check_scenario(s5, outs);
	Scenario s6 = make("S6 5 % drops", 24, 64, bpm120, 6, 0, 0, 0.05, 0, 16, 60);
	check_scenario(s6, outs);
	Scenario s7 = make("S7 5 % double triggers", 24, 64, bpm120, 7, 0, 0, 0, 0.05, 16, 60);
	check_scenario(s7, outs);
	Scenario s8 = make("S8 1 PPQN @ 30 BPM", 1, 24, bpm30, 8, 0, 0, 0, 0, 8, 22);
	check_scenario(s8, outs);
	Scenario s9 = make("S9 24 PPQN @ 300 BPM", 24, 64, bpm300, 9, 0, 0, 0, 0, 16, 60);
	check_scenario(s9, outs);

	// S10: 16 beats, 3 s of silence, then the clock restarts and is followed from where it
	// stopped (every input pulse is counted, none invented during the gap).
	g_test = "scenarios-S10";
	Rig r(48000);
	r.s.input_ppqn = 24;
	r.flag(TACTUS_FLAG_CLOCK_PATCHED, true);
	PulseTrain p;
	int k = 0;
	for (; k <= 16 * 24; k++) p.add(0.1 + k * 0.5 / 24, k);
	double gap = p.times.back() + 3.0;
	for (int j = 1; j <= 16 * 24; j++) p.add(gap + j * 0.5 / 24, k++);
	r.run_train(p, gap - 2.9);
	CHECK(r.status().lock_state == TACTUS_LOCK_LOST);
	r.run_train(p, p.times.back() - 0.0001);
	CHECK(r.status().lock_state == TACTUS_LOCK_LOCKED);
	// Pulses 0 … 768 came in (769 of them); the 1-PPQN output fires on 0, 24, … 768 (33) but
	// the last coincides with the end of the run.
	size_t beats = r.fired[0].size();
	CHECK_MSG(beats == 32 || beats == 33, "%zu beats over 32 input beats", beats);
	size_t fine = r.fired[3].size();
	CHECK_MSG(fine >= 767 && fine <= 769, "%zu 24-PPQN pulses for 769 input pulses", fine);
	for (size_t j = 1; j < r.fired[0].size(); j++) {
		double tt = r.fired[0][j] / r.sr;
		if (tt > gap) {
			// After the restart the 1-PPQN output lands on every 24th pulse of the new train.
			double rel = (tt - gap) / 0.5;
			CHECK_MSG(std::fabs(rel - std::floor(rel + 0.5)) * 0.5 < 0.0005, "beat at %.4f s after restart", tt - gap);
		}
	}
}

// ---- benchmark ---------------------------------------------------------------------------------

struct BenchResult {
	double cpu_ns;   // process CPU time per sample (what the module costs)
	double wall_ns;  // wall-clock time per sample (includes time the OS gave to others)
};

BenchResult bench_once(bool cv, size_t samples) {
	TactusBridge* b = tactus_bridge_new(48000.f);
	TactusSettings s;
	tactus_settings_default(&s);
	s.input_ppqn = 24;
	s.flags |= TACTUS_FLAG_MIDI_OUT | (cv ? TACTUS_FLAG_CLOCK_PATCHED : 0);
	tactus_bridge_configure(b, &s);
	// One beat of a 24-PPQN clock at 120 BPM, 24 000 samples, looped.
	std::vector<float> wave(24000);
	for (size_t i = 0; i < wave.size(); i++) wave[i] = (i % 1000) < 96 ? 10.f : 0.f;
	volatile uint32_t sink = 0;
	uint8_t buf[3];
	uint32_t acc = 0;
	size_t w = 0;
	std::clock_t c0 = std::clock();
	std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
	for (size_t i = 0; i < samples; i++) {
		uint32_t out = tactus_bridge_process(b, wave[w], 0.f, 0.f);
		if (++w == wave.size()) w = 0;
		if (out & TACTUS_OUT_MIDI_PENDING)
			while (tactus_bridge_pop_midi(b, buf)) acc += buf[0];
		acc += out;
	}
	std::chrono::steady_clock::time_point t1 = std::chrono::steady_clock::now();
	std::clock_t c1 = std::clock();
	sink = acc;
	(void)sink;
	TactusStatus st;
	tactus_bridge_status(b, &st);
	tactus_bridge_free(b);
	if (cv && st.lock_state != TACTUS_LOCK_LOCKED) std::fprintf(stderr, "bench: clock not locked\n");
	BenchResult r;
	r.cpu_ns = (double)(c1 - c0) / CLOCKS_PER_SEC * 1e9 / samples;
	r.wall_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / samples;
	return r;
}

int bench() {
	const size_t samples = 48000 * 60;  // one minute of audio per run
	const char* names[2] = {"master tempo", "24 PPQN CV clock in"};
	std::printf("Tactus ABI per-sample cost: tactus_bridge_process + MIDI drain, 4 outputs (1/2/4/24 PPQN),\n"
	            "MIDI clock out on, 48 kHz; best of 9 runs of %zu samples (target <= 10 ns/sample)\n", samples);
	for (int cv = 1; cv >= 0; cv--) {
		double best_cpu = 1e9, best_wall = 1e9;
		for (int i = 0; i < 9; i++) {
			BenchResult r = bench_once(cv != 0, samples);
			best_cpu = std::min(best_cpu, r.cpu_ns);
			best_wall = std::min(best_wall, r.wall_ns);
		}
		std::printf("  %-20s %6.2f ns/sample CPU time, %6.2f ns/sample wall clock%s\n", names[cv], best_cpu, best_wall,
		            best_cpu <= 10.0 ? "" : "  [above target]");
	}
	return 0;
}

}  // namespace

int main(int argc, char** argv) {
	if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return bench();
	test_c_header_and_null_safety();
	test_defaults_and_garbage_settings();
	test_conversion_counts();
	test_lock_tempo_and_loss();
	test_reset();
	test_master_midi_out();
	test_run_gate();
	test_midi_in_source();
	test_source_priority_and_no_device();
	test_bad_input();
	test_sample_rate_change();
	test_offsets();
	test_pulse_width();
	test_input_level();
	test_core_scenarios();
	if (g_failures) {
		std::fprintf(stderr, "abi_test: %d of %d checks failed\n", g_failures, g_checks);
		return 1;
	}
	std::printf("abi_test: all %d checks passed\n", g_checks);
	return 0;
}
