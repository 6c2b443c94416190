# The Teensy 2.0 firmware (firmware/, nightly Rust for avr-none) and its simavr harness
# (tests/sim/, stable Rust on the host). Included by the top Makefile.
#
#   make firmware        build/firmware/tactus-firmware.elf and .hex, with their size
#   make flash           program a Teensy 2.0 with teensy_loader_cli (press its button first)
#   make sim             run the firmware in simavr on a demo clock, print the MIDI bytes
#   make test-firmware   size budget, no panic paths linked, every simavr test case (part of
#                        `make test`)
#   make bench-firmware  timing, size and resource figures (part of `make bench`)
#
# Missing tools (Debian packages, the pinned nightly with rust-src) are installed by
# firmware/scripts/deps.sh. The firmware's cargo runs with RUSTFLAGS and RUSTUP_TOOLCHAIN
# cleared: its target CPU, linker arguments and toolchain come from firmware/.cargo/config.toml
# and firmware/rust-toolchain.toml, and an environment value would replace them.

TEST_TARGETS += test-firmware
BENCH_TARGETS += bench-firmware

FW_BUILD := build/firmware
FW_ELF := $(FW_BUILD)/tactus-firmware.elf
FW_HEX := $(FW_BUILD)/tactus-firmware.hex
FW_BUDGET := firmware/size-budget.txt
FWSIM := tests/sim/target/release/fwsim
FW_CARGO := env -u RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u RUSTUP_TOOLCHAIN -u CARGO_BUILD_TARGET cargo
FW_HOST_CARGO := env -u CARGO_BUILD_TARGET cargo
TEENSY_LOADER ?= teensy_loader_cli

.PHONY: firmware flash sim test-firmware bench-firmware firmware-deps fwsim

firmware-deps:
	@firmware/scripts/deps.sh

firmware: firmware-deps
	cd firmware && $(FW_CARGO) build --release --locked --target-dir target
	mkdir -p $(FW_BUILD)
	cp firmware/target/avr-none/release/tactus-firmware.elf $(FW_ELF)
	avr-objcopy -O ihex -R .eeprom -R .fuse -R .lock -R .signature $(FW_ELF) $(FW_HEX)
	@firmware/scripts/size-check.sh $(FW_ELF) $(FW_BUDGET) || true

flash: firmware
	@echo "Press the button on the Teensy 2.0 if the loader waits for the device."
	$(TEENSY_LOADER) --mcu=atmega32u4 -w -v $(FW_HEX)

fwsim: firmware-deps
	cd tests/sim && $(FW_HOST_CARGO) build --release --locked --target-dir target

sim: firmware fwsim
	$(FWSIM) demo $(FW_ELF)

test-firmware: firmware fwsim
	firmware/scripts/size-check.sh $(FW_ELF) $(FW_BUDGET)
	firmware/scripts/panic-check.sh $(FW_ELF)
	$(FWSIM) test $(FW_ELF)

# The host's nm demangles Rust symbols; avr-nm (binutils 2.26) does not.
FW_NM := $(shell command -v nm >/dev/null 2>&1 && echo nm || echo avr-nm)

bench-firmware: firmware fwsim
	@echo "biggest functions in flash (bytes):"
	@$(FW_NM) --size-sort -S -C $(FW_ELF) | awk '$$3 ~ /[tTwW]/' | tail -8 | \
		while read a s t n; do printf '  %6d  %s\n' 0x$$s "$$n"; done
	$(FWSIM) bench $(FW_ELF)
