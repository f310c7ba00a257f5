#!/usr/bin/env bash
# The main job: the frontend on the embedded defaults. Initialises the embedded database (state/
# in the checkout unless ROCKS_STATE says otherwise), loads the bundled rolls, adds a small sample
# cluster once, and serves on http://127.0.0.1:8080 until stopped (Ctrl-C).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${ROCKS_VENV:-$here/.venv}
export ROCKS_STATE=${ROCKS_STATE:-$here/state}
"$VENV/bin/rocks" check graph
ROCKS="$VENV/bin/rocks" bash scripts/sample-cluster.sh
"$VENV/bin/rocks" create profiles dir="$ROCKS_STATE/profiles" >/dev/null
exec "$VENV/bin/rocks" start frontend host="${ROCKS_HOST:-127.0.0.1}" port="${ROCKS_PORT:-8080}" "$@"
