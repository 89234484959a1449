#!/usr/bin/env bash
# make bench: gatehouse on SQLite and on a throwaway PostgreSQL, every
# gatehouse-bench scenario at concurrency 1, 8 and 32, written to
# docs/benchmarks.md with an SVG chart. Run it through scripts/with-postgres.sh
# (the Makefile does) so GATEHOUSE_TEST_DATABASE_URL names the PostgreSQL.
#
# BENCH_DURATION (default 5s) and BENCH_WARMUP (1s) set each run's length;
# BENCH_CONCURRENCY (1,8,32,512) the levels; BENCH_OUT (docs) where to write.
# The server's resident memory is sampled during every run (its peak is a
# column of the report).
set -euo pipefail

GO=${GO:-go}
DURATION=${BENCH_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-1s}
LEVELS=${BENCH_CONCURRENCY:-1,8,32,512}
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

# bench_target LABEL DATABASE_URL: start gatehouse, register the clients and
# the user, run every scenario, stop it.
bench_target() {
  local label=$1 db=$2 port issuer adm
  port=$(free_port); adm=$(free_port)
  issuer="http://127.0.0.1:$port"
  local env=(GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$adm GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256
    GATEHOUSE_ACCESS_TOKEN_ALGORITHM=ES256 GATEHOUSE_SECRETS=bench-key-encryption-secret-0123456789abcdef)
  (cd "$WORK" && env "${env[@]}" ./gatehouse migrate up --database-url "$db" >/dev/null)
  (cd "$WORK" && exec env "${env[@]}" GATEHOUSE_AUTO_MIGRATE=true ./gatehouse serve --issuer "$issuer" \
    --listen "127.0.0.1:$port" --database-url "$db" >"$LOGS/$label.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "$issuer/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  local gh=("$WORK/gatehouse")
  local common=(--redirect-uri http://127.0.0.1:9/cb --grant-type authorization_code --grant-type refresh_token
    --grant-type client_credentials --scope openid --scope email --scope profile --scope offline_access)
  local opaque jwt es
  opaque=$(env "${env[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench opaque" "${common[@]}" --access-token-format opaque --output json)
  jwt=$(env "${env[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench jwt" "${common[@]}" --access-token-format jwt --output json)
  es=$(env "${env[@]}" "${gh[@]}" clients create --database-url "$db" --name "bench es256" "${common[@]}" --id-token-signed-response-alg ES256 --output json)
  printf 'bench-password-0123\n' | env "${env[@]}" "${gh[@]}" users create --database-url "$db" --email bench@example.test --name Bench --password-stdin >/dev/null
  local id secret jid jsecret
  id=$(jq -r .client_id <<<"$opaque"); secret=$(jq -r .client_secret <<<"$opaque")
  jid=$(jq -r .client_id <<<"$jwt"); jsecret=$(jq -r .client_secret <<<"$jwt")
  # Each run reads gatehouse's SQL statement counter (/metrics, a metrics:read key) around its measured time.
  local mkey
  mkey=$(env "${env[@]}" "${gh[@]}" admin-keys create --database-url "$db" --name bench-metrics --role metrics:read)
  local run=(env GATEHOUSE_BENCH_METRICS_KEY="$mkey" "$WORK/gatehouse-bench" run --metrics-url "http://127.0.0.1:$adm/metrics" --pid "$SERVER_PID" --issuer "$issuer" --redirect-uri http://127.0.0.1:9/cb --email bench@example.test
    --password bench-password-0123 --concurrency "$LEVELS" --duration "$DURATION" --warmup "$WARMUP" --json "$RESULTS")
  "${run[@]}" --client-id "$id" --client-secret "$secret" --target "gatehouse-$label" \
    --scenario client-credentials,introspect,refresh,authcode,discovery,jwks
  "${run[@]}" --client-id "$jid" --client-secret "$jsecret" --target "gatehouse-$label-jwt-es256" --scenario client-credentials
  # The same login flows for a client that registered ES256 ID tokens
  # (RS256 is the OpenID Connect default and the cost of the flows above).
  "${run[@]}" --client-id "$(jq -r .client_id <<<"$es")" --client-secret "$(jq -r .client_secret <<<"$es")" \
    --target "gatehouse-$label-idtoken-es256" --scenario refresh,authcode
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

command -v jq >/dev/null || { echo "bench: jq is needed (apt-get install jq)" >&2; exit 1; }
bench_target sqlite "sqlite://$WORK/bench.db"
# A database of its own on the cluster, new each run (a second run must not meet the first one's rows).
PGURL=${GATEHOUSE_TEST_DATABASE_URL:?run through scripts/with-postgres.sh}
PGBIN=${GATEHOUSE_TEST_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
"$PGBIN/psql" "$PGURL" -v ON_ERROR_STOP=1 -qAt -c "DROP DATABASE IF EXISTS bench_make" -c "CREATE DATABASE bench_make"
bench_target postgres "$(sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/bench_make#' <<<"$PGURL")"

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
counts failed iterations. "per second" is iterations per second (an \`authcode\` iteration is four
requests: authorize → code → token → userinfo, with an existing session and remembered consent).
The server runs with \`log_level: warn\` (no per-request log line). PostgreSQL is a throwaway cluster
on the same disk with $DURABILITY; SQLite runs as \`serve\` opens it (WAL, synchronous=NORMAL). JWT access tokens are signed with ES256, ID tokens with RS256 (the OpenID
Connect default) except for the \`idtoken-es256\` targets, whose client registered
\`id_token_signed_response_alg: ES256\`. Targets ending in \`jwt-es256\` use RFC 9068 JWT access tokens.
"peak RSS MiB" is the server process's highest resident memory (VmRSS, sampled every 20 ms) during the measured run.
The SQL column is gatehouse's \`gatehouse_sql_statements_total\` (its admin listener's \`/metrics\`) read before and after
each measured run, divided by the iterations: under load, grouped inserts and reads count once for many requests.

Reproduce: \`make bench\` (or, against any OP: \`gatehouse-bench run --issuer URL --client-id ID
--client-secret SECRET --scenario client-credentials --concurrency 1,8,32\`).

EOF
"$WORK/gatehouse-bench" report --in "$RESULTS" --out "$OUT/benchmarks.md" --svg "$OUT/benchmarks.svg" --notes "$WORK/notes.md"
cp "$RESULTS" "$OUT/benchmarks.jsonl"
echo "bench: wrote $OUT/benchmarks.md"
