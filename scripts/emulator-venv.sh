#!/usr/bin/env bash
# The AWS emulator's venv (.venv: moto server + the halfhour extension's needs); prints its python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/venv.sh" "${HALFHOUR_VENV:-$root/.venv}" "$root/tests/emulator/requirements.txt"
