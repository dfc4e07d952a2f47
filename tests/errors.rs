use serde_json::{json, Value};

use crate::harness::{chat, client, Gateway, KEY};

fn assert_openai_error(v: &Value) {
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "not an OpenAI error: {v}");
    assert!(v["error"]["type"].is_string(), "{v}");
    assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some(), "{v}");
}

#[tokio::test]
async fn bad_input_of_every_kind_gets_a_4xx_never_a_5xx() {
    let gw = Gateway::start().await;
    let garbage: Vec<(Vec<u8>, u16, Option<&str>)> = vec![
        (b"".to_vec(), 400, None),
        (b"{not json".to_vec(), 400, None),
        (b"[1,2,3]".to_vec(), 400, None),
        (b"\"just a string\"".to_vec(), 400, None),
        (vec![0xff, 0xfe, 0x00, 0x01], 400, None),
        (br#"{"messages":[{"role":"user","content":"hi"}]}"#.to_vec(), 400, Some("model")),
        (br#"{"model":42,"messages":[]}"#.to_vec(), 400, Some("model")),
        (br#"{"model":"gpt-4o"}"#.to_vec(), 400, Some("messages")),
        (br#"{"model":"gpt-4o","messages":"hi"}"#.to_vec(), 400, Some("messages")),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"wizard","content":"hi"}]}"#.to_vec(),
            400,
            Some("messages[0].role"),
        ),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#.to_vec(),
            400,
            Some("temperature"),
        ),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#.to_vec(),
            400,
            Some("stream"),
        ),
        (
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":-5}"#.to_vec(),
            400,
            Some("max_tokens"),
        ),
        (br#"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#.to_vec(), 404, Some("model")),
    ];
    for (body, want, param) in garbage {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (status, headers, v) = gw.post_raw("/v1/chat/completions", body, Some(KEY)).await;
        assert_eq!(status, want, "{shown} → {v}");
        assert_openai_error(&v);
        assert_eq!(headers["x-should-retry"], "false");
        if let Some(param) = param {
            assert_eq!(v["error"]["param"], param, "{shown} → {v}");
        }
    }
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("no-such-model", "hi")).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(gw.mock.call_count(), 0, "no bad request reached the upstream");
}

#[tokio::test]
async fn huge_bodies_get_413() {
    let gw = Gateway::start().await;
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("gpt-4o", &big)).await;
    assert_eq!(status, 413, "{v}");
    assert_openai_error(&v);
    // Chunked upload without Content-Length: refused while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..40).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    assert_eq!(gw.mock.call_count(), 0);
}

#[tokio::test]
async fn wrong_method_and_unknown_paths() {
    let gw = Gateway::start().await;
    let resp = client().get(gw.url("/v1/chat/completions")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert_openai_error(&resp.json().await.unwrap());
    let resp = client().post(gw.url("/v1/images/generations")).bearer_auth(KEY).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_openai_error(&resp.json().await.unwrap());
    let resp = client().delete(gw.url("/v1/models")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn upstream_errors_become_openai_errors() {
    let gw = Gateway::start().await;
    // OpenAI 429 keeps its status and says it came from upstream.
    let mut body = chat("gpt-4o", "hi");
    body["mock"] = json!({"status": 429, "retry_after": "3"});
    let (status, headers, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 429, "{v}");
    assert_openai_error(&v);
    assert_eq!(headers["x-sluice-error-source"], "upstream");
    // Workers AI envelope errors are mapped.
    let mut body = chat("llama-3.1-8b", "hi");
    body["mock"] = json!({"status": 400, "error_code": 5004});
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{v}");
    assert_openai_error(&v);
    // 5xx from upstream → 502 in OpenAI shape.
    let mut body = chat("gpt-4o", "hi");
    body["mock"] = json!({"status": 500});
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert!(status == 502 || status == 500, "{status} {v}");
    assert_openai_error(&v);
}

#[tokio::test]
async fn upstream_rejecting_sluices_key_is_a_502_that_never_blames_the_client() {
    let gw = Gateway::start().await;
    let mut body = chat("gpt-4o", "hi");
    body["mock"] = json!({"status": 401});
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 502, "{v}");
    assert_openai_error(&v);
    assert_ne!(v["error"]["code"], "invalid_api_key");
    let metrics = gw.metrics().await;
    assert!(metrics.contains("sluice_upstream_auth_failures_total{provider=\"openai\"} 1"), "{metrics}");
    assert!(gw.log().contains("CREDENTIALS"));
}

#[tokio::test]
async fn dead_and_slow_upstreams_give_502_and_504() {
    let gw = Gateway::start().await;
    let mut body = chat("gpt-4o", "hi");
    body["mock"] = json!({"reset": true});
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 502, "{v}");
    assert_openai_error(&v);
    // first_byte timeout is 5 s in the test config.
    let mut body = chat("gpt-4o", "hi");
    body["mock"] = json!({"delay_ms": 7000});
    let (status, _, v) = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(status, 504, "{v}");
    assert_openai_error(&v);
}
