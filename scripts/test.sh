#!/usr/bin/env bash
# Set up everything, run ruff and mypy, then the whole test suite against a real PostGIS started by the project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Static checks first: lint, formatting and types fail the run before any test starts.
.venv/bin/ruff check geogrid api tests scripts
.venv/bin/ruff format --check geogrid api tests scripts
.venv/bin/mypy geogrid api
.venv/bin/geogrid db start
exec .venv/bin/python -m pytest "$@"
