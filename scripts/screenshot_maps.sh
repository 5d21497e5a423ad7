#!/usr/bin/env bash
# Screenshots of the map pages and the monthly report of a running server (e.g. after scripts/run.sh) for docs/img.
#   bash scripts/screenshot_maps.sh [http://127.0.0.1:8000]
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-http://127.0.0.1:8000}
mkdir -p docs/img
shot() {  # name path
  local profile; profile=$(mktemp -d)
  chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1200,900 \
    --virtual-time-budget=8000 --screenshot="docs/img/$1.png" "$BASE$2" 2>/dev/null
  rm -rf "$profile"
  echo "docs/img/$1.png <- $BASE$2"
}
shot county_grids "/maps/grids?division=320508"
shot county_dashboard "/maps/dashboard?division=320508"
shot helsinki_grids "/maps/grids?division=320599001001"
shot monthly_report "/reports/monthly?division=320508"
