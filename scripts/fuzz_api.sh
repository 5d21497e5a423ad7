#!/usr/bin/env bash
# Fuzz the running API with schemathesis against its own OpenAPI document: every 4xx/5xx it
# provokes must be a 4xx (no server errors).  Loopback only.
#   bash scripts/fuzz_api.sh [http://127.0.0.1:8000] [examples per operation]
# Start the API first (bash scripts/run.sh), with GEOGRID_RATE_LIMIT_PER_ADDRESS=0 and
# GEOGRID_RATE_LIMIT_PER_KEY=0: the fuzzer asks faster than any client may, and 429s would
# hide the endpoints from it.  schemathesis goes into its own venv (.venv-fuzz)
# so its pins never touch the project's environment.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-http://127.0.0.1:8000}
EXAMPLES=${2:-40}
[ -x .venv-fuzz/bin/schemathesis ] || { python3 -m venv .venv-fuzz && .venv-fuzz/bin/pip install -q "schemathesis>=4,<5"; }
KEY=$(.venv/bin/geogrid keys create "fuzz-$(date +%s)" admin)   # reach the write endpoints too
.venv-fuzz/bin/schemathesis run "$BASE/openapi.json" --checks not_a_server_error \
  --max-examples "$EXAMPLES" --workers 2 -H "X-API-Key: $KEY"
