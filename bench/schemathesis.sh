#!/usr/bin/env bash
# Suite f: schemathesis (from PyPI) against /api/v1/openapi.json with an admin token carrying
# every scope, on a fresh database with the demo fleet; checks: no 5xx, responses, statuses and
# content types conform to the schema. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
command -v st >/dev/null || { say "installing schemathesis (PyPI)"; pip install --quiet schemathesis; }
cargo build --quiet -p berth
berth="$(target_dir)/debug/berth"
db="berth_schemathesis_$$"
base="${DATABASE_URL%/*}"
port=$(free_port)
export DATABASE_URL="$base/$db" BERTH_LISTEN="127.0.0.1:$port" RUST_LOG=warn
"$berth" migrate >/dev/null
echo "a schemathesis admin password" | "$berth" admin create --email st@berth.local >/dev/null
"$berth" demo seed >/dev/null
"$berth" serve >"$(target_dir)/schemathesis-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
token=$(api_token "http://127.0.0.1:$port" st@berth.local "a schemathesis admin password" '["read","request","approve"]')
echo "### $(date -u +%Y-%m-%d) — \`bash bench/schemathesis.sh\` ($(st --version))"
echo
# Logout, password changes, token revocation and disabling users can end the run's own
# credentials (the stateful phase finds its own token and user); the authz matrix and the HTTP
# tests cover them.
st run "http://127.0.0.1:$port/api/v1/openapi.json" --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-path /api/v1/auth/logout --exclude-path /api/v1/me/password \
  --exclude-path '/api/v1/tokens/{id}' --exclude-path '/api/v1/users/{id}/status' \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --workers 2 2>&1 | tail -"${SCHEMATHESIS_TAIL:-40}"
