//! Per-request cost of the quota + rate-limit hot path: one `admit` and one `settle`, on the memory
//! store and on Redis (a local `redis-server` started by the bench; skipped with a message if it
//! is missing).
//!
//! Baselines in the same run: a bare `Mutex<HashMap>` counter (the floor for any in-process
//! store), and for Redis a pipelined `PING` (the floor for one round trip). Redis is measured
//! sequentially (latency: one request at a time) and with 32 requests in flight (throughput over
//! the multiplexed connection). Users rotate over 1,000 (tenant, user) pairs with a quota that
//! never runs out and per-minute limits that never refuse, so every request takes the grant path.
//! On the memory store the same request also runs with the monthly quota only (the difference is
//! the two governor rate-limit checks), and refused by requests/min (a throttled client's cost).
//!
//! Run: `cargo bench -p sluice-policies --bench store`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_policies::quota::Limits;
use sluice_policies::store::{Admission, AdmitRequest, MemoryStore, RedisStore, Store, Subject};

const USERS: u64 = 1_000;
const IN_FLIGHT: u64 = 32;

fn limits() -> Limits {
    Limits {
        monthly_tokens: Some(u64::MAX / 4),
        requests_per_minute: Some(1_000_000),
        tokens_per_minute: Some(4_000_000_000),
    }
}

/// One request of user `n % USERS`, numbered `n`, under `limits`.
fn request<'a>(id: &'a str, n: u64, users: &'a [String], limits: Limits) -> AdmitRequest<'a> {
    AdmitRequest {
        subject: Subject { tenant: "bench", user: &users[(n % USERS) as usize], tier: "free" },
        request_id: id,
        limits,
        prompt_estimate: 300,
        max_output: None,
        default_output: 500,
        tenant_monthly_tokens: None,
    }
}

/// One request's admit + settle on `store`; `n` numbers the request.
async fn admit_settle(store: &dyn Store, n: u64, users: &[String]) {
    admit_settle_under(store, n, users, limits()).await
}

async fn admit_settle_under(store: &dyn Store, n: u64, users: &[String], limits: Limits) {
    let id = format!("bench-{n}");
    let req = request(&id, n, users, limits);
    match store.admit(&req).await {
        Ok(Admission::Granted { reservation, .. }) => {
            let _ = black_box(store.settle(&reservation, 700).await);
        }
        other => eprintln!("bench request refused or failed: {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build a tokio runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let users: Vec<String> = (0..USERS).map(|u| format!("user-{u}")).collect();
    let mut group = c.benchmark_group("memory");
    group.throughput(Throughput::Elements(1));

    let naive: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    let mut n = 0u64;
    group.bench_function("baseline: mutex hashmap add", |b| {
        b.iter(|| {
            n += 1;
            let mut map = naive.lock().unwrap_or_else(|e| e.into_inner());
            *map.entry(users[(n % USERS) as usize].clone()).or_default() += 700;
        })
    });

    let store = MemoryStore::new();
    let counter = AtomicU64::new(0);
    group.bench_function("admit+settle (quota, rpm, tpm)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    admit_settle(&store, counter.fetch_add(1, Ordering::Relaxed), &users).await;
                }
                start.elapsed()
            })
        })
    });

    let store = MemoryStore::new();
    let quota_only = Limits { requests_per_minute: None, tokens_per_minute: None, ..limits() };
    group.bench_function("admit+settle (quota only: no rate-limit checks)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    admit_settle_under(&store, counter.fetch_add(1, Ordering::Relaxed), &users, quota_only).await;
                }
                start.elapsed()
            })
        })
    });

    // Every user has spent its one request per minute: each admit is refused by governor (with
    // an accurate retry-after), and nothing is reserved.
    let store = MemoryStore::new();
    let throttled = Limits { requests_per_minute: Some(1), ..limits() };
    rt.block_on(async {
        for n in 0..USERS {
            admit_settle_under(&store, n, &users, throttled).await;
        }
    });
    group.bench_function("admit refused (requests/min spent)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let id = format!("bench-{n}");
                    match store.admit(&request(&id, n, &users, throttled)).await {
                        Ok(Admission::Refused(refusal)) => {
                            black_box(refusal);
                        }
                        other => eprintln!("bench request not refused: {other:?}"),
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let server = match sluice_mock_upstream::RedisServer::start() {
        Ok(s) => s,
        Err(e) => {
            println!("skipping the Redis benches: {e}");
            return;
        }
    };
    let rt = runtime();
    let store = match rt.block_on(RedisStore::connect(&server.url(), "bench:", Duration::from_secs(1))) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            println!("skipping the Redis benches: {e}");
            return;
        }
    };
    let users: Arc<Vec<String>> = Arc::new((0..USERS).map(|u| format!("user-{u}")).collect());
    let counter = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("redis");
    group.throughput(Throughput::Elements(1));

    let client = redis::Client::open(server.url());
    let conn = client.ok().and_then(|c| rt.block_on(c.get_multiplexed_async_connection()).ok());
    if let Some(conn) = conn {
        group.bench_function("baseline: one round trip (PING)", |b| {
            b.iter_custom(|iters| {
                let mut conn = conn.clone();
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let _: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                    }
                    start.elapsed()
                })
            })
        });
    }

    group.bench_function("admit+settle, sequential", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    admit_settle(store.as_ref(), counter.fetch_add(1, Ordering::Relaxed), &users).await;
                }
                start.elapsed()
            })
        })
    });

    group.bench_function("admit+settle, 32 in flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                let mut tasks = tokio::task::JoinSet::new();
                for lane in 0..IN_FLIGHT {
                    let (store, users, counter) = (store.clone(), users.clone(), counter.clone());
                    let share = iters / IN_FLIGHT + u64::from(lane < iters % IN_FLIGHT);
                    tasks.spawn(async move {
                        for _ in 0..share {
                            admit_settle(store.as_ref(), counter.fetch_add(1, Ordering::Relaxed), &users).await;
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
                start.elapsed()
            })
        })
    });
    group.finish();

    // The round-trip budget, measured rather than assumed.
    let before = store.round_trips();
    rt.block_on(admit_settle(store.as_ref(), u64::MAX, &users));
    println!(
        "redis round trips per admit+settle: {} (admit 1, settle 2: settle + usage index)",
        store.round_trips() - before
    );
}

fn config() -> Criterion {
    Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = memory, redis }
criterion_main!(benches);
