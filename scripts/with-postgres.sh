#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster.
#
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
#
# Starts a private cluster in a temp dir (unix socket only, no TCP port, so
# parallel runs never collide), creates a database, exports
#   TEST_DATABASE_URL       SQLAlchemy URL (postgresql+psycopg://...)
#   TEST_DATABASE_URL_PSQL  libpq URL, usable with psql / pg_dump
# runs COMMAND, then always stops the cluster and deletes the temp dir.
# The exit code of COMMAND is passed through.
#
# Environment knobs (optional):
#   PG_BIN      directory with initdb/pg_ctl (default: newest /usr/lib/postgresql/*/bin)
#   PG_DBNAME   database name (default: carecircle_test)
#   PG_RUN_USER system user that owns/runs the cluster when we are root
#               (default: postgres, falling back to nobody)
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

# Debian installs server binaries outside PATH; pick the newest major version.
if [[ -z ${PG_BIN:-} ]]; then
  PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
fi
if [[ -z ${PG_BIN:-} || ! -x $PG_BIN/initdb ]]; then
  echo "with-postgres: PostgreSQL server binaries not found (install package 'postgresql')" >&2
  exit 1
fi

dbname=${PG_DBNAME:-carecircle_test}
port=5432 # only names the socket file; the socket dir is private, so no clash
superuser=postgres

tmp=$(mktemp -d "${TMPDIR:-/tmp}/carecircle-pg.XXXXXX")
datadir=$tmp/data
sockdir=$tmp/sock
logfile=$tmp/postgres.log
mkdir -p "$sockdir"

# initdb and postgres refuse to run as root, so as root the cluster is owned
# by and run as an unprivileged system user.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  pg_user=${PG_RUN_USER:-postgres}
  if ! id -u "$pg_user" >/dev/null 2>&1; then
    pg_user=nobody
  fi
  chown -R "$pg_user" "$tmp"
  as_pg=(runuser -u "$pg_user" --)
fi
# mktemp makes the dir 0700; the socket dir must be reachable by clients too.
chmod 0755 "$tmp" "$sockdir"

# Run a PostgreSQL binary as the cluster owner. cd into the temp dir because the
# caller's cwd (e.g. a clone under /root) may be unreadable for that user.
pg() {
  (cd "$tmp" && "${as_pg[@]}" "$@")
}

started=0
# Invoked via trap, which older shellcheck reports as unreachable.
# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  # Never let cleanup errors replace the command's exit code.
  set +e
  if [[ $started -eq 1 ]]; then
    # Immediate mode: the data is thrown away, no need for a clean checkpoint.
    pg "$PG_BIN/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap runs (128 + signal number).
trap 'exit 130' INT
trap 'exit 143' TERM

# trust auth is fine: the only way in is a socket in our private temp dir.
if ! pg "$PG_BIN/initdb" -D "$datadir" -U "$superuser" --auth=trust \
  --encoding=UTF8 --no-locale >"$tmp/initdb.log" 2>&1; then
  cat "$tmp/initdb.log" >&2
  exit 1
fi

# Settings for a disposable test cluster: no TCP (listen_addresses=''), socket in
# our temp dir, and durability off for speed (a crash only loses throwaway data).
cat >>"$datadir/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sockdir'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
CONF

if ! pg "$PG_BIN/pg_ctl" -D "$datadir" -l "$logfile" -w -t 60 start >/dev/null; then
  echo "with-postgres: server failed to start; log follows" >&2
  cat "$logfile" >&2 || true
  exit 1
fi
started=1

pg "$PG_BIN/createdb" -h "$sockdir" -p "$port" -U "$superuser" "$dbname"

export TEST_DATABASE_URL="postgresql+psycopg://$superuser@/$dbname?host=$sockdir&port=$port"
export TEST_DATABASE_URL_PSQL="postgresql://$superuser@/$dbname?host=$sockdir&port=$port"
echo "with-postgres: TEST_DATABASE_URL=$TEST_DATABASE_URL"

# Not exec: we must stay around to stop the cluster. set -e must not fire here,
# the exit code is handed to the EXIT trap instead.
set +e
"$@"
rc=$?
set -e
exit "$rc"
