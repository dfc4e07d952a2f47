use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::harness::{client, Gateway, KEY};

/// Reads an SSE response, returning the `data:` payloads and when each network chunk arrived.
async fn read_sse(resp: reqwest::Response) -> (Vec<String>, Vec<Instant>) {
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        arrivals.push(Instant::now());
        buf.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(buf).unwrap();
    let events = text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect();
    (events, arrivals)
}

async fn stream_request(gw: &Gateway, body: Value) -> reqwest::Response {
    client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn openai_stream_arrives_chunk_by_chunk() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Tell me a story"}],
        "mock": {"completion_tokens": 20, "chunk_delay_ms": 40}
    });
    let start = Instant::now();
    let resp = stream_request(&gw, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (events, arrivals) = read_sse(resp).await;
    let end = Instant::now();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    // The upstream takes ≥ 20 × 40 ms; the first chunk must arrive long before the last one.
    assert!(arrivals.len() >= 10, "only {} network chunks: the stream was buffered", arrivals.len());
    let first = arrivals[0] - start;
    assert!(end - arrivals[0] >= Duration::from_millis(400), "first chunk at {first:?}, end at {:?}", end - start);
    // No usage chunk: the client did not ask for it (Sluice asked upstream for accounting).
    for e in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(e).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        assert!(!v["choices"].as_array().unwrap().is_empty(), "usage-only chunk leaked: {e}");
    }
    let call = &gw.mock.calls()[0];
    assert_eq!(call.body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn usage_chunk_is_kept_when_the_client_asks() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Hi"}]
    });
    let (events, _) = read_sse(stream_request(&gw, body).await).await;
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn cloudflare_native_stream_becomes_openai_chunks() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "llama-3.1-8b", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Count to five"}],
        "mock": {"completion_tokens": 8}
    });
    let resp = stream_request(&gw, body).await;
    assert_eq!(resp.status(), 200);
    let (events, _) = read_sse(resp).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let mut text = String::new();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "@cf/meta/llama-3.1-8b-instruct");
        if let Some(piece) = c["choices"][0]["delta"]["content"].as_str() {
            text.push_str(piece);
        }
    }
    assert!(!text.is_empty());
    let finish = chunks.iter().find(|c| c["choices"][0]["finish_reason"].is_string()).expect("a finish chunk");
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn upstream_failure_mid_stream_ends_with_an_error_event() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Tell me a story"}],
        "mock": {"completion_tokens": 30, "drop_after_chunks": 3}
    });
    let resp = stream_request(&gw, body).await;
    assert_eq!(resp.status(), 200);
    let (events, _) = read_sse(resp).await;
    let last: Value = serde_json::from_str(events.last().unwrap()).expect("last event is JSON, not [DONE]");
    assert!(last["error"]["message"].is_string(), "{last}");
    assert!(events.len() >= 2, "the chunks before the failure were delivered");
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Tell me a long story"}],
        "mock": {"completion_tokens": 200, "chunk_delay_ms": 50}
    });
    let resp = stream_request(&gw, body).await;
    let mut stream = resp.bytes_stream();
    let _ = stream.next().await;
    drop(stream);
    // The gateway notices, drops the upstream call and counts the abort.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = gw.metrics().await;
        if metrics.contains("sluice_streams_aborted_total{reason=\"client_gone\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "abort not counted:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
