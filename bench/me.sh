#!/usr/bin/env bash
# Foundation benchmark: authenticated `GET /api/v1/me` at 64 connections (wrk, closed loop) and
# paced at BENCH_RATE (default 1,000 req/s, open loop) against a release build, the closed loop
# again with sessions read from Postgres on every request (BERTH_CREDENTIAL_CACHE_SECONDS=0), beside
# `pgbench -S -c 64` on the same Postgres in the same run; plus idle RSS and the shell wasm size.
# Loopback only. Prints a Markdown block for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
command -v wrk >/dev/null || apt_install wrk
command -v pgbench >/dev/null || apt_install postgresql-contrib
export SQLX_OFFLINE=true
duration="${BENCH_SECONDS:-20}"

bash scripts/build-site >/dev/null
cargo build --quiet --release -p berth
berth="$(target_dir)/release/berth"
base="${DATABASE_URL%/*}"
db="berth_bench_$$"
port=$(free_port)
run=(env DATABASE_URL="$base/$db" BERTH_LISTEN="127.0.0.1:$port" RUST_LOG=warn BERTH_DB_POOL_SIZE=64)
"${run[@]}" "$berth" migrate >/dev/null
echo "bench password 1234" | "${run[@]}" "$berth" admin create --email bench@example.com >/dev/null
"${run[@]}" "$berth" serve >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS ${db}_pgbench" >/dev/null 2>&1' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
sleep 2
idle_rss_kb=$(ps -o rss= -p "$server" | tr -d ' ')

cookie=$(curl -fs -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password 1234"}' \
  "http://127.0.0.1:$port/api/v1/auth/login" | awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2}')
curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/api/v1/me" >/dev/null

wrk_out=$(wrk -t2 -c64 -d"${duration}s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/api/v1/me")
rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$wrk_out")
p50=$(awk '$1=="50%" {print $2}' <<<"$wrk_out")
p99=$(awk '$1=="99%" {print $2}' <<<"$wrk_out")
errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$wrk_out")
loaded_rss_kb=$(ps -o rss= -p "$server" | tr -d ' ')
# The load a portal sees: a fixed rate (open loop, latency from each request's scheduled start).
rate="${BENCH_RATE:-1000}"
paced=$(python3 bench/paced.py 127.0.0.1 "$port" /api/v1/me "$cookie" "$rate" "$duration" 16)
paced_p50=$(grep -o 'p50=[0-9.]*ms' <<<"$paced" | cut -d= -f2)
paced_p99=$(grep -o 'p99=[0-9.]*ms' <<<"$paced" | cut -d= -f2)
paced_rate=$(grep -o 'rate=[0-9]*/s' <<<"$paced" | cut -d= -f2)
paced_errors=$(grep -o 'errors=[0-9]*' <<<"$paced" | cut -d= -f2)
kill "$server"; wait "$server" 2>/dev/null || true

# The same closed loop with every session read from Postgres (no session memory): what the
# session check costs when a request must ask.
"${run[@]}" BERTH_CREDENTIAL_CACHE_SECONDS=0 "$berth" serve >/dev/null 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/api/v1/me" >/dev/null
cold_out=$(wrk -t2 -c64 -d"${duration}s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/api/v1/me")
cold_rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$cold_out")
cold_p50=$(awk '$1=="50%" {print $2}' <<<"$cold_out")
cold_p99=$(awk '$1=="99%" {print $2}' <<<"$cold_out")
# Free the server's connections before pgbench opens its 64.
kill "$server"; wait "$server" 2>/dev/null || true

psql "$base/postgres" -qc "CREATE DATABASE ${db}_pgbench" >/dev/null
pgbench -q -i -s 10 "$base/${db}_pgbench" >/dev/null 2>&1
pg_out=$(pgbench -S -c 64 -j 2 -T "$duration" "$base/${db}_pgbench")
tps=$(awk -F'= ' '/^tps/ {split($2, a, " "); print a[1]; exit}' <<<"$pg_out")
ratio=$(python3 -c "print(f'{$rps / $tps:.2f}')")
cold_ratio=$(python3 -c "print(f'{$cold_rps / $tps:.2f}')")
wasm_br=$(wc -c < target/site/pkg/berth.wasm.br)

cat <<MD
### $(date -u +%Y-%m-%d) — \`bash bench/me.sh\` (${duration} s each, $(nproc) cores, release build)

| figure | value | target |
| --- | --- | --- |
| \`GET /api/v1/me\` with a session, 64 connections | ${rps} req/s | ≥ 0.5 × pgbench |
| latency p50 / p99 (closed loop, 64 connections) | ${p50} / ${p99} | — |
| the same with every session read from Postgres (\`BERTH_CREDENTIAL_CACHE_SECONDS=0\`) | ${cold_rps} req/s, p50 ${cold_p50} / p99 ${cold_p99} | — |
| paced at ${rate} req/s (16 connections, bench/paced.py): achieved, p50 / p99 | ${paced_rate}, ${paced_p50} / ${paced_p99} (${paced_errors} errors) | p99 < 10 ms |
| \`pgbench -S -c 64 -j 2\` (scale 10), same run | ${tps} TPS | — |
| ratio /me ÷ pgbench | ${ratio} (every session from Postgres: ${cold_ratio}) | ≥ 0.5 |
| idle server RSS | $((idle_rss_kb / 1024)) MB | < 60 MB |
| RSS after the load | $((loaded_rss_kb / 1024)) MB | — |
| shell wasm (the login page; per page: bench/bundle.sh), brotli as served | $((wasm_br / 1024)) KiB (${wasm_br} bytes) | ≤ 350 KB |
${errors:+| wrk errors | ${errors} | 0 |}
MD
