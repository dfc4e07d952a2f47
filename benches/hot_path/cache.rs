//! The response cache's per-request work: key, memory-tier lookup, fresh-id replay.

use criterion::{black_box, Criterion, Throughput};
use serde_json::{json, Map, Value};

use super::chat_body;

pub fn cache(c: &mut Criterion) {
    use sluice_policies::cache::{CacheKey, CachedValue, Kind, MemoryTier, Scope, Tokens};
    let body = chat_body(true);
    let map: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("baseline: sha256 of the raw body", |b| {
        use sha2::Digest;
        b.iter(|| black_box(sha2::Sha256::digest(black_box(&body))))
    });
    g.bench_function("key (canonical JSON + sha256)", |b| {
        b.iter(|| black_box(CacheKey::for_request(Scope::Tenant("acme"), "gpt-4o", "gpt-4o", Kind::ChatJson, &map)))
    });
    let tier = MemoryTier::new(64 << 20);
    let key = CacheKey::for_request(Scope::Tenant("acme"), "gpt-4o", "gpt-4o", Kind::ChatJson, &map);
    let answer = bytes::Bytes::from(
        serde_json::to_vec(&json!({"id": "chatcmpl-abc123", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": "Open Settings → Security → Reset password. Links expire after 30 minutes; request a new one."},
            "finish_reason": "stop"}], "usage": {"prompt_tokens": 41, "completion_tokens": 24, "total_tokens": 65}}))
        .unwrap(),
    );
    tier.put(
        key,
        CachedValue::Json { body: answer.clone(), tokens: Tokens { prompt: 41, completion: 24 } },
        std::time::Duration::from_secs(3600),
    );
    g.bench_function("memory-tier hit (get)", |b| b.iter(|| black_box(tier.get(black_box(&key)))));
    g.bench_function("replay: fresh id + created", |b| {
        b.iter(|| black_box(sluice::caching::replay::Fresh::new().body(black_box(&answer))))
    });
    g.finish();
}
