#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on 127.0.0.1 and
# GATEHOUSE_TEST_DATABASE_URL pointing at it. Installs Debian's postgresql
# package when no server binaries are present. The cluster is stopped and
# removed when the command ends, even when it fails.
#
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
# When GATEHOUSE_TEST_DATABASE_URL is already set, the command runs as is.
#
# Test clusters run with fsync, synchronous_commit and full_page_writes off
# (nothing here needs to survive a power cut). GATEHOUSE_PG_DURABLE=1 keeps
# PostgreSQL's durability defaults instead: the benchmarks measure what a
# production deployment commits.
set -euo pipefail

if [ -n "${GATEHOUSE_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
PGBIN=$(find_bin || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "with-postgres: installing Debian's postgresql package" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "with-postgres: no PostgreSQL server binaries and not root; install postgresql or set GATEHOUSE_TEST_DATABASE_URL" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PGBIN=$(find_bin)
fi

# initdb refuses to run as root: run the cluster as an unprivileged user.
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
  RUNAS=(runuser -u postgres --)
fi

DIR=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 30000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

cleanup() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

"${RUNAS[@]}" "$PGBIN/initdb" -D "$DIR/data" --auth=trust --username=postgres --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 || {
  cat "$DIR/initdb.log" >&2; exit 1; }

DURABILITY="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "${GATEHOUSE_PG_DURABLE:-}" = 1 ] && DURABILITY=""
for attempt in 1 2 3 4 5; do
  PORT=$(free_port)
  if "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 $DURABILITY -c max_connections=300" start >/dev/null; then
    break
  fi
  [ "$attempt" -eq 5 ] && { cat "$DIR/server.log" >&2; exit 1; }
done

export GATEHOUSE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
# Where the cluster lives, for tests that stop and restart it.
export GATEHOUSE_TEST_PGDATA="$DIR/data" GATEHOUSE_TEST_PGBIN="$PGBIN" GATEHOUSE_TEST_PGRUNAS="${RUNAS[*]:-}"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT${DURABILITY:+ (fsync off)}" >&2
set +e
"$@"
status=$?
exit $status
