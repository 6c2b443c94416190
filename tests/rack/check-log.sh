#!/bin/sh
# check-log.sh LOG [SLUG...]: a Rack log.txt is clean: every SLUG was loaded and Rack logged no
# warning or fatal line apart from the container's expected "Could not create RtMidiDriver"
# (no ALSA sequencer). Prints the offending lines and exits 1 otherwise.
set -u
log=$1; shift
[ -f "$log" ] || { echo "check-log.sh: no $log" >&2; exit 1; }
fail=0
for slug in "$@"; do
	grep -q "loadPlugin\] Loaded $slug " "$log" || { echo "check-log.sh: $slug was not loaded ($log)" >&2; fail=1; }
done
bad=$(grep -E '^\[[0-9.]+ (warn|fatal) ' "$log" | grep -v 'Could not create RtMidiDriver')
if [ -n "$bad" ]; then
	echo "check-log.sh: $log has warnings or errors:" >&2
	echo "$bad" | head -20 >&2
	fail=1
fi
grep -q "Destroying logger" "$log" || { echo "check-log.sh: $log does not end with a clean shutdown" >&2; fail=1; }
exit $fail
