# Secura-Pi-Cam — the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all build demo test lint fmt deny unit bench clean lab

all: build

build:
	$(CARGO) build --workspace --bins --locked

# The whole system on a private bus with simulated hardware; Ctrl-C stops everything.
demo: build
	./target/debug/secura-demo

# What CI runs (.ci/run): format, lints, licences/sources, the arm64 Debian package (its
# contents listed, its binaries run under qemu-user), then every test tier that can run here
# (bus tests start the daemons as real processes, so the binaries are built first).
test: fmt lint deny build
	$(MAKE) deb-check DEB_PROFILE=deb-check
	$(CARGO) nextest run --workspace --locked --no-fail-fast

# The lab (README, "Lab"): the arm64 package installed with apt on Debian 12 in a qemu guest,
# under a real systemd and system bus, with kernel Wi-Fi radios and a V4L2 camera; prints
# `N passed, M failed`. Root; the image is cached under /var/cache/secura-lab.
lab:
	./lab/run

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

deny:
	$(CARGO) deny check bans licenses sources

clean:
	$(CARGO) clean

# Fuzzing (`cargo install cargo-fuzz --locked`; RUSTC_BOOTSTRAP=1 lets it use its nightly
# flags on the stable toolchain): every target in turn, one at a time, for FUZZ_SECONDS each,
# seeded from its committed corpus (<crate>/fuzz/corpus/; inputs found go to
# target/fuzz/corpus/, crashes to <crate>/fuzz/artifacts/). Built without a sanitizer (the
# fuzzed code is safe Rust; the executions count) but with debug assertions and overflow
# checks. Each target's libFuzzer output is in target/fuzz/<target>.log; the figures are
# printed at the end. Fails when a target crashes.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS = sniffer/dot11_radiotap sniffer/ether_arp botd/telegram_updates \
	botd/outbox_entry bus/config_file mqttd/mqtt_command
.PHONY: fuzz
fuzz:
	@mkdir -p target/fuzz
	@failed=; for t in $(FUZZ_TARGETS); do \
	  crate=$${t%%/*}; name=$${t#*/}; log=target/fuzz/$$name.log; \
	  mkdir -p target/fuzz/corpus/$$name; \
	  echo "fuzz: $$crate $$name for $(FUZZ_SECONDS) s"; \
	  if ( cd $$crate && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer none --release \
	        --debug-assertions --target-dir $(CURDIR)/target/fuzz $$name \
	        $(CURDIR)/target/fuzz/corpus/$$name fuzz/corpus/$$name -- \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 ) > $$log 2>&1; then \
	    echo "  $$(grep -E '^stat::number_of_executed_units' $$log)"; \
	    echo "  $$(grep -E '^stat::average_exec_per_sec' $$log)"; \
	  else \
	    tail -30 $$log; echo "fuzz: $$name FAILED (see $$log and $$crate/fuzz/artifacts/)"; \
	    failed="$$failed $$name"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

# Benchmarks with figures: the release daemons and secura-bench, the arm64 package for the
# install size (`BENCH_DEB=0` skips it), then the table (min/median/p99/max, the machine) on
# stdout and in target/bench/results.md. Root adds the presence latency (network namespaces).
BENCH_DEB ?= 1
bench:
	$(CARGO) build --release --locked -p secura-bench $(addprefix -p ,$(DAEMONS))
	@if [ "$(BENCH_DEB)" = 1 ]; then $(MAKE) deb || echo "make deb failed: install size without the package"; fi
	./target/release/secura-bench --out target/bench/results.md

# Debian packages with cargo-deb: arm64 for Raspberry Pi OS Bookworm (64-bit), or amd64.
# Needs: rustup target add aarch64-unknown-linux-gnu; apt-get install gcc-aarch64-linux-gnu
# libpcap-dev:arm64 (after dpkg --add-architecture arm64); cargo install cargo-deb.
DEB_TARGET ?= aarch64-unknown-linux-gnu
DEB_PROFILE ?= release
DAEMONS = secura-alarmd secura-sniffer secura-sensord secura-camd secura-botd secura-mqttd

.PHONY: deb deb-amd64 deb-check
deb:
	PKG_CONFIG_PATH=/usr/lib/$(subst -unknown,,$(DEB_TARGET))/pkgconfig \
	LIBPCAP_LIBDIR=/usr/lib/$(subst -unknown,,$(DEB_TARGET)) \
	  $(CARGO) build --profile $(DEB_PROFILE) --locked --target $(DEB_TARGET) $(addprefix -p ,$(DAEMONS))
	$(CARGO) deb -p secura-alarmd --no-build --profile $(DEB_PROFILE) --target $(DEB_TARGET) \
	  --output target/debian/
	@ls -l target/debian/*.deb

deb-amd64:
	$(MAKE) deb DEB_TARGET=x86_64-unknown-linux-gnu

# The arm64 package's contents, and its binaries run under qemu-user (`make test` builds it
# with the deb-check profile, which skips LTO to save CI minutes).
deb-check: deb
	./packaging/check-deb.sh $(DEB_TARGET) $(DEB_PROFILE)
