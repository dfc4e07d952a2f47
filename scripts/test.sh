#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, integration tests through the real binary,
# and the official OpenAI SDKs (Python and Node) against Sluice. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --sdk
export SLUICE_TEST_PYTHON="$PWD/target/sdk-venv/bin/python"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The load suite's smoke test (debug binaries, 1 s points, 500 streams): fails on errors or lost
# stream events, never on timings.
SLUICE_BENCH_PROFILE=debug benches/suite.sh --quick
