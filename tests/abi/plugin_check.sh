#!/bin/sh
# Static checks of the Rack plugin that need no Rack SDK (run by `make test`):
# - plugin.json: slug, version 2.x, and its module list equal to the models src-cpp creates and
#   registers in init() (Rack refuses the whole plugin on any mismatch), tags Rack knows;
# - panels: whole HP wide, 128.5 mm tall, no <text> (nanosvg ignores it: labels must be paths).
set -eu
cd "$(dirname "$0")/../.."
fail=0
err() {
	echo "plugin_check: $*" >&2
	fail=1
}

json=plugin.json
slug=$(sed -n 's/^  "slug": *"\([^"]*\)".*/\1/p' "$json")
version=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$json")
echo "$slug" | grep -Eq '^[A-Za-z0-9_-]+$' || err "plugin slug '$slug' must match [A-Za-z0-9_-]+"
case "$version" in 2.*) ;; *) err "version '$version' must start with 2." ;; esac
grep -q '^  "name": *"[^"]' "$json" || err "plugin name missing"

manifest=$(sed -n '/"modules"/,$ s/^ *"slug": *"\([^"]*\)".*/\1/p' "$json" | sort)
created=$(grep -ho 'createModel<[^>]*>("[^"]*")' src-cpp/*.cpp | sed 's/.*("\([^"]*\)")/\1/' | sort)
[ "$manifest" = "$created" ] || err "plugin.json modules [$manifest] != createModel slugs [$created]"
for var in $(grep -ho 'Model\* *model[A-Za-z0-9_]* *= *createModel' src-cpp/*.cpp | sed 's/Model\* *\(model[A-Za-z0-9_]*\).*/\1/'); do
	grep -q "addModel($var)" src-cpp/plugin.cpp || err "$var is created but not added in init()"
done

# Tags Rack 2 accepts (src/tag.cpp, lower case, aliases included); unknown tags are dropped.
known="arpeggiator|attenuator|blank|chorus|clock generator|clock|clock modulator|compressor|controller|delay|digital|distortion|drum|drums|percussion|dual|dynamics|effect|envelope follower|envelope generator|equalizer|eq|expander|external|filter|vcf|voltage controlled filter|flanger|function generator|granular|hardware clone|hardware|limiter|logic|low-frequency oscillator|lfo|low frequency oscillator|low-pass gate|low pass gate|lowpass gate|midi|mixer|multiple|noise|oscillator|vco|voltage controlled oscillator|panning|pan|phaser|physical modeling|polyphonic|poly|quad|quantizer|random|recording|reverb|ring modulator|sample and hold|s&h|sample & hold|sampler|sequencer|slew limiter|speech|switch|synth voice|tuner|utility|visual|vocoder|voltage-controlled amplifier|amplifier|vca|voltage controlled amplifier|waveshaper"
tags=$(sed -n 's/^ *"tags": *\[\(.*\)\].*/\1/p' "$json" | tr ',' '\n' | sed 's/^ *"//; s/" *$//')
[ -n "$tags" ] || err "no module tags"
echo "$tags" | while IFS= read -r tag; do
	lower=$(echo "$tag" | tr 'A-Z' 'a-z')
	echo "$lower" | grep -Eqx "$known" || { echo "plugin_check: unknown tag '$tag'" >&2; exit 1; }
done || fail=1

for svg in res/*.svg; do
	grep -q '<text' "$svg" && err "$svg has <text>: nanosvg ignores it, convert labels to paths"
	w=$(sed -n 's/.*<svg[^>]* width="\([0-9.]*\)mm".*/\1/p' "$svg" | head -n 1)
	h=$(sed -n 's/.*<svg[^>]* height="\([0-9.]*\)mm".*/\1/p' "$svg" | head -n 1)
	[ "$h" = "128.5" ] || err "$svg is ${h:-?} mm tall, Rack panels are 128.5 mm"
	awk -v w="${w:-0}" 'BEGIN { hp = w / 5.08; exit !(hp >= 1 && (hp - int(hp + 0.5))^2 < 1e-6) }' ||
		err "$svg is ${w:-?} mm wide, not a whole number of HP (5.08 mm)"
done
[ -f res/Bridge.svg ] && [ -f res/Bridge-dark.svg ] || err "res/Bridge.svg and res/Bridge-dark.svg are required"

[ "$fail" = 0 ] && echo "plugin_check: plugin.json matches the registered models ($created); panels OK"
exit "$fail"
