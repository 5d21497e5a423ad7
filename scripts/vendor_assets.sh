#!/usr/bin/env bash
# Install the pinned browser assets from npm (package.json / package-lock.json) and copy the
# files geogrid's maps need into geogrid/static/vendor/ (git-ignored).  Maps never use a CDN.
#   bash scripts/vendor_assets.sh            # from anywhere in the checkout
#   PYTHON=/path/to/python bash scripts/vendor_assets.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3)"; fi
fi
# geogrid.assets only needs the standard library, so this works before geogrid is installed.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m geogrid.assets vendor --node-modules "$ROOT/node_modules"
