#!/usr/bin/env bash
# Run uv, installing it first if this machine has only Python + pip.
# Usage: scripts/uv.sh <uv arguments...>
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if command -v uv >/dev/null 2>&1; then
  exec uv "$@"
fi
tool_venv="$here/.tools/uv"
if [ ! -x "$tool_venv/bin/uv" ]; then
  echo "[bootstrap] installing uv into $tool_venv" >&2
  python3 -m venv "$tool_venv"
  "$tool_venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
exec "$tool_venv/bin/uv" "$@"
