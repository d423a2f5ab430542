#!/usr/bin/env bash
# `make build`: `sam build` for the architecture the functions will run on — the template's
# default, arm64, unless ARCH=x86_64 — after checking that this machine can build it. Extra
# arguments go to `sam build`. Cross-building (arm64 on an x86_64 host, or the reverse) is
# cargo-lambda's: the Rust target's standard library (rustup) and zig as the linker (the
# `ziglang` wheel from PyPI, installed here into the tools venv when it is missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
arch=${ARCH:-arm64}
case "$arch" in
  arm64) target=aarch64-unknown-linux-gnu ;;
  x86_64) target=x86_64-unknown-linux-gnu ;;
  *) echo "ARCH=$arch: the template's Architecture is arm64 or x86_64" >&2; exit 2 ;;
esac

own=$(uname -m | sed 's/aarch64/arm64/')
refuse() {
  cat >&2 <<EOF
halfhour: cannot build for $arch ($target) on this machine: $1
  Either give it what it needs ($2),
  or build for this machine's own architecture: ARCH=$own make build
  and deploy that: sam deploy --parameter-overrides Architecture=$own
EOF
  exit 1
}

python=$(scripts/tools-venv.sh)
tools=$(dirname "$python")
export PATH="$tools:$PATH" SAM_CLI_TELEMETRY=0

host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$host" != "$target" ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "==> rustup target add $target" >&2
    rustup target add "$target" >&2 ||
      refuse "the Rust standard library for $target is not installed and rustup could not fetch it" \
        "rustup target add $target"
  fi
  # cargo-lambda links cross builds with zig: a zig on PATH, or the ziglang wheel (python -m ziglang).
  if ! command -v zig >/dev/null && ! "$python" -m ziglang version >/dev/null 2>&1; then
    echo "==> pip install ziglang (the cross linker cargo-lambda uses)" >&2
    "$python" -m pip install --quiet ziglang >&2 ||
      refuse "zig, the linker cargo-lambda cross-builds with, is missing and pip could not install it" \
        "pip install ziglang into $tools, or zig on PATH"
  fi
fi

exec sam build --parameter-overrides "Architecture=$arch" "$@"
