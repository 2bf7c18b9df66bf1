#!/usr/bin/env bash
# Fleet sync benchmark: 100 simulated clusters x 500 nodes served by berth-fleet-sim in its
# own process; Berth registers them by kubeconfig context and syncs them all once. Reports
# wall time and Berth's peak RSS. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
shape="${BENCH_FLEET:-100x500}"
cargo build --quiet --release -p berth-fleet-sim --bin berth-fleet-sim
cargo build --quiet --release -p berth --example fleet_sync_bench
bin="$(target_dir)/release"
work=$(mktemp -d)
"$bin/berth-fleet-sim" --generate "$shape" --kubeconfig-out "$work/fleet.kubeconfig" 2>/dev/null &
sim=$!
db="berth_bench_sync_$$"
base="${DATABASE_URL%/*}"
trap 'kill $sim 2>/dev/null; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do [ -s "$work/fleet.kubeconfig" ] && break; sleep 0.1; done
echo "### $(date -u +%Y-%m-%d) — \`bash bench/fleet-sync.sh\` ($shape, $(nproc) cores, release build)"
echo
DATABASE_URL="$base/$db" BERTH_KUBECONFIG="$work/fleet.kubeconfig" RUST_LOG=warn "$bin/examples/fleet_sync_bench" | sed 's/^/- /'
