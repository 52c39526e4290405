# SPDX-License-Identifier: LGPL-2.1-or-later
# The two set-up commands of the README:
#   make run     build, then run a container from a busybox bundle and show it working
#   make check   build with -Werror, unit tests and integration tests, each also
#                against an ASan/UBSan build
# Both install what they need with apt-get (Debian 12) and are idempotent.

BUILD      ?= build
BUILD_ASAN ?= build-asan
PYTHON     ?= /usr/bin/python3
DEPS = gcc libc6-dev pkg-config meson ninja-build libjansson-dev libseccomp-dev libcmocka-dev \
       scdoc busybox-static python3-pytest iproute2 procps time crun runc \
       clang libclang-rt-14-dev podman containerd \
       libsqlite3-dev libarchive-dev libmicrohttpd-dev libwslay-dev libcap-dev libmnl-dev \
       libnftables-dev sqlite3 debootstrap zstd xz-utils python3-yaml btrfs-progs e2fsprogs dnsmasq-base iperf3

.PHONY: all deps build run run-runtime check unit unit-asan integration integration-asan system system-asan fuzz bench clean

all: build

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@tools/run.sh $(BUILD)

# the OCI runtime alone: a container from a busybox bundle
run-runtime: build
	@tools/demo-runtime.sh $(BUILD)

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) --buildtype=debug -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dstatic_runtime=false

unit-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD_ASAN) --suite unit --print-errorlogs

integration: build
	CELLA_RUNTIME=$(CURDIR)/$(BUILD)/cella-runtime $(PYTHON) -m pytest -q tests --ignore=tests/system

# The same suite against the ASan/UBSan build of cella-runtime: memory errors
# and leaks of the engine and the front end fail it.
integration-asan: unit-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		CELLA_RUNTIME=$(CURDIR)/$(BUILD_ASAN)/cella-runtime $(PYTHON) -m pytest -q tests --ignore=tests/system

# cellad, cella and cella-monitor together: VPS lifecycle, API, CLI, images.
system: build
	CELLA_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q tests/system

# the same against the ASan/UBSan builds of cellad, cella and cella-monitor
system-asan: unit-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		CELLA_BUILD=$(CURDIR)/$(BUILD_ASAN) $(PYTHON) -m pytest -q tests/system

# libFuzzer on what users hand us (config.json; instance config keys and devices):
# FUZZ_RUNS inputs per target in `check`, more by hand
# (make fuzz FUZZ_RUNS=-1 runs until stopped).
FUZZ_RUNS ?= 30000
FUZZ_CC = clang -g -O1 -std=gnu11 -D_GNU_SOURCE -DCELLA_VERSION='"fuzz"' -Iinclude -Ilib \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBS = $$(pkg-config --cflags --libs jansson sqlite3 libarchive libmnl libnftables) \
	$$(pkg-config --exists libseccomp && pkg-config --libs libseccomp) -lpthread

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard lib/*.c lib/*.h include/cella/*.h) | build
	$(FUZZ_CC) $< $(wildcard lib/*.c) $(FUZZ_LIBS) -o $@

# config.json of the runtime; instance config and devices of the API
fuzz: $(BUILD)/fuzz_oci $(BUILD)/fuzz_config
	mkdir -p $(BUILD)/fuzz-corpus $(BUILD)/fuzz-corpus-config
	$(BUILD)/cella-runtime spec --bundle $(BUILD)/fuzz-corpus >/dev/null 2>&1 || true
	$(BUILD)/fuzz_oci -runs=$(FUZZ_RUNS) -max_len=65536 -timeout=10 \
		$(BUILD)/fuzz-corpus tests/fuzz/corpus
	$(BUILD)/fuzz_config -runs=$(FUZZ_RUNS) -max_len=16384 -timeout=10 \
		$(BUILD)/fuzz-corpus-config tests/fuzz/corpus-config

check: unit unit-asan integration integration-asan system system-asan fuzz

bench: build
	bench/runtime.sh

.PHONY: bench-vps bench-net
bench-vps: build
	bench/vps.sh

# iperf3 VPS to VPS through cellabr0 vs a hand-made veth/bridge pair vs loopback
bench-net: build
	bench/network.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
