#!/usr/bin/env bash
# KRR side by side with Berth on the same Prometheus TSDB (the capacity bench's synthetic
# fleet, backfilled into Debian's Prometheus with promtool): wall time, Prometheus' own CPU
# time and query count for each, and how many containers' CPU and memory requests are exactly
# equal. KRR is never part of this repository: fetch robusta-dev/krr yourself, check out the
# release to compare with, install its requirements into a virtualenv, and point KRR_SRC and
# KRR_PYTHON at them, e.g.
#   git -C <krr> archive v1.29.0 | tar -x -C /tmp/krr-src
#   python3 -m venv /tmp/krr-venv && /tmp/krr-venv/bin/pip install -r /tmp/krr-src/requirements.txt
#   KRR_SRC=/tmp/krr-src KRR_PYTHON=/tmp/krr-venv/bin/python bash bench/krr.sh
# BENCH_NAMESPACES lists the sizes (20 containers each, e.g. "100 250" for 2,000 and 5,000);
# BENCH_ROUNDS (default 3) is how many times KRR and Berth run, alternating, per size.
# KRR discovers workloads from a Kubernetes API, so a real control plane (testplane, one
# cluster) holds the bench's Namespaces and Deployments; KRR finds their pods in Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
: "${KRR_SRC:?set KRR_SRC to a checkout of robusta-dev/krr}"
KRR_PYTHON="${KRR_PYTHON:-python3}"
ensure_prometheus
export SQLX_OFFLINE=true
cargo build --quiet --release -p berth --example capacity_bench
work=$(mktemp -d)
start_clusters testplane/fleets/bench.yaml "$work/krr" bench-a 2>/dev/null
version=$(git -C "$KRR_SRC" describe --tags 2>/dev/null || grep -m1 '^version' "$KRR_SRC/pyproject.toml" || true)
echo "### $(date -u +%Y-%m-%d) — \`bash bench/krr.sh\` ($(nproc) cores, KRR ${KRR_VERSION:-$version}, $(prometheus --version 2>&1 | head -n1))"
for namespaces in ${BENCH_NAMESPACES:-50}; do
  echo
  echo "$((namespaces * 20)) containers:"
  echo
  BENCH_NAMESPACES=$namespaces BENCH_KRR="$KRR_PYTHON $KRR_SRC/krr.py" \
    BENCH_KUBECONFIG="$BERTH_TEST_KUBECONFIG" BENCH_CONTEXT=bench-a-admin BENCH_KUBECTL="$BERTH_TEST_KUBECTL" \
    RUST_LOG=warn "$(target_dir)/release/examples/capacity_bench" | sed 's/^/- /'
done
