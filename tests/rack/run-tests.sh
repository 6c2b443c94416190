#!/bin/bash
# run-tests.sh RACK_SHARED OUTDIR USERDIR TACTUS.vcvplugin TACTUSTEST.vcvplugin LINK_PEER
#
# The Rack part of `make test` after both plugins are built (tests/rack/rack-tests.mk):
#   1. install both packages into a fresh USERDIR (Rack unpacks them at start);
#   2. load: a patch with two Bridges (MIDI clock from one to the other through Rack's
#      Loopback driver) runs 3 s in real-time headless Rack (RACK_SHARED/run-headless.sh);
#   3. e2e: TactusTest's Harness modules drive Bridges and record them (e2e.vcv), then the sample
#      rate scenario (srate.vcv); tests/rack/e2e.py judges the records;
#   4. Link (link-netns.sh, in a private network namespace): Link off opens no socket; a Bridge
#      follows LINK_PEER (a plain Link peer, rust/ffi/examples/link_peer.rs) and quits cleanly;
#   5. screenshots: Rack's screenshot mode, light and dark; Bridge with module == NULL
#      (Tactus/Bridge.png) and with a running module (TactusTest/BridgeLive.png) must be
#      270x380, not blank, and differ from each other.
# Every Rack run's log.txt must be free of warnings (tests/rack/check-log.sh). Patches, logs and
# results go to OUTDIR, PNGs stay in USERDIR/screenshots{,-dark}/.
set -uo pipefail
[ $# -eq 6 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
SHARED=$1; OUT=$2; U=$3; PKG=$4; TESTPKG=$5; LINK_PEER=$6
HERE=$(cd "$(dirname "$0")" && pwd)
say() { echo "test-rack: $*"; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
FAIL=0
step() { # name, then the command
	local name=$1 t0; shift
	t0=$(now)
	if "$@"; then say "$name: ok ($(took "$t0"))"; else say "$name: FAILED ($(took "$t0"))"; FAIL=1; fi
}
keeplog() { cp "$U/log.txt" "$OUT/$1-log.txt" 2> /dev/null; cp "$U/stdout.txt" "$OUT/$1-stdout.txt" 2> /dev/null; true; }

rm -rf "$U" "$OUT"
mkdir -p "$U/plugins-lin-x64" "$OUT/results"
cp "$PKG" "$TESTPKG" "$U/plugins-lin-x64/" || exit 1
python3 "$HERE/e2e.py" patches "$OUT" || exit 1

load() {
	"$SHARED/run-headless.sh" "$U" "$OUT/load.vcv" 3; local rc=$?
	keeplog load
	"$HERE/check-log.sh" "$U/log.txt" Tactus TactusTest && grep -q "Creating module Tactus Bridge" "$U/log.txt" && [ $rc = 0 ]
}
e2e_run() { # patch name
	"$HERE/run-until-done.sh" "$SHARED" "$U" "$OUT/$1.vcv" 120; local rc=$?
	keeplog "$1"
	cp "$U"/tactus-test/*.txt "$OUT/results/" 2> /dev/null
	"$HERE/check-log.sh" "$U/log.txt" Tactus TactusTest && [ $rc = 0 ]
}
shots() { # theme
	"$SHARED/screenshot.sh" "$U" 1 "$1"; local rc=$?
	keeplog "screenshot-$1"
	local dir=$U/screenshots; [ "$1" = dark ] && dir=$U/screenshots-dark
	"$HERE/check-log.sh" "$U/log.txt" Tactus TactusTest && [ $rc = 0 ] &&
		python3 "$HERE/png_check.py" 270 380 "$dir/Tactus/Bridge.png" "$dir/TactusTest/BridgeLive.png" &&
		python3 "$HERE/png_check.py" --differ "$dir/Tactus/Bridge.png" "$dir/TactusTest/BridgeLive.png"
}

step "load (Bridge patch, 3 s real time, log clean)" load
step "e2e Rack run (e2e.vcv)" e2e_run e2e
step "e2e Rack run (srate.vcv)" e2e_run srate
step "e2e checks" python3 "$HERE/e2e.py" check "$OUT/results"
step "link in a private network namespace (off: no socket; follow a peer: tempo, clean quit)" "$HERE/link-netns.sh" "$SHARED" "$OUT" "$U" "$LINK_PEER"
step "screenshots light" shots light
step "screenshots dark" shots dark
exit $FAIL
