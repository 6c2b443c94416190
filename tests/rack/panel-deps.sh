#!/bin/sh
# panel-deps.sh: installs what tools/panels/bridge_panel.py needs when it is missing (Debian:
# python3-fonttools, fonts-dejavu-core), as root or through sudo; prints nothing when all is there.
set -eu
missing=""
for p in python3-fonttools fonts-dejavu-core; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2> /dev/null)" = "ii " ] || missing="$missing $p"
done
# fontTools from pip is as good as Debian's.
python3 -c 'import fontTools' 2> /dev/null && missing=$(echo "$missing" | sed 's/python3-fonttools//')
[ -n "$(echo "$missing" | tr -d ' ')" ] || exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "panel-deps.sh: installing$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > /dev/null
