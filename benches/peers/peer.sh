#!/usr/bin/env bash
# Peer gateways for the comparison benches (issue 7), installed and run by this script alone:
# nothing of theirs is committed. Everything lives under target/peers/ and listens on 127.0.0.1.
#
#   benches/peers/peer.sh install NAME                  idempotent, quiet; non-zero if the registry fails
#   benches/peers/peer.sh start   NAME MOCK_BASE PORT   foreground (exec): background it, kill its pid
#   benches/peers/peer.sh url     NAME PORT             chat completions URL
#   benches/peers/peer.sh headers NAME MOCK_BASE        extra request headers for loadgen, one a line
#   benches/peers/peer.sh ready   NAME PORT             waits for the health check (PEER_READY_SECS, 120)
#
# NAME is litellm or portkey; MOCK_BASE is the mock upstream's base URL (http://127.0.0.1:PORT).
# Both forward `gpt-4o-mini` (chat) and `text-embedding-3-small` (embeddings) to <mock>/v1.
#
# LiteLLM proxy (PyPI `litellm[proxy]`, venv target/peers/litellm-venv): pinned at 1.108.7, the
# newest release whose [proxy] extra resolves on PyPI (1.108.8+ require a `litellm-proxy` package
# that PyPI does not serve). Settings follow LiteLLM's "Production Best Practices"
# (https://docs.litellm.ai/docs/proxy/prod) and its CLI and server-tuning pages
# (https://docs.litellm.ai/docs/proxy/cli, /docs/proxy/server_tuning):
#   - one Uvicorn worker (`--num_workers 1`: the page's "1 Uvicorn worker per pod" advice, and one
#     core for the peer as for Sluice), uvloop (LiteLLM's default loop on Linux);
#   - a master key (`general_settings.master_key`), so every request is authenticated as in prod;
#   - no database: `disable_spend_logs` / `disable_error_logs` (the page's optional best practices:
#     no per-request DB writes), and with no `database_url` nothing is written anywhere;
#   - `set_verbose: false`, `json_logs: true`, `LITELLM_LOG=ERROR` (the page: no debug logging,
#     JSON logs, FastAPI's per-request info logs off); `request_timeout: 600` as on the page;
#   - `LITELLM_MODE=PRODUCTION` (no .env loading) and `LITELLM_LOCAL_MODEL_COST_MAP=True` (the cost
#     map is read from the package instead of fetched at start: this box has no internet).
#   Telemetry: `--telemetry` is a documented no-op in this version; nothing to turn off.
#
# Portkey gateway (npm `@portkey-ai/gateway`, under target/peers/portkey): pinned at 1.15.2, run
# with node as its package's `start:node` script does (`node build/start-server.js`), with
# `--headless` and NODE_ENV=production (no console UI, no /log/stream), `--port=PORT`. The mock is
# an OpenAI-compatible custom host, as in Portkey's LocalAI / vLLM integration pages
# (https://portkey.ai/docs/integrations/llms/local-ai): headers `x-portkey-provider: openai` and
# `x-portkey-custom-host: <mock>/v1` (the /v1 is required), the upstream key in `authorization`.
# 127.0.0.1 is in the gateway's default TRUSTED_CUSTOM_HOSTS, so its SSRF filter lets it through.
# The gateway has no listen-address option (it listens on every interface), so a small preload
# (written to target/peers/portkey/loopback.mjs) makes its server bind 127.0.0.1 only.
# Known failure (checked 2026-11-26 with node 20.20, @hono/node-server 1.19.19 as npm resolves it):
# streamed chat completions and embeddings answer 500 {"status":"failure","message":"Something went
# wrong"}; the gateway logs `TypeError: immutable` from ResponseService.updateHeaders, which appends
# x-portkey-* headers to the upstream fetch response whose headers are immutable (Portkey-AI/gateway
# issues #1389 and #1550; pinning @hono/node-server 1.14.2 as #1389 suggests does not fix the stream
# path). Non-streaming chat works. PORTKEY_MUTABLE_HEADERS=1 adds a preload that copies each fetch
# response into one with mutable headers: then streams and embeddings work, but that is a patched
# gateway, so label its rows as such.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/benches/peers
root=$PWD/target/peers
litellm_version=1.108.7
portkey_version=1.15.2
litellm_key=sk-bench-litellm-master-0000
upstream_key=sk-bench-upstream

die() { echo "peer.sh: $*" >&2; exit 1; }
usage() { sed -n '5,9p' "$0" >&2; exit 2; }
check_name() { case ${1:-} in litellm | portkey) ;; *) die "unknown peer '${1:-}' (litellm | portkey)" ;; esac; }
check_port() { [[ ${1:-} =~ ^[0-9]+$ ]] || die "bad port '${1:-}'"; }
check_mock() { [[ ${1:-} =~ ^http://(127\.[0-9.]+|localhost):[0-9]+/?$ ]] || die "mock base URL must be http://127.x.x.x:PORT, got '${1:-}'"; }

# Installs are pinned whole: litellm's dependencies by benches/peers/litellm-constraints.txt (pip
# freeze of a working install), the gateway's by benches/peers/portkey/package-lock.json (npm ci).
# A stamp holding the hash of those files makes a repeated install a no-op.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

install_litellm() {
  local venv=$root/litellm-venv constraints=$here/litellm-constraints.txt
  local stamp
  stamp="$litellm_version $(stamp_of "$constraints")"
  [[ -x $venv/bin/litellm && $(cat "$venv/.sluice-installed" 2>/dev/null) == "$stamp" ]] && return 0
  mkdir -p "$root"
  local log=$root/litellm-install.log
  [[ -x $venv/bin/pip ]] || python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 --retries 2 \
    -c "$constraints" "litellm[proxy]==$litellm_version" >"$log" 2>&1; then
    tail -5 "$log" >&2
    die "installing litellm[proxy]==$litellm_version from PyPI failed: is PyPI reachable? (log: $log)"
  fi
  echo "$stamp" >"$venv/.sluice-installed"
}

install_portkey() {
  local dir=$root/portkey
  local stamp
  stamp=$(stamp_of "$here/portkey/package.json" "$here/portkey/package-lock.json")
  [[ -f $dir/node_modules/@portkey-ai/gateway/build/start-server.js && $(cat "$dir/.sluice-installed" 2>/dev/null) == "$stamp" ]] && return 0
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (Debian: apt-get install nodejs npm)"
  mkdir -p "$dir"
  local log=$root/portkey-install.log
  cp "$here/portkey/package.json" "$here/portkey/package-lock.json" "$dir/"
  if ! npm ci --prefix "$dir" --no-audit --no-fund --silent --fetch-timeout=30000 --fetch-retries=2 --fetch-retry-maxtimeout=10000 >"$log" 2>&1; then
    tail -5 "$log" >&2
    die "installing @portkey-ai/gateway@$portkey_version from npm failed: is the npm registry reachable? (log: $log)"
  fi
  grep -q "\"version\": \"$portkey_version\"" "$dir/node_modules/@portkey-ai/gateway/package.json" ||
    die "package-lock.json does not install @portkey-ai/gateway $portkey_version"
  echo "$stamp" >"$dir/.sluice-installed"
}

start_litellm() {
  local mock=${1%/} port=$2 venv=$root/litellm-venv
  [[ -x $venv/bin/litellm ]] || die "litellm is not installed: run benches/peers/peer.sh install litellm"
  local config=$root/litellm-$port.yaml # one per port: peers on other ports may run meanwhile
  cat >"$config" <<YAML
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: $mock/v1
      api_key: $upstream_key
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: $mock/v1
      api_key: $upstream_key
general_settings:
  master_key: $litellm_key
  disable_spend_logs: true
  disable_error_logs: true
litellm_settings:
  request_timeout: 600
  set_verbose: false
  json_logs: true
YAML
  export LITELLM_MODE=PRODUCTION LITELLM_LOG=ERROR LITELLM_LOCAL_MODEL_COST_MAP=True
  unset DATABASE_URL REDIS_HOST REDIS_URL
  exec "$venv/bin/litellm" --config "$config" --host 127.0.0.1 --port "$port" --num_workers 1
}

start_portkey() {
  local port=$2 dir=$root/portkey
  local server=$dir/node_modules/@portkey-ai/gateway/build/start-server.js
  [[ -f $server ]] || die "the Portkey gateway is not installed: run benches/peers/peer.sh install portkey"
  # @hono/node-server calls server.listen(port, undefined): bind loopback instead of every interface.
  cat >"$dir/loopback.mjs" <<'JS'
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] !== 'string')) {
    args.splice(1, args.length > 1 && args[1] === undefined ? 1 : 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
JS
  local preload=(--import "$dir/loopback.mjs")
  if [[ ${PORTKEY_MUTABLE_HEADERS:-0} == 1 ]]; then
    # Work-around for Portkey-AI/gateway#1389 / #1550 (see the top): hand the gateway fetch
    # responses whose headers it may append to. Not Portkey as published: label such runs.
    cat >"$dir/mutable-headers.mjs" <<'JS'
const fetch0 = globalThis.fetch, Response0 = globalThis.Response, Headers0 = globalThis.Headers;
globalThis.fetch = async function (...args) {
  const r = await fetch0.apply(this, args);
  return new Response0(r.body, { status: r.status, statusText: r.statusText, headers: new Headers0(r.headers) });
};
JS
    preload+=(--import "$dir/mutable-headers.mjs")
  fi
  export NODE_ENV=production
  exec node "${preload[@]}" "$server" --headless "--port=$port"
}

ready() {
  local name=$1 port=$2 url
  case $name in
    litellm) url=http://127.0.0.1:$port/health/readiness ;;
    portkey) url=http://127.0.0.1:$port/ ;;
  esac
  local deadline=$((SECONDS + ${PEER_READY_SECS:-120}))
  while ((SECONDS < deadline)); do
    curl -sf -m 2 -o /dev/null "$url" && return 0
    sleep 0.5
  done
  die "$name did not answer $url within ${PEER_READY_SECS:-120} s"
}

cmd=${1:-}
case $cmd in
  install) check_name "${2:-}"; "install_$2" ;;
  start) [[ $# -eq 4 ]] || usage; check_name "$2"; check_mock "$3"; check_port "$4"; "start_$2" "$3" "$4" ;;
  url) [[ $# -eq 3 ]] || usage; check_name "$2"; check_port "$3"; echo "http://127.0.0.1:$3/v1/chat/completions" ;;
  headers)
    [[ $# -eq 3 ]] || usage; check_name "$2"; check_mock "$3"
    case $2 in
      litellm) echo "authorization: Bearer $litellm_key" ;;
      portkey) printf '%s\n' "authorization: Bearer $upstream_key" "x-portkey-provider: openai" \
        "x-portkey-custom-host: ${3%/}/v1" ;;
    esac
    ;;
  ready) [[ $# -eq 3 ]] || usage; check_name "$2"; check_port "$3"; ready "$2" "$3" ;;
  *) usage ;;
esac
