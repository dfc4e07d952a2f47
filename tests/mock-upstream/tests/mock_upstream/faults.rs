//! Every fault kind, and which request a fault applies to.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_mock_upstream::{Fault, MockOptions, MockUpstream};
use tokio::io::AsyncReadExt;

use crate::client::{parse, post, start_request};

const CHAT: &str = "/v1/chat/completions";

fn chat() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
}

fn streaming() -> Value {
    let mut body = chat();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

#[tokio::test]
async fn queue_is_fifo_and_body_fault_wins_without_consuming() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push_fault(Fault { status: Some(503), ..Fault::default() });
    mock.push_fault(Fault { status: Some(500), ..Fault::default() });
    let mut with_body = chat();
    with_body["mock"] = json!({"status": 429});
    assert_eq!(post(mock.addr(), CHAT, with_body).await.status, 429);
    assert_eq!(mock.pending_faults(), 2);
    // Any endpoint consumes the next queued fault.
    assert_eq!(post(mock.addr(), "/v1/embeddings", json!({"model": "m", "input": "a"})).await.status, 503);
    assert_eq!(post(mock.addr(), CHAT, chat()).await.status, 500);
    assert_eq!(post(mock.addr(), CHAT, chat()).await.status, 200);
    // Unknown paths do not consume a fault.
    mock.push_fault(Fault { status: Some(502), ..Fault::default() });
    assert_eq!(post(mock.addr(), "/v1/unknown", json!({})).await.status, 404);
    assert_eq!(mock.pending_faults(), 1);
    mock.clear_faults();
    let outcomes: Vec<String> = mock.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["status 429", "status 503", "status 500", "ok", "status 404"]);
    let calls = mock.calls();
    assert_eq!(calls[0].fault.as_ref().and_then(|f| f.status), Some(429));
    assert!(calls[3].fault.is_none());
}

#[tokio::test]
async fn status_with_retry_headers_and_error_codes() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"status": 429, "retry_after": "3", "retry_after_ms": 2500,
        "headers": {"x-should-retry": "false"}});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.header("retry-after-ms"), Some("2500"));
    assert_eq!(r.header("x-should-retry"), Some("false"));
    let e = &r.json()["error"];
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("rate_limit_error"), Some("rate_limit_exceeded")));
    assert_eq!(e["param"], Value::Null);

    let mut body = chat();
    body["mock"] = json!({"status": 429, "error_code": "insufficient_quota"});
    let e = post(mock.addr(), CHAT, body).await.json();
    assert_eq!(e["error"]["type"], "insufficient_quota");

    let mut body = chat();
    body["mock"] = json!({"status": 404});
    let e = post(mock.addr(), CHAT, body).await.json();
    assert_eq!(e["error"]["code"], "model_not_found");
    assert!(e["error"]["message"].as_str().unwrap().contains("gpt-4o-mini"));
}

#[tokio::test]
async fn delay_before_headers() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"delay_ms": 60});
    let start = Instant::now();
    assert_eq!(post(mock.addr(), CHAT, body).await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn chunk_delay_between_events() {
    let opts = MockOptions { default_chunk_delay_ms: 3, ..MockOptions::default() };
    let mock = MockUpstream::start_with(opts).await.unwrap();
    let mut body = streaming();
    body["mock"] = json!({"completion_tokens": 4, "chunk_delay_ms": 15});
    let start = Instant::now();
    let r = post(mock.addr(), CHAT, body).await;
    // role + 4 tokens + finish + usage + [DONE] = 8 events, 7 gaps.
    assert_eq!(r.events().len(), 8);
    assert!(start.elapsed() >= Duration::from_millis(7 * 15));
    let start = Instant::now();
    post(mock.addr(), CHAT, streaming()).await;
    assert!(start.elapsed() >= Duration::from_millis(3 * 10), "server default applies");
}

#[tokio::test]
async fn drop_after_chunks_cuts_the_stream() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = streaming();
    body["mock"] = json!({"drop_after_chunks": 3});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.status, 200);
    assert!(!r.complete, "no terminal chunk: the connection was cut");
    let events = r.events();
    assert_eq!(events.len(), 3);
    assert!(!r.body.contains("[DONE]"));
    assert!(!r.body.contains("finish_reason\":\"stop"));
    assert_eq!(mock.calls()[0].outcome, "dropped");
    // Larger than the stream: everything but [DONE], then the cut.
    let mut body = streaming();
    body["mock"] = json!({"drop_after_chunks": 1000});
    let r = post(mock.addr(), CHAT, body).await;
    assert!(!r.complete);
    assert!(!r.body.contains("[DONE]"));
    assert!(r.body.contains("\"choices\":[]"));
}

#[tokio::test]
async fn reset_closes_without_response() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"reset": true});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.raw_len, 0, "no bytes at all");
    assert_eq!(mock.calls()[0].outcome, "reset");
    // The server still works afterwards.
    assert_eq!(post(mock.addr(), CHAT, chat()).await.status, 200);
}

#[tokio::test]
async fn hang_never_answers_until_shutdown() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"hang": true});
    let mut stream = start_request(mock.addr(), "POST", CHAT, None, Some(&body)).await;
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await;
    assert!(waited.is_err(), "no answer while hanging");
    assert_eq!(mock.calls()[0].outcome, "hang");
    mock.shutdown().await;
    let after = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await.expect("closed on shutdown");
    assert!(matches!(after, Ok(0) | Err(_)));
}

#[tokio::test]
async fn malformed_json_and_sse() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"malformed": true});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());
    let mut body = streaming();
    body["mock"] = json!({"malformed": true});
    let r = post(mock.addr(), CHAT, body).await;
    let events = r.events();
    assert!(serde_json::from_str::<Value>(&events[1]).is_err());
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!(mock.calls()[1].outcome, "malformed");
}

#[tokio::test]
async fn withhold_usage() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"withhold_usage": true});
    let v = post(mock.addr(), CHAT, body).await.json();
    assert!(v.get("usage").is_none());
    let mut body = streaming();
    body["mock"] = json!({"withhold_usage": true});
    let r = post(mock.addr(), CHAT, body).await;
    assert!(!r.body.contains("\"choices\":[]"));
    assert!(r.json_events().iter().all(|e| e["usage"].is_null()));
    let path = "/client/v4/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct";
    let v = post(mock.addr(), path, json!({"prompt": "x", "mock": {"withhold_usage": true}})).await.json();
    assert!(v["result"].get("usage").is_none());
}

#[tokio::test]
async fn content_and_content_type() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = streaming();
    body["mock"] = json!({"content": "Exactly this text.", "content_type": "text/plain"});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let events = r.json_events();
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Exactly this text.");
    assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn invalid_mock_field_is_a_400() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat();
    body["mock"] = json!({"stauts": 500});
    let r = post(mock.addr(), CHAT, body).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("stauts"));
}

#[tokio::test]
async fn raw_parse_of_empty_answer() {
    let r = parse(b"");
    assert_eq!((r.status, r.complete), (0, false));
}
