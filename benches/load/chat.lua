-- wrk script: a small non-streaming chat completion with a gateway key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SLUICE_KEY") or "sk-sluice-bench-key-000")
wrk.body = '{"model":"gpt-4o-mini","max_tokens":32,"user":"bench-user","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'

done = function(summary, latency, requests)
  io.write(string.format("RESULT req/s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
