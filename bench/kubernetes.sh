#!/usr/bin/env bash
# Berth on real kube-apiservers (testplane/, built from the Go module proxy), loopback only:
#   - the control plane's build (warm; cold with BENCH_COLD_BUILD=1, in a fresh Go cache) and
#     the start of one cluster;
#   - auto-approved requests taken to ready by Berth's job workers on two clusters, beside a
#     bare kube client applying the same ten objects per namespace to the same apiservers;
#   - one inventory sync of a cluster of 500 kwok nodes running 5,000 pods: time and RSS.
# Prints markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
cargo build --quiet --release -p berth --example tenancy_bench --example fleet_sync_bench
bin="$(target_dir)/release"
work=$(mktemp -d)
base="${DATABASE_URL%/*}"
dbs=()
on_exit() {
  for db in "${dbs[@]}"; do psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap stop_background EXIT
since() { awk -v s="$1" -v e="$(date +%s%N)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, (e - s) / 1e9 }'; }

echo "### $(date -u +%Y-%m-%d) — \`bash bench/kubernetes.sh\` ($(nproc) cores, Kubernetes $(source testplane/versions.env; echo "$KUBERNETES_VERSION"), release build)"
echo
if [ -n "${BENCH_COLD_BUILD:-}" ]; then
  started=$(date +%s%N)
  GOCACHE="$work/gocache" BERTH_TESTPLANE_CACHE="$work/planes" testplane_build >/dev/null 2>&1
  echo "- control plane, cold build (empty Go build cache, modules already downloaded): $(since "$started" 0) s, $(du -sh "$work/planes" | cut -f1) of binaries"
fi
started=$(date +%s%N)
testplane_build >/dev/null 2>&1
echo "- control plane, warm build (binaries cached for the pins): $(since "$started") s"

started=$(date +%s%N)
start_clusters testplane/fleets/bench.yaml "$work/one" bench-a 2>/dev/null
echo "- one cluster started (etcd, kube-apiserver, controller-manager, scheduler, kwok; 4 nodes Ready, scheduler proven): $(since "$started") s"
kill "${background_pids[-1]}"; wait "${background_pids[-1]}" 2>/dev/null || true

start_clusters testplane/fleets/bench.yaml "$work/apply" 2>/dev/null
db="berth_bench_kube_$$"; dbs+=("$db")
DATABASE_URL="$base/$db" BERTH_KUBECONFIG="$BERTH_TEST_KUBECONFIG" RUST_LOG=warn \
  BENCH_LATENCY_N="${BENCH_LATENCY_N:-100}" BENCH_THROUGHPUT_N="${BENCH_THROUGHPUT_N:-300}" BENCH_ROUNDS="${BENCH_ROUNDS:-5}" \
  "$bin/examples/tenancy_bench" | sed 's/^/- /'
kill "${background_pids[-1]}"; wait "${background_pids[-1]}" 2>/dev/null || true

nodes="${BENCH_NODES:-500}"
per_node="${BENCH_PODS_PER_NODE:-10}"
cat >"$work/inventory.yaml" <<EOF
clusters:
  - name: big
    layer: online
    region: cn-east-2
    zones: [a, b, c]
    nodePools:
      - {name: general, labelKey: eks.amazonaws.com/nodegroup, nodes: $((nodes * 4 / 5)), instanceType: m6i.4xlarge,
         allocatable: {cpu: 15890m, memory: 57Gi, pods: "110", ephemeral-storage: 95Gi}, labels: {workload: online}}
      - {name: spot, labelKey: eks.amazonaws.com/nodegroup, nodes: $((nodes / 5)), instanceType: c6i.8xlarge,
         allocatable: {cpu: 31850m, memory: 60Gi, pods: "110", ephemeral-storage: 95Gi},
         taints: [{key: workload, value: spot, effect: NoSchedule}]}
    storageClasses:
      - {name: gp3, provisioner: ebs.csi.aws.com, default: true}
    pods:
      - {pool: general, namespace: load, perNode: $per_node, cpu: 250m, memory: 512Mi}
      - {pool: spot, namespace: batch, perNode: $per_node, cpu: "1", memory: 2Gi}
EOF
started=$(date +%s%N)
start_clusters "$work/inventory.yaml" "$work/inventory" 2>/dev/null
echo "- a cluster of $nodes kwok nodes with $((nodes * per_node)) running pods started in $(since "$started" 0) s"
db="berth_bench_kube_inv_$$"; dbs+=("$db")
DATABASE_URL="$base/$db" BERTH_KUBECONFIG="$BERTH_TEST_KUBECONFIG" RUST_LOG=warn \
  "$bin/examples/fleet_sync_bench" | sed 's/^/- inventory: /'
