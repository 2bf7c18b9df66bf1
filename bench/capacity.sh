#!/usr/bin/env bash
# Capacity benchmark: recommendations for 2,000 and 5,000 containers over 7 days of 5-minute
# samples from Debian's Prometheus (backfilled with promtool) on loopback: wall time,
# Prometheus' own CPU time, queries, RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_prometheus
export SQLX_OFFLINE=true
cargo build --quiet --release -p berth --example capacity_bench
echo "### $(date -u +%Y-%m-%d) — \`bash bench/capacity.sh\` ($(nproc) cores, release build, $(prometheus --version 2>&1 | head -n1))"
echo
for namespaces in ${BENCH_NAMESPACES:-100 250}; do
  echo
  echo "$((namespaces * 20)) containers:"
  echo
  BENCH_NAMESPACES=$namespaces RUST_LOG=warn "$(target_dir)/release/examples/capacity_bench" | sed 's/^/- /'
done
