//! Integration tests: the real `sluice` binary, started per test on a free port, against the
//! in-process mock upstream (`tests/mock-upstream`).

// Test code: a panic is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

// Shared rig: mock upstream + sluice process + helpers.
mod harness;

// Identity: gateway keys, JWT, the key never forwarded upstream.
mod auth;
// Response cache: hits, stream replay, single flight, per-input embeddings, headers, Redis tier.
mod cache;
// Non-streaming chat on OpenAI, Workers AI native and Workers AI OpenAI-compatible routes.
mod chat;
// The shipped config.toml loads, and `sluice check` reports problems with TOML paths.
mod config_file;
// Complexity-based downgrade rules: cheap model for simple prompts, opt-outs, holdback, ledger.
mod downgrade;
// Embeddings: strings, arrays, token ids, base64, dimensions, on both providers.
mod embeddings;
// Embeddings: large requests split over parallel calls, micro-batching, the OpenAI fallback's size.
mod embeddings_batching;
// Models, health, readiness, metrics, 404/405, request ids, pass-through.
mod endpoints;
// Bad input of every kind gets the right 4xx; upstream failures map to OpenAI-shaped errors.
mod errors;
// Property-based fuzzing: config loading and body parsing never panic on arbitrary input.
mod fuzz_config;
// Property-based fuzzing: authentication headers and rate-limit header values.
mod fuzz_inputs;
// Quotas, rate limits, the usage ledger and the admin usage API (memory store).
mod quota;
// The Redis store: two instances sharing state, and a Redis outage mid-run.
mod redis_store;
// Hot reload: routes swap under a live stream, invalid files are rejected.
mod reload;
// Graceful shutdown: streams drain, the ledger is flushed.
mod shutdown;
// Retries, backoff, failover, circuit breakers and pacing against a faulty upstream.
mod resilience;
// The official OpenAI SDKs (Python and Node) against Sluice.
mod sdk;
// SSE: chunk-by-chunk relay, usage chunk handling, mid-stream failures, client disconnects.
mod streaming;
// Context trimming: long conversations cut to budget with summaries, tool pairs intact.
mod trim;
// TLS: downstream termination with HTTP/2 via ALPN; upstream certificates verified, `ca_file` trusted.
mod tls;
