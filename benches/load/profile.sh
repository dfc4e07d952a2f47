#!/usr/bin/env bash
# Repeatable per-request costs of Sluice (every policy on) and of nginx as a bare reverse proxy,
# for the small JSON chat and a 24-chunk stream (bodies and configs: benches/load/common.sh).
#
#   benches/load/profile.sh count [requests]   # default 2000
#     Each server runs under valgrind's callgrind, pinned to core 0; the counters are zeroed
#     before and dumped after the measured requests (after 300 warm-up requests of each kind), so
#     start-up is not counted. Prints, per system and body: instructions per request (callgrind Ir, user
#     space only) and calls into the allocator per request (new blocks, and reallocs). Then each
#     runs natively for `perf stat`: system calls and CPU time (task-clock: noisy on a shared box)
#     per request. loadgen runs on core 1 with 8 connections.
#
#   benches/load/profile.sh flame [seconds]    # default 10
#     perf record (DWARF call graphs, 999 Hz) of Sluice under the closed-loop JSON load (32
#     connections), folded with inferno (`cargo install inferno`) into $PROFILE_OUT/sluice.svg
#     (default target/profile/); prints the top self-time frames.
#
# The machine's PMU may be unavailable (VMs): counts come from callgrind and tracepoints, not from
# hardware counters. Callgrind dumps are kept in $PROFILE_OUT for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-count}
bin=${CARGO_TARGET_DIR:-target}/release
out=${PROFILE_OUT:-${CARGO_TARGET_DIR:-target}/profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cargo build --release --locked -q -p sluice -p sluice-mock-upstream -p sluice-loadgen
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
. benches/load/common.sh
start_mock
sluice_port=$(free_port)
write_sluice_config "$sluice_port"
nginx_port=$(free_port)
write_nginx_config "$nginx_port"

# load URL BODY REQUESTS [extra loadgen args…]: a closed loop of exactly REQUESTS requests.
load() {
  taskset -c 1 "$bin/loadgen" --url "$1" --body "$2" --requests "$3" --concurrency 8 --json \
    -H "authorization: Bearer $bench_key" "${@:4}" >"$dir/loadgen.json"
  python3 - "$dir/loadgen.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
errors = r.get("errors", 0)
if isinstance(errors, dict):
    errors = sum(errors.values())
if errors:
    sys.exit(f"loadgen reported errors: {r}")
PY
}

# start SYSTEM [wrapper…]: starts Sluice or nginx on core 0; sets `pid` and `url`.
start() {
  local system=$1
  shift
  case $system in
    sluice)
      taskset -c 0 "$@" "$bin/sluice" serve --config "$dir/config.toml" >"$dir/sluice.log" 2>&1 &
      url="http://127.0.0.1:$sluice_port/v1/chat/completions" ;;
    nginx)
      taskset -c 0 "$@" /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir/nginx" -e "$dir/nginx/error.log" &
      url="http://127.0.0.1:$nginx_port/v1/chat/completions" ;;
  esac
  pid=$!
  wait_http "${url%/v1/*}/healthz"
}

stop() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

count() {
  local n=${1:-2000}
  printf '%-7s %-7s %12s %11s %9s %11s %12s\n' system body instr/req allocs/req reallocs syscalls/req cpu_us/req
  for system in sluice nginx; do
    start "$system" valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/callgrind.$system.%p"
    load "$url" "$json_body" 300
    load "$url" "$stream_body" 300 --stream
    declare -A cg=()
    for kind in json stream; do
      local body=$json_body extra=()
      [ "$kind" = stream ] && body=$stream_body extra=(--stream)
      callgrind_control -z "$pid" >/dev/null
      load "$url" "$body" "$n" "${extra[@]}"
      callgrind_control -d "$kind" "$pid" >/dev/null
      local dump
      dump=$(ls -t "$out/callgrind.$system.$pid".* | head -1)
      mv "$dump" "$out/callgrind.$system.$kind.out"
      cg[$kind]=$(python3 benches/load/callgrind_counts.py "$out/callgrind.$system.$kind.out")
    done
    stop
    rm -f "$out/callgrind.$system.$pid"*
    start "$system"
    load "$url" "$json_body" 1000
    load "$url" "$stream_body" 1000 --stream
    for kind in json stream; do
      local body=$json_body extra=()
      [ "$kind" = stream ] && body=$stream_body extra=(--stream)
      perf stat -x, -e task-clock,raw_syscalls:sys_enter -p "$pid" -o "$dir/stat" &
      local perf_pid=$!
      sleep 0.5
      load "$url" "$body" "$n" "${extra[@]}"
      kill -INT "$perf_pid"
      wait "$perf_pid" || true
      read -r ir allocs reallocs <<<"${cg[$kind]}"
      python3 - "$dir/stat" "$n" "$system" "$kind" "$ir" "$allocs" "$reallocs" <<'PY'
import sys
path, n, system, kind, ir, allocs, reallocs = sys.argv[1:]
n = int(n)
stats = {}
for line in open(path):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0] and not line.startswith("#"):
        try:
            stats[parts[2]] = float(parts[0])
        except ValueError:
            pass
cpu_us = stats.get("task-clock", 0) * 1000 / n  # task-clock is in ms
sys_per = stats.get("raw_syscalls:sys_enter", 0) / n
print(f"{system:<7} {kind:<7} {int(ir)/n:12.0f} {int(allocs)/n:11.1f} {int(reallocs)/n:9.1f} {sys_per:11.1f} {cpu_us:12.1f}")
PY
    done
    stop
  done
}

flame() {
  local secs=${1:-10}
  command -v inferno-collapse-perf >/dev/null || { echo "needs inferno: cargo install inferno" >&2; exit 1; }
  start sluice
  load "$url" "$json_body" 2000
  taskset -c 1 "$bin/loadgen" --url "$url" --body "$json_body" --concurrency 32 --duration $((secs + 2)) \
    -H "authorization: Bearer $bench_key" >/dev/null &
  local gen=$!
  sleep 1
  perf record -q -F 999 --call-graph dwarf,32768 -p "$pid" -o "$dir/perf.data" -- sleep "$secs" 2>/dev/null
  wait "$gen"
  stop
  perf report -i "$dir/perf.data" --no-children --sort symbol --stdio --percent-limit 0.7 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -30 | tee "$out/top-self.txt"
  perf script -i "$dir/perf.data" 2>/dev/null | inferno-collapse-perf >"$out/sluice.folded"
  # Frames under 1 px are left out: the SVG stays under 100 KB.
  inferno-flamegraph --minwidth 1 --title "Sluice, all policies, JSON chat" <"$out/sluice.folded" >"$out/sluice.svg"
  echo "flamegraph: $out/sluice.svg ($(du -k "$out/sluice.svg" | cut -f1) KB)"
}

case $mode in
  count) count "${2:-2000}" ;;
  flame) flame "${2:-10}" ;;
  *) echo "usage: $0 count [requests] | flame [seconds]" >&2; exit 2 ;;
esac
