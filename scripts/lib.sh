# Shared by scripts/run and scripts/test: install what is missing, find or start Postgres.
# Sourced, not run. Everything here is idempotent and quiet when there is nothing to do.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

target_dir() { echo "${CARGO_TARGET_DIR:-$PWD/target}"; }

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }
}

# wasm-bindgen's CLI must match the library in Cargo.lock exactly.
ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install --quiet wasm-bindgen-cli --version "=$want"
  fi
}

ensure_sqlx_cli() {
  cargo sqlx --version >/dev/null 2>&1 \
    || { say "installing sqlx-cli (a few minutes, once)"; cargo install --quiet sqlx-cli --version '^0.8' --no-default-features --features rustls,postgres; }
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

ensure_playwright() {
  ensure_chromium
  [ -d playwright/node_modules/@playwright/test ] \
    || { say "installing Playwright (no browser download)"; (cd playwright && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent); }
}

# Debian's prometheus and promtool: capacity tests and the demo's usage history.
ensure_prometheus() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_install prometheus
}

# Serves the demo namespace's usage from a local Prometheus and exports BERTH_PROMETHEUS_URL,
# unless one is configured already. Stops with the calling shell.
start_demo_prometheus() { # berth-binary
  [ -n "${BERTH_PROMETHEUS_URL:-}" ] && return 0
  ensure_prometheus
  mkdir -p .berth
  local url_file=.berth/prometheus.url
  rm -f "$url_file"
  "$1" demo prometheus --dir .berth/prometheus >"$url_file" 2>.berth/prometheus.err &
  demo_prometheus=$!
  trap 'kill $demo_prometheus 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    [ -s "$url_file" ] && break
    kill -0 "$demo_prometheus" 2>/dev/null || { cat .berth/prometheus.err >&2; return 1; }
    sleep 0.2
  done
  BERTH_PROMETHEUS_URL="$(head -n1 "$url_file")"
  export BERTH_PROMETHEUS_URL
  say "demo usage history served by Prometheus at $BERTH_PROMETHEUS_URL"
}

# Prints a new API token: logs in as <email> with <password> at <base-url> and creates a
# token with <scopes-json> (for example '["read","request"]'), valid for a day.
api_token() { # base-url email password scopes-json
  local jar csrf
  jar=$(mktemp)
  csrf=$(curl -fs -c "$jar" -H 'content-type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$3\"}" "$1/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
  curl -fs -b "$jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
    -d "{\"name\":\"script\",\"scopes\":$4,\"expires_in_days\":1}" "$1/api/v1/tokens" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'
  rm -f "$jar"
}

pg_answers() { # host port
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$1" -p "$2"
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

# Exports DATABASE_URL: the one given, else a server on 127.0.0.1:5432, else a private
# server started from installed Postgres binaries with its data under .pgdata (git-ignored).
ensure_postgres() {
  local database="${1:-berth}"
  if [ -n "${DATABASE_URL:-}" ]; then
    return
  fi
  if pg_answers 127.0.0.1 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
    return
  fi
  local port=5499 bin
  if ! pg_answers 127.0.0.1 "$port"; then
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ]; then
      apt_install postgresql
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    local as=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
      as=(runuser -u postgres --)
    fi
    if [ ! -f .pgdata/PG_VERSION ]; then
      say "initialising a private Postgres in .pgdata"
      mkdir -p .pgdata && [ "$(id -u)" != 0 ] || chown postgres .pgdata
      "${as[@]}" "$bin/initdb" -D .pgdata -U postgres --auth=trust >/dev/null
    fi
    say "starting the private Postgres on 127.0.0.1:$port"
    "${as[@]}" "$bin/pg_ctl" -D .pgdata -l .pgdata/server.log -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/$database"
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Exports BERTH_SECRET_KEY (which seals cluster credentials): the one given, else the key in
# .berth/secret.key (git-ignored), made on first use.
ensure_secret_key() {
  if [ -n "${BERTH_SECRET_KEY:-}" ]; then
    return
  fi
  if [ ! -s .berth/secret.key ]; then
    mkdir -p .berth
    (umask 077 && head -c 32 /dev/urandom | base64 > .berth/secret.key)
    say "generated .berth/secret.key (seals cluster credentials; keep it with the database)"
  fi
  BERTH_SECRET_KEY=$(cat .berth/secret.key)
  export BERTH_SECRET_KEY
}
