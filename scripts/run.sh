#!/usr/bin/env bash
# The main job. Until the frontend server exists this compiles every bundled appliance into
# out/profiles/ and prints where each kickstart went and how long it took.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${ROCKS_VENV:-$here/.venv}
exec "$VENV/bin/rocks" create profiles dir="${ROCKS_OUT:-out/profiles}" "$@"
