//! `/__mock/*` control endpoints and the call log.

use serde_json::{json, Value};
use sluice_mock_upstream::{MockOptions, MockUpstream};

use crate::client::{get, post, send};

#[tokio::test]
async fn control_endpoints() {
    let mock = MockUpstream::start().await.unwrap();
    assert_eq!(get(mock.addr(), "/__mock/health").await.json(), json!({"status": "ok"}));
    let r = post(mock.addr(), "/__mock/faults", json!([{"status": 503}, {"status": 502}])).await;
    assert_eq!(r.json(), json!({"queued": 2}));
    let r = post(mock.addr(), "/__mock/faults", json!({"reset": true})).await;
    assert_eq!(r.json(), json!({"queued": 3}));
    assert_eq!(post(mock.addr(), "/__mock/faults", json!({"nope": 1})).await.status, 400);
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": true});
    assert_eq!(post(mock.addr(), "/v1/chat/completions", body.clone()).await.status, 503);
    assert_eq!(post(mock.addr(), "/v1/chat/completions", body).await.status, 502);
    assert_eq!(send(mock.addr(), "DELETE", "/__mock/faults", None, None).await.status, 204);
    assert_eq!(mock.pending_faults(), 0);

    let calls = get(mock.addr(), "/__mock/calls").await.json();
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 2, "control calls are not recorded");
    let first = &calls[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1/chat/completions");
    assert_eq!(first["model"], "gpt-4o-mini");
    assert_eq!(first["stream"], true);
    assert_eq!(first["outcome"], "status 503");
    assert_eq!(first["fault"]["status"], 503);
    assert_eq!(first["body"]["messages"][0]["content"], "Hi");

    assert_eq!(send(mock.addr(), "DELETE", "/__mock/calls", None, None).await.status, 204);
    assert_eq!(mock.call_count(), 0);
}

#[tokio::test]
async fn call_log_is_bounded_and_clearable() {
    let opts = MockOptions { max_call_log: 2, ..MockOptions::default() };
    let mock = MockUpstream::start_with(opts).await.unwrap();
    for i in 0..3 {
        post(mock.addr(), "/v1/embeddings", json!({"model": "m", "input": format!("t{i}")})).await;
    }
    let calls = mock.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body["input"], "t1");
    assert_eq!(calls[1].body["input"], "t2");
    mock.clear_calls();
    assert_eq!(mock.call_count(), 0);
    // A non-JSON body is recorded as null.
    let r = crate::client::send(mock.addr(), "GET", "/v1/models", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(mock.calls()[0].body, Value::Null);
}

#[tokio::test]
async fn options_deserialize_with_defaults() {
    let opts: MockOptions = serde_json::from_value(json!({"openai_key": "k"})).unwrap();
    assert_eq!(opts.cloudflare_account, "test-account");
    assert_eq!(opts.max_call_log, 100_000);
    assert!(opts.addr.is_none());
}
