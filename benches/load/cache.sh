#!/usr/bin/env bash
# Response cache: hit path vs miss path through Sluice, with the mock upstream called directly as
# the baseline. Small chat completion (temperature 0), non-streaming and streaming; each at a
# closed loop (CONNS connections) and an open loop (RATE req/s, latency from each request's
# scheduled time). Prints one table: a row per (scenario, load, path) and a hit/miss ratio row.
#   miss: every request carries `x-sluice-cache: refresh` (no cache read, upstream call, entry refreshed)
#   hit:  the identical request without that header, after one warm-up request stored the entry
# Sluice runs with the memory store, one worker thread, quotas + rate limits + ledger + metrics +
# access log on (the config quick.sh uses).
# Pinning (this is a 2-core box): Sluice on core 0; the mock upstream and loadgen share core 1
# (taskset), so Sluice's core does only Sluice's work. The direct row is mock + loadgen on one core;
# on the hit path the mock idles and core 1 is loadgen alone. Closed-loop rows can be limited by
# core 1 as much as by Sluice: compare ratios within one run, not absolute figures across machines.
# The default rate stays below what Sluice streams on this box (about 2k/s), so the open-loop rows
# measure latency, not overload.
# Before the runs, one hit-path request is checked with curl: a warning is printed when it does not
# carry `x-sluice-cache: HIT` (the cache is not wired, or not enabled in this config).
# Usage: benches/load/cache.sh [seconds] [connections] [rate]   (defaults 10, 32, 1000)
# SLUICE_BENCH_EXTRA_TOML: TOML appended to Sluice's config (e.g. a cache section).
# Binaries come from ${CARGO_TARGET_DIR:-target}/release.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
rate=${3:-1000}
warmup=1
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
${SLUICE_BENCH_EXTRA_TOML:-}
TOML
taskset -c 0 "$bin/sluice" serve --config "$dir/config.toml" >"$dir/sluice.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "sluice did not start:"; cat "$dir/sluice.log"; exit 1; }

sluice="http://127.0.0.1:$port/v1/chat/completions"
auth="authorization: Bearer sk-sluice-bench-key-000"
messages='"messages":[{"role":"user","content":"What is the capital of France?"}]'
declare -A body=(
  [json]="{\"model\":\"gpt-4o-mini\",\"temperature\":0,$messages}"
  [stream]="{\"model\":\"gpt-4o-mini\",\"temperature\":0,\"stream\":true,$messages}"
)

# The x-sluice-cache response header of one request ("absent" when there is none).
cache_header() {
  local resp
  resp=$(curl -sSi "$sluice" -H "$auth" -H 'content-type: application/json' "${@:2}" -d "${body[$1]}" | tr -d '\r') || true
  sed -n '/^$/q;s/^x-sluice-cache: *//Ip' <<<"$resp" | grep . || echo absent
}
warnings=()
for scenario in json stream; do
  cache_header "$scenario" >/dev/null # warm-up: stores the entry
  hit=$(cache_header "$scenario")
  miss=$(cache_header "$scenario" -H 'x-sluice-cache: refresh')
  echo "check $scenario: hit path x-sluice-cache: $hit; miss path: $miss"
  if [ "${hit^^}" != HIT ]; then
    warnings+=("WARNING: $scenario hit-path answers carry x-sluice-cache: $hit, not HIT: both paths are misses and the hit/miss ratios mean nothing")
    echo "${warnings[-1]}" >&2
  fi
done

# One loadgen run, as a JSON line in results.jsonl: label, URL, then loadgen options.
load() {
  taskset -c 1 "$bin/loadgen" --json --warmup "$warmup" --duration "$secs" --label "$1" --url "$2" "${@:3}" \
    >>"$dir/results.jsonl"
}
for scenario in json stream; do
  flags=(--body "${body[$scenario]}")
  [ "$scenario" = stream ] && flags+=(--stream)
  for mode in closed open; do
    lflags=(--concurrency "$conns")
    [ "$mode" = open ] && lflags+=(--rate "$rate")
    load "$scenario direct" "$mock/v1/chat/completions" "${flags[@]}" "${lflags[@]}" -H "$auth"
    load "$scenario miss" "$sluice" "${flags[@]}" "${lflags[@]}" -H "$auth" -H 'x-sluice-cache: refresh'
    load "$scenario hit" "$sluice" "${flags[@]}" "${lflags[@]}" -H "$auth"
  done
done

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${secs}s measured after ${warmup}s warm-up per row"
python3 - "$dir/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def f(v, unit=""):
    if v is None: return "-"
    return f"{v:.0f}" if unit == "rps" else (f"{v:.3f}" if v < 10 else f"{v:.2f}")
def ratio(a, b):
    return "-" if not a or not b else f"{a / b:.2f}x"
cols = "{:<8} {:<8} {:<9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>9} {:>9}"
print(cols.format("scenario", "load", "path", "req/s", "p50_ms", "p99_ms", "p99.9_ms", "errors", "ttft_p50", "ttft_p99"))
by = {}
for r in rows:
    scenario, path = r["label"].split()
    load = f"c={r['connections']}" if r["mode"] == "closed" else f"r={r['rate']:g}"
    lat, st = r["latency_ms"], r["stream"] or {}
    ttft = st.get("ttft_ms", {})
    print(cols.format(scenario, load, path, f(r["rps"], "rps"), f(lat["p50"]), f(lat["p99"]), f(lat["p99_9"]),
                      r["errors"], f(ttft.get("p50")), f(ttft.get("p99"))))
    by[(scenario, load, path)] = r
    if path == "hit":
        m = by.get((scenario, load, "miss"))
        if m:
            ml, mt = m["latency_ms"], (m["stream"] or {}).get("ttft_ms", {})
            print(cols.format(scenario, load, "hit/miss", ratio(r["rps"], m["rps"]), ratio(lat["p50"], ml["p50"]),
                              ratio(lat["p99"], ml["p99"]), ratio(lat["p99_9"], ml["p99_9"]), "",
                              ratio(ttft.get("p50"), mt.get("p50")), ratio(ttft.get("p99"), mt.get("p99"))))
for r in rows:
    load = f"c={r['connections']}" if r["mode"] == "closed" else f"r={r['rate']:g}"
    if r["mode"] == "open" and r["late_sends"] > 0.01 * max(r["ok"] + r["errors"], 1):
        print(f"note: {r['label']} {load}: {r['late_sends']} of {r['ok'] + r['errors']} sends over 1 ms late "
              "(all connections busy or loadgen starved; latency counts from the scheduled time)")
    if r["errors"]:
        print(f"note: {r['label']} {load}: errors {r['error_kinds']}")
PY
for w in "${warnings[@]}"; do echo "$w"; done
