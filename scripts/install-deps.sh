#!/usr/bin/env bash
# Installs what building and testing Sluice needs on a fresh Debian machine with Rust:
# cmake (Pingora builds zlib-ng), CA certificates (upstream TLS), Python with the official
# `openai` SDK and Node with the official `openai` npm package (SDK tests), and Debian's
# redis-server (tests start their own on a free port; the gateway itself needs none by default),
# and nginx (the load suite's bare-proxy floor, smoke-tested in CI).
# Idempotent: skips what is already there. Usage: scripts/install-deps.sh [--sdk]
set -euo pipefail
cd "$(dirname "$0")/.."

want_sdk=false
[ "${1:-}" = "--sdk" ] && want_sdk=true

missing=()
command -v cmake >/dev/null || missing+=(cmake)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
command -v cc >/dev/null || missing+=(build-essential)
if $want_sdk; then
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if $want_sdk; then
  # Python SDK in a private venv (Debian's system Python refuses global pip installs).
  venv=target/sdk-venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt
  # Node SDK, pinned by package-lock.json.
  npm ci --prefix tests/sdk/node --no-audit --no-fund --loglevel=error
fi
