#!/usr/bin/env bash
# size-check.sh FIRMWARE.elf BUDGET_FILE [--report]
# Flash = .text + .data (the initial values of .data live in flash), static RAM = .data + .bss
# + .noinit, from `avr-size -A`. Fails when either is above the committed budget.
set -euo pipefail
elf=$1
budget=$2
read -r flash ram < <(avr-size -A "$elf" | awk '
    $1 == ".text" { text = $2 } $1 == ".data" { data = $2 }
    $1 == ".bss" { bss = $2 } $1 == ".noinit" { noinit = $2 }
    END { print text + data, data + bss + noinit }')
flash_budget=$(awk '$1 == "flash_bytes" { print $2 }' "$budget")
ram_budget=$(awk '$1 == "ram_bytes" { print $2 }' "$budget")
printf 'firmware size: flash %d B (budget %d B, ATmega32U4 %d B usable with the Teensy bootloader), static RAM %d B (budget %d B of 2560 B)\n' \
    "$flash" "$flash_budget" 32256 "$ram" "$ram_budget"
if [ "$flash" -gt "$flash_budget" ] || [ "$ram" -gt "$ram_budget" ]; then
    echo "size-check: over the budget in $budget" >&2
    echo "  biggest symbols:" >&2
    nm=avr-nm
    command -v nm >/dev/null 2>&1 && nm=nm # the host's nm demangles Rust symbols
    "$nm" --size-sort -S -C "$elf" | tail -12 | sed 's/^/    /' >&2
    exit 1
fi
