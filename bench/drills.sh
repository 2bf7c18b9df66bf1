#!/usr/bin/env bash
# Drill benchmark: 50 restore drills at once over 10 simulated clusters (in the benchmark's
# process, with a task playing Velero), to their verdicts. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
cargo build --quiet --release -p berth --example drill_bench
db="berth_bench_drills_$$"
base="${DATABASE_URL%/*}"
trap 'psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1' EXIT
echo "### $(date -u +%Y-%m-%d) — \`bash bench/drills.sh\` (50 drills, 10 clusters, $(nproc) cores, release build)"
echo
DATABASE_URL="$base/$db" RUST_LOG=warn "$(target_dir)/release/examples/drill_bench" | sed 's/^/- /'
