use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde_json::json;
use sluice_mock_upstream::RedisServer;

use crate::harness::{client, Gateway, KEY};

const STREAM: &str = "sluice:{ledger}:records";

fn redis_config(url: &str, pro: &str) -> String {
    format!(
        "\n[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\ntimeout = \"200ms\"\nquota_outage = \"fail_closed\"\n\n[tiers.default]\n\n[tiers.pro]\n{pro}\n"
    )
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Stream entries' request ids, waiting up to `wait` for `n` of them.
async fn stream_ids(url: &str, n: usize, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    loop {
        let mut conn = redis_conn(url).await;
        let entries: redis::streams::StreamRangeReply = conn.xrange_all(STREAM).await.unwrap();
        let ids: Vec<String> = entries.ids.iter().map(|e| e.get::<String>("request_id").unwrap()).collect();
        if ids.len() >= n || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_instances_share_quotas_and_the_ledger_through_redis() {
    let redis = RedisServer::start().unwrap();
    let extra = redis_config(&redis.url(), "monthly_tokens = 1000");
    let a = Gateway::start_with(&extra).await;
    let b = Gateway::start_with(&extra).await;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let url = if i % 2 == 0 { a.url("/v1/chat/completions") } else { b.url("/v1/chat/completions") };
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": "gpt-4o", "max_tokens": 50, "user": "shared-user",
                              "messages": [{"role": "user", "content": "Hello there, how are you?"}]});
            client().post(url).bearer_auth(KEY).json(&body).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => accepted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(accepted >= 10, "only {accepted}");
    // Both instances see the same usage, which stays within one reservation of the quota.
    let (_, ua) = a.admin_get("/admin/usage/shared-user?tenant=acme").await;
    let (_, ub) = b.admin_get("/admin/usage/shared-user?tenant=acme").await;
    assert_eq!(ua["used"], ub["used"]);
    let used = ua["used"].as_u64().unwrap();
    assert!(used <= 1100, "settled {used}");
    assert_eq!(ua["reserved"], 0);
    assert_eq!(a.mock.call_count() + b.mock.call_count(), accepted);
    // One ledger record per request, in one Redis Stream.
    let ids = stream_ids(&redis.url(), 300, Duration::from_secs(6)).await;
    assert_eq!(ids.len(), 300);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 300);
}

#[tokio::test]
async fn redis_outage_loses_no_record_and_applies_the_outage_policy() {
    let mut redis = RedisServer::start_persistent().unwrap();
    let gw = Gateway::start_with(&redis_config(&redis.url(), "monthly_tokens = 100000000")).await;
    let total = 1000;
    let mut statuses = Vec::with_capacity(total);
    let mut killed_at = None;
    let url = gw.url("/v1/chat/completions");
    for batch in 0..(total / 20) {
        if batch == 15 {
            redis.kill();
            killed_at = Some(Instant::now());
        }
        if batch == 30 {
            redis.restart().unwrap();
        }
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    let body = json!({"model": "gpt-4o", "max_tokens": 20, "user": "outage-user",
                                      "messages": [{"role": "user", "content": "hi"}]});
                    client()
                        .post(url)
                        .bearer_auth(KEY)
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        if (15..30).contains(&batch) {
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
    assert!(killed_at.is_some());
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(ok + unavailable, total, "only 200 or the fail-closed 503: {statuses:?}");
    assert!(unavailable > 0, "the outage policy (fail_closed) was never applied");
    assert!(ok > total / 2);
    assert!(gw.metric("sluice_refusals_total{reason=\"store_unavailable\"}").await >= unavailable as f64);
    // Every request has exactly one record in the stream once Redis is back (spool replayed).
    let ids = stream_ids(&redis.url(), total, Duration::from_secs(15)).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "duplicate records");
    assert_eq!(ids.len(), total, "lost records");
    assert!(gw.log().contains("QUOTA STORE UNAVAILABLE"));
}

#[tokio::test]
async fn sluice_starts_while_redis_is_down_and_applies_the_outage_policies() {
    let dead = format!("redis://{}/", crate::harness::free_addr());
    let extra = format!(
        "\n[store]\nbackend = \"redis\"\nredis_url = \"{dead}\"\ntimeout = \"100ms\"\n\n[tiers.default]\n\n[tiers.pro]\nmonthly_tokens = 100000\n"
    );
    let gw = Gateway::start_with(&extra).await;
    // A quota applies to acme (tier pro): fail closed, 503 in OpenAI shape, quickly.
    let started = Instant::now();
    let (status, headers, v) = gw.post("/v1/chat/completions", &crate::harness::chat("gpt-4o", "hi")).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "usage_store_unavailable");
    assert!(headers.contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(2));
    // No quota for globex (tier default): rate limits fail open, the request is served.
    let body = serde_json::to_vec(&crate::harness::chat("gpt-4o", "hi")).unwrap();
    let (status, _, _) = gw.post_raw("/v1/chat/completions", body, Some(crate::harness::OTHER_KEY)).await;
    assert_eq!(status, 200);
    assert!(gw.metric("sluice_store_fail_open_total").await >= 1.0);
    assert!(gw.log().contains("QUOTA STORE UNAVAILABLE"));
}
