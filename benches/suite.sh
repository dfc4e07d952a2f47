#!/usr/bin/env bash
# The load suite (issue 7): mock upstream, nginx (bare proxy), Sluice (memory and Redis stores),
# optionally LiteLLM and Portkey, every scenario, one table. See benches/suite.py --help.
#
# Usage: benches/suite.sh [--quick] [--peers] [--only chat,stream,...] [--seconds N]
#                         [--markdown FILE] [--json FILE]
# Installs nginx and redis-server from Debian's packages when missing. SLUICE_BENCH_PROFILE=debug
# uses debug binaries (the CI smoke test: it checks errors and event counts, never timings).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
profile=${SLUICE_BENCH_PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --locked -q -p sluice -p sluice-mock-upstream -p sluice-loadgen
else
  cargo build --locked -q -p sluice -p sluice-mock-upstream -p sluice-loadgen
fi
exec python3 benches/suite.py --bin-dir "${CARGO_TARGET_DIR:-target}/$profile" "$@"
