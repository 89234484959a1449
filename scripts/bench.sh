#!/usr/bin/env bash
# make bench: gatehouse on SQLite and on a throwaway PostgreSQL, every
# gatehouse-bench scenario at concurrency 1, 8 and 32, written to
# docs/benchmarks.md with an SVG chart. Run it through scripts/with-postgres.sh
# (the Makefile does) so GATEHOUSE_TEST_DATABASE_URL names the PostgreSQL.
#
# BENCH_DURATION (default 5s) and BENCH_WARMUP (1s) set each run's length;
# BENCH_CONCURRENCY (1,8,32,128,512) the levels; BENCH_OUT (docs) where to write;
# BENCH_GROWN_ROWS (1000000,10000000) the grown databases, measured at
# BENCH_GROWN_CONCURRENCY (32); BENCH_GC_ROWS (1000000) the expired rows
# garbage collection is timed on.
# The server's resident memory is sampled during every run (its peak is a
# column of the report).
set -euo pipefail

GO=${GO:-go}
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-1s}
LEVELS=${BENCH_CONCURRENCY:-1,8,32,128,512}
# The grown databases (token rows) and the levels measured on them; the
# expired rows garbage collection is timed on.
GROWN_SIZES=${BENCH_GROWN_ROWS:-1000000,10000000}
GROWN_LEVELS=${BENCH_GROWN_CONCURRENCY:-32}
GC_ROWS=${BENCH_GC_ROWS:-1000000}
OUT=${BENCH_OUT:-docs}
WORK=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
# The servers' logs outlive the run, for diagnosing an error in the results.
LOGS=${BENCH_LOGS:-/tmp/gatehouse-bench-logs}
mkdir -p "$LOGS"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The commit measured: named when the binary is built, before any output is written.
REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
$GO build -o "$WORK/gatehouse" ./cmd/gatehouse
$GO build -o "$WORK/gatehouse-bench" ./cmd/gatehouse-bench
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server LABEL DATABASE_URL: gatehouse on the database (migrated), in
# the background; sets SERVER_PID, ISSUER, ADMIN and GENV.
start_server() {
  local label=$1 db=$2 port
  port=$(free_port); ADMIN=$(free_port)
  ISSUER="http://127.0.0.1:$port"
  GENV=(GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$ADMIN GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256 GATEHOUSE_KEYS_TIME_ORDERED_TOKENS=true
    GATEHOUSE_ACCESS_TOKEN_ALGORITHM=ES256 GATEHOUSE_SECRETS=bench-key-encryption-secret-0123456789abcdef)
  (cd "$WORK" && env "${GENV[@]}" ./gatehouse migrate up --database-url "$db" >/dev/null)
  (cd "$WORK" && exec env "${GENV[@]}" GATEHOUSE_AUTO_MIGRATE=true ./gatehouse serve --issuer "$ISSUER" \
    --listen "127.0.0.1:$port" --database-url "$db" >"$LOGS/$label.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "$ISSUER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}

stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# bench_run TARGET CLIENT_JSON ARGS...: gatehouse-bench against the running
# server, as CLIENT_JSON's client, results appended to RESULTS.
bench_run() {
  local target=$1 client=$2; shift 2
  env GATEHOUSE_BENCH_METRICS_KEY="$MKEY" "$WORK/gatehouse-bench" run --metrics-url "http://127.0.0.1:$ADMIN/metrics" --pid "$SERVER_PID" \
    --issuer "$ISSUER" --redirect-uri http://127.0.0.1:9/cb --email bench@example.test --password bench-password-0123 \
    --duration "$DURATION" --warmup "$WARMUP" --json "$RESULTS" --target "$target" \
    --client-id "$(jq -r .client_id <<<"$client")" --client-secret "$(jq -r .client_secret <<<"$client")" "$@"
}

# register DATABASE_URL: the clients (OPAQUE, JWT, ES), the user and the
# metrics key (MKEY) on the database; the variables stay set for later runs
# on it.
register() {
  local db=$1 gh=("$WORK/gatehouse")
  local common=(--redirect-uri http://127.0.0.1:9/cb --grant-type authorization_code --grant-type refresh_token
    --grant-type client_credentials --scope openid --scope email --scope profile --scope offline_access)
  OPAQUE=$(env "${GENV[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench opaque" "${common[@]}" --access-token-format opaque --output json)
  JWT=$(env "${GENV[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench jwt" "${common[@]}" --access-token-format jwt --output json)
  ES=$(env "${GENV[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench es256" "${common[@]}" --id-token-signed-response-alg ES256 --access-token-format opaque --output json)
  printf 'bench-password-0123\n' | env "${GENV[@]}" "${gh[@]}" users create --database-url "$db" --email bench@example.test --name Bench --password-stdin >/dev/null
  # Each run reads gatehouse's SQL statement counter (/metrics, a metrics:read key) around its measured time.
  MKEY=$(env "${GENV[@]}" "${gh[@]}" admin-keys create --database-url "$db" --name bench-metrics --role metrics:read)
}

# bench_target LABEL DATABASE_URL: start gatehouse, register the clients and
# the user, run every scenario, stop it.
bench_target() {
  local label=$1 db=$2
  start_server "$label" "$db"
  register "$db"
  bench_run "gatehouse-$label" "$OPAQUE" --concurrency "$LEVELS" --scenario client-credentials,introspect,refresh,authcode,discovery,jwks
  bench_run "gatehouse-$label-jwt-es256" "$JWT" --concurrency "$LEVELS" --scenario client-credentials
  # The same login flows for a client that registered ES256 ID tokens
  # (RS256 is the OpenID Connect default and the cost of the flows above).
  bench_run "gatehouse-$label-idtoken-es256" "$ES" --concurrency "$LEVELS" --scenario refresh,authcode
  # Password sign-ins (argon2id, CPU-bound): a few at once is what one
  # account's attempt limiter allows, and more than the cores gains nothing.
  bench_run "gatehouse-$label" "$OPAQUE" --concurrency 1,2,4 --scenario password-login
  stop_server
}

# commas N: N with thousands separators.
commas() { printf '%d' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# psql_db DATABASE_URL ARGS...
psql_db() { "$PGBIN/psql" "$1" -X -v ON_ERROR_STOP=1 "${@:2}"; }

# created_rows DATABASE_URL: the rows of every table garbage collection
# empties (what a flow leaves behind to expire).
created_rows() {
  psql_db "$1" -qAt -c "SELECT (SELECT count(*) FROM oauth2_tokens) + (SELECT count(*) FROM browser_sessions) + (SELECT count(*) FROM consents)
    + (SELECT count(*) FROM login_flows) + (SELECT count(*) FROM refresh_grace) + (SELECT count(*) FROM oauth2_jtis) + (SELECT count(*) FROM attempts)"
}

# rows_per_iteration DATABASE_URL SCENARIO: run SCENARIO at 32 clients for
# 3 s on the running server (no warm-up, not in the report) and print the
# rows it left per iteration.
rows_per_iteration() {
  local db=$1 scenario=$2 before after its out="$WORK/rows-$2.jsonl"
  before=$(created_rows "$db")
  # The later flags win: its own length and file, not the report's.
  bench_run rows "$OPAQUE" --scenario "$scenario" --concurrency 32 --duration 3s --warmup 0s --json "$out" >/dev/null
  after=$(created_rows "$db")
  its=$(jq -s '.[0].iterations + .[0].cut_off' "$out")
  jq -n --argjson d "$((after - before))" --argjson n "$its" '$d / $n'
}

# bench_empty LABEL: the grown scenarios on a new, empty database of the
# cluster, right before the database grown to LABEL is measured: its
# baseline, so that the machine's drift between runs minutes apart is not
# read as the cost of the rows. The grown database's clients stay set.
bench_empty() {
  local label=$1 db saved=("$OPAQUE" "$JWT" "$ES" "$MKEY")
  psql_db "$PGURL" -qAt -c "DROP DATABASE IF EXISTS bench_empty" -c "CREATE DATABASE bench_empty"
  db=$(sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/bench_empty#' <<<"$PGURL")
  start_server "postgres-empty-$label" "$db"
  register "$db"
  bench_run "gatehouse-postgres-empty-$label" "$OPAQUE" --concurrency "$GROWN_LEVELS" --scenario client-credentials,introspect,authcode
  stop_server
  psql_db "$PGURL" -qAt -c "DROP DATABASE bench_empty"
  OPAQUE=${saved[0]} JWT=${saved[1]} ES=${saved[2]} MKEY=${saved[3]}
}

# bench_grown LABEL TOTAL DATABASE_URL: grow the database to TOTAL token
# rows (scripts/bench-prefill.sql), vacuum it as autovacuum would have,
# and measure the token, introspection and login scenarios on it.
bench_grown() {
  local label=$1 total=$2 db=$3 have t0
  have=$(psql_db "$db" -qAt -c 'SELECT count(*) FROM oauth2_tokens')
  if [ "$have" -ge "$total" ]; then
    echo "bench: the database already has $have token rows, not fewer than $total" >&2; exit 1
  fi
  t0=$(date +%s)
  psql_db "$db" -q -v rows=$((total - have)) -v tag="$label" -v expired=0 -f scripts/bench-prefill.sql >"$LOGS/prefill-$label.log"
  psql_db "$db" -q -c 'VACUUM (ANALYZE) oauth2_tokens, users, browser_sessions, session_clients, consents' >>"$LOGS/prefill-$label.log"
  # Measured at rest, as a database that grew over months would be: not
  # while the gigabytes just loaded are still being written out (right
  # after a 10-million-row load, client_credentials ran at half its rate,
  # and at its usual rate once a checkpoint had written them).
  psql_db "$db" -q -c 'CHECKPOINT' && sync
  local after summary
  after=$(psql_db "$db" -qAt -c 'SELECT count(*) FROM oauth2_tokens')
  summary=$(psql_db "$db" -qAt -c "SELECT to_char((SELECT count(*) FROM users), 'FM999,999,999') || ' users, ' || to_char((SELECT count(*) FROM browser_sessions), 'FM999,999,999') || ' sessions, ' || pg_size_pretty(pg_database_size(current_database()))")
  GROWN+=("$label: $(commas "$after") token rows ($summary), $(commas $((after - have))) of them added in $(($(date +%s) - t0)) s")
  bench_empty "$label"
  start_server "postgres-$label" "$db"
  bench_run "gatehouse-postgres-$label" "$OPAQUE" --concurrency "$GROWN_LEVELS" --scenario client-credentials,introspect,authcode
  stop_server
}

# bench_gc DATABASE_URL ROWS: add ROWS expired token rows (with their
# proportion of expired sessions and consents) to the grown database and
# time `gatehouse gc` removing them.
bench_gc() {
  local db=$1 rows=$2 t0 t1 removed
  psql_db "$db" -q -v rows="$rows" -v tag=expired -v expired=1 -f scripts/bench-prefill.sql >"$LOGS/prefill-expired.log"
  t0=$(date +%s.%N)
  removed=$(cd "$WORK" && env "${GENV[@]}" ./gatehouse gc --database-url "$db" | grep -oE '[0-9]+')
  t1=$(date +%s.%N)
  GC_SECONDS=$(jq -n --argjson a "$t0" --argjson b "$t1" '$b - $a')
  GC_REMOVED=$removed
}

command -v jq >/dev/null || { echo "bench: jq is needed (apt-get install jq)" >&2; exit 1; }
bench_target sqlite "sqlite://$WORK/bench.db"
# A database of its own on the cluster, new each run (a second run must not meet the first one's rows).
PGURL=${GATEHOUSE_TEST_DATABASE_URL:?run through scripts/with-postgres.sh}
PGBIN=${GATEHOUSE_TEST_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
psql_db "$PGURL" -qAt -c "DROP DATABASE IF EXISTS bench_make" -c "CREATE DATABASE bench_make"
PGDB=$(sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/bench_make#' <<<"$PGURL")
bench_target postgres "$PGDB"

# What garbage collection must keep up with: the rows each flow leaves to
# expire, times the best rate measured.
start_server postgres-rows "$PGDB"
CREATION=()
PEAK_ROWS=0
for sc in client-credentials refresh authcode; do
  per=$(rows_per_iteration "$PGDB" "$sc")
  best=$(jq -s --arg sc "$sc" '[.[] | select(.target == "gatehouse-postgres" and .scenario == $sc) | .per_second] | max' "$RESULTS")
  rate=$(jq -n --argjson p "$per" --argjson b "$best" '$p * $b | floor')
  CREATION+=("\`$sc\`: $(printf '%.2f' "$per") rows per iteration × $(commas "$(printf '%.0f' "$best")")/s at best = $(commas "$rate") rows/s")
  [ "$rate" -gt "$PEAK_ROWS" ] && PEAK_ROWS=$rate
done
stop_server

# Cost as data grows: the same database grown to 1 and 10 million token rows.
GROWN=()
IFS=',' read -ra SIZES <<<"$GROWN_SIZES"
GROWTH=()
for size in "${SIZES[@]}"; do
  if [ $((size % 1000000)) -eq 0 ]; then label="$((size / 1000000))m"
  elif [ $((size % 1000)) -eq 0 ]; then label="$((size / 1000))k"
  else label=$size; fi
  bench_grown "$label" "$size" "$PGDB"
  GROWTH+=(--growth "gatehouse-postgres-empty-$label=gatehouse-postgres-$label")
done
bench_gc "$PGDB" "$GC_ROWS"
GC_RATE=$(jq -n --argjson n "$GC_REMOVED" --argjson s "$GC_SECONDS" '$n / $s | floor')

# Said as the cluster reports it, not as it was asked for.
DURABILITY="fsync=$("$PGBIN/psql" "$PGURL" -qAt -c 'SHOW fsync'), synchronous_commit=$("$PGBIN/psql" "$PGURL" -qAt -c 'SHOW synchronous_commit'), full_page_writes=$("$PGBIN/psql" "$PGURL" -qAt -c 'SHOW full_page_writes')"
mkdir -p "$OUT"
cat >"$WORK/notes.md" <<EOF
Measured by \`make bench\` on $(date -u +%Y-%m-%d): gatehouse $REV,
$($GO version | cut -d' ' -f3), $(nproc) CPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),
$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME").
The load generator (\`gatehouse-bench\`, with its own lean HTTP/1.1 client) runs on the same machine and shares its cores.

Each run: ${WARMUP} warm-up (not measured), then ${DURATION} at a fixed concurrency, every response checked
(a token in every token response, \`active: true\` from introspection, a new usable pair from every
refresh, a verified ID token and a userinfo answer in every authorization-code iteration); \`errors\`
counts failed iterations. "per second" is iterations per second (an \`authcode\` iteration is three
requests: authorize, answered with the code → token → userinfo, with an existing session and remembered consent;
a \`password-login\` iteration is a browser without a session signing in with the password: four requests).
The server runs with \`log_level: warn\` (no per-request log line). PostgreSQL is a throwaway cluster
on the same disk with $DURABILITY; SQLite runs as \`serve\` opens it (WAL, synchronous=NORMAL). Opaque tokens are time-ordered (\`keys.time_ordered_tokens: true\`). JWT access tokens are signed with ES256, ID tokens with RS256 (the OpenID
Connect default) except for the \`idtoken-es256\` targets, whose client registered
\`id_token_signed_response_alg: ES256\`. Targets ending in \`jwt-es256\` use RFC 9068 JWT access tokens.
"peak RSS MiB" is the server process's highest resident memory (VmRSS, sampled every 20 ms) during the measured run.
The SQL column is gatehouse's \`gatehouse_sql_statements_total\` (its admin listener's \`/metrics\`) read before and after
each measured run, divided by the iterations: under load, grouped inserts and reads count once for many requests.

Reproduce: \`make bench\` (or, against any OP: \`gatehouse-bench run --issuer URL --client-id ID
--client-secret SECRET --scenario client-credentials --concurrency 1,8,32\`).

EOF
"$WORK/gatehouse-bench" report --in "$RESULTS" --out "$OUT/benchmarks.md" --svg "$OUT/benchmarks.svg" --notes "$WORK/notes.md" \
  "${GROWTH[@]}"
GC_MET="✓ met"
[ "$GC_RATE" -ge "$PEAK_ROWS" ] || GC_MET="✗ missed"
{
  echo
  echo "The grown databases (PostgreSQL, the same database as the \`gatehouse-postgres\` targets, grown in place):"
  echo
  for g in "${GROWN[@]}"; do echo "- $g"; done
  echo
  echo "## Garbage collection against the peak creation rate"
  echo
  echo "The rows each flow leaves behind to expire (counted in every table garbage collection empties, around a 3 s run at 32 clients on the empty database), times the best rate measured above:"
  echo
  for c in "${CREATION[@]}"; do echo "- $c"; done
  echo
  echo "\`gatehouse gc\` (the code the server's GC loop runs, batches of 1,000 rows) on the largest grown database with $(commas "$GC_ROWS") expired token rows added (and their proportion of expired sessions and consents), no load:"
  echo "removed $(commas "$GC_REMOVED") rows in $(printf '%.1f' "$GC_SECONDS") s, **$(commas "$GC_RATE") rows/s**, against a peak creation rate of $(commas "$PEAK_ROWS") rows/s: $GC_MET (GC at least as fast as creation)."
} >>"$OUT/benchmarks.md"
cp "$RESULTS" "$OUT/benchmarks.jsonl"
echo "bench: wrote $OUT/benchmarks.md"
