# halfhour — the two commands a fresh machine needs are `make test` (and, with the demo,
# `make demo`). Each installs what it needs by itself.
SHELL := /bin/bash
# Build outputs live outside the clone so CI can keep them between runs.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/halfhour/target

.PHONY: test demo emulator lint bench build iam-mutations

## Build everything, lint it, and run every test against the embedded AWS emulator.
test:
	scripts/test.sh

## The whole story on the real binaries (cargo lambda watch) against the AWS emulator; report in out/demo/.
demo:
	scripts/demo.sh

## Start the AWS emulator alone on 127.0.0.1:$PORT (default 5000), e.g. for the AWS CLI.
emulator:
	"$$(scripts/emulator-venv.sh)" tests/emulator/halfhour_emulator.py --host 127.0.0.1 --port $${PORT:-5000}

## Formatting and clippy only.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## sam build for the functions' architecture (ARCH=arm64, the template's default, or x86_64); checks this machine can.
build:
	scripts/build.sh

## Release-build every function and measure it against a hello-world floor; writes BENCHMARKS.md.
bench:
	"$$(scripts/emulator-venv.sh)" bench/run.py

## Take each IAM grant from its function's role in turn and run the tests that need it; one must fail (RELIABILITY.md's table).
iam-mutations:
	cargo nextest run --workspace --no-run
	"$$(scripts/emulator-venv.sh)" scripts/iam_mutations.py --write RELIABILITY.md
