#include "plugin.hpp"

Plugin* pluginInstance;

void init(Plugin* p) {
	pluginInstance = p;
	// Every model added here must be listed in plugin.json's "modules" (and vice versa).
	p->addModel(modelBridge);
}
