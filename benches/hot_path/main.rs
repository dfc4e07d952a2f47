//! Per-request hot-path pieces, each next to a naive baseline in the same run where one makes
//! sense. Groups (criterion names; filter with `-- <name>`):
//!
//! - `request`: body parse + `validate` + `prepare` (OpenAI, Workers AI native) vs. a bare JSON
//!   parse and re-serialise;
//! - `auth`: a gateway key among 1,000 (SHA-256 + lookup + constant-time compare);
//! - `error`: the OpenAI error body;
//! - `response`: a 2xx JSON answer translated (OpenAI pass-through, Workers AI native → OpenAI)
//!   vs. a JSON parse and re-serialise;
//! - `sse`: SSE decode alone and the relay (pass-through, native → OpenAI), with one network chunk
//!   per event and with events split across 64-byte chunks, vs. copying the bytes;
//! - `cache`: key, memory-tier hit and fresh-id replay vs. a SHA-256 of the body;
//! - `metrics`: one request's counters and histograms as the logging phase records them, the
//!   token and cost counters of settlement, vs. one atomic add; and a `/metrics` render;
//! - `tokens`: tiktoken counts of a chat prompt and a completion vs. the bytes/3 estimate admit uses.
//!
//! The quota store (admit + settle, rate limits) and the complexity classifier are benched in the
//! crate that owns them: `cargo bench -p sluice-policies --bench store -- memory` and
//! `--bench classifier`.
//!
//! Run: `cargo bench --bench hot_path` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quicker pass).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod accounting;
mod cache;
mod request;
mod response;

use criterion::{criterion_group, criterion_main};
use serde_json::json;

/// A typical chat request: a system prompt, one user question, a few parameters.
fn chat_body(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for a SaaS product."},
            {"role": "user", "content": "How do I reset my password? I tried the link in the email but it expired."}
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "stream": stream,
        "user": "user-1234"
    }))
    .unwrap()
}

/// A ~70-token assistant answer.
const ANSWER: &str = "Open Settings, then Security, then Reset password. Reset links expire after 30 minutes, \
    so request a new one and use it right away. If the email does not arrive within a few minutes, check \
    your spam folder and make sure the address on your account is current. Still stuck? Contact support \
    with your account id and we will reset it for you.";

criterion_group!(
    benches,
    request::request_path,
    request::auth,
    request::errors,
    response::translate,
    response::sse,
    cache::cache,
    accounting::metrics,
    accounting::tokens
);
criterion_main!(benches);
