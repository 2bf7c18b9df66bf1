#!/usr/bin/env bash
# Reliability suites on loopback; figures go to docs/reliability.md.
#   a + e: 64 connections of mixed reads and writes for 5 minutes against two Berth processes on
#          one database (RELIABILITY_SECONDS to shorten); then every answered write is checked
#          provisioned exactly once.
#   d + b: a second run in which Berth A is killed with SIGKILL mid-provisioning and restarted,
#          and Postgres is restarted under load (needs pg_ctlcluster and root; skipped without);
#          recovery time, lost and doubled writes.
#   h:     `berth audit verify` afterwards.
# The simulator (berth-fleet-sim, 10 clusters × 5 nodes) runs in its own process.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
seconds="${RELIABILITY_SECONDS:-300}"
cargo build --quiet --release -p berth-fleet-sim --bin berth-fleet-sim
cargo build --quiet --release -p berth --bin berth --example reliability
bin="$(target_dir)/release"
work=$(mktemp -d)
"$bin/berth-fleet-sim" --generate 10x5 --kubeconfig-out "$work/fleet.kubeconfig" 2>/dev/null &
sim=$!
db="berth_reliability_$$"
base="${DATABASE_URL%/*}"
export DATABASE_URL="$base/$db" BERTH_KUBECONFIG="$work/fleet.kubeconfig" RUST_LOG=warn BERTH_DRIFT_INTERVAL_SECONDS=0
pids=()
cleanup() {
  kill "$sim" "${pids[@]}" 2>/dev/null || true
  psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 200); do [ -s "$work/fleet.kubeconfig" ] && break; sleep 0.1; done
token=$("$bin/examples/reliability" setup)
port_a=$(free_port); port_b=$(free_port)
serve() { # port → pid
  BERTH_LISTEN="127.0.0.1:$1" "$bin/berth" serve >>"$work/berth-$1.log" 2>&1 &
  echo $!
}
wait_ready() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }
a=$(serve "$port_a"); b=$(serve "$port_b"); pids=("$a" "$b")
wait_ready "$port_a"; wait_ready "$port_b"
urls="http://127.0.0.1:$port_a,http://127.0.0.1:$port_b"

echo "### $(date -u +%Y-%m-%d) — \`bash bench/reliability.sh\` ($(nproc) cores, release build, 10 simulated clusters in their own process)"
echo
echo "**a + e: ${seconds} s of load on two Berth processes sharing one database**"
echo
"$bin/examples/reliability" load --urls "$urls" --token "$token" --connections 64 --seconds "$seconds" --prefix a --ledger "$work/a.ledger" | sed 's/^/- /'
"$bin/examples/reliability" check --ledger "$work/a.ledger" | sed 's/^/- /'
echo

echo "**d + b: SIGKILL of process A mid-provisioning, then a Postgres restart, under load**"
echo
"$bin/examples/reliability" load --urls "$urls" --token "$token" --connections 16 --seconds 60 --write-percent 50 --prefix d --ledger "$work/d.ledger" >"$work/d.out" &
load=$!
sleep 15
kill -9 "$a"
echo "- $(date -u +%T) process A killed with SIGKILL at 15 s; restarted at 17 s"
sleep 2
a=$(serve "$port_a"); pids=("$a" "$b")
sleep 18
if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ] && pg_lsclusters 2>/dev/null | grep -q ' 5432 online'; then
  echo "- Postgres restarted at 35 s (pg_ctlcluster restart, $(date -u +%T))"
  pg_ctlcluster "$(pg_lsclusters | awk '$3 == 5432 {print $1; exit}')" main restart
  echo "- Postgres answered again at $(date -u +%T)"
else
  echo "- Postgres restart skipped: this Postgres is not managed by pg_ctlcluster here"
fi
wait "$load"
sed 's/^/- /' "$work/d.out"
"$bin/examples/reliability" check --ledger "$work/d.ledger" | sed 's/^/- /'
echo
echo "**h: the audit chain afterwards**"
echo
echo "- $("$bin/berth" audit verify)"
