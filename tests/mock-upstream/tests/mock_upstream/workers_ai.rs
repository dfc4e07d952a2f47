//! Workers AI: native `run/{model}` (envelope, stream frames, embeddings) and `/ai/v1` compat.

use serde_json::{json, Value};
use sluice_mock_upstream::{MockOptions, MockUpstream};

use crate::client::{post, send};

const LLAMA: &str = "/client/v4/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct";

fn run(model: &str) -> String {
    format!("/client/v4/accounts/test-account/ai/run/{model}")
}

#[tokio::test]
async fn base_urls() {
    let mock = MockUpstream::start().await.unwrap();
    let port = mock.addr().port();
    assert_eq!(mock.openai_base_url(), format!("http://127.0.0.1:{port}/v1"));
    assert_eq!(mock.cloudflare_base_url(), format!("http://127.0.0.1:{port}/client/v4/accounts/test-account/ai"));
}

#[tokio::test]
async fn text_generation_envelope() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), LLAMA, json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 256})).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(r#"{"result":{"response":"Mock answer about Hi"#), "{}", r.body);
    assert!(r.body.ends_with(r#""success":true,"errors":[],"messages":[]}"#));
    let v = r.json();
    let usage = &v["result"]["usage"];
    assert_eq!(usage["completion_tokens"], 12);
    assert_eq!(usage["total_tokens"], usage["prompt_tokens"].as_u64().unwrap() + 12);
    assert_eq!(mock.calls()[0].model.as_deref(), Some("@cf/meta/llama-3.1-8b-instruct"));

    let p = post(mock.addr(), LLAMA, json!({"prompt": "Write a poem", "max_tokens": 3})).await.json();
    assert_eq!(p["result"]["response"], "Mock answer about");
}

#[tokio::test]
async fn text_generation_stream() {
    let mock = MockUpstream::start().await.unwrap();
    let body =
        json!({"messages": [{"role": "user", "content": "Hi"}], "stream": true, "mock": {"completion_tokens": 3}});
    let r = post(mock.addr(), LLAMA, body).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.json_events();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["response"], "Mock");
    assert!(events[0]["p"].is_string());
    assert_eq!(events[2]["response"], " about");
    assert_eq!(events[3]["response"], "");
    assert_eq!(events[3]["usage"]["completion_tokens"], 3);
    assert_eq!(r.events().last().unwrap(), "[DONE]");
    assert!(r.body.starts_with(r#"data: {"response":"Mock","p":"#));
}

#[tokio::test]
async fn native_tool_call() {
    let mock = MockUpstream::start().await.unwrap();
    let body = json!({"messages": [{"role": "user", "content": "call the tool please"}],
        "tools": [{"name": "lookup", "description": "d", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]});
    let v = post(mock.addr(), LLAMA, body).await.json();
    assert_eq!(v["result"]["response"], Value::Null);
    assert_eq!(v["result"]["tool_calls"], json!([{"name": "lookup", "arguments": {"q": "mock"}}]));
}

#[tokio::test]
async fn native_embeddings() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), &run("@cf/baai/bge-base-en-v1.5"), json!({"text": ["a", "b"]})).await;
    assert!(r.body.starts_with(r#"{"result":{"shape":[2,768],"data":[["#));
    let v = r.json();
    assert_eq!(v["result"]["pooling"], "mean");
    assert_eq!(v["result"]["data"][1].as_array().unwrap().len(), 768);
    assert_eq!(v["success"], true);
    for (model, dims) in
        [("@cf/baai/bge-small-en-v1.5", 384), ("@cf/baai/bge-large-en-v1.5", 1024), ("@cf/baai/bge-m3", 1024)]
    {
        let v = post(mock.addr(), &run(model), json!({"text": "x"})).await.json();
        assert_eq!(v["result"]["shape"], json!([1, dims]), "{model}");
    }
    let cls = post(mock.addr(), &run("@cf/baai/bge-base-en-v1.5"), json!({"text": "a", "pooling": "cls"})).await.json();
    assert_eq!(cls["result"]["pooling"], "cls");
    assert_ne!(cls["result"]["data"][0], v["result"]["data"][0]);

    let texts: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let r = post(mock.addr(), &run("@cf/baai/bge-base-en-v1.5"), json!({"text": texts})).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["result"], Value::Null);
    assert_eq!(v["errors"][0]["code"], 5004);
}

#[tokio::test]
async fn native_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), &run("llama-unknown"), json!({"prompt": "x"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0], json!({"code": 5007, "message": "No such model"}));
    let r =
        post(mock.addr(), "/client/v4/accounts/other/ai/run/@cf/meta/llama-3.1-8b-instruct", json!({"prompt": "x"}))
            .await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_i64()), (404, Some(7003)));
    let r = post(mock.addr(), LLAMA, json!({"prompt": "x", "mock": {"status": 429}})).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.body,
        r#"{"result":null,"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded, please try again."}],"messages":[]}"#
    );
    let r = post(mock.addr(), LLAMA, json!({"prompt": "x", "mock": {"status": 429, "error_code": 3036}})).await;
    assert_eq!(r.json()["errors"][0]["code"], 3036);
    let r = post(mock.addr(), LLAMA, json!({"prompt": "x", "mock": {"status": 408}})).await;
    assert_eq!(r.json()["errors"][0]["code"], 3007);
}

#[tokio::test]
async fn cloudflare_auth() {
    let opts = MockOptions {
        cloudflare_key: Some("cf-token".into()),
        cloudflare_account: "acct".into(),
        ..MockOptions::default()
    };
    let mock = MockUpstream::start_with(opts).await.unwrap();
    assert!(mock.cloudflare_base_url().ends_with("/client/v4/accounts/acct/ai"));
    let path = "/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct";
    let body = json!({"prompt": "x"});
    let r = send(mock.addr(), "POST", path, Some("Bearer nope"), Some(&body)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errors"][0], json!({"code": 10000, "message": "Authentication error"}));
    let r = send(mock.addr(), "POST", path, Some("Bearer cf-token"), Some(&body)).await;
    assert_eq!(r.status, 200);
    let compat = "/client/v4/accounts/acct/ai/v1/chat/completions";
    let r = send(mock.addr(), "POST", compat, None, Some(&body)).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn openai_compatible_endpoints() {
    let mock = MockUpstream::start().await.unwrap();
    let base = "/client/v4/accounts/test-account/ai/v1";
    let body = json!({"model": "@cf/meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}],
        "stream": true, "stream_options": {"include_usage": true}});
    let events = post(mock.addr(), &format!("{base}/chat/completions"), body).await.json_events();
    assert_eq!(events[0]["model"], "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 12);
    let v = post(
        mock.addr(),
        &format!("{base}/embeddings"),
        json!({"model": "@cf/baai/bge-base-en-v1.5", "input": ["a"], "encoding_format": "base64"}),
    )
    .await
    .json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 768, "floats even when base64 is asked");
    let r = post(mock.addr(), &format!("{base}/chat/completions"), json!({"model": "gpt-4o", "messages": []})).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"].is_string());
    let r = post(
        mock.addr(),
        &format!("{base}/chat/completions"),
        json!({"model": "@cf/x/y", "messages": [], "mock": {"status": 503}}),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error", "OpenAI shape on /ai/v1");
}
