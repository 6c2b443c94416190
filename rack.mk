# The Rack plugin build: Rack's standard plugin.mk flow, included by the top Makefile when
# $(RACK_DIR)/plugin.mk exists (make RACK_DIR=/path/to/Rack-SDK).
#
#   make            plugin.so (.dylib/.dll) from src-cpp/ and the Rust staticlib
#   make dep        just the Rust staticlib (build/rust/<target>/release/libtactus_ffi.a)
#   make dist       dist/Tactus-<version>-<arch>.vcvplugin
#   make install    dist, then copy it into the Rack user folder's plugins directory
#   make clean      remove build/, dist/ and the plugin library (the Rust build lives in build/)

# ARCH_NAME (lin-x64, win-x64, mac-x64, mac-arm64) picks the Rust target; plugin.mk includes
# arch.mk again, which is harmless.
include $(RACK_DIR)/arch.mk

RUST_TARGET_lin-x64 := x86_64-unknown-linux-gnu
RUST_TARGET_lin-arm64 := aarch64-unknown-linux-gnu
RUST_TARGET_win-x64 := x86_64-pc-windows-gnu
RUST_TARGET_mac-x64 := x86_64-apple-darwin
RUST_TARGET_mac-arm64 := aarch64-apple-darwin
RUST_TARGET ?= $(RUST_TARGET_$(ARCH_NAME))
ifeq ($(RUST_TARGET),)
$(error No Rust target known for Rack architecture "$(ARCH_NAME)"; set RUST_TARGET)
endif

TACTUS_LIB := build/rust/$(RUST_TARGET)/release/libtactus_ffi.a
TACTUS_RUST_SRC := $(wildcard rust/core/src/*.rs rust/ffi/src/*.rs) rust/core/Cargo.toml rust/ffi/Cargo.toml Cargo.toml Cargo.lock

SOURCES += $(wildcard src-cpp/*.cpp)
FLAGS += -Irust/ffi/include
# The staticlib goes on the link line after the objects (compile.mk: OBJECTS), and is what
# `make dep` builds (dep.mk: DEPS).
OBJECTS += $(TACTUS_LIB)
DEPS += $(TACTUS_LIB)

# What Rust's std needs from the system libraries, per platform.
ifdef ARCH_LIN
	LDFLAGS += -lpthread -ldl -lm
	# Keep the staticlib's symbols (and libstdc++'s) out of plugin.so's dynamic symbol table.
	LDFLAGS += -Wl,--exclude-libs,ALL
endif
ifdef ARCH_WIN
	LDFLAGS += -lws2_32 -luserenv -lbcrypt -lntdll -ladvapi32
	# Ableton Link (network interfaces, timers); not tried on Windows here.
	LDFLAGS += -liphlpapi -lwinmm
endif
ifdef ARCH_MAC
	# Rust's oldest supported macOS; Rack builds plugins for 10.9 and up.
	export MACOSX_DEPLOYMENT_TARGET ?= 10.12
endif

DISTRIBUTABLES += res
DISTRIBUTABLES += $(wildcard LICENSE*) $(wildcard README*)

include $(RACK_DIR)/plugin.mk

# Our sources are compiled with -Werror (after the SDK's -Wall -Wextra) when RACK_WERROR=1:
# always in `make test`, and by default with the lab's SDK (../shared/rack/sdk, a known
# compiler), so `make` and `make test` there build the same objects. With another SDK the
# default is 0 (a newer compiler's new warning must not stop an install). The stamp holds the
# setting, so switching it rebuilds our objects instead of keeping ones built without it.
RACK_WERROR ?= $(if $(filter $(RACK_SHARED)/sdk,$(RACK_DIR)),1,0)
RACK_WERROR_STAMP := build/src-cpp/werror.stamp
TACTUS_OBJECTS := $(patsubst %, build/%.o, $(filter src-cpp/%, $(SOURCES)))
ifeq ($(RACK_WERROR),1)
$(TACTUS_OBJECTS): CXXFLAGS += -Werror
endif
$(TACTUS_OBJECTS): $(RACK_WERROR_STAMP)
$(RACK_WERROR_STAMP): FORCE
	@mkdir -p $(@D)
	@echo "$(RACK_WERROR)" | cmp -s - $@ || echo "$(RACK_WERROR)" > $@
.PHONY: FORCE
FORCE:

# The release profile: LTO, panic = "abort". `cargo rustc --crate-type staticlib` builds only
# the staticlib (with both crate types cargo would skip LTO). No target-cpu flags: the library
# runs on every CPU Rack supports.
#
# The plugin has Ableton Link compiled in (`--features link`, rusty_link: Link's C++ built with
# cmake, the bindings with bindgen/libclang; tools/link/deps.sh installs those when missing).
# Link stays off until a patch or the menu asks for it.
$(TACTUS_LIB): $(TACTUS_RUST_SRC)
	@tools/link/deps.sh
	$(CARGO) rustc --release --locked -p tactus-ffi --lib --features link --crate-type staticlib --target $(RUST_TARGET) --target-dir build/rust
