#!/usr/bin/env bash
# Installs what `make firmware` and `make test-firmware` need, and only what is missing:
#   - Debian packages: gcc-avr avr-libc binutils-avr (the linker, avr-objcopy, avr-size), simavr
#     and libsimavr-dev libelf-dev pkg-config (the simulator library the tests link against);
#   - the nightly Rust toolchain pinned in firmware/rust-toolchain.toml, with rust-src (the
#     firmware builds `core` itself for avr-none).
# Never runs `rustup update` and never touches the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="gcc-avr avr-libc binutils-avr simavr libsimavr-dev libelf-dev pkg-config"
need_apt=0
for tool in avr-gcc avr-objcopy avr-size simavr pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || need_apt=1
done
if command -v dpkg >/dev/null 2>&1; then
    for pkg in avr-libc libsimavr-dev libelf-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
    done
elif ! pkg-config --exists simavr 2>/dev/null; then
    need_apt=1
fi
if [ "$need_apt" = 1 ]; then
    # shellcheck disable=SC2086
    ../tools/apt-install.sh "deps.sh" $PKGS
fi

channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if [ -z "$channel" ]; then
    echo "deps.sh: no channel in firmware/rust-toolchain.toml" >&2
    exit 1
fi
if ! command -v rustup >/dev/null 2>&1; then
    echo "deps.sh: rustup is needed (https://rustup.rs) for the pinned $channel toolchain" >&2
    exit 1
fi
if ! rustup toolchain list | grep -q "^$channel"; then
    echo "deps.sh: installing Rust $channel with rust-src" >&2
    rustup toolchain install "$channel" --profile minimal --component rust-src
elif ! rustup component list --toolchain "$channel" --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain "$channel"
fi
