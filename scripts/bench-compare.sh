#!/usr/bin/env bash
# make bench-compare: gatehouse against Ory Hydra v2.3.0 (same throwaway
# PostgreSQL, same client settings) and panva's node-oidc-provider (memory
# adapter), measured alternately in rounds, with pgbench's one-insert-one-
# select ceiling of the same database in the same run. Writes
# docs/benchmarks-compare.md. Run it through scripts/with-postgres.sh (the
# Makefile does).
#
# Peers are built and installed into BENCH_CACHE (default
# ~/.cache/gatehouse-bench), never into the repository:
# - Hydra from the Go module proxy: its module is copied to a writable
#   directory and built as the main module (its replace directives only apply
#   then); the module zip lacks internal/httpclient, so that replace is
#   dropped and github.com/ory/hydra-client-go/v2@v2.2.1 required instead.
#   Hydra keeps its defaults, including PBKDF2 (25,000 iterations) for client
#   secrets.
# - oidc-provider from npm at the version pinned in
#   scripts/bench-peers/package.json.
#
# BENCH_ROUNDS (3), BENCH_DURATION (3s), BENCH_WARMUP (1s), BENCH_CONCURRENCY
# (1,8,32) size the run.
set -euo pipefail

GO=${GO:-go}
CACHE=${BENCH_CACHE:-$HOME/.cache/gatehouse-bench}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-3s}
WARMUP=${BENCH_WARMUP:-1s}
LEVELS=${BENCH_CONCURRENCY:-1,8,32}
OUT=${BENCH_OUT:-docs}
DB=${GATEHOUSE_TEST_DATABASE_URL:?run through scripts/with-postgres.sh}
PGBIN=${GATEHOUSE_TEST_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
WORK=$(mktemp -d /tmp/gatehouse-compare.XXXXXX)
PIDS=()
# The servers' logs outlive the run, for diagnosing an error in the results.
LOGS=${BENCH_LOGS:-/tmp/gatehouse-bench-logs}
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  mkdir -p "$LOGS/compare" && cp "$WORK"/*.log "$LOGS/compare/" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
mkdir -p "$CACHE" "$OUT"
command -v jq >/dev/null || { echo "bench-compare: jq is needed" >&2; exit 1; }
command -v node >/dev/null || { echo "bench-compare: node is needed (apt-get install nodejs npm)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "bench-compare: $1 did not come up" >&2; return 1; }

# --- peers --------------------------------------------------------------
if [ ! -x "$CACHE/hydra-v2.3.0" ]; then
  echo "bench-compare: building Ory Hydra v2.3.0 into $CACHE (once)" >&2
  src=$($GO mod download -json github.com/ory/hydra/v2@v2.3.0 | jq -r .Dir)
  rm -rf "$CACHE/hydra-src" && cp -r "$src" "$CACHE/hydra-src" && chmod -R u+w "$CACHE/hydra-src"
  (cd "$CACHE/hydra-src" &&
    sed -i '/^replace github.com\/ory\/hydra-client-go\/v2 => .\/internal\/httpclient/d' go.mod &&
    GOFLAGS=-mod=mod $GO get github.com/ory/hydra-client-go/v2@v2.2.1 &&
    GOFLAGS=-mod=mod $GO build -o "$CACHE/hydra-v2.3.0" .)
fi
NODEDIR="$CACHE/oidc-provider"
if ! cmp -s scripts/bench-peers/package.json "$NODEDIR/package.json" || [ ! -d "$NODEDIR/node_modules/oidc-provider" ]; then
  echo "bench-compare: installing oidc-provider from npm into $NODEDIR" >&2
  mkdir -p "$NODEDIR" && cp scripts/bench-peers/package.json "$NODEDIR/"
  (cd "$NODEDIR" && npm install --no-audit --no-fund --silent)
fi
cp scripts/bench-peers/oidc-provider.mjs "$NODEDIR/"
# The commit measured: named when the binary is built, before any output is written.
REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
$GO build -o "$WORK/gatehouse" ./cmd/gatehouse
$GO build -o "$WORK/gatehouse-bench" ./cmd/gatehouse-bench

# --- databases: one per system on the same cluster ----------------------
psql() { "$PGBIN/psql" "$DB" -v ON_ERROR_STOP=1 -qAt "$@"; }
for d in bench_gatehouse bench_hydra bench_pgbench; do psql -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d"; done
dburl() { sed -E "s#/postgres\?#/$1?#" <<<"$DB"; }

SECRET=bench-secret-0123456789abcdef0123456789abcdef
REDIRECT=http://127.0.0.1:9/cb

# gatehouse
GPORT=$(free_port); GADM=$(free_port)
GENV=(GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$GADM GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_KEYS_ALGORITHMS=RS256,ES256 GATEHOUSE_ACCESS_TOKEN_ALGORITHM=ES256
  GATEHOUSE_SECRETS=bench-key-encryption-secret-0123456789abcdef GATEHOUSE_DATABASE_URL="$(dburl bench_gatehouse)")
env "${GENV[@]}" "$WORK/gatehouse" migrate up >/dev/null
(cd "$WORK" && exec env "${GENV[@]}" ./gatehouse serve --issuer "http://127.0.0.1:$GPORT" --listen "127.0.0.1:$GPORT" >"$WORK/gatehouse.log" 2>&1) &
GPID=$!; PIDS+=($GPID)
wait_http "http://127.0.0.1:$GPORT/healthz"
common=(--redirect-uri "$REDIRECT" --grant-type authorization_code --grant-type refresh_token --grant-type client_credentials
  --scope openid --scope offline_access)
env "${GENV[@]}" "$WORK/gatehouse" clients create --id bench --secret-stdin --name bench --access-token-format opaque "${common[@]}" <<<"$SECRET" >/dev/null
env "${GENV[@]}" "$WORK/gatehouse" clients create --id bench-jwt --secret-stdin --name bench-jwt --access-token-format jwt "${common[@]}" <<<"$SECRET" >/dev/null
printf 'bench-password-0123\n' | env "${GENV[@]}" "$WORK/gatehouse" users create --email bench@example.test --name Bench --password-stdin >/dev/null
# gatehouse's runs read its SQL statement counter (/metrics on the admin listener) around the measured time.
GATEHOUSE_BENCH_METRICS_KEY=$(env "${GENV[@]}" "$WORK/gatehouse" admin-keys create --name bench-metrics --role metrics:read)
export GATEHOUSE_BENCH_METRICS_KEY
GMETRICS=(--metrics-url "http://127.0.0.1:$GADM/metrics" --pid "$GPID")

# Hydra (defaults, except the log level, as for gatehouse)
HPUB=$(free_port); HADM=$(free_port); HAPP=$(free_port)
HENV=(DSN="$(dburl bench_hydra)" URLS_SELF_ISSUER="http://127.0.0.1:$HPUB" URLS_LOGIN="http://127.0.0.1:$HAPP/login"
  URLS_CONSENT="http://127.0.0.1:$HAPP/consent" SECRETS_SYSTEM=bench-hydra-system-secret-0123456789 SERVE_PUBLIC_PORT=$HPUB
  SERVE_ADMIN_PORT=$HADM SERVE_PUBLIC_HOST=127.0.0.1 SERVE_ADMIN_HOST=127.0.0.1 LOG_LEVEL=warn)
env "${HENV[@]}" "$CACHE/hydra-v2.3.0" migrate sql up -e --yes >"$WORK/hydra-migrate.log" 2>&1
(exec env "${HENV[@]}" "$CACHE/hydra-v2.3.0" serve all --dev >"$WORK/hydra.log" 2>&1) &
HPID=$!; PIDS+=($HPID)
("$WORK/gatehouse-bench" hydra-login --admin "http://127.0.0.1:$HADM" --listen "127.0.0.1:$HAPP" >"$WORK/hydra-login.log" 2>&1) &
PIDS+=($!)
wait_http "http://127.0.0.1:$HPUB/health/ready"
for c in bench:opaque bench-jwt:jwt; do
  curl -sf -X POST "http://127.0.0.1:$HADM/admin/clients" -H 'Content-Type: application/json' -d "$(jq -n --arg id "${c%%:*}" \
    --arg s "$SECRET" --arg f "${c##*:}" --arg r "$REDIRECT" '{client_id:$id, client_secret:$s, grant_types:["authorization_code","refresh_token","client_credentials"],
    response_types:["code"], redirect_uris:[$r], scope:"openid offline_access", token_endpoint_auth_method:"client_secret_basic", access_token_strategy:$f}')" >/dev/null
done

# node-oidc-provider (memory), an opaque and a JWT instance
NPORT=$(free_port); NJPORT=$(free_port)
declare -A NPIDS
for p in "$NPORT:opaque" "$NJPORT:jwt"; do
  (cd "$NODEDIR" && exec env PORT="${p%%:*}" FORMAT="${p##*:}" CLIENT_ID=bench CLIENT_SECRET="$SECRET" node oidc-provider.mjs >"$WORK/node-${p##*:}.log" 2>&1) &
  NPIDS[${p##*:}]=$!; PIDS+=($!)
done
wait_http "http://127.0.0.1:$NPORT/.well-known/openid-configuration"
wait_http "http://127.0.0.1:$NJPORT/.well-known/openid-configuration"

# --- the database's ceiling: one insert and one select per transaction ----
PGDB=$(dburl bench_pgbench)
"$PGBIN/psql" "$PGDB" -qAt -c "CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)"
cat >"$WORK/pgbench.sql" <<'EOF'
INSERT INTO t (v) VALUES ('token-row-of-about-the-size-gatehouse-writes') RETURNING id \gset
SELECT v FROM t WHERE id = :id;
EOF
pgbench_run() { # one run per concurrency level, as one more system of the round
  local c tps p50
  for c in ${LEVELS//,/ }; do
    rm -f "$WORK"/pgl.*
    # -l: every transaction's latency (µs, third field), for the median.
    tps=$(cd "$WORK" && "$PGBIN/pgbench" -n -c "$c" -j 2 -T "${DURATION%s}" -l --log-prefix=pgl -f "$WORK/pgbench.sql" "$PGDB" 2>/dev/null | awk '/^tps/ {print int($3); exit}')
    p50=$(cat "$WORK"/pgl.* | awk '{print $3}' | sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.3f", v[int((NR-1)/2)+1]/1000; else print 0}')
    echo "{\"scenario\":\"client-credentials\",\"target\":\"pgbench-insert-select/opaque\",\"concurrency\":$c,\"per_second\":$tps,\"iterations\":$tps,\"p50_ms\":$p50}" >>"$RESULTS"
  done
}

# --- alternating rounds ---------------------------------------------------
RESULTS="$WORK/compare.jsonl"; : >"$RESULTS"
run() { # SYSTEM/VARIANT ISSUER CLIENT SCENARIO [extra flags]
  local target=$1 issuer=$2 client=$3 scenario=$4; shift 4
  "$WORK/gatehouse-bench" run --issuer "$issuer" --client-id "$client" --client-secret "$SECRET" --scenario "$scenario" \
    --concurrency "$LEVELS" --duration "$DURATION" --warmup "$WARMUP" --target "$target" --json "$RESULTS" "$@" | tail -n +2
}
G="http://127.0.0.1:$GPORT"; H="http://127.0.0.1:$HPUB"; HI="http://127.0.0.1:$HADM/admin/oauth2/introspect"
N="http://127.0.0.1:$NPORT"; NJ="http://127.0.0.1:$NJPORT"
LOGIN=(--redirect-uri "$REDIRECT" --email bench@example.test --password bench-password-0123)
for round in $(seq "$ROUNDS"); do
  echo "bench-compare: round $round of $ROUNDS" >&2
  run gatehouse/opaque "$G" bench client-credentials "${GMETRICS[@]}";   run hydra/opaque "$H" bench client-credentials --pid "$HPID"
  run node-oidc-provider/opaque "$N" bench client-credentials --pid "${NPIDS[opaque]}"
  pgbench_run
  run gatehouse/jwt "$G" bench-jwt client-credentials "${GMETRICS[@]}";  run hydra/jwt "$H" bench-jwt client-credentials --pid "$HPID"
  run node-oidc-provider/jwt "$NJ" bench client-credentials --pid "${NPIDS[jwt]}"
  run gatehouse/opaque "$G" bench introspect "${GMETRICS[@]}";           run hydra/opaque "$H" bench introspect --introspection-endpoint "$HI" --pid "$HPID"
  run node-oidc-provider/opaque "$N" bench introspect --pid "${NPIDS[opaque]}"
  # JWT introspection, reported on its own (oidc-provider does not introspect JWTs)
  run gatehouse/jwt "$G" bench-jwt introspect "${GMETRICS[@]}";          run hydra/jwt "$H" bench-jwt introspect --introspection-endpoint "$HI" --pid "$HPID"
  run gatehouse/opaque "$G" bench authcode "${LOGIN[@]}" "${GMETRICS[@]}"; run hydra/opaque "$H" bench authcode --redirect-uri "$REDIRECT" --pid "$HPID"
  # gatehouse's memory under 512 clients (the Targets' RSS goal)
  run gatehouse/opaque "$G" bench client-credentials "${GMETRICS[@]}" --concurrency 512
done

{
  cat <<EOF
# gatehouse against Ory Hydra and node-oidc-provider

Measured by \`make bench-compare\` on $(date -u +%Y-%m-%d): gatehouse $REV,
Ory Hydra v2.3.0 (built from the Go module proxy; its defaults, including PBKDF2 with 25,000
iterations for client secrets, and a login/consent app that accepts at once), panva's
oidc-provider $(jq -r '.dependencies["oidc-provider"]' scripts/bench-peers/package.json) (memory adapter) on node $(node --version),
$($GO version | cut -d' ' -f3), $(nproc) CPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')).
gatehouse and Hydra share one throwaway PostgreSQL cluster ($("$PGBIN/postgres" --version | awk '{print $3}'), on the same disk, with
fsync=$("$PGBIN/psql" "$DB" -qAt -c 'SHOW fsync'), synchronous_commit=$("$PGBIN/psql" "$DB" -qAt -c 'SHOW synchronous_commit'), as the cluster reports them) and log at warn; the load generator (\`gatehouse-bench\`, with its own
lean HTTP/1.1 client, the same for every system) runs on the same machine and shares its $(nproc) cores with the servers and the database.
Each cell is the median of ${ROUNDS} runs of ${DURATION} (after ${WARMUP} warm-up), the systems measured alternately
in every round. "peak RSS MiB" is the highest resident memory (VmRSS, sampled every 20 ms) of the system's server
process during any round's measured run; the database's own memory is not in it. "jwt" is RFC 9068 access tokens (gatehouse ES256, Hydra RS256 — its default key —, oidc-provider
ES256); \`authcode\` is a whole login (authorize → code → token → userinfo, ID token verified) with a
session and remembered consent; oidc-provider has no login app here and does not introspect JWTs.
\`pgbench-insert-select\` is the database's ceiling: transactions of one INSERT and one SELECT (pgbench, run in
every round after the client_credentials runs, on its own database of the same cluster; its p50 is the median of
every transaction's latency, from pgbench's per-transaction log).
"0 (stalled)": requests were still waiting when the measurement ended and none finished in it.
gatehouse's SQL statements per iteration are its \`gatehouse_sql_statements_total\` (admin listener, \`/metrics\`) read before
and after each measured run, divided by the iterations; under load, grouped inserts and reads make it smaller than
a lone request's count.

EOF
  "$WORK/gatehouse-bench" compare --in "$RESULTS" --base gatehouse
} >"$OUT/benchmarks-compare.md"
cp "$RESULTS" "$OUT/benchmarks-compare.jsonl"
cat "$OUT/benchmarks-compare.md"
