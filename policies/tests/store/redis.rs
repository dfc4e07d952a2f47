//! Redis-only behaviour: admit's round-trip budget, failing fast while Redis is down, and
//! recovering by itself (reconnect, script reload) once it is back.

use std::time::{Duration, Instant};

use sluice_mock_upstream::RedisServer;
use sluice_policies::quota::Limits;
use sluice_policies::store::{Admission, RedisStore, Store, StoreError};

use super::support::{granted, monthly, BOB};

#[tokio::test]
async fn admit_costs_one_round_trip() {
    let server = RedisServer::start().unwrap();
    let store = RedisStore::connect(&server.url(), "rt:", Duration::from_millis(500)).await.unwrap();
    let limits =
        Limits { monthly_tokens: Some(10_000), requests_per_minute: Some(100), tokens_per_minute: Some(100_000) };
    let mut req = BOB.req("r1", limits, 100, Some(100));
    req.tenant_monthly_tokens = Some(1_000_000);
    let before = store.round_trips();
    let r = granted(store.admit(&req).await.unwrap());
    assert_eq!(store.round_trips() - before, 1, "granted admit with quota, both rate limits and a tenant cap");
    let before = store.round_trips();
    let refused = store.admit(&BOB.req("r2", monthly(10), 100, Some(100))).await.unwrap();
    assert!(matches!(refused, Admission::Refused(_)));
    assert_eq!(store.round_trips() - before, 1, "a user refusal without tenant cap");
    let before = store.round_trips();
    store.settle(&r, 150).await.unwrap();
    assert_eq!(store.round_trips() - before, 2, "settle plus the usage-index update");
}

#[tokio::test]
async fn fails_fast_while_redis_is_down_and_recovers() {
    let mut server = RedisServer::start().unwrap();
    let timeout = Duration::from_millis(100);
    let store = RedisStore::connect(&server.url(), "out:", timeout).await.unwrap();
    let before = granted(store.admit(&BOB.req("before", monthly(1000), 10, Some(10))).await.unwrap());
    server.kill();
    for i in 0..3 {
        let started = Instant::now();
        let err = store.admit(&BOB.req(&format!("down{i}"), monthly(1000), 10, Some(10))).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_) | StoreError::Timeout), "{err:?}");
        assert!(started.elapsed() < timeout * 3, "took {:?}", started.elapsed());
        let started = Instant::now();
        assert!(store.settle(&before, 5).await.is_err());
        assert!(started.elapsed() < timeout * 3, "took {:?}", started.elapsed());
    }
    server.restart().unwrap();
    // Back by itself: reconnects, reloads the scripts the fresh server does not have.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match store.admit(&BOB.req("after", monthly(1000), 10, Some(10))).await {
            Ok(a) => break granted(a),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no recovery within 10 s: {e}"),
        }
    };
    assert!(store.settle(&after, 20).await.unwrap().applied);
    assert_eq!(store.usage("acme", "bob").await.unwrap().used, 20, "the fresh server started empty");
}

#[tokio::test]
async fn a_lazy_store_starts_while_redis_is_down() {
    let mut server = RedisServer::start().unwrap();
    let url = server.url();
    server.kill();
    let store = RedisStore::connect_lazy(&url, "lazy:", Duration::from_millis(100)).unwrap();
    assert!(store.usage("acme", "bob").await.is_err());
    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.usage("acme", "bob").await.is_err() {
        assert!(Instant::now() < deadline, "no recovery within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
