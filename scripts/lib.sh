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

# libgit2 (GitOps delivery) builds against the system's OpenSSL and finds it with pkg-config;
# the GitOps tests drive git and ssh-keygen.
ensure_build_packages() {
  local missing=() p
  for p in libssl-dev pkg-config git openssh-client; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

ensure_playwright() {
  ensure_chromium
  [ -d playwright/node_modules/@playwright/test ] && [ -d playwright/node_modules/@axe-core/playwright ] \
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
  stop_at_exit "$demo_prometheus"
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

# Processes started in the background by these helpers, stopped when the calling shell exits.
background_pids=()
stop_at_exit() { # pid...
  background_pids+=("$@")
  trap stop_background EXIT
}
stop_background() {
  local pid
  for pid in "${background_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${background_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  declare -F on_exit >/dev/null && on_exit
  return 0
}

# ---- the real control plane (testplane/): built from the Go module proxy, cached by pin ----

testplane_cache() { echo "${BERTH_TESTPLANE_CACHE:-$HOME/.cache/berth-testplane}"; }

# Prints the directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok and testplane, building what is missing. The Kubernetes binaries are keyed by
# the pins (versions.env, go.mod, go.sum) and built once; testplane, our launcher, is
# rebuilt when its source changes (Go's build cache makes that a link at most).
testplane_build() {
  command -v go >/dev/null || { echo "Go is needed to build the test control plane (testplane/)" >&2; return 1; }
  local key dir tmp started
  # shellcheck disable=SC1091
  source testplane/versions.env
  key=$(cat testplane/versions.env testplane/go.mod testplane/go.sum | sha256sum | cut -c1-12)
  dir="$(testplane_cache)/$KUBERNETES_VERSION-$key"
  mkdir -p "$(testplane_cache)"
  (
    flock 9
    if [ ! -x "$dir/kube-apiserver" ]; then
      started=$(date +%s)
      say "building Kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION and kwok $KWOK_VERSION from the Go module proxy (once per pin; about 5 min on 2 cores)"
      tmp="$dir.partial"
      rm -rf "$tmp" && mkdir -p "$tmp"
      local v="k8s.io/component-base/version" c="k8s.io/client-go/pkg/version" minor
      minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
      local ldflags="-s -w"
      for pkg in $v $c; do
        ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
      done
      (cd testplane && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl sigs.k8s.io/kwok/cmd/kwok \
        && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3) >&2
      mv "$tmp" "$dir"
      say "control plane built in $(( $(date +%s) - started )) s ($(du -sh "$dir" | cut -f1)) in $dir"
    fi
    (cd testplane && CGO_ENABLED=0 go build -trimpath -o "$dir/testplane" .) >&2
  ) 9>"$(testplane_cache)/.lock"
  echo "$dir"
}

# Velero's CRD definitions, from the Velero Go module (only its YAML is used).
testplane_velero_crds() {
  # shellcheck disable=SC1091
  source testplane/versions.env
  local d
  d=$(cd testplane && go mod download -json "github.com/vmware-tanzu/velero@$VELERO_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  echo "$d/config/crd/v1/bases"
}

# Kyverno's module directory in the module cache (downloaded once).
kyverno_module() {
  # shellcheck disable=SC1091
  source testplane/kyverno.env
  (cd testplane && go mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}

# Prints the path of Kyverno's admission controller, building it once per version. It is
# built in its own module (its go.mod pins its dependencies), not in testplane's.
kyverno_build() {
  command -v go >/dev/null || { echo "Go is needed to build Kyverno for the test clusters" >&2; return 1; }
  # shellcheck disable=SC1091
  source testplane/kyverno.env
  local bin dir started
  bin="$(testplane_cache)/kyverno-$KYVERNO_VERSION"
  mkdir -p "$(testplane_cache)"
  (
    flock 9
    if [ ! -x "$bin" ]; then
      started=$(date +%s)
      dir=$(kyverno_module)
      say "building Kyverno $KYVERNO_VERSION from the Go module proxy (once per version; about 5 min on 2 cores)"
      (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.partial" ./cmd/kyverno) >&2
      mv "$bin.partial" "$bin"
      say "Kyverno built in $(( $(date +%s) - started )) s"
    fi
  ) 9>"$(testplane_cache)/.kyverno.lock"
  echo "$bin"
}

# testplane's Kyverno arguments for <fleet>: none unless a cluster of it runs Kyverno.
kyverno_args() { # fleet
  grep -Eq '^[[:space:]]*kyverno:[[:space:]]*true' "$1" || return 0
  local bin dir
  bin=$(kyverno_build) && dir=$(kyverno_module) || return 1
  echo "--kyverno $bin --kyverno-crds $dir/config/crds"
}

# Starts the clusters of <fleet> in the background and waits until every one is ready;
# exports BERTH_TEST_KUBECONFIG. They stop when the calling shell exits. A start that fails
# prints the failing component's log tail and returns 1.
start_clusters() { # fleet work-dir [clusters]
  local bin fleet="$1" work="$2" out
  bin=$(testplane_build)
  out="$work.out"
  rm -f "$work.ready"
  mkdir -p "$(dirname "$work")"
  local args=() kyverno
  [ -n "${3:-}" ] && args+=(--clusters "$3")
  kyverno=$(kyverno_args "$fleet") || return 1
  # shellcheck disable=SC2206
  [ -n "$kyverno" ] && args+=($kyverno)
  # With an identity provider started (start_idp), every kube-apiserver trusts it too.
  [ -n "${IDP_ISSUER:-}" ] && args+=(--oidc-issuer "$IDP_ISSUER" --oidc-ca-file "$IDP_CA_FILE")
  "$bin/testplane" up --bin "$bin" --fleet "$fleet" --work "$work" --kubeconfig "$work.kubeconfig" \
    --chart deploy/helm/berth --velero-crds "$(testplane_velero_crds)" --ready-file "$work.ready" \
    "${args[@]}" >"$out" 2>&1 &
  local pid=$!
  stop_at_exit "$pid"
  while [ ! -e "$work.ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the real clusters did not start:" >&2
      cat "$out" >&2
      return 1
    fi
    sleep 0.2
  done
  sed 's/^/    /' "$out" >&2
  export BERTH_TEST_KUBECONFIG="$work.kubeconfig"
  # kubectl of the same release, for the suites that drive it, and testplane itself, whose
  # `sync` plays Flux's kustomize-controller in the GitOps suites.
  export BERTH_TEST_KUBECTL="$bin/kubectl" BERTH_TEST_TESTPLANE="$bin/testplane"
}

# ---- the identity provider (testplane/idp/): zitadel/oidc's OpenID provider, for SSO ----

# Prints the path of the identity provider's binary, building it when its source changed.
idp_build() {
  command -v go >/dev/null || { echo "Go is needed to build the identity provider (testplane/idp/)" >&2; return 1; }
  local key bin
  key=$(cat testplane/idp/go.mod testplane/idp/go.sum testplane/idp/main.go | sha256sum | cut -c1-12)
  bin="$(testplane_cache)/idp-$key"
  if [ ! -x "$bin" ]; then
    mkdir -p "$(testplane_cache)"
    say "building the identity provider (zitadel/oidc from the Go module proxy)"
    (cd testplane/idp && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.partial" .) >&2
    mv "$bin.partial" "$bin"
  fi
  echo "$bin"
}

# Starts the identity provider on loopback with <users-file> and waits until it serves. It
# has one client, `berth`, with a fresh secret; exports IDP_ISSUER, IDP_CLIENT_SECRET and
# IDP_CA_FILE (its CA, which Berth and kube-apiserver trust). Stops when the shell exits.
start_idp() { # users-file work-dir
  local bin users="$1" dir="$2" pid
  bin=$(idp_build)
  mkdir -p "$dir"
  rm -f "$dir/issuer"
  IDP_CLIENT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$bin" --users "$users" --dir "$dir" --ready-file "$dir/issuer" \
    --clients "berth:$IDP_CLIENT_SECRET" >"$dir/log" 2>&1 &
  pid=$!
  stop_at_exit "$pid"
  while [ ! -s "$dir/issuer" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the identity provider did not start:" >&2
      cat "$dir/log" >&2
      return 1
    fi
    sleep 0.1
  done
  IDP_ISSUER=$(cat "$dir/issuer")
  export IDP_ISSUER IDP_CLIENT_SECRET IDP_CA_FILE="$dir/ca.pem"
}

# ---- the Git host (testplane/gitserver/): git-http-backend over HTTPS, git over SSH ----

# Prints the path of the Git host's binary, building it when its source changed.
gitserver_build() {
  command -v go >/dev/null || { echo "Go is needed to build the Git host (testplane/gitserver/)" >&2; return 1; }
  local key bin
  key=$(cat testplane/gitserver/go.mod testplane/gitserver/go.sum testplane/gitserver/main.go | sha256sum | cut -c1-12)
  bin="$(testplane_cache)/gitserver-$key"
  if [ ! -x "$bin" ]; then
    mkdir -p "$(testplane_cache)"
    say "building the Git host (testplane/gitserver, Go standard library and x/crypto/ssh)"
    (cd testplane/gitserver && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.partial" .) >&2
    mv "$bin.partial" "$bin"
  fi
  echo "$bin"
}

# Starts the demo's Git host on fixed loopback ports (HTTPS 3443, SSH 3022) over
# .berth/demo-git, where its repository, CA and writer's password are kept between runs, and
# exports BERTH_DEMO_GIT_* for `berth demo seed`. Says why and returns 1 when it cannot.
start_demo_git() {
  local bin dir="$PWD/.berth/demo-git" pid
  bin=$(gitserver_build) || return 1
  mkdir -p "$dir/root"
  [ -d "$dir/root/platform-gitops.git" ] || git init -q --bare -b main "$dir/root/platform-gitops.git"
  [ -s "$dir/password" ] || (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/password")
  rm -f "$dir/ready"
  "$bin" --root "$dir/root" --dir "$dir/work" --ready-file "$dir/ready" \
    --users "berth:$(cat "$dir/password"):rw" --https-addr 127.0.0.1:3443 --ssh-addr 127.0.0.1:3022 >"$dir/log" 2>&1 &
  pid=$!
  stop_at_exit "$pid"
  while [ ! -s "$dir/ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "the demo Git host did not start (GitOps is left out of the demo): $(tail -1 "$dir/log")"
      return 1
    fi
    sleep 0.1
  done
  export BERTH_DEMO_GIT_URL="https://127.0.0.1:3443/platform-gitops.git" BERTH_DEMO_GIT_CA_FILE="$dir/work/ca.pem" \
    BERTH_DEMO_GIT_USERNAME=berth BERTH_DEMO_GIT_PASSWORD
  BERTH_DEMO_GIT_PASSWORD=$(cat "$dir/password")
}

# ---- roles: Berth runs as berth_app, migrations as the owner ----

# Migrates as the owner (DATABASE_URL as given), then, for a Postgres the scripts run on
# loopback (trust authentication), gives the berth_app role the migrations made a login and
# switches DATABASE_URL to it: Berth then may only INSERT and SELECT the audit trail. For
# any other Postgres the operator sets DATABASE_URL (berth_app, with a password) and
# BERTH_MIGRATE_DATABASE_URL (the owner) themselves, and nothing is changed here.
use_app_role() { # berth-binary
  "$1" migrate >/dev/null
  case "$DATABASE_URL" in
    postgres://postgres@127.0.0.1:*|postgres://postgres@localhost:*)
      psql "$DATABASE_URL" -qc "ALTER ROLE berth_app LOGIN" >/dev/null
      export BERTH_MIGRATE_DATABASE_URL="$DATABASE_URL"
      export DATABASE_URL="${DATABASE_URL/postgres:\/\/postgres@/postgres://berth_app@}"
      ;;
  esac
}

# Exports BERTH_AUDIT_SIGNING_KEY (signs audit checkpoints; never in the database) from
# .berth/audit.key, made on first use, and the checkpoint file beside it, unless given.
ensure_audit_key() {
  if [ -z "${BERTH_AUDIT_SIGNING_KEY:-}" ]; then
    if [ ! -s .berth/audit.key ]; then
      mkdir -p .berth
      (umask 077 && head -c 32 /dev/urandom | base64 > .berth/audit.key)
      say "generated .berth/audit.key (signs audit checkpoints; keep it away from the database)"
    fi
    BERTH_AUDIT_SIGNING_KEY=$(cat .berth/audit.key)
    export BERTH_AUDIT_SIGNING_KEY
  fi
  export BERTH_AUDIT_CHECKPOINT_FILE="${BERTH_AUDIT_CHECKPOINT_FILE:-$PWD/.berth/audit-checkpoints.jsonl}"
}
