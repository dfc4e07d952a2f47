use futures_util::future::join_all;
use serde_json::{json, Value};
use sluice_mock_upstream::Fault;

use crate::harness::{client, Gateway, KEY};

const BGE: &str = "@cf/baai/bge-base-en-v1.5";

/// Routes of these tests, added to the harness's base config (whose `text-embedding-3-small` is
/// bge on Workers AI natively, without micro-batching).
const EXTRA: &str = r#"
[models."bge-batched"]
kind = "embeddings"
dimensions = 768
batch_window = "300ms"
candidates = [{ provider = "workers-ai", model = "@cf/baai/bge-base-en-v1.5" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."bge-strict"]
kind = "embeddings"
dimensions = 768
candidates = [{ provider = "workers-ai", model = "@cf/baai/bge-base-en-v1.5" }]
retry = { max_retries = 0 }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."bge-with-fallback"]
kind = "embeddings"
dimensions = 768
allow_fallback = true
candidates = [
  { provider = "workers-ai", model = "@cf/baai/bge-base-en-v1.5" },
  { provider = "openai", model = "text-embedding-3-small", dimensions = 768 },
]
retry = { max_retries = 0 }
max_attempts = 2
breaker = { consecutive_failures = 0, failure_ratio = 0 }
"#;

/// POSTs an embeddings request with extra headers: status, headers, JSON body.
async fn embed(gw: &Gateway, body: &Value, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client().post(gw.url("/v1/embeddings")).bearer_auth(KEY).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// The vectors of an answer (float or base64), checking `index` follows the input order.
fn vectors(v: &Value) -> Vec<Vec<f32>> {
    let data = v["data"].as_array().unwrap_or_else(|| panic!("no data in {v}"));
    data.iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item["index"], i, "indices follow the input order");
            match &item["embedding"] {
                Value::String(b64) => sluice_providers::embedding_codec::decode_f32_le(b64).unwrap(),
                floats => floats.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            }
        })
        .collect()
}

/// The texts a native Workers AI call carried.
fn texts(call: &sluice_mock_upstream::CallRecord) -> Vec<String> {
    call.body["text"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

fn inputs(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

#[tokio::test]
async fn a_request_of_250_inputs_reaches_workers_ai_as_3_calls_and_keeps_its_order() {
    let gw = Gateway::start().await;
    let all = inputs("passage", 250);
    let (status, headers, v) = embed(&gw, &json!({"model": "text-embedding-3-small", "input": all}), &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["x-sluice-model"], BGE);
    assert_eq!(v["model"], BGE);
    let got = vectors(&v);
    assert_eq!(got.len(), 250);

    // Three calls of at most 100 texts that, put back together, are the request in order.
    let calls = gw.mock.calls();
    assert_eq!(calls.len(), 3, "{:?}", calls.iter().map(|c| texts(c).len()).collect::<Vec<_>>());
    let mut sent: Vec<Vec<String>> = calls.iter().map(texts).collect();
    sent.sort_by_key(|t| t[0].trim_start_matches("passage ").parse::<usize>().unwrap());
    assert_eq!(sent.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 100, 50]);
    assert_eq!(sent.concat(), all);
    assert!(calls.iter().all(|c| c.path.ends_with(BGE)));

    // Each vector is the one that input gets on its own, uncached.
    for i in [0, 99, 100, 101, 199, 200, 249] {
        let single = json!({"model": "text-embedding-3-small", "input": all[i]});
        let (status, _, one) = embed(&gw, &single, &[("x-sluice-cache", "bypass")]).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(vectors(&one)[0], got[i], "input {i}");
    }

    // One ledger record, for all 250 inputs, naming the model that made the vectors.
    let records = gw.wait_ledger_file(1).await;
    assert_eq!(records[0]["model_used"], BGE);
    assert_eq!(records[0]["prompt_tokens"], v["usage"]["prompt_tokens"]);
    assert_eq!(records[0]["attempts"], 3);
}

#[tokio::test]
async fn fifty_concurrent_single_inputs_in_one_window_share_few_upstream_calls() {
    let gw = Gateway::start_with(EXTRA).await;
    let texts_in = inputs("query", 50);
    let requests = texts_in.iter().enumerate().map(|(i, text)| {
        let format = if i % 2 == 0 { "float" } else { "base64" };
        let body = json!({"model": "bge-batched", "input": text, "encoding_format": format});
        let gw = &gw;
        async move { embed(gw, &body, &[]).await }
    });
    let answers = join_all(requests).await;
    let batched_calls = gw.mock.call_count();
    assert!(batched_calls <= 5, "50 requests made {batched_calls} upstream calls");

    // Each got its own vector, in its own encoding, the same as an unbatched request for it.
    let (status, _, reference) = embed(&gw, &json!({"model": "text-embedding-3-small", "input": texts_in}), &[]).await;
    assert_eq!(status, 200);
    let want = vectors(&reference);
    for (i, (status, headers, v)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{v}");
        assert_eq!(headers["x-sluice-model"], BGE);
        let got = vectors(v);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], want[i], "request {i}");
        assert_eq!(v["data"][0]["embedding"].is_string(), i % 2 == 1, "encoding_format is honoured");
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    }

    // Every request has a ledger record of its own, with its share of the batch's tokens.
    let records = gw.wait_ledger_file(51).await;
    let batched: Vec<&Value> = records.iter().filter(|r| r["model_asked"] == "bge-batched").collect();
    assert_eq!(batched.len(), 50);
    for r in &batched {
        assert_eq!(r["model_used"], BGE);
        assert!(r["prompt_tokens"].as_u64().unwrap() > 0, "{r}");
    }
}

#[tokio::test]
async fn without_a_window_concurrent_requests_are_not_merged() {
    let gw = Gateway::start().await;
    let requests = inputs("solo", 10).into_iter().map(|text| {
        let gw = &gw;
        async move { embed(gw, &json!({"model": "text-embedding-3-small", "input": text}), &[]).await }
    });
    for (status, _, v) in join_all(requests).await {
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(gw.mock.call_count(), 10);
}

#[tokio::test]
async fn one_failed_call_fails_the_request_and_nothing_is_cached() {
    let gw = Gateway::start_with(EXTRA).await;
    let all = inputs("doc", 250);
    let body = json!({"model": "bge-strict", "input": all});
    gw.mock.push_fault(Fault { status: Some(500), ..Fault::default() });
    let (status, headers, v) = embed(&gw, &body, &[]).await;
    assert!(status >= 500, "{status}: {v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v.get("data").is_none(), "no partial answer");
    assert_eq!(headers["x-should-retry"], "false");
    let failed_calls = gw.mock.call_count();
    assert!((1..=3).contains(&failed_calls), "{failed_calls}");

    // Not a single input was kept: the same request goes upstream in full.
    gw.mock.clear_calls();
    let (status, headers, v) = embed(&gw, &body, &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["x-sluice-cache"], "MISS");
    assert_eq!(headers["x-sluice-cache-inputs"], "0/250");
    assert_eq!(gw.mock.call_count(), 3);
    assert_eq!(vectors(&v).len(), 250);
}

#[tokio::test]
async fn the_openai_fallback_is_asked_for_768_dimensions_and_named_as_the_model() {
    let gw = Gateway::start_with(EXTRA).await;
    // Workers AI fails once: the OpenAI candidate answers, asked for bge's vector size.
    gw.mock.push_fault(Fault { status: Some(500), ..Fault::default() });
    let body = json!({"model": "bge-with-fallback", "input": ["north", "south"]});
    let (status, headers, v) = embed(&gw, &body, &[]).await;
    assert_eq!(status, 200, "{v}");
    let calls = gw.mock.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].path.ends_with(BGE));
    assert_eq!(calls[1].path, "/v1/embeddings");
    assert_eq!(calls[1].body["dimensions"], 768);
    assert_eq!(calls[1].body["model"], "text-embedding-3-small");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(headers["x-sluice-model"], "text-embedding-3-small");
    assert_eq!(headers["x-sluice-fallback"], "true");
    assert!(vectors(&v).iter().all(|x| x.len() == 768));
    let records = gw.wait_ledger_file(1).await;
    assert_eq!(records[0]["model_used"], "text-embedding-3-small");

    // The fallback's vectors were not cached: Workers AI answers the same request next time.
    let (_, headers, v) = embed(&gw, &body, &[]).await;
    assert_eq!(headers["x-sluice-cache"], "MISS");
    assert_eq!(v["model"], BGE);

    // Cached bge vectors are never mixed with the fallback's: the fallback embeds them too.
    gw.mock.clear_calls();
    gw.mock.push_fault(Fault { status: Some(500), ..Fault::default() });
    let mixed = json!({"model": "bge-with-fallback", "input": ["north", "east"]});
    let (status, headers, v) = embed(&gw, &mixed, &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["x-sluice-model"], "text-embedding-3-small");
    let calls = gw.mock.calls();
    assert_eq!(calls.len(), 3, "bge fails, the fallback embeds the miss, then the cached input");
    assert_eq!(calls[1].body["input"], json!(["east"]));
    assert_eq!(calls[2].body["input"], json!(["north"]), "the cached input, asked of the fallback");
    assert_eq!(calls[2].body["dimensions"], 768);
    assert_eq!(headers["x-sluice-cache-inputs"], "1/2");
    assert_eq!(vectors(&v).len(), 2);

    // A size the route's model cannot make is a 400, before any upstream call.
    gw.mock.clear_calls();
    let wrong = json!({"model": "bge-with-fallback", "input": "x", "dimensions": 1536});
    let (status, _, v) = embed(&gw, &wrong, &[]).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "dimensions");
    assert_eq!(gw.mock.call_count(), 0);
}

#[tokio::test]
async fn asking_a_native_route_for_its_own_size_is_honoured() {
    let gw = Gateway::start().await;
    let body = json!({"model": "text-embedding-3-small", "input": "sized", "dimensions": 768});
    let (status, _, v) = embed(&gw, &body, &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(vectors(&v)[0].len(), 768);
    assert!(gw.mock.calls()[0].body.get("dimensions").is_none(), "Workers AI is not sent `dimensions`");
}
