#!/usr/bin/env bash
# The test command: the whole suite on SQLite and on a throwaway PostgreSQL (started and stopped
# here when the machine has PostgreSQL), plus ruff and mypy (they run inside pytest).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${ROCKS_VENV:-$here/.venv}
pg_started=""
cleanup() { [ -n "$pg_started" ] && bash scripts/pg-throwaway.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
# Under CI (CI=true), or where PostgreSQL is installed, it is not optional: a cluster that cannot start fails the run here,
# and the PostgreSQL tests fail rather than skip (tests/conftest.py OPTIONAL_SKIPS).
ci=""
case "${CI:-}" in 1|true|TRUE|True|yes) ci=1 ;; esac
if [ -z "${ROCKS_TEST_POSTGRES_URL:-}" ]; then
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && url=$(bash scripts/pg-throwaway.sh start); then
    export ROCKS_TEST_POSTGRES_URL="$url"
    pg_started=1
    echo "test: PostgreSQL at $url"
  elif [ -n "$ci" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    # installed but not starting is a failure; only a machine without PostgreSQL runs on
    echo "test: PostgreSQL could not start (apt-get install postgresql; see scripts/pg-throwaway.sh)" >&2
    exit 1
  else
    echo "test: PostgreSQL could not start; its tests are skipped (they fail under CI=true)" >&2
  fi
fi
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
[ "$rc" -eq 5 ] && { echo "test: no tests collected" >&2; exit 1; }
exit "$rc"
