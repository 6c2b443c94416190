# The Rack part of `make test` (included by the top Makefile): the plugin built against a real
# Rack 2 SDK with our warnings as errors, then loaded, tested end to end and screenshotted in
# real, headless Rack 2.4.1 (the lab's ../shared/rack: sdk/ + runtime/). See DEVELOPERS.md.
#
#   make test-rack    all of it (part of `make test`); installs Rack's Debian packages first
#                     (../shared/rack/deps.sh, only what is missing)
#   make test-panel   tools/panels/bridge_panel.py --check (part of `make test`; no SDK needed)
#
# Without an SDK (no ../shared/rack/sdk, no RACK_DIR=...) it is skipped with one line; with an
# SDK but without ../shared/rack/runtime only the build is checked.

TEST_TARGETS += test-panel test-rack

RACK_TEST_OUT := build/rack-tests
RACK_TEST_USER := build/rack-user
RACK_TEST_PLUGIN := tests/rack

.PHONY: test-panel test-rack test-rack-run test-rack-plugin test-rack-clean

# The panels and src-cpp's layout block are what tools/panels/bridge_panel.py generates (needs
# fontTools and the DejaVu fonts: installed when missing; Debian's fontTools is only visible to
# Debian's python3, which is used when the python3 on PATH lacks it).
test-panel:
	@tests/rack/panel-deps.sh
	@py=python3; $$py -c 'import fontTools' 2> /dev/null || py=/usr/bin/python3; \
		$$py tools/panels/bridge_panel.py --check && echo "test-panel: res/*.svg and the layout in src-cpp/Bridge.cpp are up to date"

ifeq ($(wildcard $(RACK_DIR)/plugin.mk),)
test-rack:
	@echo "test-rack: SKIPPED: no Rack SDK at RACK_DIR=$(RACK_DIR) (put the lab's rack/ at $(RACK_SHARED) or run make test RACK_DIR=path/to/Rack-SDK)"
else
# deps.sh first (g++, jq, zstd, Rack's libraries, Xvfb); then a sub-make, which parses plugin.mk
# with jq present and builds with RACK_WERROR=1.
test-rack:
	@if [ -x $(RACK_SHARED)/deps.sh ]; then $(RACK_SHARED)/deps.sh; fi
	@$(MAKE) --no-print-directory test-rack-run RACK_WERROR=1 RACK_DIR=$(RACK_DIR)

# `make clean` (plugin.mk) also removes the test plugin's build.
clean: test-rack-clean
test-rack-clean:
	$(MAKE) --no-print-directory -C $(RACK_TEST_PLUGIN) RACK_DIR=$(abspath $(RACK_DIR)) clean

test-rack-plugin:
	$(MAKE) --no-print-directory -C $(RACK_TEST_PLUGIN) RACK_DIR=$(abspath $(RACK_DIR)) dist

# A plain Ableton Link peer for link-netns.sh (private network namespace only), built beside the
# plugin's staticlib (RUST_TARGET comes from rack.mk, read after this file: recipe-time only).
RACK_TEST_LINK_PEER = build/rust/$(RUST_TARGET)/release/examples/link_peer

test-rack-run: dist test-rack-plugin
	$(CARGO) build --release --locked -p tactus-ffi --features link --example link_peer --target $(RUST_TARGET) --target-dir build/rust
	@echo "test-rack: Tactus and TactusTest built against $(RACK_DIR) (src-cpp and tests/rack with -Werror)"
	@if [ -x $(RACK_SHARED)/runtime/Rack ]; then \
		tests/rack/run-tests.sh $(RACK_SHARED) $(RACK_TEST_OUT) $(RACK_TEST_USER) \
			dist/*.vcvplugin $(RACK_TEST_PLUGIN)/dist/*.vcvplugin $(RACK_TEST_LINK_PEER); \
	else \
		echo "test-rack: no Rack runtime at $(RACK_SHARED)/runtime: headless load, e2e tests and screenshots SKIPPED"; \
	fi
endif
