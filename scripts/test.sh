#!/usr/bin/env bash
# The test command (`make test`): installs the venvs (emulator; SAM CLI, cfn-lint, checkov,
# cargo-lambda, parliament), proves the template (cfn-lint, sam validate --lint, checkov,
# parliament, sam build, sam package), checks formatting and lints, runs every unit and
# integration test (each function held to its role by the emulator's IAM), then the IAM proof
# over the AWS calls those tests made. Needs only the Rust toolchain and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/halfhour/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One build for everything below: on an x86_64 Linux machine (CI), `sam build` (cargo lambda,
# x86_64), the tests and the demo compile for the same target with the same compiler, so each
# dependency is compiled once, not once for the functions and again for the tests (clippy's
# check-only units are its own either way).
# Deployable builds (`make build`, `sam build` on a workstation) keep cargo-lambda's Zig linker,
# which links against Lambda's glibc.
if [ "$(rustc -vV | sed -n 's/^host: //p')" = x86_64-unknown-linux-gnu ]; then
  export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu CARGO_LAMBDA_COMPILER=cargo
fi

# Clippy lints the workspace's crates as they compile (what `cargo clippy` does, as rustc's
# workspace wrapper): the build, `sam build`, the tests and the demo share one compile of every
# dependency instead of clippy checking each again in its own target dir, which on two cores
# took a third of a cold run's build. Every warning, rustc's or clippy's, fails the build.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
test -x "$clippy_driver" || { echo "clippy is not installed: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step() { printf '\n==> %s (%ss in)\n' "$*" "$SECONDS"; }
# Every unit and integration test: with cargo nextest when present, else cargo test.
if cargo nextest --version >/dev/null 2>&1; then
  run_tests() { cargo nextest run --workspace "$@"; }
else
  run_tests() { cargo test --workspace "$@"; }
fi

# A cold run is bound by compiling: the build starts first, in the background, and the installs
# and checks that need no build run beside it. The build (every binary, then every test target:
# the units `sam build`, the tests and the demo use; clippy lints them as they compile) logs to
# a file and is waited for where its result is needed.
logs=$(mktemp -d)
# On any exit, also a failure, nothing started here keeps running.
cleanup() {
  for job in $(jobs -p); do pkill -P "$job" 2>/dev/null || true; kill "$job" 2>/dev/null || true; done
  rm -rf "$logs" "${HALFHOUR_REQUEST_LOG:-}"
}
trap cleanup EXIT
wait_for() { # wait_for <name> <pid>: print the background step's log; its failure fails the run
  local ok=true
  wait "$2" || ok=false
  cat "$logs/$1.log"
  $ok || { echo "$1 failed (above)" >&2; exit 1; }
}

step "build (clippy linting the workspace's crates), beside the steps below (its output follows where it is needed)"
(
  step "cargo build: every function, then every test target"
  cargo build --workspace --bins
  run_tests --no-run
) >"$logs/build.log" 2>&1 &
build=$!
(
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "no Lambda compiles the test kit (halfhour's test-util feature is for dev-dependencies only)"
  for fn in functions/*/; do
    if cargo tree --quiet -p "$(basename "$fn")" -e normal,features -i halfhour | grep -q 'feature "test-util"'; then
      echo "$(basename "$fn")'s Lambda build enables halfhour/test-util" >&2
      exit 1
    fi
  done
) >"$logs/fmt.log" 2>&1 &
fmt=$!

step "venvs (moto server + halfhour extension; SAM CLI, cfn-lint, checkov, cargo-lambda)"
HALFHOUR_PYTHON=$(scripts/emulator-venv.sh)
export HALFHOUR_PYTHON
"$HALFHOUR_PYTHON" -c 'import sys; sys.path.insert(0, "tests/emulator"); import halfhour_emulator; halfhour_emulator.install()'
tools=$(dirname "$(scripts/tools-venv.sh)")
export PATH="$tools:$PATH" SAM_CLI_TELEMETRY=0

# The template checks are single-threaded Python: they run beside the build, which leaves a core
# idle through long single-crate stretches, and report once it is done.
step "template checks, beside the build (their output follows sam package)"
(
  step "cfn-lint template.yaml"
  cfn-lint template.yaml

  step "sam validate --lint"
  sam validate --lint --region us-east-1

  step "checkov (every skip carries its reason in the resource's Metadata)"
  checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

  step "every loop switch, observe mode and both cluster modes: cfn-lint, checkov, sam validate"
  "$tools/python" scripts/template_variants.py template.yaml

  step "parliament over every function's policy, resolved for both cluster modes (each finding justified in the function's Metadata.PolicyLint)"
  "$tools/python" scripts/policy_lint.py template.yaml

  step "EventBridge wiring: every shipped event reaches its loop's function through the template's rules, none two (moto's pattern matching; each rule miswired in turn must fail)"
  "$HALFHOUR_PYTHON" scripts/wiring_check.py template.yaml --self-test
) >"$logs/templates.log" 2>&1 &
templates=$!

step "the build (started first)"
wait_for build "$build"

# sam build reuses the build above (it only packs each binary) and sam package talks to its own
# emulator: mostly waiting, so they run beside the tests, before the request log below exists.
(
  step "sam build (every function through cargo-lambda; x86_64, debug profile: CI proves the build, make bench measures release)"
  sam_build="$CARGO_TARGET_DIR/sam-build"
  SAM_BUILD_MODE=debug sam build --parameter-overrides Architecture=x86_64 \
    --build-dir "$sam_build/build" --cache-dir "$sam_build/cache"
  for function in $(grep -oP '^  \K[A-Za-z]+Function(?=:)' template.yaml); do
    test -x "$sam_build/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
  done

  step "sam package into the AWS emulator's S3, never AWS (what a nesting template deploys: code, licence, README; cfn-lint)"
  "$tools/python" scripts/package_check.py "$sam_build/build/template.yaml"
) >"$logs/sam.log" 2>&1 &
sam=$!

step "template checks (run beside the build)"
wait_for templates "$templates"

step "fmt and the test kit's feature (run beside the build)"
wait_for fmt "$fmt"

step "tests"
# Every emulator of the run also appends its requests here, for the IAM proof below.
HALFHOUR_REQUEST_LOG=$(mktemp)
export HALFHOUR_REQUEST_LOG
# One warmed emulator process forks a fresh emulator for each test process (tests/src/emulator.rs),
# instead of each test starting Python and moto again (~3 s of CPU each, most of the suite's).
HALFHOUR_EMULATOR_ZYGOTE="$logs/emulator.sock"
export HALFHOUR_EMULATOR_ZYGOTE
"$HALFHOUR_PYTHON" tests/emulator/halfhour_emulator.py --zygote "$HALFHOUR_EMULATOR_ZYGOTE" --exit-with-parent \
  >"$logs/zygote.log" 2>&1 &
for _ in $(seq 600); do [ -S "$HALFHOUR_EMULATOR_ZYGOTE" ] && break; sleep 0.1; done
[ -S "$HALFHOUR_EMULATOR_ZYGOTE" ] || { cat "$logs/zygote.log"; echo "the emulator zygote did not start" >&2; exit 1; }
run_tests --no-fail-fast

step "IAM proof: each function's policy grants exactly what its tests saw it call"
"$tools/python" scripts/iam_proof.py template.yaml "$HALFHOUR_REQUEST_LOG"

step "sam build and sam package (run beside the tests)"
wait_for sam "$sam"

step "make demo: the founding story end to end (cargo lambda watch + the AWS emulator), every step checked"
DEMO_OUT="$CARGO_TARGET_DIR/demo" scripts/demo.sh

printf '\n==> every check passed (%ss)\n' "$SECONDS"
