#!/usr/bin/env bash
# The main job (`make demo`): the whole founding story on the real function binaries, served by
# cargo-lambda's Lambda runtime emulator, against the AWS emulator. Installs what it needs (the
# two venvs), then plays demo/story.py, which starts and stops every process it uses.
# Report: out/demo/report.md and out/demo/report.svg (DEMO_OUT overrides the folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/halfhour/target}"
python=$(scripts/emulator-venv.sh)
tools=$(dirname "$(scripts/tools-venv.sh)")
# cargo finds `cargo lambda` on PATH.
export PATH="$tools:$PATH"
# Build each function as cargo lambda watch will run it (one binary, its own features), with
# cargo's progress on screen; from a cold cache this is most of the demo's time.
for function in $(ls functions); do
  cargo build --bin "$function"
done
exec "$python" demo/story.py --out "${DEMO_OUT:-$root/out/demo}"
