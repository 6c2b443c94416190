#!/bin/sh
# panel-deps.sh: makes sure tools/panels/bridge_panel.py can run: fontTools (for the python3 on
# PATH or Debian's /usr/bin/python3) and DejaVu Sans Condensed Bold. On Debian it installs what is
# missing (python3-fonttools, fonts-dejavu-core) as root or through sudo; prints nothing when all
# is there.
set -eu
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf
has_fonttools() { python3 -c 'import fontTools' 2> /dev/null || /usr/bin/python3 -c 'import fontTools' 2> /dev/null; }
has_fonttools && [ -f "$FONT" ] && exit 0
if ! command -v apt-get > /dev/null; then
	echo "panel-deps.sh: need fontTools (pip install fonttools) and $FONT (DejaVu fonts)" >&2
	exit 1
fi
missing=""
has_fonttools || missing="python3-fonttools"
[ -f "$FONT" ] || missing="$missing fonts-dejavu-core"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "panel-deps.sh: installing $missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > /dev/null
