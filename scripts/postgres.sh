#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print its SQLAlchemy URL, and how to stop it.
# Installs Debian's postgresql if it is missing. Usage: eval "$(scripts/postgres.sh)"; ...; fdd_postgres_stop
set -euo pipefail
PORT=${FDD_PG_PORT:-55432}
ROOT=${FDD_PG_DIR:-/tmp/fdd-postgres}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$BIN" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
STARTED=""
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    STARTED=1
    mkdir -p "$ROOT"
    [ "$(id -u)" = 0 ] && chown postgres "$ROOT"
    if [ ! -f "$ROOT/data/PG_VERSION" ]; then
        as_postgres "$BIN/initdb -D $ROOT/data -A trust -U postgres" >&2
    fi
    as_postgres "$BIN/pg_ctl -D $ROOT/data -l $ROOT/server.log -w -o \"-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c fsync=off\" start" >&2
fi
as_postgres "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='fdd_test'\"" | grep -q 1 \
    || as_postgres "$BIN/createdb -h 127.0.0.1 -p $PORT -U postgres fdd_test" >&2
echo "export FDD_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/fdd_test"
if [ -n "$STARTED" ]; then
    STOP="$BIN/pg_ctl -D $ROOT/data -m fast -w stop"
    if [ "$(id -u)" = 0 ]; then STOP="su postgres -s /bin/bash -c '$STOP'"; fi
    echo "fdd_postgres_stop() { $STOP >/dev/null 2>&1 || true; }"
else
    echo "fdd_postgres_stop() { :; }"  # a server someone else started: leave it running
fi
