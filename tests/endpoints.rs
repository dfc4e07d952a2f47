use serde_json::json;

use crate::harness::{chat, client, Gateway, KEY};

#[tokio::test]
async fn models_come_from_config() {
    let gw = Gateway::start().await;
    let (status, v) = gw.get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"gpt-4o") && ids.contains(&"llama-3.1-8b") && ids.contains(&"text-embedding-3-small"),
        "{ids:?}"
    );
    assert!(v["data"].as_array().unwrap().iter().all(|m| m["object"] == "model"));
    let (status, v) = gw.get("/v1/models/llama-3.1-8b").await;
    assert_eq!(status, 200);
    assert_eq!(v["id"], "llama-3.1-8b");
    let (status, v) = gw.get("/v1/models/nope").await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(gw.mock.call_count(), 0);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let gw = Gateway::start().await;
    assert_eq!(client().get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    let ready = client().get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let (status, _, _) = gw.post("/v1/chat/completions", &chat("gpt-4o", "hi")).await;
    assert_eq!(status, 200);
    let metrics = gw.metrics().await;
    for name in [
        "sluice_requests_total{endpoint=\"chat\",model=\"gpt-4o\",provider=\"openai\",status_class=\"2xx\"} 1",
        "sluice_request_duration_seconds_bucket",
        "sluice_upstream_duration_seconds_bucket",
        "sluice_gateway_overhead_seconds_bucket",
        "sluice_build_info",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
}

#[tokio::test]
async fn metrics_can_require_a_token_and_live_on_an_admin_address() {
    let admin = crate::harness::free_addr();
    let gw =
        Gateway::start_with(&format!("\n[metrics]\nbearer_token = \"scrape-token-123\"\nadmin_listen = \"{admin}\"\n"))
            .await;
    let resp = client().get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client().get(gw.url("/metrics")).bearer_auth("scrape-token-123").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client().get(format!("http://{admin}/metrics")).bearer_auth("scrape-token-123").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("sluice_build_info"));
    // The admin address serves no API.
    let resp = client()
        .post(format!("http://{admin}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat("gpt-4o", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn request_ids_are_taken_or_generated() {
    let gw = Gateway::start().await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("x-request-id", "my-trace-123")
        .json(&chat("gpt-4o", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "my-trace-123");
    let resp = client().post(gw.url("/v1/nope")).bearer_auth(KEY).body("{}").send().await.unwrap();
    assert!(resp.headers()["x-request-id"].to_str().unwrap().starts_with("req_"));
}

#[tokio::test]
async fn configured_pass_through_paths_are_forwarded() {
    let gw = Gateway::start_with("\n[[passthrough]]\npath_prefix = \"/v1/moderations\"\nprovider = \"openai\"\n").await;
    let (status, _, _) = gw.post("/v1/moderations", &json!({"input": "hello"})).await;
    // The mock has no moderations endpoint: its OpenAI-shaped 404 is relayed, and it saw the call.
    assert_eq!(status, 404);
    let call = &gw.mock.calls()[0];
    assert_eq!(call.path, "/v1/moderations");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {}", crate::harness::OPENAI_UPSTREAM_KEY).as_str()));
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let gw = Gateway::start().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = h2
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}
