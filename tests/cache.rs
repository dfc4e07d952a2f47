use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use sluice_mock_upstream::{Fault, RedisServer};

use crate::harness::{client, Gateway, KEY, OTHER_KEY};

/// Sends a chat or embeddings request with `key` and extra headers; returns status, the
/// `x-sluice-cache` header and the raw body.
async fn send(gw: &Gateway, path: &str, key: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut req = client().post(gw.url(path)).bearer_auth(key).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp.headers().get("x-sluice-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, cache, resp.bytes().await.unwrap().to_vec())
}

async fn chat(gw: &Gateway, body: &Value) -> (u16, String, Value) {
    let (status, cache, bytes) = send(gw, "/v1/chat/completions", KEY, body, &[]).await;
    (status, cache, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A streamed request: status, `x-sluice-cache`, and the body's HTTP chunks as received.
async fn stream(gw: &Gateway, key: &str, body: &Value) -> (u16, String, Vec<Vec<u8>>) {
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(key).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp.headers().get("x-sluice-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let mut chunks = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        chunks.push(chunk.to_vec());
    }
    (status, cache, chunks)
}

/// The SSE events of a stream body, with `id` and `created` taken out of each JSON payload (they
/// are fresh on every replay), as (payload, ids) pairs.
fn events(chunks: &[Vec<u8>]) -> (Vec<Value>, Vec<String>) {
    let text = String::from_utf8(chunks.concat()).unwrap();
    let mut payloads = Vec::new();
    let mut ids = Vec::new();
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event.strip_prefix("data: ").unwrap_or(event);
        match serde_json::from_str::<Value>(data) {
            Ok(mut v) => {
                if let Some(obj) = v.as_object_mut() {
                    if let Some(Value::String(id)) = obj.remove("id") {
                        ids.push(id);
                    }
                    obj.remove("created");
                }
                payloads.push(v);
            }
            Err(_) => payloads.push(Value::String(data.to_string())),
        }
    }
    (payloads, ids)
}

fn deterministic(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn a_repeated_deterministic_request_is_answered_from_the_cache() {
    let gw = Gateway::start().await;
    let body = deterministic("What is the capital of France?");
    let (status, cache, first) = chat(&gw, &body).await;
    assert_eq!((status, cache.as_str()), (200, "MISS"), "{first}");
    assert_eq!(gw.mock.call_count(), 1);

    // Field order and whitespace do not matter.
    let reordered = br#"{ "messages": [ {"content": "What is the capital of France?", "role": "user"} ],
        "temperature": 0.0, "model": "gpt-4o-mini" }"#;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(reordered.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-sluice-cache"], "HIT");
    assert_eq!(resp.headers()["x-sluice-model"], "gpt-4o-mini");
    let second: Value = resp.json().await.unwrap();
    assert_eq!(gw.mock.call_count(), 1, "a hit makes no upstream call");
    assert_eq!(second["choices"], first["choices"], "the same content");
    assert_eq!(second["usage"], first["usage"]);
    assert_eq!(second["model"], first["model"]);
    assert_ne!(second["id"], first["id"], "every completion has its own id");
    assert!(second["id"].as_str().unwrap().starts_with("chatcmpl-"));

    // The ledger says which one was cached, at no upstream cost.
    let records = gw.wait_ledger_file(2).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["cache_hit"], false);
    assert_eq!(records[1]["cache_hit"], true);
    assert_eq!(records[1]["cost_usd"], 0.0);
    assert_eq!(records[1]["attempts"], 0);
    assert_eq!(records[1]["prompt_tokens"], records[0]["prompt_tokens"]);
    assert_eq!(gw.metric("sluice_cache_requests_total{model=\"gpt-4o-mini\",result=\"hit\",tier=\"pro\"}").await, 1.0);
    assert_eq!(gw.metric("sluice_cache_hits_total{layer=\"memory\",model=\"gpt-4o-mini\",tier=\"pro\"}").await, 1.0);
    assert!(gw.metric("sluice_cache_bytes").await > 0.0);
}

#[tokio::test]
async fn a_replayed_stream_keeps_its_chunk_boundaries() {
    let gw = Gateway::start().await;
    let mut body = deterministic("Tell me a story about a lighthouse.");
    body["stream"] = json!(true);
    body["mock"] = json!({"completion_tokens": 30, "chunk_delay_ms": 2});
    let (status, cache, miss) = stream(&gw, KEY, &body).await;
    assert_eq!((status, cache.as_str()), (200, "MISS"));
    let (status, cache, hit) = stream(&gw, KEY, &body).await;
    assert_eq!((status, cache.as_str()), (200, "HIT"));
    assert_eq!(gw.mock.call_count(), 1);

    let (miss_events, miss_ids) = events(&miss);
    let (hit_events, hit_ids) = events(&hit);
    assert!(miss_events.len() >= 20, "{} events", miss_events.len());
    assert_eq!(hit_events, miss_events, "the same events in the same order");
    assert_eq!(hit_events.last(), Some(&Value::String("[DONE]".into())));
    // One fresh id for the whole replayed stream.
    assert_eq!(hit_ids.len(), miss_ids.len());
    assert!(hit_ids.iter().all(|id| id == &hit_ids[0]) && hit_ids[0] != miss_ids[0]);
    // Each event was written as its own HTTP chunk (none merged into one big body).
    let boundaries = |chunks: &[Vec<u8>]| {
        let text = String::from_utf8(chunks.concat()).unwrap();
        text.matches("\n\n").count()
    };
    assert_eq!(boundaries(&hit), boundaries(&miss));
    assert!(hit.len() > 1, "a replay is not one big chunk");

    // A stream and a non-stream request never share an entry.
    body["stream"] = json!(false);
    let (_, cache, _) = chat(&gw, &body).await;
    assert_eq!(cache, "MISS");
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_never_cached() {
    let gw = Gateway::start().await;
    let mut body = deterministic("Count to twenty.");
    body["stream"] = json!(true);
    gw.mock.push_fault(Fault { drop_after_chunks: Some(3), ..Fault::default() });
    let (_, cache, cut) = stream(&gw, KEY, &body).await;
    assert_eq!(cache, "MISS");
    let text = String::from_utf8(cut.concat()).unwrap();
    assert!(text.contains("\"error\"") && !text.contains("[DONE]"), "{text}");

    let (_, cache, whole) = stream(&gw, KEY, &body).await;
    assert_eq!(cache, "MISS", "the cut stream was not stored");
    assert!(String::from_utf8(whole.concat()).unwrap().ends_with("data: [DONE]\n\n"));
    let (_, cache, _) = stream(&gw, KEY, &body).await;
    assert_eq!(cache, "HIT");
    assert_eq!(gw.mock.call_count(), 2);
}

#[tokio::test]
async fn tenants_never_share_entries_unless_the_route_is_shared() {
    let gw = Gateway::start_with(
        r#"
[models."shared-mini"]
candidates = [{ provider = "openai", model = "gpt-4o-mini" }]
cache = { scope = "shared" }
"#,
    )
    .await;
    let body = deterministic("Summarise the rules of chess.");
    let (_, a, _) = send(&gw, "/v1/chat/completions", KEY, &body, &[]).await;
    let (_, b, _) = send(&gw, "/v1/chat/completions", OTHER_KEY, &body, &[]).await;
    assert_eq!((a.as_str(), b.as_str()), ("MISS", "MISS"));
    assert_eq!(gw.mock.call_count(), 2, "each tenant has its own entry");
    let (_, again, _) = send(&gw, "/v1/chat/completions", OTHER_KEY, &body, &[]).await;
    assert_eq!(again, "HIT");

    let mut shared = body.clone();
    shared["model"] = json!("shared-mini");
    let (_, a, _) = send(&gw, "/v1/chat/completions", KEY, &shared, &[]).await;
    let (_, b, _) = send(&gw, "/v1/chat/completions", OTHER_KEY, &shared, &[]).await;
    assert_eq!((a.as_str(), b.as_str()), ("MISS", "HIT"), "a shared route serves every tenant");
    assert_eq!(gw.mock.call_count(), 3);
}

#[tokio::test]
async fn concurrent_identical_misses_make_one_upstream_call() {
    let gw = Gateway::start().await;
    let mut body = deterministic("Explain photosynthesis briefly.");
    body["mock"] = json!({"delay_ms": 400});
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (url, body) = (gw.url("/v1/chat/completions"), body.clone());
            tokio::spawn(async move {
                let resp = client().post(url).bearer_auth(KEY).json(&body).send().await.unwrap();
                let cache = resp.headers()["x-sluice-cache"].to_str().unwrap().to_string();
                (resp.status().as_u16(), cache, resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(gw.mock.call_count(), 1, "one upstream call for 100 identical requests");
    assert!(answers.iter().all(|(s, _, _)| *s == 200));
    assert_eq!(answers.iter().filter(|(_, c, _)| c == "MISS").count(), 1);
    let content = &answers[0].2["choices"];
    assert!(answers.iter().all(|(_, _, a)| &a["choices"] == content));
    let ids: std::collections::HashSet<&str> = answers.iter().map(|(_, _, a)| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 100, "every answer has its own id");
    let joins = gw.metric("sluice_cache_single_flight_joins_total{model=\"gpt-4o-mini\",tier=\"pro\"}").await;
    let memory_hits = gw.metric("sluice_cache_hits_total{layer=\"memory\",model=\"gpt-4o-mini\",tier=\"pro\"}").await;
    assert_eq!(joins + memory_hits, 99.0, "the 99 others followed the leader or hit its stored answer");
}

#[tokio::test]
async fn concurrent_identical_streams_follow_one_upstream_stream() {
    let gw = Gateway::start().await;
    let mut body = deterministic("Describe the water cycle.");
    body["stream"] = json!(true);
    body["mock"] = json!({"completion_tokens": 40, "chunk_delay_ms": 10});
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (addr, body) = (gw.url("/v1/chat/completions"), body.clone());
            tokio::spawn(async move {
                let resp = client().post(addr).bearer_auth(KEY).json(&body).send().await.unwrap();
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap().to_vec();
                (status, bytes)
            })
        })
        .collect();
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.unwrap());
    }
    assert_eq!(gw.mock.call_count(), 1, "one upstream stream for 100 identical requests");
    let (first, _) = events(std::slice::from_ref(&streams[0].1));
    assert!(first.len() >= 40, "{}", first.len());
    for (status, bytes) in &streams {
        assert_eq!(*status, 200);
        let (evs, ids) = events(std::slice::from_ref(bytes));
        assert_eq!(evs, first, "every follower gets every event");
        assert!(ids.iter().all(|id| id == &ids[0]));
    }
}

#[tokio::test]
async fn a_failed_leader_lets_its_followers_go_upstream_themselves() {
    let gw = Gateway::start().await;
    let body = deterministic("What is 2 + 2?");
    // The first call (the leader's) fails slowly with a non-retryable error.
    gw.mock.push_fault(Fault { status: Some(400), delay_ms: Some(400), ..Fault::default() });
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (url, body) = (gw.url("/v1/chat/completions"), body.clone());
            tokio::spawn(async move {
                // The first request leads; the others join while it waits.
                tokio::time::sleep(Duration::from_millis(if i == 0 { 0 } else { 150 })).await;
                let resp = client().post(url).bearer_auth(KEY).json(&body).send().await.unwrap();
                let cache = resp.headers().get("x-sluice-cache").map(|v| v.to_str().unwrap().to_string());
                (resp.status().as_u16(), cache)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses[0].0, 400, "the leader's own error");
    assert!(statuses[1..].iter().all(|(s, _)| *s == 200), "the failure was not shared: {statuses:?}");
    // Each follower went upstream itself (one that arrived late may hit what another stored).
    let went_upstream = statuses[1..].iter().filter(|(_, c)| c.as_deref() == Some("MISS")).count();
    assert!(went_upstream >= 1, "{statuses:?}");
    assert_eq!(gw.mock.call_count(), 1 + went_upstream, "{statuses:?}");
    let (_, cache, _) = chat(&gw, &body).await;
    assert_eq!(cache, "HIT");
}

#[tokio::test]
async fn request_headers_control_the_cache() {
    let gw = Gateway::start().await;
    let body = deterministic("Name three primary colours.");
    let path = "/v1/chat/completions";
    assert_eq!(send(&gw, path, KEY, &body, &[]).await.1, "MISS");
    assert_eq!(send(&gw, path, KEY, &body, &[("cache-control", "no-store")]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, KEY, &body, &[("x-sluice-cache", "bypass")]).await.1, "BYPASS");
    assert_eq!(gw.mock.call_count(), 3);
    assert_eq!(send(&gw, path, KEY, &body, &[("cache-control", "no-cache")]).await.1, "REFRESH");
    assert_eq!(send(&gw, path, KEY, &body, &[("x-sluice-cache", "refresh")]).await.1, "REFRESH");
    assert_eq!(gw.mock.call_count(), 5);
    assert_eq!(send(&gw, path, KEY, &body, &[]).await.1, "HIT");
    assert_eq!(gw.mock.call_count(), 5);

    // A refresh replaces the entry.
    let mut other = deterministic("Name three secondary colours.");
    other["mock"] = json!({"content": "old answer"});
    send(&gw, path, KEY, &other, &[]).await;
    let (_, cache, fresh) = send(&gw, path, KEY, &other, &[("x-sluice-cache", "refresh")]).await;
    assert_eq!(cache, "REFRESH");
    let (_, cache, hit) = send(&gw, path, KEY, &other, &[]).await;
    assert_eq!(cache, "HIT");
    let content = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap()["choices"][0]["message"]["content"].clone();
    assert_eq!(content(&hit), content(&fresh));

    // Sampled answers are not cached unless the request opts in.
    let mut sampled = deterministic("Write a haiku about rain.");
    sampled["temperature"] = json!(0.8);
    assert_eq!(send(&gw, path, KEY, &sampled, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, KEY, &sampled, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, KEY, &sampled, &[("x-sluice-cache", "force")]).await.1, "MISS");
    assert_eq!(send(&gw, path, KEY, &sampled, &[("x-sluice-cache", "force")]).await.1, "HIT");
    // A seed makes a sampled request deterministic enough.
    sampled["seed"] = json!(7);
    assert_eq!(send(&gw, path, KEY, &sampled, &[]).await.1, "MISS");
    assert_eq!(send(&gw, path, KEY, &sampled, &[]).await.1, "HIT");
    // Several choices are never cached by default.
    let mut several = deterministic("Suggest a name for a cat.");
    several["n"] = json!(2);
    assert_eq!(send(&gw, path, KEY, &several, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, KEY, &several, &[]).await.1, "BYPASS");

    let (status, _, err) = send(&gw, path, KEY, &body, &[("x-sluice-cache", "sometimes")]).await;
    assert_eq!(status, 400);
    let err: Value = serde_json::from_slice(&err).unwrap();
    assert_eq!(err["error"]["param"], "x-sluice-cache");
}

#[tokio::test]
async fn a_tenant_or_a_route_can_opt_out() {
    let gw = Gateway::start_with(
        r#"
[tenants.acme]
cache = false

[models."uncached"]
candidates = [{ provider = "openai", model = "gpt-4o-mini" }]
cache = { enabled = false }
"#,
    )
    .await;
    let body = deterministic("Hello!");
    let path = "/v1/chat/completions";
    assert_eq!(send(&gw, path, KEY, &body, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, KEY, &body, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, OTHER_KEY, &body, &[]).await.1, "MISS", "another tenant still caches");
    let mut uncached = body.clone();
    uncached["model"] = json!("uncached");
    assert_eq!(send(&gw, path, OTHER_KEY, &uncached, &[]).await.1, "BYPASS");
    assert_eq!(send(&gw, path, OTHER_KEY, &uncached, &[]).await.1, "BYPASS");
    assert_eq!(gw.mock.call_count(), 5);
}

#[tokio::test]
async fn cache_hits_count_against_the_quota_only_when_the_tier_says_so() {
    for (counts, want_factor) in [(false, 1), (true, 2)] {
        let gw = Gateway::start_with(&format!(
            "\n[tiers.default]\n\n[tiers.pro]\nmonthly_tokens = 1000000\ncache_hits_use_quota = {counts}\n"
        ))
        .await;
        let mut body = deterministic("How far is the Moon?");
        body["user"] = json!("quota-user");
        let (_, cache, first) = chat(&gw, &body).await;
        assert_eq!(cache, "MISS");
        let (_, cache, _) = chat(&gw, &body).await;
        assert_eq!(cache, "HIT");
        let tokens = first["usage"]["total_tokens"].as_u64().unwrap();
        gw.wait_ledger_file(2).await;
        let (_, usage) = gw.admin_get("/admin/usage/quota-user?tenant=acme").await;
        assert_eq!(usage["used"].as_u64().unwrap(), tokens * want_factor, "counts = {counts}: {usage}");
    }
}

fn embed(model: &str, input: Value) -> Value {
    json!({"model": model, "input": input})
}

fn vectors(body: &[u8]) -> Vec<Vec<f64>> {
    let v: Value = serde_json::from_slice(body).unwrap();
    let data = v["data"].as_array().unwrap();
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i, "indices follow the input order");
    }
    data.iter().map(|d| d["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

#[tokio::test]
async fn an_embeddings_batch_with_partial_hits_sends_only_the_misses() {
    let gw = Gateway::start().await;
    let path = "/v1/embeddings";
    for model in ["text-embedding-3-large", "text-embedding-3-small"] {
        gw.mock.clear_calls();
        let (status, cache, _) = send(&gw, path, KEY, &embed(model, json!(["alpha", "bravo", "charlie"])), &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"));
        let batch = json!(["delta", "alpha", "echo", "charlie", "delta"]);
        let (status, cache, body) = send(&gw, path, KEY, &embed(model, batch.clone()), &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{}", String::from_utf8_lossy(&body));
        let calls = gw.mock.calls();
        assert_eq!(calls.len(), 2);
        let sent = calls[1].body.get("input").cloned().unwrap_or_else(|| calls[1].body["text"].clone());
        assert_eq!(sent, json!(["delta", "echo"]), "{model}: only the distinct misses went upstream");

        // The same vectors, in the same order, as an uncached request for the batch.
        let (_, cache, direct) =
            send(&gw, path, KEY, &embed(model, batch.clone()), &[("x-sluice-cache", "bypass")]).await;
        assert_eq!(cache, "BYPASS");
        let (got, want) = (vectors(&body), vectors(&direct));
        assert_eq!(got.len(), 5);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len());
            assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-6), "{model}: vectors differ");
        }
        assert_eq!(got[0], got[4], "a repeated input gets the same vector");

        // All cached now: no upstream call at all, base64 as the SDKs ask.
        let mut all = embed(model, batch);
        all["encoding_format"] = json!("base64");
        let before = gw.mock.call_count();
        let (status, cache, body) = send(&gw, path, KEY, &all, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "HIT"));
        assert_eq!(gw.mock.call_count(), before);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let first =
            sluice_providers::embedding_codec::decode_f32_le(v["data"][1]["embedding"].as_str().unwrap()).unwrap();
        assert!(first.iter().zip(&got[1]).all(|(a, b)| (f64::from(*a) - b).abs() < 1e-6));
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    }
}

fn redis_extra(url: &str) -> String {
    format!("\n[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\n")
}

#[tokio::test]
async fn two_instances_share_the_cache_through_redis() {
    let redis = RedisServer::start().unwrap();
    let a = Gateway::start_with(&redis_extra(&redis.url())).await;
    let b = Gateway::start_with(&redis_extra(&redis.url())).await;
    let body = deterministic("What is the tallest mountain?");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, cache, filled) = chat(&a, &body).await;
    assert_eq!(cache, "MISS");
    let (_, cache, _) = stream(&a, KEY, &streamed).await;
    assert_eq!(cache, "MISS");
    // Instance A writes Redis in the background, right after answering.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, cache, hit) = chat(&b, &body).await;
    assert_eq!(cache, "HIT");
    assert_eq!(hit["choices"], filled["choices"]);
    let (_, cache, chunks) = stream(&b, KEY, &streamed).await;
    assert_eq!(cache, "HIT");
    assert!(String::from_utf8(chunks.concat()).unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(b.mock.call_count(), 0, "instance B answered both from A's fills");
    assert_eq!(b.metric("sluice_cache_hits_total{layer=\"redis\",model=\"gpt-4o-mini\",tier=\"pro\"}").await, 2.0);

    // Every entry in Redis carries a TTL.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:cache:*").query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(ttl > 3500 && ttl <= 3600, "{key}: {ttl}");
    }
    // Embeddings too: one input filled by A is a hit on B.
    let (_, cache, _) =
        send(&a, "/v1/embeddings", KEY, &embed("text-embedding-3-large", json!("shared text")), &[]).await;
    assert_eq!(cache, "MISS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, cache, _) =
        send(&b, "/v1/embeddings", KEY, &embed("text-embedding-3-large", json!("shared text")), &[]).await;
    assert_eq!(cache, "HIT");
    assert_eq!(b.mock.call_count(), 0);
}
