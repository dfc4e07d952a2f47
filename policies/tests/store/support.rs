//! Test setup shared by the store tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_mock_upstream::RedisServer;
use sluice_policies::quota::Limits;
use sluice_policies::store::{Admission, AdmitRequest, MemoryStore, RedisStore, Reservation, Store, Subject};

/// A store under test plus whatever keeps it alive, and a way to let time pass for its
/// reservations' TTL.
pub struct Env {
    pub store: Arc<dyn Store>,
    pub ttl: Duration,
    clock: Option<Arc<AtomicU64>>,
    _server: Option<RedisServer>,
}

impl Env {
    /// Lets `d` pass for months and reservation expiry: the memory store's fake clock jumps, Redis
    /// (whose scripts use its own clock) really waits.
    pub async fn advance(&self, d: Duration) {
        match &self.clock {
            Some(ms) => {
                ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
            }
            None => tokio::time::sleep(d).await,
        }
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A memory store on a fake clock starting now; reservations expire after `ttl`.
pub fn memory(ttl: Duration) -> Env {
    let ms = Arc::new(AtomicU64::new(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64));
    let clock = ms.clone();
    let store = MemoryStore::new()
        .with_reservation_ttl(ttl)
        .with_unix_clock(Arc::new(move || Duration::from_millis(clock.load(Ordering::SeqCst))));
    Env { store: Arc::new(store), ttl, clock: Some(ms), _server: None }
}

/// A Redis store on its own fresh `redis-server`.
pub async fn redis(ttl: Duration) -> Env {
    let server = RedisServer::start().unwrap();
    let store = redis_store(&server, ttl).await;
    Env { store: Arc::new(store), ttl, clock: None, _server: Some(server) }
}

pub async fn redis_store(server: &RedisServer, ttl: Duration) -> RedisStore {
    RedisStore::connect(&server.url(), "test:", Duration::from_millis(500)).await.unwrap().with_reservation_ttl(ttl)
}

/// Builds admit requests for one (tenant, user, tier).
#[derive(Clone, Copy)]
pub struct Who {
    pub tenant: &'static str,
    pub user: &'static str,
    pub tier: &'static str,
}

pub const BOB: Who = Who { tenant: "acme", user: "bob", tier: "free" };

impl Who {
    pub fn req<'a>(&self, id: &'a str, limits: Limits, prompt: u64, max_output: Option<u64>) -> AdmitRequest<'a> {
        AdmitRequest {
            subject: Subject { tenant: self.tenant, user: self.user, tier: self.tier },
            request_id: id,
            limits,
            prompt_estimate: prompt,
            max_output,
            default_output: 500,
            tenant_monthly_tokens: None,
        }
    }
}

pub fn monthly(tokens: u64) -> Limits {
    Limits { monthly_tokens: Some(tokens), ..Limits::default() }
}

/// The reservation of a granted admission (fails the test otherwise).
pub fn granted(a: Admission) -> Reservation {
    match a {
        Admission::Granted { reservation, .. } => reservation,
        Admission::Refused(r) => panic!("expected a grant, got {r:?}"),
    }
}
