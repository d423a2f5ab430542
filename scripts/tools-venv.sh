#!/usr/bin/env bash
# The template and Lambda tooling's venv (.venv-tools: SAM CLI, cfn-lint, checkov, cargo-lambda),
# apart from the emulator's because they pin other boto3 versions; prints its python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/venv.sh" "${HALFHOUR_TOOLS_VENV:-$root/.venv-tools}" "$root/scripts/requirements-tools.txt"
