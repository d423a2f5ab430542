#!/usr/bin/env bash
# The test command (`make test`): installs the emulator's venv, checks formatting and lints,
# then runs every unit and integration test. Needs only the Rust toolchain and python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/halfhour/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "venv (moto server + halfhour extension, cfn-lint)"
HALFHOUR_PYTHON=$(scripts/emulator-venv.sh)
export HALFHOUR_PYTHON
"$HALFHOUR_PYTHON" -c 'import sys; sys.path.insert(0, "tests/emulator"); import halfhour_emulator; halfhour_emulator.install()'

step "cfn-lint template.yaml"
"$(dirname "$HALFHOUR_PYTHON")/cfn-lint" template.yaml

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
