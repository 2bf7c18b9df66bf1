#!/usr/bin/env bash
# Tenancy benchmark: berth-fleet-sim serves 30 simulated clusters in its own process; Berth
# (release build, its own job workers) takes auto-approved namespace requests to ready, then
# pages through 10,000 namespaces. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
shape="${BENCH_FLEET:-30x10}"
cargo build --quiet --release -p berth-fleet-sim --bin berth-fleet-sim
cargo build --quiet --release -p berth --example tenancy_bench
bin="$(target_dir)/release"
work=$(mktemp -d)
"$bin/berth-fleet-sim" --generate "$shape" --kubeconfig-out "$work/fleet.kubeconfig" 2>/dev/null &
sim=$!
db="berth_bench_tenancy_$$"
base="${DATABASE_URL%/*}"
trap 'kill $sim 2>/dev/null; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do [ -s "$work/fleet.kubeconfig" ] && break; sleep 0.1; done
echo "### $(date -u +%Y-%m-%d) — \`bash bench/tenancy.sh\` ($shape, $(nproc) cores, release build)"
echo
DATABASE_URL="$base/$db" BERTH_KUBECONFIG="$work/fleet.kubeconfig" RUST_LOG=warn "$bin/examples/tenancy_bench" | sed 's/^/- /'
