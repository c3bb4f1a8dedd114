# Secura-Pi-Cam — the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all build demo test lint fmt deny unit bench clean

all: build

build:
	$(CARGO) build --workspace --bins --locked

# The whole system on a private bus with simulated hardware; Ctrl-C stops everything.
demo: build
	./target/debug/secura-demo

# What CI runs (.ci/run): format, lints, licences/sources, then every test tier that can run
# here (bus tests start the daemons as real processes, so the binaries are built first).
test: fmt lint deny build
	$(CARGO) nextest run --workspace --locked --no-fail-fast

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

deny:
	$(CARGO) deny check bans licenses sources

clean:
	$(CARGO) clean
