#!/usr/bin/env bash
# The main job: set up, start the local PostGIS, load sample data, partition a synthetic county
# into grids, publish them, and serve the API with its map pages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/geogrid demo "$@"
