//! Ledger tests against a real `redis-server` (started per test on a free port) and real files.
//! They use real time: Redis and fsync do not follow tokio's paused clock.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadReply};
use sluice_mock_upstream::RedisServer;

use super::*;

fn record(id: &str) -> UsageRecord {
    UsageRecord {
        request_id: id.to_owned(),
        tenant: "acme".into(),
        user: "u-42".into(),
        tier: "free".into(),
        endpoint: "chat".into(),
        model_asked: "gpt-4o-mini".into(),
        model_used: Some("gpt-4o-mini-2024-07-18".into()),
        provider: Some("openai".into()),
        prompt_tokens: 12,
        completion_tokens: 34,
        cached_tokens: 0,
        reasoning_tokens: 0,
        estimated: false,
        cost_usd: 0.000_022_2,
        cache_hit: false,
        downgraded: false,
        downgrade: None,
        complexity_score: None,
        saved_usd: 0.0,
        prompt_tokens_before_trim: None,
        trim: None,
        attempts: 1,
        status: 200,
        stream: true,
        aborted: None,
        latency_ms: 321.5,
        started_at_ms: 1_700_000_000_000,
        finished_at_ms: 1_700_000_000_321,
    }
}

fn config(dir: &Path, redis_url: Option<String>) -> LedgerConfig {
    LedgerConfig {
        redis_url,
        spool_path: dir.join("ledger.spool"),
        file_path: dir.join("ledger.jsonl"),
        flush_interval: Duration::from_millis(20),
        ..LedgerConfig::default()
    }
}

fn read(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8(b).unwrap()).unwrap_or_default()
}

fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_owned).collect()
}

/// A URL where nothing listens (the port was free a moment ago).
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("redis://127.0.0.1:{port}/")
}

async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

async fn xlen(url: &str, key: &str) -> usize {
    redis::cmd("XLEN").arg(key).query_async(&mut conn(url).await).await.unwrap()
}

/// Every entry of the stream: (request_id field, decoded record).
async fn stream_records(url: &str, key: &str) -> Vec<(String, UsageRecord)> {
    let reply: StreamRangeReply =
        redis::cmd("XRANGE").arg(key).arg("-").arg("+").query_async(&mut conn(url).await).await.unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            let id: String = e.get("request_id").unwrap();
            let json: String = e.get("record").unwrap();
            (id, serde_json::from_str(&json).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_consumer_group_reads_exactly_the_published_records() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Some(redis.url()));
    let key = cfg.stream_key.clone();
    let mut c = conn(&redis.url()).await;
    let () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("billing")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await
        .unwrap();

    let ledger = Ledger::start(cfg).await.unwrap();
    let sent: Vec<UsageRecord> = (0..250).map(|i| record(&format!("req-{i}"))).collect();
    for r in &sent {
        ledger.publish(r.clone());
    }
    ledger.flush().await;

    let reply: StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("billing")
        .arg("worker-1")
        .arg("COUNT")
        .arg(10_000)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    let got: Vec<UsageRecord> =
        reply.keys[0].ids.iter().map(|e| serde_json::from_str(&e.get::<String>("record").unwrap()).unwrap()).collect();
    assert_eq!(got, sent, "the group reads every record once, in publish order, byte-exact");
    let s = ledger.stats();
    assert_eq!((s.published, s.delivered, s.spooled, s.queued, s.spool_bytes), (250, 250, 0, 0, 0));
    assert!(s.redis_up);
    // Nothing is left for a second reader of the same group.
    let again: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("billing")
        .arg("worker-2")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(again.is_none_or(|r| r.keys.iter().all(|k| k.ids.is_empty())));
    ledger.close(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_same_request_id_is_written_once() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Some(redis.url()));
    let key = cfg.stream_key.clone();
    let seen = cfg.dedup_key("dup-1");
    let ledger = Ledger::start(cfg).await.unwrap();

    ledger.publish(record("dup-1"));
    ledger.flush().await;
    let mut changed = record("dup-1");
    changed.completion_tokens = 999; // a re-publish is still the same request
    ledger.publish(changed);
    ledger.publish(record("dup-2"));
    ledger.publish(record("dup-2")); // twice within one batch
    ledger.flush().await;

    let entries = stream_records(&redis.url(), &key).await;
    let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["dup-1", "dup-2"]);
    assert_eq!(entries[0].1.completion_tokens, 34, "the first write wins");
    let s = ledger.stats();
    assert_eq!((s.delivered, s.duplicates_skipped), (2, 2));
    let ttl: i64 = redis::cmd("TTL").arg(&seen).query_async(&mut conn(&redis.url()).await).await.unwrap();
    assert!(ttl > 6 * 24 * 3600, "dedup key expires after ~7 days, got {ttl}s");
}

/// The outage test: Redis is killed while 1,000 records are being published and comes
/// back ~1 s later; the stream ends with exactly one entry per request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_loses_nothing_and_duplicates_nothing() {
    let redis = RedisServer::start_persistent().unwrap();
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Some(url.clone()));
    let key = cfg.stream_key.clone();
    let ledger = Ledger::start(cfg).await.unwrap();

    let publisher = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            for i in 0..1000 {
                ledger.publish(record(&format!("out-{i:04}")));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut max_lag, mut down_at, mut recovered_at) = (0, None, None);
            while !stop.load(Ordering::Relaxed) {
                let s = ledger.stats();
                max_lag = max_lag.max(s.oldest_undelivered_ms);
                if !s.redis_up && down_at.is_none() {
                    down_at = Some(std::time::Instant::now());
                }
                if down_at.is_some() && recovered_at.is_none() && s.redis_up && s.spool_bytes == 0 {
                    recovered_at = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (max_lag, down_at, recovered_at)
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.kill();
        redis
    })
    .await
    .unwrap();
    let killed_at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart().unwrap();
        redis
    })
    .await
    .unwrap();
    let restarted_at = std::time::Instant::now();
    publisher.await.unwrap();
    assert!(ledger.drain(Duration::from_secs(20)).await, "spool replayed: {:?}", ledger.stats());
    stop.store(true, Ordering::Relaxed);
    let (max_lag, down_at, recovered_at) = watcher.await.unwrap();

    let entries = stream_records(&url, &key).await;
    let ids: BTreeSet<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    let expected: BTreeSet<String> = (0..1000).map(|i| format!("out-{i:04}")).collect();
    assert_eq!(entries.len(), 1000, "exactly one entry per request");
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<BTreeSet<_>>());
    assert!(entries.iter().all(|(id, r)| *id == r.request_id && *r == record(id)));

    let s = ledger.stats();
    let down_at = down_at.expect("the outage was noticed (redis_up went false)");
    let recovered_at = recovered_at.expect("redis_up came back with an empty spool");
    println!(
        "outage: noticed {:?} after the kill; Redis down for {:?}; spool replayed {:?} after the \
         restart; max lag {max_lag} ms; stats {s:?}",
        down_at.saturating_duration_since(killed_at),
        restarted_at - killed_at,
        recovered_at.saturating_duration_since(restarted_at),
    );
    assert!(s.spooled > 0 && s.replayed > 0, "the outage policy (spool, then replay) applied: {s:?}");
    // A pipeline cut by the kill may have been applied (and fsynced) without its reply: those
    // records are replayed and skipped as duplicates instead of counted as delivered.
    assert!(s.delivered <= 1000 && s.delivered + s.duplicates_skipped >= 1000, "{s:?}");
    assert_eq!((s.spool_bytes, s.queued, s.oldest_undelivered_ms), (0, 0, 0));
    assert!(s.redis_up);
    assert!(max_lag < 5000, "delivered within 5 s even across the outage (max lag {max_lag} ms)");
    assert!(!dir.path().join("ledger.spool.replaying").exists());
    ledger.close(Duration::from_secs(2)).await;
    drop(redis);
}

#[tokio::test]
async fn a_spool_left_by_a_previous_process_is_replayed_on_start() {
    let dir = tempfile::tempdir().unwrap();
    // "Process 1": Redis unreachable the whole time, then a graceful shutdown.
    let first = Ledger::start(config(dir.path(), Some(dead_url()))).await.unwrap();
    for i in 0..50 {
        first.publish(record(&format!("p-{i}")));
    }
    first.close(Duration::from_secs(3)).await;
    let s = first.stats();
    assert_eq!((s.spooled, s.delivered, s.redis_up), (50, 0, false));
    assert_eq!(lines(&dir.path().join("ledger.spool")).len(), 50);
    // ...and an interrupted replay from an even earlier crash, overlapping the spool by one record.
    let mut replaying: String =
        (0..10).map(|i| serde_json::to_string(&record(&format!("q-{i}"))).unwrap() + "\n").collect();
    replaying.push_str(&(serde_json::to_string(&record("p-0")).unwrap() + "\n"));
    std::fs::write(dir.path().join("ledger.spool.replaying"), replaying).unwrap();

    // "Process 2": Redis is up.
    let redis = RedisServer::start().unwrap();
    let cfg = config(dir.path(), Some(redis.url()));
    let key = cfg.stream_key.clone();
    let second = Ledger::start(cfg).await.unwrap();
    assert!(second.stats().spool_bytes > 0);
    assert!(second.drain(Duration::from_secs(10)).await, "{:?}", second.stats());

    let ids: BTreeSet<String> = stream_records(&redis.url(), &key).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 60);
    assert_eq!(xlen(&redis.url(), &key).await, 60, "p-0 appears once");
    let s = second.stats();
    assert_eq!((s.replayed, s.delivered, s.duplicates_skipped), (61, 60, 1));
    assert!(!dir.path().join("ledger.spool").exists() || lines(&dir.path().join("ledger.spool")).is_empty());
    assert!(!dir.path().join("ledger.spool.replaying").exists());
    second.close(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn file_mode_writes_one_json_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(config(dir.path(), None)).await.unwrap();
    let sent: Vec<UsageRecord> = (0..20).map(|i| record(&format!("f-{i}"))).collect();
    for r in &sent {
        ledger.publish(r.clone());
    }
    ledger.flush().await;
    let got: Vec<UsageRecord> =
        lines(&dir.path().join("ledger.jsonl")).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(got, sent);
    let s = ledger.stats();
    assert_eq!((s.delivered, s.spooled, s.redis_up), (20, 0, false));
    ledger.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn flush_cuts_the_batching_window_short_and_close_then_spools() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LedgerConfig { flush_interval: Duration::from_secs(30), ..config(dir.path(), None) };
    let ledger = Ledger::start(cfg).await.unwrap();
    let file = dir.path().join("ledger.jsonl");
    for i in 0..5 {
        ledger.publish(record(&format!("c-{i}")));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(lines(&file).is_empty(), "still inside the 30 s batching window");
    tokio::time::timeout(Duration::from_secs(2), ledger.flush()).await.unwrap();
    assert_eq!(lines(&file).len(), 5, "flush delivers without waiting for the window");

    ledger.publish(record("c-5"));
    tokio::time::timeout(Duration::from_secs(2), ledger.close(Duration::from_secs(1))).await.unwrap();
    assert_eq!(lines(&file).len(), 6, "close delivers what was queued");

    ledger.publish(record("late")); // after close: straight to the spool, never dropped
    tokio::time::timeout(Duration::from_millis(200), ledger.flush()).await.unwrap();
    let spooled = lines(&dir.path().join("ledger.spool"));
    assert_eq!(spooled.len(), 1);
    assert_eq!(serde_json::from_str::<UsageRecord>(&spooled[0]).unwrap(), record("late"));
    assert_eq!(ledger.stats().spooled, 1);
}

#[tokio::test]
async fn close_with_redis_down_leaves_everything_in_the_spool_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(config(dir.path(), Some(dead_url()))).await.unwrap();
    for i in 0..20 {
        ledger.publish(record(&format!("d-{i}")));
    }
    let started = std::time::Instant::now();
    ledger.close(Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_millis(2500));
    let ids: BTreeSet<String> = lines(&dir.path().join("ledger.spool"))
        .iter()
        .map(|l| serde_json::from_str::<UsageRecord>(l).unwrap().request_id)
        .collect();
    assert_eq!(ids.len(), 20);
    let s = ledger.stats();
    assert_eq!((s.spooled, s.delivered, s.queued, s.redis_up), (20, 0, 0, false));
    assert!(s.oldest_undelivered_ms < 60_000);
}

#[tokio::test]
async fn a_full_queue_spills_to_the_spool_and_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LedgerConfig { queue_capacity: 4, ..config(dir.path(), None) };
    let ledger = Ledger::start(cfg).await.unwrap();
    for i in 0..200 {
        ledger.publish(record(&format!("q-{i}")));
    }
    assert!(ledger.stats().spooled > 0, "a 4-record queue overflows: {:?}", ledger.stats());
    assert!(ledger.drain(Duration::from_secs(10)).await, "{:?}", ledger.stats());
    let ids: BTreeSet<String> = lines(&dir.path().join("ledger.jsonl"))
        .iter()
        .map(|l| serde_json::from_str::<UsageRecord>(l).unwrap().request_id)
        .collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(ledger.stats().delivered, 200);
    ledger.close(Duration::from_secs(1)).await;
}

/// A batch that Redis applies after the client gave up (timeout) is spooled, and its replay is
/// absorbed by the dedup keys: the stream still holds each record once.
#[tokio::test]
async fn a_batch_applied_after_a_timeout_is_not_written_twice() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = LedgerConfig {
        redis_timeout: Duration::from_millis(200),
        retry_interval: Duration::from_millis(300),
        ..config(dir.path(), Some(redis.url()))
    };
    let key = cfg.stream_key.clone();
    let ledger = Ledger::start(cfg).await.unwrap();
    ledger.publish(record("warm-up")); // loads the script
    ledger.flush().await;

    // Writes are held for 600 ms: the next batch times out client-side, then Redis applies it.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .arg("WRITE")
        .query_async(&mut conn(&redis.url()).await)
        .await
        .unwrap();
    for i in 0..30 {
        ledger.publish(record(&format!("slow-{i}")));
    }
    assert!(ledger.drain(Duration::from_secs(10)).await, "{:?}", ledger.stats());

    assert_eq!(xlen(&redis.url(), &key).await, 31);
    let s = ledger.stats();
    assert!(s.spooled >= 30 && s.replayed >= 30, "{s:?}");
    println!("timeout-then-applied: {s:?}");
    assert_eq!(s.delivered + s.duplicates_skipped, 31, "{s:?}");
    assert_eq!(s.duplicates_skipped, 30, "Redis applied the timed-out batch; the replay was absorbed: {s:?}");
}

/// Redis refusing writes (OOM) is an outage too: records are spooled, probes are paced by
/// `retry_interval` (no hot loop against a refusing server), and all arrive once it accepts again.
#[tokio::test]
async fn records_redis_refuses_are_spooled_and_retried_at_a_bounded_pace() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = LedgerConfig { retry_interval: Duration::from_millis(100), ..config(dir.path(), Some(redis.url())) };
    let key = cfg.stream_key.clone();
    let mut admin = conn(&redis.url()).await;
    let ledger = Ledger::start(cfg).await.unwrap();
    ledger.publish(record("before"));
    ledger.flush().await;

    let () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(1).query_async(&mut admin).await.unwrap();
    let () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut admin).await.unwrap();
    for i in 0..20 {
        ledger.publish(record(&format!("oom-{i}")));
    }
    ledger.flush().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let s = ledger.stats();
    assert!(!s.redis_up && s.spooled >= 20 && s.spool_bytes > 0, "{s:?}");
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut admin).await.unwrap();
    let evalsha_calls: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap());
    // 1 batch + ~10 probes of 20 records in one second; a hot loop would make thousands.
    assert!(evalsha_calls <= 20 * 15, "{evalsha_calls} EVALSHA calls while Redis refused writes");

    let () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0).query_async(&mut admin).await.unwrap();
    assert!(ledger.drain(Duration::from_secs(5)).await, "{:?}", ledger.stats());
    assert_eq!(xlen(&redis.url(), &key).await, 21);
    assert_eq!(ledger.stats().delivered, 21);
}
