#!/usr/bin/env bash
# Quick load comparison on one machine: the mock upstream called directly, through nginx as a bare
# reverse proxy (the floor), and through Sluice with every policy on (memory store, quotas + rate
# limits, downgrade rule, ledger, metrics, access log), small non-streaming chat. Sluice and nginx
# are pinned to core 0 (one worker each), the mock and loadgen (benches/loadgen) to core 1. Prints
# one table row per system. Set-up shared with profile.sh: benches/load/common.sh.
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
. benches/load/common.sh
start_mock
port=$(free_port)
write_sluice_config "$port"
taskset -c 0 "$bin/sluice" serve --config "$dir/config.toml" >"$dir/sluice.log" 2>&1 &
wait_http "http://127.0.0.1:$port/healthz"
nginx_port=$(free_port)
write_nginx_config "$nginx_port"
taskset -c 0 /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir/nginx" -e "$dir/nginx/error.log" &
wait_http "http://127.0.0.1:$nginx_port/"
run() {
  taskset -c 1 "$bin/loadgen" --url "$1" --label "$2" --concurrency "$conns" --duration "$secs" --warmup 1 \
    -H "authorization: Bearer ${SLUICE_KEY:-$bench_key}" --body "$json_body" "${@:3}"
}
run "$mock/v1/chat/completions" direct --table-header
run "http://127.0.0.1:$nginx_port/v1/chat/completions" nginx
run "http://127.0.0.1:$port/v1/chat/completions" sluice
