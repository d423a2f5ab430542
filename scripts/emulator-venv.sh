#!/usr/bin/env bash
# Create (or refresh) the Python venv that runs the AWS emulator and the template linter;
# prints its python path.
# Nothing preinstalled is assumed beyond python3 with the venv module.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${HALFHOUR_VENV:-$root/.venv}"
requirements=("$root/tests/emulator/requirements.txt" "$root/scripts/requirements-tools.txt")
stamp="$venv/.requirements.sha256"
want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "venv: installing $(grep -hv '^#' "${requirements[@]}" | tr '\n' ' ')into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "${requirements[0]}" -r "${requirements[1]}" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
