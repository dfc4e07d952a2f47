#!/usr/bin/env bash
# Quick load comparison on one machine: the mock upstream called directly vs through Sluice
# (memory store, quotas + rate limits + ledger + metrics + access log on), small non-streaming
# chat. Sluice is pinned to core 0, the mock and loadgen (benches/loadgen) to core 1. Prints one
# table row per system.
# Usage: benches/load/quick.sh [seconds] [connections]
# SLUICE_BENCH_ACCESS_LOG=false measures without the per-request JSON access log.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release --locked -q -p sluice -p sluice-mock-upstream -p sluice-loadgen
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
taskset -c 1 "$bin/mock-upstream" --addr 127.0.0.1:0 >"$dir/mock.log" 2>&1 &
for _ in $(seq 1 100); do grep -q "listening on" "$dir/mock.log" && break; sleep 0.1; done
mock=$(grep -o 'http://[0-9.:]*' "$dir/mock.log" | head -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/config.toml" <<TOML
[server]
listen = ["127.0.0.1:$port"]
threads = 1
upgrade_sock = "$dir/upgrade.sock"
[log]
level = "warn"
access_log = ${SLUICE_BENCH_ACCESS_LOG:-true}
[ledger]
file = "$dir/ledger.jsonl"
spool = "$dir/ledger.spool"
[providers.openai]
kind = "openai"
base_url = "$mock/v1"
api_key = "sk-bench-upstream"
[models."gpt-4o-mini"]
candidates = [{ provider = "openai", model = "gpt-4o-mini" }]
[[auth.keys]]
key = "sk-sluice-bench-key-000"
tenant = "bench"
tier = "pro"
[tiers.pro]
monthly_tokens = 100000000000
requests_per_minute = 100000000
tokens_per_minute = 100000000000
TOML
taskset -c 0 "$bin/sluice" serve --config "$dir/config.toml" >"$dir/sluice.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
body='{"model":"gpt-4o-mini","max_tokens":32,"user":"bench-user","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
run() {
  taskset -c 1 "$bin/loadgen" --url "$1" --label "$2" --concurrency "$conns" --duration "$secs" --warmup 1 \
    -H "authorization: Bearer ${SLUICE_KEY:-sk-sluice-bench-key-000}" --body "$body" "${@:3}"
}
run "$mock/v1/chat/completions" direct --table-header
run "http://127.0.0.1:$port/v1/chat/completions" sluice
