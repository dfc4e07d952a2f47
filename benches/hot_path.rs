//! Per-request hot-path pieces, each next to a naive baseline where one makes sense:
//! request parse + validate + translate (vs. a bare JSON parse and re-serialise), SSE relay
//! (OpenAI pass-through and Workers AI native translation), gateway-key authentication, and the
//! OpenAI error body, and the response cache's per-request work (key, memory-tier lookup, fresh-id
//! replay) next to a plain SHA-256 of the body. Run: `cargo bench --bench hot_path`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Map, Value};
use sluice::config::file::{AuthFile, KeyFile};
use sluice::config::Problems;
use sluice::error::GatewayError;
use sluice::identity;
use sluice_providers::{self as providers, Endpoint, Protocol, StreamTranslator};

fn chat_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for a SaaS product."},
            {"role": "user", "content": "How do I reset my password? I tried the link in the email but it expired."}
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "stream": true,
        "user": "user-1234"
    }))
    .unwrap()
}

fn request_path(c: &mut Criterion) {
    let body = chat_body();
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("baseline: json parse + serialise", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(serde_json::to_vec(&v).unwrap())
        })
    });
    for (name, protocol) in [("openai", Protocol::OpenAi), ("cloudflare native", Protocol::CloudflareNative)] {
        g.bench_function(format!("parse + validate + prepare ({name})"), |b| {
            b.iter(|| {
                let map: Map<String, Value> = serde_json::from_slice(black_box(&body)).unwrap();
                let summary = providers::validate(Endpoint::ChatCompletions, &map).unwrap();
                black_box(
                    providers::prepare(
                        Endpoint::ChatCompletions,
                        protocol,
                        &map,
                        &summary,
                        "upstream-model",
                        "chatcmpl-x".into(),
                        1,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn openai_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..20 {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn native_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..20 {
        s.push_str(&format!("data: {{\"response\":\"tok{i} \",\"p\":\"abcdef\"}}\n\n"));
    }
    s.push_str("data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn sse(c: &mut Criterion) {
    let map: Map<String, Value> = serde_json::from_slice(&chat_body()).unwrap();
    let summary = providers::validate(Endpoint::ChatCompletions, &map).unwrap();
    let mut g = c.benchmark_group("sse relay (20 events, one network chunk per event)");
    for (name, protocol, stream) in [
        ("openai pass-through", Protocol::OpenAi, openai_stream()),
        ("cloudflare native → openai", Protocol::CloudflareNative, native_stream()),
    ] {
        let ctx = providers::prepare(Endpoint::ChatCompletions, protocol, &map, &summary, "m", "chatcmpl-x".into(), 1)
            .unwrap()
            .response;
        let chunks: Vec<&[u8]> = stream
            .split_inclusive(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|p| {
                let start = p[0].as_ptr() as usize - stream.as_ptr() as usize;
                let len: usize = p.iter().map(|x| x.len()).sum();
                &stream[start..start + len]
            })
            .collect();
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut t = StreamTranslator::new(&ctx);
                let mut out = Vec::with_capacity(4);
                for chunk in &chunks {
                    t.push(black_box(chunk), &mut out).unwrap();
                    out.clear();
                }
                black_box(t.usage())
            })
        });
    }
    g.bench_function("baseline: copy the bytes", |b| {
        b.iter(|| black_box(bytes::Bytes::copy_from_slice(black_box(&openai_stream()))))
    });
    g.finish();
}

fn auth(c: &mut Criterion) {
    let keys = (0..1000)
        .map(|i| KeyFile {
            sha256: Some(hex::encode(identity::hash_key(&format!("sk-key-{i:06}-padding")))),
            key: None,
            tenant: format!("t{i}"),
            tier: None,
            name: None,
        })
        .collect();
    let id = identity::build(&AuthFile { keys, jwt: None }, &BTreeMap::new(), &mut Problems::default()).unwrap();
    let header = b"Bearer sk-key-000500-padding".to_vec();
    c.bench_function("auth: gateway key among 1000 (sha256 + lookup + ct compare)", |b| {
        b.iter(|| black_box(id.authenticate(Some(black_box(&header))).unwrap()))
    });
}

fn errors(c: &mut Criterion) {
    let err = GatewayError::ModelNotFound("gpt-9".into());
    c.bench_function("error: OpenAI error body", |b| b.iter(|| black_box(black_box(&err).body())));
}

fn cache(c: &mut Criterion) {
    use sluice_policies::cache::{CacheKey, CachedValue, Kind, MemoryTier, Scope, Tokens};
    let body = chat_body();
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

criterion_group!(benches, request_path, sse, auth, errors, cache);
criterion_main!(benches);
