#!/usr/bin/env bash
# Create (or refresh) a Python venv from pinned requirement files; prints its python path.
# Usage: scripts/venv.sh <venv dir> <requirements.txt>...
# Nothing preinstalled is assumed beyond python3 with the venv module.
set -euo pipefail
venv=$1
shift
stamp="$venv/.requirements.sha256"
want=$(cat "$@" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "venv: installing $(grep -hv '^#' "$@" | tr '\n' ' ')into $venv" >&2
  python3 -m venv "$venv"
  requirements=()
  for file in "$@"; do requirements+=(-r "$file"); done
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
