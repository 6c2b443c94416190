# C ABI tests of the Rack plugin's Rust core (rust/ffi): a C++11 program compiled against the
# committed header only, linked with the release staticlib, driven sample by sample.
# Included by the top Makefile; needs no Rack SDK.
#
#   make test-abi     build + run tests/abi (part of `make test`)
#   make test-plugin  plugin.json vs the models in src-cpp, panel checks (part of `make test`)
#   make bench-abi    per-sample cost through the ABI (part of `make bench`)
#   make header       regenerate rust/ffi/include/tactus.h with cbindgen

TEST_TARGETS += test-abi test-plugin
BENCH_TARGETS += bench-abi

ABI_CXX ?= c++
ABI_CC ?= cc
# Test objects stay out of build/, which holds only the plugin's objects.
ABI_BUILD := target/abi
ABI_RUST_DIR := build/rust
ABI_LIB := $(ABI_RUST_DIR)/release/libtactus_ffi.a
ABI_HEADER := rust/ffi/include/tactus.h
ABI_WARN := -Wall -Wextra -Werror
ABI_LIBS := -lpthread -ldl -lm
ABI_RUST_SRC := $(wildcard rust/core/src/*.rs rust/ffi/src/*.rs) rust/core/Cargo.toml rust/ffi/Cargo.toml Cargo.toml Cargo.lock

.PHONY: test-abi test-plugin bench-abi header

# The staticlib alone, so the release profile's LTO and panic = "abort" apply.
$(ABI_LIB): $(ABI_RUST_SRC)
	$(CARGO) rustc --release --locked -p tactus-ffi --lib --crate-type staticlib --target-dir $(ABI_RUST_DIR)

$(ABI_BUILD)/c_compat.o: tests/abi/c_compat.c $(ABI_HEADER)
	@mkdir -p $(@D)
	$(ABI_CC) -std=c99 -pedantic $(ABI_WARN) -O2 -Irust/ffi/include -c -o $@ $<

$(ABI_BUILD)/abi_test: tests/abi/abi_test.cpp $(ABI_BUILD)/c_compat.o $(ABI_LIB) $(ABI_HEADER)
	@mkdir -p $(@D)
	$(ABI_CXX) -std=c++11 -pedantic $(ABI_WARN) -O2 -Irust/ffi/include -o $@ $< $(ABI_BUILD)/c_compat.o $(ABI_LIB) $(ABI_LIBS)

test-abi: $(ABI_BUILD)/abi_test
	$(ABI_BUILD)/abi_test

test-plugin:
	sh tests/abi/plugin_check.sh

bench-abi: $(ABI_BUILD)/abi_test
	@mkdir -p build/bench
	$(ABI_BUILD)/abi_test --bench | tee build/bench/abi.txt

header:
	TACTUS_BLESS=1 $(CARGO) test --locked -p tactus-ffi --test header
