//! The answer's way back: a JSON answer translated in one piece, and an SSE stream decoded and
//! relayed chunk by chunk.

use bytes::Bytes;
use criterion::{black_box, Criterion, Throughput};
use serde_json::{json, Map, Value};
use sluice_providers::sse::SseDecoder;
use sluice_providers::{self as providers, Endpoint, Protocol, ResponseContext, StreamTranslator};

use super::{chat_body, ANSWER};

/// The response context `prepare` makes for the typical chat request on `protocol`.
fn context(protocol: Protocol, stream: bool) -> ResponseContext {
    let map: Map<String, Value> = serde_json::from_slice(&chat_body(stream)).unwrap();
    let summary = providers::validate(Endpoint::ChatCompletions, &map).unwrap();
    providers::prepare(Endpoint::ChatCompletions, protocol, &map, &summary, "m", "chatcmpl-x".into(), 1)
        .unwrap()
        .response
}

pub fn translate(c: &mut Criterion) {
    let openai = Bytes::from(
        serde_json::to_vec(&json!({"id": "chatcmpl-abc123", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": ANSWER, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 41, "completion_tokens": 72, "total_tokens": 113},
            "system_fingerprint": "fp_abc123"}))
        .unwrap(),
    );
    let native = Bytes::from(
        serde_json::to_vec(&json!({"result": {"response": ANSWER,
            "usage": {"prompt_tokens": 41, "completion_tokens": 72, "total_tokens": 113}},
            "success": true, "errors": [], "messages": []}))
        .unwrap(),
    );
    let mut g = c.benchmark_group("response (JSON answer)");
    g.throughput(Throughput::Bytes(openai.len() as u64));
    g.bench_function("baseline: json parse + serialise", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&openai)).unwrap();
            black_box(serde_json::to_vec(&v).unwrap())
        })
    });
    for (name, protocol, body) in [
        ("openai pass-through (usage read)", Protocol::OpenAi, &openai),
        ("cloudflare native → openai", Protocol::CloudflareNative, &native),
    ] {
        let ctx = context(protocol, false);
        g.bench_function(name, |b| {
            b.iter(|| black_box(providers::translate_body_bytes(&ctx, black_box(body).clone()).unwrap()))
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

/// One network chunk per event (what a provider flushing each token sends).
fn per_event(stream: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = stream;
    while let Some(end) = rest.windows(2).position(|w| w == b"\n\n") {
        let (event, tail) = rest.split_at(end + 2);
        chunks.push(event);
        rest = tail;
    }
    chunks
}

/// Fixed 64-byte chunks: events split across reads, several events ending in one read.
fn split(stream: &[u8]) -> Vec<&[u8]> {
    stream.chunks(64).collect()
}

pub fn sse(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse (22 events)");
    let openai = openai_stream();
    g.throughput(Throughput::Bytes(openai.len() as u64));
    g.bench_function("baseline: copy the bytes", |b| b.iter(|| black_box(Bytes::copy_from_slice(black_box(&openai)))));
    for (chunking, chunks) in [("one chunk per event", per_event(&openai)), ("64-byte chunks", split(&openai))] {
        g.bench_function(format!("decode only, {chunking}"), |b| {
            b.iter(|| {
                let mut decoder = SseDecoder::new();
                let mut events = 0usize;
                for chunk in &chunks {
                    events += decoder.push(black_box(chunk)).count();
                }
                black_box(events)
            })
        });
    }
    for (name, protocol, stream) in [
        ("openai pass-through", Protocol::OpenAi, openai_stream()),
        ("cloudflare native → openai", Protocol::CloudflareNative, native_stream()),
    ] {
        let ctx = context(protocol, true);
        g.throughput(Throughput::Bytes(stream.len() as u64));
        for (chunking, chunks) in [("one chunk per event", per_event(&stream)), ("64-byte chunks", split(&stream))] {
            let relay = |chunks: &[&[u8]]| {
                let mut t = StreamTranslator::new(&ctx);
                let mut out = Vec::with_capacity(4);
                for chunk in chunks {
                    t.push(black_box(chunk), &mut out).unwrap();
                    out.clear();
                }
                t
            };
            assert!(relay(&chunks).is_complete(), "{name}, {chunking}: the stream did not complete");
            g.bench_function(format!("relay {name}, {chunking}"), |b| b.iter(|| black_box(relay(&chunks).usage())));
        }
    }
    g.finish();
}
