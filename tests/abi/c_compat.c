/* The header must be valid C99 as well as C++11: this file is compiled as C and linked into
 * abi_test. It drives one Bridge through the C API and reports problems as a non-zero result. */
#include "tactus.h"

int tactus_c_compat_check(void) {
	TactusSettings s;
	TactusStatus st;
	TactusBridge* b;
	uint8_t msg[3];
	int errors = 0;
	int i;
	tactus_settings_default(&s);
	s.flags |= TACTUS_FLAG_MIDI_OUT;
	b = tactus_bridge_new(48000.0f);
	if (!b) return 1;
	tactus_bridge_configure(b, &s);
	/* Master tempo, 120 BPM: the first MIDI clock and a pulse on every output at sample 0. */
	if ((tactus_bridge_process(b, 0.0f, 0.0f, 0.0f) & TACTUS_OUT_GATES) != TACTUS_OUT_GATES) errors++;
	if (tactus_bridge_pop_midi(b, msg) != 1 || msg[0] != 0xF8) errors++;
	for (i = 1; i < 1000; i++) tactus_bridge_process(b, 0.0f, 0.0f, 0.0f);
	if (!tactus_bridge_status(b, &st)) errors++;
	if (st.source != TACTUS_SOURCE_MASTER || st.tempo_milli_bpm != 120000 || !st.running) errors++;
	tactus_bridge_free(b);
	return errors;
}
