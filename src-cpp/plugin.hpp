// Tactus VCV Rack plugin: a thin C++ shell (params, ports, lights, MIDI ports, JSON) over the
// Rust clock core, reached through the C ABI in rust/ffi/include/tactus.h.
#pragma once
#include <rack.hpp>

using namespace rack;

extern Plugin* pluginInstance;

extern Model* modelBridge;
