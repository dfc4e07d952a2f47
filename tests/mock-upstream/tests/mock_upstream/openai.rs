//! OpenAI endpoint shapes and stream framing.

use base64::Engine as _;
use serde_json::{json, Value};
use sluice_mock_upstream::{MockOptions, MockUpstream};

use crate::client::{get, post, send};

fn chat(content: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
}

#[tokio::test]
async fn chat_completion_shape() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), "/v1/chat/completions", chat("Hello there, mock!")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").is_some());
    assert!(r.body.starts_with(r#"{"id":"chatcmpl-"#), "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["system_fingerprint"], "fp_mock");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    let text = choice["message"]["content"].as_str().unwrap();
    assert!(text.starts_with("Mock answer about Hello there mock"), "{text}");
    let u = &v["usage"];
    assert_eq!(u["completion_tokens"], 12);
    // 3 priming + 3 per message + "user" + "Hello there, mock!" (5 tokens)
    assert_eq!(u["prompt_tokens"], 12);
    assert_eq!(u["total_tokens"], 24);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
    // Deterministic: the same request gets the same text.
    let again = post(mock.addr(), "/v1/chat/completions", chat("Hello there, mock!")).await.json();
    assert_eq!(again["choices"][0]["message"]["content"], text);
}

#[tokio::test]
async fn chat_stream_without_include_usage_has_no_usage_fields() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("Hi");
    body["stream"] = json!(true);
    let r = post(mock.addr(), "/v1/chat/completions", body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    assert!(r.body.ends_with("data: [DONE]\n\n"));
    assert!(!r.body.contains("usage"));
    let events = r.json_events();
    assert_eq!(events.len(), 1 + 12 + 1, "role chunk, one chunk per token, finish chunk");
    assert_eq!(events[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    assert_eq!(events[0]["object"], "chat.completion.chunk");
    let last = events.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.starts_with("Mock answer about Hi"));
    let ids: Vec<&Value> = events.iter().map(|e| &e["id"]).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn chat_stream_with_include_usage() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("Hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["mock"] = json!({"completion_tokens": 2});
    let r = post(mock.addr(), "/v1/chat/completions", body).await;
    let events = r.json_events();
    assert_eq!(events.len(), 1 + 2 + 1 + 1);
    for e in &events[..events.len() - 1] {
        assert!(e.as_object().unwrap().contains_key("usage"));
        assert_eq!(e["usage"], Value::Null);
    }
    let usage_chunk = events.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 2);
    assert_eq!(usage_chunk["usage"]["total_tokens"], usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() + 2);
    assert_eq!(r.events().last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn max_tokens_truncates_with_length() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("Hi");
    body["max_completion_tokens"] = json!(5);
    let v = post(mock.addr(), "/v1/chat/completions", body.clone()).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    body["stream"] = json!(true);
    body["mock"] = json!({"completion_tokens": 40});
    let events = post(mock.addr(), "/v1/chat/completions", body).await.json_events();
    assert_eq!(events.len(), 1 + 5 + 1);
    assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn n_choices() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("Hi");
    body["n"] = json!(2);
    let v = post(mock.addr(), "/v1/chat/completions", body.clone()).await.json();
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["usage"]["completion_tokens"], 24);
    body["stream"] = json!(true);
    let events = post(mock.addr(), "/v1/chat/completions", body).await.json_events();
    let finishes: Vec<u64> = events
        .iter()
        .filter(|e| e["choices"][0]["finish_reason"] == "stop")
        .map(|e| e["choices"][0]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(finishes, [0, 1]);
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}}}])
}

#[tokio::test]
async fn tool_calls() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("Please call the tool for Paris");
    body["tools"] = weather_tools();
    let v = post(mock.addr(), "/v1/chat/completions", body.clone()).await.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"mock","unit":"c"}"#);

    // Streamed, with the arguments chosen by the fault.
    body["messages"][0]["content"] = json!("no trigger words");
    body["stream"] = json!(true);
    body["mock"] = json!({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris, France"}}});
    let events = post(mock.addr(), "/v1/chat/completions", body).await.json_events();
    let first = &events[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["tool_calls"][0]["function"], json!({"name": "get_weather", "arguments": ""}));
    let args: String = events[1..]
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"city":"Paris, France"}"#);
    assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn tool_choice_forces_a_function() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat("hello");
    body["tools"] = weather_tools();
    body["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let v = post(mock.addr(), "/v1/chat/completions", body.clone()).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    body["tool_choice"] = json!("auto");
    let v = post(mock.addr(), "/v1/chat/completions", body).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn embeddings_forms_and_encodings() {
    let mock = MockUpstream::start().await.unwrap();
    let floats =
        post(mock.addr(), "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": ["a", "b"]})).await;
    let v = floats.json();
    assert!(floats.body.starts_with(r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":["#));
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    let a: Vec<f32> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(a.len(), 1536);
    assert!((a.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-3);
    assert_eq!(v["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));

    let b64 = post(
        mock.addr(),
        "/v1/embeddings",
        json!({"model": "text-embedding-3-small", "input": "a", "encoding_format": "base64"}),
    )
    .await
    .json();
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(b64["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(decoded, a, "base64 is the little-endian f32 bytes of the same vector");

    let large =
        post(mock.addr(), "/v1/embeddings", json!({"model": "text-embedding-3-large", "input": "a"})).await.json();
    assert_eq!(large["data"][0]["embedding"].as_array().unwrap().len(), 3072);
    let short = post(
        mock.addr(),
        "/v1/embeddings",
        json!({"model": "text-embedding-3-large", "input": "a", "dimensions": 256}),
    )
    .await
    .json();
    assert_eq!(short["data"][0]["embedding"].as_array().unwrap().len(), 256);

    // Token ids: one array, and an array of arrays; ids embed like the text they decode to.
    let ids =
        post(mock.addr(), "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": [64]})).await.json();
    assert_eq!(ids["usage"]["prompt_tokens"], 1);
    let many =
        post(mock.addr(), "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": [[64, 65], [66]]}))
            .await
            .json();
    assert_eq!(many["data"].as_array().unwrap().len(), 2);
    assert_eq!(many["usage"]["prompt_tokens"], 3);

    let bad =
        post(mock.addr(), "/v1/embeddings", json!({"model": "text-embedding-ada-002", "input": "a", "dimensions": 8}))
            .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "dimensions");
}

#[tokio::test]
async fn legacy_completions() {
    let mock = MockUpstream::start().await.unwrap();
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 4});
    let v = post(mock.addr(), "/v1/completions", body.clone()).await.json();
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["choices"][0]["text"], "Mock answer about Say");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    let mut stream = body;
    stream["stream"] = json!(true);
    let r = post(mock.addr(), "/v1/completions", stream).await;
    let events = r.json_events();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["choices"][0]["text"], "Mock");
    assert_eq!(events[4]["choices"][0]["finish_reason"], "length");
    assert!(!r.body.contains("usage"));
    assert_eq!(r.events().last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn responses_api() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), "/v1/responses", json!({"model": "gpt-4o-mini", "input": "Tell me a joke"})).await;
    assert!(r.body.starts_with(r#"{"id":"resp_"#));
    let v = r.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["annotations"], json!([]));
    assert!(item["content"][0]["text"].as_str().unwrap().starts_with("Mock answer about Tell me a joke"));
    assert_eq!(v["usage"]["output_tokens"], 12);
    assert_eq!(v["usage"]["total_tokens"].as_u64().unwrap(), v["usage"]["input_tokens"].as_u64().unwrap() + 12);

    let s = post(mock.addr(), "/v1/responses", json!({"model": "gpt-4o-mini", "input": "Hi", "stream": true})).await;
    let events = s.json_events();
    assert_eq!(events[0]["type"], "response.created");
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(deltas.starts_with("Mock answer about Hi"));
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], deltas);
}

#[tokio::test]
async fn models() {
    let mock = MockUpstream::start().await.unwrap();
    let list = get(mock.addr(), "/v1/models").await.json();
    assert_eq!(list["object"], "list");
    assert!(list["data"].as_array().unwrap().iter().any(|m| m["id"] == "gpt-4o-mini"));
    let one = get(mock.addr(), "/v1/models/gpt-4o").await.json();
    assert_eq!(one, json!({"id": "gpt-4o", "object": "model", "created": 1_700_000_000, "owned_by": "system"}));
}

#[tokio::test]
async fn unknown_path_and_bad_json() {
    let mock = MockUpstream::start().await.unwrap();
    let r = post(mock.addr(), "/v1/nope", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(mock.addr(), "GET", "/v1/chat/completions", None, None).await;
    assert_eq!(r.status, 404);
    let r = post(mock.addr(), "/v1/chat/completions", json!({"model": "gpt-4o-mini"})).await;
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("messages")));
    assert_eq!(mock.call_count(), 3);
}

#[tokio::test]
async fn openai_auth() {
    let opts = MockOptions { openai_key: Some("sk-test".into()), ..MockOptions::default() };
    let mock = MockUpstream::start_with(opts).await.unwrap();
    let body = chat("Hi");
    let r = send(mock.addr(), "POST", "/v1/chat/completions", None, Some(&body)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    let r = send(mock.addr(), "POST", "/v1/chat/completions", Some("Bearer wrong"), Some(&body)).await;
    assert_eq!(r.status, 401);
    let r = send(mock.addr(), "POST", "/v1/chat/completions", Some("Bearer sk-test"), Some(&body)).await;
    assert_eq!(r.status, 200);
    let calls = mock.calls();
    assert_eq!(calls[0].outcome, "status 401");
    assert_eq!(calls[2].authorization.as_deref(), Some("Bearer sk-test"));
}
