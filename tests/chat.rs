use serde_json::json;

use crate::harness::{chat, Gateway, CF_UPSTREAM_KEY, OPENAI_UPSTREAM_KEY};

#[tokio::test]
async fn openai_route_forwards_and_names_the_model_used() {
    let gw = Gateway::start().await;
    let mut body = chat("gpt-4o", "Hello there");
    body["temperature"] = json!(0);
    body["some_future_field"] = json!({"kept": [1, 2]});
    let (status, headers, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().is_empty());
    assert_eq!(headers["x-sluice-model"], "gpt-4o");
    assert!(headers.contains_key("x-request-id"));
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let calls = gw.mock.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {OPENAI_UPSTREAM_KEY}").as_str()));
    // Unknown fields are forwarded verbatim; the client's key never is.
    assert_eq!(call.body["some_future_field"], json!({"kept": [1, 2]}));
    assert_eq!(call.body["temperature"], json!(0));
    assert_eq!(call.body["model"], "gpt-4o");
}

#[tokio::test]
async fn cloudflare_native_route_translates_both_ways() {
    let gw = Gateway::start().await;
    let mut body = chat("llama-3.1-8b", "What is the capital of France?");
    body["max_tokens"] = json!(50);
    body["messages"] = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is the capital"}, {"type": "text", "text": " of France?"}]}
    ]);
    let (status, headers, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(headers["x-sluice-model"], "@cf/meta/llama-3.1-8b-instruct");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().is_empty());
    assert!(v["choices"][0]["finish_reason"].is_string());
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let call = &gw.mock.calls()[0];
    assert_eq!(call.path, "/client/v4/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {CF_UPSTREAM_KEY}").as_str()));
    assert_eq!(call.body["max_tokens"], 50);
    let messages = call.body["messages"].as_array().unwrap();
    // Text parts are joined into one string (Workers AI takes plain strings).
    assert_eq!(messages[1]["content"], "What is the capital\n of France?");
    assert!(call.body.get("model").is_none(), "native requests carry the model in the path");
}

#[tokio::test]
async fn cloudflare_native_unsupported_parameters_are_refused_by_name() {
    let gw = Gateway::start().await;
    for (field, value) in [("n", json!(2)), ("logprobs", json!(true)), ("logit_bias", json!({"50256": -100}))] {
        let mut body = chat("llama-3.1-8b", "hi");
        body[field] = value;
        let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 400, "{field}: {v}");
        assert_eq!(v["error"]["param"], field, "{v}");
    }
    let mut body = chat("llama-3.1-8b", "hi");
    body["messages"] =
        json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]);
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["param"].as_str().unwrap().starts_with("messages[0].content"), "{v}");
    assert_eq!(gw.mock.call_count(), 0, "refused requests never reach the upstream");
}

#[tokio::test]
async fn cloudflare_native_tool_calls_become_openai_tool_calls() {
    let gw = Gateway::start().await;
    let body = json!({
        "model": "llama-3.1-8b",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "mock": {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    });
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: serde_json::Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Paris");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn cloudflare_openai_compatible_route_passes_through() {
    let gw = Gateway::start().await;
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("llama-compat", "hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    let call = &gw.mock.calls()[0];
    assert_eq!(call.path, "/client/v4/accounts/test-account/ai/v1/chat/completions");
    assert_eq!(call.body["model"], "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
}

#[tokio::test]
async fn completions_and_responses_pass_through_to_openai() {
    let gw = Gateway::start().await;
    let (status, _, v) = gw.post("/v1/completions", &json!({"model": "gpt-4o-mini", "prompt": "Say hi"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    let (status, _, v) = gw.post("/v1/responses", &json!({"model": "gpt-4o", "input": "Say hi"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "response");
    let paths: Vec<String> = gw.mock.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/v1/completions", "/v1/responses"]);
}

#[tokio::test]
async fn an_h2c_provider_carries_json_and_streams_over_http2() {
    let gw = Gateway::start_with(
        r#"
[providers.openai-h2]
kind = "openai"
base_url = "{openai}"
api_key = "${TEST_OPENAI_KEY}"
http2_prior_knowledge = true

[models."gpt-4o-h2"]
candidates = [{ provider = "openai-h2", model = "gpt-4o" }]
"#,
    )
    .await;
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("gpt-4o-h2", "Hello over h2")).await;
    assert_eq!(status, 200, "{v}");
    let mut streamed = chat("gpt-4o-h2", "Stream over h2");
    streamed["stream"] = json!(true);
    let resp = crate::harness::client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(crate::harness::KEY)
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // The default provider stays on HTTP/1.1.
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("gpt-4o", "Hello over h1")).await;
    assert_eq!(status, 200, "{v}");
    let versions: Vec<String> = gw.mock.calls().iter().map(|c| c.version.clone()).collect();
    assert_eq!(versions, ["HTTP/2.0", "HTTP/2.0", "HTTP/1.1"]);
}
