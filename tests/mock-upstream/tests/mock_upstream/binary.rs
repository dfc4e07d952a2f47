//! The `mock-upstream` binary: prints its address once bound, serves, stops on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::client::{post, send};

#[tokio::test]
async fn prints_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args(["--addr", "127.0.0.1:0", "--openai-key", "sk-bin", "--chunk-delay-ms", "1"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = line.strip_prefix("mock-upstream listening on http://").expect("banner").parse().unwrap();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(addr, "/v1/chat/completions", body.clone()).await.status, 401);
    let r = send(addr, "POST", "/v1/chat/completions", Some("Bearer sk-bin"), Some(&body)).await;
    assert_eq!(r.status, 200);
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
}
