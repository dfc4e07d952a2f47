#!/usr/bin/env bash
# Starts Sluice offline, in front of the bundled mock upstream (wire-exact fake OpenAI and
# Workers AI), with the shipped config.toml. Prints ready-to-paste curl and SDK examples.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --locked -p sluice -p sluice-mock-upstream

mock_log=$(mktemp)
target/release/mock-upstream --addr 127.0.0.1:0 >"$mock_log" 2>&1 &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$mock_log" && break
  sleep 0.1
done
mock_url=$(grep -o 'http://[0-9.:]*' "$mock_log" | head -1)
[ -n "$mock_url" ] || { echo "mock upstream did not start:"; cat "$mock_log"; exit 1; }

export OPENAI_BASE_URL="$mock_url/v1"
export OPENAI_API_KEY="sk-mock-upstream"
export CLOUDFLARE_API_BASE_URL="$mock_url/client/v4"
export CLOUDFLARE_ACCOUNT_ID="test-account"
export CLOUDFLARE_API_TOKEN="cf-mock-upstream"
export SLUICE_APP_KEY="${SLUICE_APP_KEY:-sk-sluice-demo-key}"
export SLUICE_LISTEN="${SLUICE_LISTEN:-127.0.0.1:8080}"
export SLUICE_ADMIN_KEY="${SLUICE_ADMIN_KEY:-sk-sluice-demo-admin-key}"

cat <<EOT
Sluice demo: gateway on http://$SLUICE_LISTEN, mock upstream on $mock_url (no internet needed).
Gateway key: $SLUICE_APP_KEY

  curl -s http://$SLUICE_LISTEN/v1/chat/completions -H "Authorization: Bearer $SLUICE_APP_KEY" \\
    -H 'content-type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'

  curl -sN http://$SLUICE_LISTEN/v1/chat/completions -H "Authorization: Bearer $SLUICE_APP_KEY" \\
    -H 'content-type: application/json' \\
    -d '{"model":"llama-3.1-8b","stream":true,"messages":[{"role":"user","content":"Count to ten"}]}'

  python3 -c 'from openai import OpenAI; c = OpenAI(base_url="http://$SLUICE_LISTEN/v1", api_key="$SLUICE_APP_KEY"); print(c.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding[:4])'

Metrics: curl -s http://$SLUICE_LISTEN/metrics | grep sluice_requests_total
Usage:   curl -s http://$SLUICE_LISTEN/admin/usage/chat-app -H "Authorization: Bearer $SLUICE_ADMIN_KEY"
Ledger:  tail -f sluice-ledger.jsonl
EOT
target/release/sluice serve --config config.toml
