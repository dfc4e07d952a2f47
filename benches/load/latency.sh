#!/usr/bin/env bash
# nginx (bare reverse proxy) against Sluice (every policy on), same pinning as quick.sh: saturation
# (closed loop, 32 connections), latency at a fixed rate (open loop, default 5000 req/s: about
# half of Sluice's saturation on a 2-core box) and stream TTFT at 1000 streams/s. With
# SLUICE_BASE=/path/to/old/sluice a second Sluice binary (e.g. built from an earlier commit) runs
# alongside for before/after rows. Wall-clock figures: run it on an idle machine and repeat.
# Usage: benches/load/latency.sh [seconds]   (RATE, SRATE override the rates)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-6}
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release --locked -q -p sluice -p sluice-mock-upstream -p sluice-loadgen
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
. benches/load/common.sh
start_mock
nginx_port=$(free_port)
write_nginx_config "$nginx_port"
taskset -c 0 /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir/nginx" -e "$dir/nginx/error.log" &
wait_http "http://127.0.0.1:$nginx_port/"
declare -A urls=([nginx]="http://127.0.0.1:$nginx_port/v1/chat/completions")
systems=(nginx)
[ -n "${SLUICE_BASE:-}" ] && systems+=(base)
systems+=(sluice)
for system in "${systems[@]:1}"; do
  port=$(free_port)
  write_sluice_config "$port"
  cp "$dir/config.toml" "$dir/$system.toml"
  exe=$bin/sluice
  [ "$system" = base ] && exe=$SLUICE_BASE
  taskset -c 0 "$exe" serve --config "$dir/$system.toml" >"$dir/$system.log" 2>&1 &
  wait_http "http://127.0.0.1:$port/healthz"
  urls[$system]="http://127.0.0.1:$port/v1/chat/completions"
done
run() {
  taskset -c 1 "$bin/loadgen" --url "$1" --label "$2" --duration "$secs" --warmup 1 \
    -H "authorization: Bearer $bench_key" "${@:3}"
}
header=--table-header
for s in "${systems[@]}"; do run "${urls[$s]}" "$s json" -c 32 --body "$json_body" $header; header=; done
for s in "${systems[@]}"; do run "${urls[$s]}" "$s json" --rate "${RATE:-5000}" -c 64 --body "$json_body"; done
for s in "${systems[@]}"; do
  run "${urls[$s]}" "$s stream" --rate "${SRATE:-1000}" -c 64 --stream --body "$stream_body"
done
