#!/usr/bin/env bash
# Set up everything and run the whole test suite against a real PostGIS started by the project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/geogrid db start
exec .venv/bin/python -m pytest "$@"
