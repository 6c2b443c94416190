# Ableton Link (tactus-ffi's `link` feature): lint, docs and tests with Link compiled in.
# Included by the top Makefile; needs no Rack SDK. tools/link/deps.sh installs cmake and
# libclang-dev (rusty_link builds Link with cmake and its bindings with bindgen) and the tools
# for the tests' private network namespace (unshare, ip) when missing.
#
#   make test-link    clippy + cargo doc + cargo test with --features link (part of `make test`);
#                     the two-peer test runs inside a network namespace it creates itself
#   make bench-link   phase error and per-sample cost with Link on and off (part of `make bench`)

TEST_TARGETS += test-link
BENCH_TARGETS += bench-link

.PHONY: link-deps test-link bench-link

link-deps:
	@tools/link/deps.sh

test-link: link-deps
	$(CARGO) clippy -p tactus-ffi --all-targets --locked --features link -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --locked -p tactus-ffi --features link
	$(CARGO) test -p tactus-ffi --locked --features link

bench-link: link-deps
	@mkdir -p build/bench
	TACTUS_LINK_BENCH=1 $(CARGO) test --release -p tactus-ffi --locked --features link --test link -- --nocapture > build/bench/link.log 2>&1 || { cat build/bench/link.log; false; }
	@grep '^link' build/bench/link.log | tee build/bench/link.txt
