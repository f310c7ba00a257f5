#!/bin/bash
# A throwaway PostgreSQL 15 cluster under /tmp for the inventory's tests.
#   scripts/pg-throwaway.sh start   # initdb + start (no-op if running); prints the URL
#   scripts/pg-throwaway.sh url     # prints the URL
#   scripts/pg-throwaway.sh stop    # stops it and deletes its directory (no-op if absent)
# Use: export ROCKS_TEST_POSTGRES_URL=$(scripts/pg-throwaway.sh start)
set -euo pipefail

PORT=${ROCKS_PG_PORT:-15432}
DIR=${ROCKS_PG_DIR:-/tmp/rocks-pg-$PORT}
PGBIN=${ROCKS_PG_BIN:-/usr/lib/postgresql/15/bin}
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"

# initdb refuses to run as root, so the cluster belongs to the postgres user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
    [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

case "${1:-}" in
start)
    if ! running; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
        as_owner "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync -E UTF8 \
            --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
        as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
            -o "-k $DIR -c listen_addresses=127.0.0.1 -p $PORT -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
            start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
    fi
    echo "$URL"
    ;;
url)
    echo "$URL"
    ;;
stop)
    if running; then
        as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
