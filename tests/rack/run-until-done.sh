#!/bin/bash
# run-until-done.sh RACK_SHARED USERDIR PATCH TIMEOUT
#
# Runs headless Rack (RACK_SHARED/runtime, as RACK_SHARED/run-headless.sh does) on PATCH until
# USERDIR/tactus-test/stepper.txt appears (TactusTest's Stepper steps the engine as fast as it can
# and writes it when done) or TIMEOUT seconds pass, then presses Enter so Rack quits cleanly.
# Exit status 0 when Rack finished the patch and quit cleanly, 1 otherwise. log.txt is checked
# by the caller (rack-tests.mk), as for every Rack run.
set -uo pipefail
[ $# -eq 4 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
RUNTIME=$(realpath -e "$1/runtime") || exit 2
USERDIR=$(realpath -m "$2"); PATCH=$(realpath -e "$3") || exit 2; TIMEOUT=$4
say() { echo "run-until-done.sh: $*" >&2; }

mkdir -p "$USERDIR/plugins-lin-x64"
[ -f "$USERDIR/settings.json" ] || echo '{"autoCheckUpdates": false, "showTipsOnLaunch": false, "sampleRate": 48000, "threadCount": 1}' \
	> "$USERDIR/settings.json"
rm -f "$USERDIR/log.txt"
rm -rf "$USERDIR/tactus-test"

FIFO=$(mktemp -u "${TMPDIR:-/tmp}/rack-stdin.XXXXXX")
mkfifo -m 600 "$FIFO" || exit 2
( cd "$RUNTIME" && exec ./Rack -s "$RUNTIME" -h -u "$USERDIR" "$PATCH" ) < "$FIFO" > "$USERDIR/stdout.txt" 2>&1 &
PID=$!
trap 'kill -TERM "$PID" 2> /dev/null; rm -f "$FIFO"; exit 130' INT TERM HUP
exec 3> "$FIFO"
rm -f "$FIFO"
alive() { kill -0 "$PID" 2> /dev/null; }
T0=$(date +%s.%N)
FAIL=0
while alive && [ ! -f "$USERDIR/tactus-test/stepper.txt" ]; do
	if awk -v a="$T0" -v b="$(date +%s.%N)" -v t="$TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
		say "no stepper.txt after $TIMEOUT s"; FAIL=1; break
	fi
	sleep 0.1
done
alive || { say "Rack ended early"; FAIL=1; }
sleep 0.2  # a few real-time blocks more, so every Harness has written its file
echo >&3
for _ in $(seq 1 300); do alive || break; sleep 0.1; done
if alive; then say "Rack did not quit within 30 s after Enter: SIGKILL"; kill -KILL "$PID"; FAIL=1; fi
exec 3>&-
wait "$PID"; RC=$?
[ "$RC" = 0 ] || { say "Rack exit status $RC"; FAIL=1; }
say "Rack ran $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s wall; $(sed 's/^done //' "$USERDIR/tactus-test/stepper.txt" 2> /dev/null | tail -n 1)"
exit "$FAIL"
