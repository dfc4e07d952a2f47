# Shared set-up of the load benches (sourced, not run): the mock upstream, Sluice's "all policies
# on" config, and nginx as a bare reverse proxy (the floor Sluice is measured against).
#
# Pinning on a 2-core box: Sluice or nginx on core 0 (`taskset -c 0`, one worker), the mock
# upstream and loadgen on core 1.
#
# Callers set `dir` (a temp dir they remove) and `bin` (the release binaries) first.

# The request bodies: a small non-streaming chat, and a stream of 24 content chunks (about 28
# events with the role, finish and usage chunks). `gpt-4o` has a downgrade rule and the prompt is
# a simple greeting, so the classifier runs and hands it to `gpt-4o-mini`.
json_body='{"model":"gpt-4o","max_tokens":32,"user":"bench-user","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
stream_body='{"model":"gpt-4o","max_tokens":32,"stream":true,"user":"bench-user","mock":{"completion_tokens":24},"messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
bench_key=sk-sluice-bench-key-000

# Starts the mock upstream on core 1; sets `mock` (its base URL) and `mock_pid`.
start_mock() {
  taskset -c 1 "$bin/mock-upstream" --addr 127.0.0.1:0 >"$dir/mock.log" 2>&1 &
  mock_pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/mock.log" && break; sleep 0.1; done
  mock=$(grep -o 'http://[0-9.:]*' "$dir/mock.log" | head -1)
}

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Writes Sluice's config with every policy on (auth, quota and rate limits on the memory store,
# downgrade, metrics, ledger, access log) to "$dir/config.toml"; listens on port $1.
write_sluice_config() {
  cat >"$dir/config.toml" <<TOML
[server]
listen = ["127.0.0.1:$1"]
threads = 1
upgrade_sock = "$dir/upgrade.sock"
[log]
level = "warn,access=info"
access_log = ${SLUICE_BENCH_ACCESS_LOG:-true}
[ledger]
file = "$dir/ledger.jsonl"
spool = "$dir/ledger.spool"
[providers.openai]
kind = "openai"
base_url = "$mock/v1"
api_key = "sk-bench-upstream"
[models."gpt-4o"]
candidates = [{ provider = "openai", model = "gpt-4o" }]
downgrade = { to = "gpt-4o-mini", mode = "auto", holdback = 0.0 }
[models."gpt-4o-mini"]
candidates = [{ provider = "openai", model = "gpt-4o-mini" }]
[[auth.keys]]
key = "$bench_key"
tenant = "bench"
tier = "pro"
[tiers.pro]
monthly_tokens = 100000000000
requests_per_minute = 100000000
tokens_per_minute = 100000000000
TOML
}

# Writes an nginx config (one worker, no master, keep-alive to the mock, unbuffered so SSE
# streams through) listening on port $1 to "$dir/nginx.conf".
write_nginx_config() {
  mkdir -p "$dir/nginx"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
error_log $dir/nginx/error.log warn;
pid $dir/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  upstream mock { server ${mock#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
}

# Waits until "$1" answers (any HTTP status).
wait_http() {
  for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}
