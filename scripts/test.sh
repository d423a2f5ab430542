#!/usr/bin/env bash
# The test command (`make test`): installs the venvs (emulator; SAM CLI, cfn-lint, checkov,
# cargo-lambda), proves the template (cfn-lint, sam validate --lint, checkov, sam build, sam package), checks
# formatting and lints, runs every unit and integration test, then the IAM proof over the AWS
# calls those tests made. Needs only the Rust toolchain and python3.
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

step() { printf '\n==> %s (%ss in)\n' "$*" "$SECONDS"; }

step "venvs (moto server + halfhour extension; SAM CLI, cfn-lint, checkov, cargo-lambda)"
HALFHOUR_PYTHON=$(scripts/emulator-venv.sh)
export HALFHOUR_PYTHON
"$HALFHOUR_PYTHON" -c 'import sys; sys.path.insert(0, "tests/emulator"); import halfhour_emulator; halfhour_emulator.install()'
tools=$(dirname "$(scripts/tools-venv.sh)")
export PATH="$tools:$PATH" SAM_CLI_TELEMETRY=0

# The template checks are single-threaded Python: they run beside the build, which leaves a core
# idle through long single-crate stretches, and report once it is done.
templates_log=$(mktemp)
trap 'rm -f "$templates_log"' EXIT
step "template checks, beside the build below (their output follows the build)"
(
  step "cfn-lint template.yaml"
  cfn-lint template.yaml

  step "sam validate --lint"
  sam validate --lint --region us-east-1

  step "checkov (every skip carries its reason in the resource's Metadata)"
  checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

  step "every loop switch, observe mode and both cluster modes: cfn-lint, checkov, sam validate"
  "$tools/python" scripts/template_variants.py template.yaml
) >"$templates_log" 2>&1 &
templates=$!

step "sam build (every function through cargo-lambda; x86_64, debug profile: CI proves the build, make bench measures release)"
sam_build="$CARGO_TARGET_DIR/sam-build"
SAM_BUILD_MODE=debug sam build --parameter-overrides Architecture=x86_64 \
  --build-dir "$sam_build/build" --cache-dir "$sam_build/cache"
for function in $(grep -oP '^  \K[A-Za-z]+Function(?=:)' template.yaml); do
  test -x "$sam_build/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
done

step "sam package into the AWS emulator's S3, never AWS (what a nesting template deploys: code, licence, README; cfn-lint)"
"$tools/python" scripts/package_check.py "$sam_build/build/template.yaml"

step "template checks (run beside the build)"
templates_ok=true
wait "$templates" || templates_ok=false
cat "$templates_log"
$templates_ok || { echo "the template checks failed (above)" >&2; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
# Every emulator of the run also appends its requests here, for the IAM proof below.
HALFHOUR_REQUEST_LOG=$(mktemp)
export HALFHOUR_REQUEST_LOG
trap 'rm -f "$HALFHOUR_REQUEST_LOG" "$templates_log"' EXIT
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

step "IAM proof: each function's policy grants exactly what its tests saw it call"
"$tools/python" scripts/iam_proof.py template.yaml "$HALFHOUR_REQUEST_LOG"

step "make demo: the founding story end to end (cargo lambda watch + the AWS emulator), every step checked"
DEMO_OUT="$CARGO_TARGET_DIR/demo" scripts/demo.sh

printf '\n==> every check passed (%ss)\n' "$SECONDS"
