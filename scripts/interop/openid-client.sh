#!/usr/bin/env bash
# Drives a development server with openid-client, the most used JavaScript
# relying-party library (npm): code + PKCE, PAR found through discovery
# alone, private_key_jwt with the library's default assertion, and
# invalid_client for a wrong secret. Not part of `make test` (it needs npm);
# run it with `make interop`. The library is installed into
# ~/.cache/gatehouse-interop (INTEROP_CACHE), never into the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${INTEROP_CACHE:-$HOME/.cache/gatehouse-interop}/openid-client
version=${OPENID_CLIENT_VERSION:-6.9.0}
mkdir -p "$cache"
if [ "$(node -p "try{require('$cache/node_modules/openid-client/package.json').version}catch{''}")" != "$version" ]; then
  (cd "$cache" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund "openid-client@$version" "jose@5" >/dev/null)
fi
cp scripts/interop/openid-client.mjs "$cache/check.mjs"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
go build -o "$dir/gatehouse" ./cmd/gatehouse
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
(cd "$dir" && GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$(free_port) exec ./gatehouse serve --dev --listen "127.0.0.1:$port" --issuer "http://localhost:$port" >"$dir/log" 2>&1) &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "openid-client $version against http://localhost:$port"
node "$cache/check.mjs" "http://localhost:$port"
