#!/usr/bin/env bash
# panic-check.sh FIRMWARE.elf
# Fails when the linked firmware references anything in core::panicking (a bounds check, a
# division by zero, an assertion that the optimiser could not prove away). tactus-core is meant
# to be panic-free on any input; on the chip a panic is a watchdog reset in the middle of a song.
set -euo pipefail
elf=$1
# The host's nm demangles Rust symbols; avr-nm (binutils 2.26) does not, so match both forms.
nm=avr-nm
command -v nm >/dev/null 2>&1 && nm=nm
syms=$("$nm" -C "$elf" | grep -E 'core::panicking::|4core9panicking' || true)
if [ -n "$syms" ]; then
    echo "panic-check: $elf references core::panicking:" >&2
    echo "$syms" | sed 's/^/    /' >&2
    echo "  find the callers with: avr-objdump -d -l $elf | grep -B40 panicking" >&2
    exit 1
fi
echo "panic check: no core::panicking symbol in $elf"
