use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::{chat, client, Gateway, KEY};

async fn wait_for_reloads(gw: &Gateway, result: &str, count: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let needle = format!("sluice_config_reloads_total{{result=\"{result}\"}} {count}");
    loop {
        let m = gw.metrics().await;
        if m.contains(&needle) {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle} in:\n{m}\nlog:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reload_swaps_a_route_while_a_stream_is_in_flight() {
    let gw = Gateway::start_with(
        "\n[models.\"chat-default\"]\ncandidates = [{ provider = \"openai\", model = \"gpt-4o\" }]\n",
    )
    .await;
    // A long stream on the old route.
    let body = json!({"model": "chat-default", "stream": true, "messages": [{"role": "user", "content": "long"}],
                      "mock": {"completion_tokens": 40, "chunk_delay_ms": 50}});
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.headers()["x-sluice-model"], "gpt-4o");
    let mut stream = resp.bytes_stream();
    let mut text = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();

    // Swap the route to Workers AI, by file change.
    let new = gw.render("\n[models.\"chat-default\"]\ncandidates = [{ provider = \"workers-ai\", model = \"@cf/meta/llama-3.1-8b-instruct\" }]\n");
    gw.write_config(&new);
    wait_for_reloads(&gw, "applied", 1).await;

    let (status, headers, v) = gw.post("/v1/chat/completions", &chat("chat-default", "hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["x-sluice-model"], "@cf/meta/llama-3.1-8b-instruct");

    // The old stream completes on the old route.
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "stream cut by reload: {text}");
    assert!(text.contains("\"model\":\"gpt-4o"), "stream switched routes mid-way");

    // An invalid file is rejected and the current config keeps serving.
    gw.write_config(&format!("{new}\n[models.\"broken\"]\ncandidates = [{{ provider = \"nope\", model = \"x\" }}]\n"));
    wait_for_reloads(&gw, "rejected", 1).await;
    assert!(
        gw.log().contains("models.\\\"broken\\\".candidates[0].provider") || gw.log().contains("broken"),
        "{}",
        gw.log()
    );
    let (status, headers, _) = gw.post("/v1/chat/completions", &chat("chat-default", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-sluice-model"], "@cf/meta/llama-3.1-8b-instruct");

    // Fixing the file applies it again.
    gw.write_config(&new);
    wait_for_reloads(&gw, "applied", 2).await;

    // SIGHUP reloads too (the file is unchanged, so only the signal can trigger this one).
    gw.signal("HUP");
    wait_for_reloads(&gw, "applied", 3).await;
    assert!(gw.log().contains("\"trigger\":\"sighup\""), "{}", gw.log());

    // Removing the route by file change: new requests see it gone.
    gw.write_config(&gw.render(""));
    wait_for_reloads(&gw, "applied", 4).await;
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("chat-default", "hi")).await;
    assert_eq!(status, 404, "{v}");
}
