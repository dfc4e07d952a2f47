//! Issue 3's concurrency property: 500 concurrent requests from one user whose monthly quota fits
//! ~10 of them. Settled usage never exceeds the quota by more than one reservation, and every
//! refusal was justified by the counters at that atomic moment (its estimate did not fit).

use std::sync::Arc;
use std::time::Duration;

use sluice_mock_upstream::RedisServer;
use sluice_policies::store::{Admission, Refusal, Store};

use super::support::{memory, monthly, redis_store, BOB};

const QUOTA: u64 = 1000;
const PROMPT: u64 = 50;
const OUTPUT: u64 = 50;
const REQUESTS: usize = 500;

/// Sends the requests round-robin over `stores` (instances sharing one state) and checks the
/// property.
async fn hammer(stores: Vec<Arc<dyn Store>>) {
    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("req-{i}");
            // Half give max_tokens, half rely on the (cut-down) default output.
            let max_output = (i % 2 == 0).then_some(OUTPUT);
            let mut req = BOB.req(&id, monthly(QUOTA), PROMPT, max_output);
            req.default_output = OUTPUT;
            match store.admit(&req).await.unwrap() {
                Admission::Granted { reservation, .. } => {
                    tokio::time::sleep(Duration::from_millis((i % 5) as u64)).await;
                    let actual = reservation.tokens * 9 / 10;
                    assert!(store.settle(&reservation, actual).await.unwrap().applied);
                    Some(actual)
                }
                Admission::Refused(Refusal::QuotaExhausted { limit, used, reserved, .. }) => {
                    // Refused only if the estimate (all of it with max_tokens, else the prompt) did not fit.
                    let needed = PROMPT + max_output.unwrap_or(0);
                    assert!(
                        used + reserved + needed > limit,
                        "request {i} refused although {needed} fit: used {used}, reserved {reserved}"
                    );
                    None
                }
                Admission::Refused(other) => panic!("request {i}: unexpected refusal {other:?}"),
            }
        }));
    }
    let mut settled = 0;
    let mut granted = 0;
    for task in tasks {
        if let Some(actual) = task.await.unwrap() {
            settled += actual;
            granted += 1;
        }
    }
    let usage = stores[0].usage("acme", "bob").await.unwrap();
    assert_eq!(usage.used, settled, "every settlement counted exactly once");
    assert_eq!(usage.reserved, 0, "every reservation settled");
    assert!(usage.used <= QUOTA + PROMPT + OUTPUT, "overshoot: {} > quota {QUOTA} + one reservation", usage.used);
    assert!(granted >= 10, "only {granted} granted");
    assert!(granted < REQUESTS, "the quota never bound");
    // Whatever is left is less than a full estimate, or the last admits would have passed.
    assert!(QUOTA - usage.used.min(QUOTA) < QUOTA / 2, "quota left unused: {usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store() {
    hammer(vec![memory(Duration::from_secs(3600)).store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_store() {
    let server = RedisServer::start().unwrap();
    hammer(vec![Arc::new(redis_store(&server, Duration::from_secs(3600)).await)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_redis_stores_sharing_one_server() {
    let server = RedisServer::start().unwrap();
    let a = redis_store(&server, Duration::from_secs(3600)).await;
    let b = redis_store(&server, Duration::from_secs(3600)).await;
    hammer(vec![Arc::new(a), Arc::new(b)]).await;
}
