#!/usr/bin/env bash
# Login flood: 500 (FLOOD_COUNT) logins at once against a release Berth on loopback — wrong
# passwords for one account, then correct ones for 500 users — with the server's peak RSS
# after each round. Figures for docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
count="${FLOOD_COUNT:-500}"
cargo build --quiet --release -p berth --bin berth --example login_flood
bin="$(target_dir)/release"
db="berth_bench_flood_$$"
base="${DATABASE_URL%/*}"
port=$(free_port)
export DATABASE_URL="$base/$db" BERTH_LISTEN="127.0.0.1:$port" RUST_LOG=warn
password="a flood password of some length"
"$bin/berth" migrate >/dev/null
echo "$password" | "$bin/berth" admin create --email flood-0@bench.local >/dev/null
# The other users share the first one's hash: making 499 more would cost 499 argon2 runs.
psql "$DATABASE_URL" -qc "INSERT INTO users (id, email, display_name, password_hash)
  SELECT gen_random_uuid(), 'flood-' || g || '@bench.local', 'flood ' || g, u.password_hash
  FROM generate_series(1, $count - 1) g, users u WHERE u.email = 'flood-0@bench.local'"
"$bin/berth" serve >"$(target_dir)/login-flood-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1' EXIT
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; do
  kill -0 "$server" || { cat "$(target_dir)/login-flood-server.log"; exit 1; }
  sleep 0.2
done
rss() { awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$server/status"; }
echo "### $(date -u +%Y-%m-%d) — \`bash bench/login-flood.sh\` ($count at once, $(nproc) cores, release build)"
echo
echo "- server peak RSS before: $(rss)"
FLOOD_ROUND=wrong "$bin/examples/login_flood" "http://127.0.0.1:$port" "$count" "$password" | sed 's/^/- /'
echo "- server peak RSS after the wrong passwords: $(rss)"
FLOOD_ROUND=right "$bin/examples/login_flood" "http://127.0.0.1:$port" "$count" "$password" | sed 's/^/- /'
echo "- server peak RSS after the correct logins: $(rss)"
