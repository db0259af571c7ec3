#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster: start, export DATABASE_URL, run, stop.
#   bash scripts/with-postgres.sh make test
# Uses the server binaries of PostgreSQL 15 (PG_BIN to override). PostgreSQL refuses to run as
# root, so as root the cluster belongs to the 'postgres' user.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# A free port unless one is given, so two runs on one machine do not collide.
PG_PORT=${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
PG_DIR=$(mktemp -d /tmp/rpl-pg.XXXXXX)
chmod 755 "$PG_DIR"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi

cleanup() {
  as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap cleanup EXIT

as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U rpl --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U rpl rpl

export DATABASE_URL="postgres://rpl@127.0.0.1:$PG_PORT/rpl"
export PG_BIN PG_DIR PG_PORT
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $DATABASE_URL"
"$@"
