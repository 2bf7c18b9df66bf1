#!/usr/bin/env bash
# Fleet simulator benchmark: 100 simulated clusters x 500 nodes in one process (start time,
# RSS) and server-side applies per second across them. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLX_OFFLINE=true
cargo build --quiet --release -p berth-fleet-sim --example sim_bench
echo "### $(date -u +%Y-%m-%d) — \`bash bench/fleet-sim.sh\` ($(nproc) cores, release build)"
echo
"${CARGO_TARGET_DIR:-target}/release/examples/sim_bench" | sed 's/^/- /'
