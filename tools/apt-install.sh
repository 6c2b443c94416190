#!/usr/bin/env bash
# apt-install.sh WHO PKG...: install Debian packages that a deps script found missing
# (apt-get update, then install without recommends; through sudo when not root). WHO names the
# caller in its messages. Without apt-get it prints the package names and fails.
set -euo pipefail
who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: please install: $* (Debian package names)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "$who: installing $*" >&2
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
