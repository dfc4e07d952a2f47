use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::{client, Gateway, KEY};

#[tokio::test]
async fn sigterm_lets_streams_finish_and_flushes_the_ledger() {
    let mut gw = Gateway::start_with("\n[tiers.default]\n\n[tiers.pro]\nmonthly_tokens = 1000000\n").await;
    let body = json!({"model": "gpt-4o", "stream": true, "user": "drain-user",
                      "messages": [{"role": "user", "content": "long story"}],
                      "mock": {"completion_tokens": 30, "chunk_delay_ms": 50}});
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    gw.signal("TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = client().get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness must fail while draining");
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "stream cut by shutdown: {text}");
    // The process exits after draining, and the record of the drained stream is in the ledger.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.exited() {
        assert!(Instant::now() < deadline, "sluice did not exit after SIGTERM:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = gw.ledger_file();
    assert_eq!(records.len(), 1, "{records:?}\n{}", gw.log());
    assert_eq!(records[0]["user"], "drain-user");
    assert_eq!(records[0]["status"], 200);
    assert!(records[0]["completion_tokens"].as_u64().unwrap() > 0);
}
