# Tactus: a VCV Rack 2 plugin and a Teensy 2.0 firmware over one Rust clock core.
#
#   make test        everything CI checks (fmt, clippy, cargo test, cargo doc, header drift, C++ ABI tests,
#                    Ableton Link tests in a private network namespace, firmware build + simavr
#                    tests, the Rack plugin built, loaded and tested in headless Rack); installs
#                    missing tools itself
#   make bench       criterion per-sample cost + the scenario report (build/bench/)
#   make             the Rack plugin (needs a Rack 2 SDK: ../shared/rack/sdk or RACK_DIR=...)
#   make firmware    the Teensy 2.0 firmware (.elf/.hex in build/firmware/)
#   make flash       flash it with teensy_loader_cli
#   make sim         run the firmware in simavr on a demo clock

# The Rack 2 SDK: RACK_DIR=... on the command line, else the lab's ../shared/rack/sdk when it
# exists beside the checkout, else Rack's own convention (the plugin inside Rack's plugins/).
RACK_SHARED ?= ../shared/rack
ifneq ($(wildcard $(RACK_SHARED)/sdk/plugin.mk),)
RACK_DIR ?= $(RACK_SHARED)/sdk
else
RACK_DIR ?= ../..
endif
CARGO ?= cargo

# Each part adds its targets to these lists from its own makefile fragment.
TEST_TARGETS := test-rust
BENCH_TARGETS := bench-rust

.DEFAULT_GOAL := all

-include tests/abi.mk
-include tests/link.mk
-include firmware/firmware.mk
-include tests/rack/rack-tests.mk

# ---- Rust workspace ----------------------------------------------------------------------------
.PHONY: test bench test-rust bench-rust
test-rust:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --locked -p tactus-core -p tactus-ffi

bench-rust:
	$(CARGO) bench --locked -p tactus-scenarios --bench per_sample
	$(CARGO) run --release --locked -p tactus-scenarios --bin scenario-report

test: $(TEST_TARGETS)
	@echo "make test: all checks passed"

bench: $(BENCH_TARGETS)

# ---- Rack plugin -------------------------------------------------------------------------------
# The SDK's plugin.mk reads plugin.json with jq while this makefile is parsed, so without jq
# (a fresh machine, before `make test` has installed it) rack.mk is left out.
ifneq ($(wildcard $(RACK_DIR)/plugin.mk),)
ifneq ($(shell command -v jq),)
include rack.mk
else
.PHONY: all
all:
	@echo "jq not found: the Rack SDK's plugin.mk needs it (apt-get install jq zstd)." >&2
	@false
endif
else
.PHONY: all
all:
	@echo "Rack SDK not found at RACK_DIR=$(RACK_DIR): set RACK_DIR to build the plugin." >&2
	@echo "make test / make bench / make firmware work without it." >&2
	@false
endif
