#!/bin/bash
# link-netns.sh RACK_SHARED OUTDIR USERDIR LINK_PEER
#
# Ableton Link in real headless Rack, never on a real network: re-executes itself inside a
# private network namespace (unshare -n; loopback up, multicast routed to it) and refuses to go
# on unless `lo` is its only interface. USERDIR must hold the installed plugin already (as after
# run-tests.sh), OUTDIR the patches from `e2e.py patches`.
#   1. link-off.vcv (a Bridge with the default settings): while Rack runs, the namespace has
#      no UDP socket: Link off means no network traffic.
#   2. link-follow.vcv (a Bridge following a session, recorded by a TactusTest Harness) while
#      LINK_PEER (rust/ffi/examples/link_peer.rs, a plain rusty_link peer) holds the session at
#      133 BPM: Link's sockets appear, BPM out and CLK 1 follow the peer's tempo
#      (`e2e.py link`), and Rack quits cleanly (Link's threads stop with the module).
set -uo pipefail
[ $# -eq 4 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=$(realpath "$1"); OUT=$(realpath "$2"); U=$(realpath "$3"); PEER=$(realpath "$4")
say() { echo "test-rack: link: $*"; }

if [ -z "${TACTUS_LINK_IN_NETNS:-}" ]; then
	for tool in unshare ip; do
		command -v "$tool" > /dev/null || { say "SKIPPED: no $tool (util-linux / iproute2)"; exit 0; }
	done
	flag=-n
	[ "$(id -u)" = 0 ] || flag=-rn
	exec env TACTUS_LINK_IN_NETNS=1 unshare $flag sh -c \
		'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"' \
		"$0" "$SHARED" "$OUT" "$U" "$PEER"
fi

ifs=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/self/net/dev | tr '\n' ' ')
[ "$ifs" = "lo " ] || { say "not in a private network namespace (interfaces: $ifs)"; exit 1; }
udp() { awk 'NR > 1' /proc/self/net/udp | wc -l; }
FAIL=0
run() { # patch, seconds; prints the most UDP sockets seen while Rack ran
	local most=0 n
	"$SHARED/run-headless.sh" "$U" "$OUT/$1.vcv" "$2" > "$OUT/$1-run.txt" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2> /dev/null; do
		n=$(udp); [ "$n" -gt "$most" ] && most=$n
		sleep 0.2
	done
	wait "$pid"; local rc=$?
	cp "$U/log.txt" "$OUT/$1-log.txt" 2> /dev/null
	"$HERE/check-log.sh" "$U/log.txt" Tactus TactusTest > /dev/null || rc=1
	echo "$most $rc"
}
read -r off rc < <(run link-off 3)
if [ "$off" = 0 ] && [ "$rc" = 0 ]; then say "Link off: no UDP socket while Rack ran: ok"; else say "Link off: $off UDP sockets (rack rc $rc): FAILED"; FAIL=1; fi
"$PEER" 133 12 > "$OUT/link-peer.txt" 2>&1 &
PEER_PID=$!
sleep 1
rm -rf "$U/tactus-test"
read -r on rc < <(run link-follow 8)
if [ "$on" -gt 0 ] && [ "$rc" = 0 ]; then say "Link follow: $on UDP sockets (Link's and the peer's), Rack ran and quit cleanly: ok"; else say "Link follow: $on UDP sockets (rack rc $rc): FAILED"; FAIL=1; fi
kill "$PEER_PID" 2> /dev/null; wait "$PEER_PID" 2> /dev/null
cp "$U/tactus-test/linkfollow.txt" "$OUT/results/" 2> /dev/null
if python3 "$HERE/e2e.py" link "$U/tactus-test/linkfollow.txt"; then say "Link follow: Bridge on the peer's tempo in Rack: ok"; else FAIL=1; fi
[ "$(udp)" = 0 ] || { say "sockets left after Rack and the peer quit"; FAIL=1; }
exit $FAIL
