#!/usr/bin/env bash
# Reliability suites on loopback; figures go to docs/reliability.md.
#   a + e: 64 connections of mixed reads and writes for 5 minutes against two Berth processes on
#          one database (RELIABILITY_SECONDS to shorten); then every answered write is checked
#          provisioned exactly once.
#   d + b: a second run in which Berth A is killed with SIGKILL mid-provisioning and restarted,
#          and Postgres is restarted under load (needs pg_ctlcluster and root; skipped without);
#          recovery time, lost and doubled writes.
#   paced: the same mix on two processes at a fixed 100 requests per second, for the latency SLO.
#   c:     a Berth running the demo fleet in-process; one cluster's API answers 500 to every call
#          while namespaces are provisioned there and on a healthy cluster, then it recovers.
#   h:     `berth audit verify` afterwards.
# RELIABILITY_PHASES picks phases (default: "a paced d c"). The first run in docs/reliability.md
# predates the paced and c phases.
# The simulator (berth-fleet-sim, 10 clusters × 5 nodes) runs in its own process.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_postgres berth
ensure_secret_key
export SQLX_OFFLINE=true
seconds="${RELIABILITY_SECONDS:-300}"
phases=" ${RELIABILITY_PHASES:-a paced d c} "
want() { [[ "$phases" == *" $1 "* ]]; }
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
if want a; then
echo "**a + e: ${seconds} s of load on two Berth processes sharing one database (closed loop)**"
echo
"$bin/examples/reliability" load --urls "$urls" --token "$token" --connections 64 --seconds "$seconds" --prefix a --ledger "$work/a.ledger" | sed 's/^/- /'
"$bin/examples/reliability" check --ledger "$work/a.ledger" | sed 's/^/- /'
echo
fi
if want paced; then
echo "**a, paced: ${seconds} s at 100 requests per second over 64 connections on two processes**"
echo
"$bin/examples/reliability" load --urls "$urls" --token "$token" --connections 64 --seconds "$seconds" --rate 100 --prefix p --ledger "$work/p.ledger" | sed 's/^/- /'
"$bin/examples/reliability" check --ledger "$work/p.ledger" | sed 's/^/- /'
echo
fi

if want d; then
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
elif [ -f .pgdata/PG_VERSION ] && [[ "$DATABASE_URL" == *":5499/"* ]]; then
  # The scripts' own Postgres (scripts/lib.sh).
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  echo "- Postgres restarted at 35 s (pg_ctl restart -m fast of .pgdata, $(date -u +%T))"
  "${as[@]}" "$pg_bin/pg_ctl" -D .pgdata -l .pgdata/server.log -o "-p 5499 -k /tmp -c listen_addresses=127.0.0.1" -m fast -w restart >/dev/null
  echo "- Postgres answered again at $(date -u +%T)"
else
  echo "- Postgres restart skipped: this Postgres is neither pg_ctlcluster's nor the scripts' own"
fi
wait "$load"
sed 's/^/- /' "$work/d.out"
"$bin/examples/reliability" check --ledger "$work/d.ledger" | sed 's/^/- /'
echo
fi
echo "**h: the audit chain afterwards**"
echo
echo "- $("$bin/berth" audit verify)"

if want c; then
  echo
  echo "**c: one cluster's API failing during provisioning (demo fleet in-process)**"
  echo
  c_db="berth_reliability_c_$$"; c_port=$(free_port)
  c_env=(env -u BERTH_KUBECONFIG DATABASE_URL="$base/$c_db" BERTH_LISTEN="127.0.0.1:$c_port")
  trap 'cleanup; psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $c_db" >/dev/null 2>&1 || true' EXIT
  "${c_env[@]}" "$bin/berth" migrate >/dev/null
  echo "a reliability admin password" | "${c_env[@]}" "$bin/berth" admin create --email admin@berth.local >/dev/null
  dev_pw=$("${c_env[@]}" "$bin/berth" demo seed | sed -n 's/^developer: .*one-time password: \([^ ]*\).*/\1/p')
  "${c_env[@]}" "$bin/berth" serve >>"$work/berth-c.log" 2>&1 &
  pids+=("$!")
  wait_ready "$c_port"
  admin_token=$(api_token "http://127.0.0.1:$c_port" admin@berth.local "a reliability admin password" '["read","request","approve"]')
  dev_token=$(api_token "http://127.0.0.1:$c_port" dev@berth.local "$dev_pw" '["read","request"]')
  "$bin/examples/reliability" cluster-fault --url "http://127.0.0.1:$c_port" --admin-token "$admin_token" --dev-token "$dev_token" | sed 's/^/- /'
  echo "- $("${c_env[@]}" "$bin/berth" audit verify)"
fi
