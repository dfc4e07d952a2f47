//! [`Cache`]: the facade the proxy reads and fills — the memory tier first, then (if configured)
//! Redis, filling memory on a Redis hit; a put fills both.
//!
//! Owns the order of the tiers and the counting of Redis failures, which it turns into misses (a
//! cache outage slows nothing down beyond the Redis timeout and never fails a request). It never
//! decides eligibility, keys or TTLs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::redis_tier::Stored;
use super::{CacheKey, CachedValue, MemoryStats, MemoryTier, RedisTier};

/// The tier that served a hit (a metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// This process's memory.
    Memory,
    /// The shared Redis tier (the value is now in memory too).
    Redis,
}

/// A cache hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The stored answer.
    pub value: CachedValue,
    /// Where it came from.
    pub tier: Tier,
}

/// Counters of the whole cache, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The memory tier's entries, bytes and evictions.
    pub memory: MemoryStats,
    /// Redis reads or writes that failed (timeout, outage, undecodable entry), since start.
    pub redis_errors: u64,
    /// Values not written to Redis because they were over its size cap, since start.
    pub redis_too_large: u64,
}

#[derive(Default)]
struct Counters {
    redis_errors: AtomicU64,
    redis_too_large: AtomicU64,
}

/// Both tiers behind one get/put. Cheap to clone (clones share everything), so a put can be
/// spawned off the response path.
#[derive(Clone)]
pub struct Cache {
    memory: MemoryTier,
    redis: Option<RedisTier>,
    counters: Arc<Counters>,
}

impl Cache {
    /// A cache over `memory` and, when given, the shared `redis` tier (`None` = memory only).
    pub fn new(memory: MemoryTier, redis: Option<RedisTier>) -> Cache {
        Cache { memory, redis, counters: Arc::default() }
    }

    /// The live entry under `key`: memory first, then Redis. A Redis hit is copied into memory for
    /// the time it has left in Redis, so memory never outlives the shared entry. Redis failures
    /// are misses (and counted in [`CacheStats::redis_errors`]).
    pub async fn get(&self, key: &CacheKey) -> Option<Hit> {
        if let Some(value) = self.memory.get(key) {
            return Some(Hit { value, tier: Tier::Memory });
        }
        let redis = self.redis.as_ref()?;
        match redis.get(key).await {
            Ok(Some((value, left))) => {
                self.memory.put(*key, value.clone(), left);
                Some(Hit { value, tier: Tier::Redis })
            }
            Ok(None) => None,
            Err(e) => {
                self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "cache redis read failed; treating as a miss");
                None
            }
        }
    }

    /// Stores `value` under `key` for `ttl` in memory and, if configured, in Redis. Only finished
    /// answers belong here (a stream after its terminal event). Redis failures are counted, not
    /// returned: the answer is already on its way to the client.
    pub async fn put(&self, key: &CacheKey, value: CachedValue, ttl: Duration) {
        // Memory first: requests on this instance hit at once, while Redis is still being written.
        self.put_memory(key, value.clone(), ttl);
        self.put_shared(key, &value, ttl).await;
    }

    /// The entry in this process's memory only (no Redis round trip): the check a request makes
    /// after it became the leader of a flight, in case another flight completed just before.
    pub fn get_memory(&self, key: &CacheKey) -> Option<CachedValue> {
        self.memory.get(key)
    }

    /// Stores in this process's memory only: synchronous, so the next request on this instance
    /// hits. Pair with [`Cache::put_shared`] (which may run in the background).
    pub fn put_memory(&self, key: &CacheKey, value: CachedValue, ttl: Duration) {
        self.memory.put(*key, value, ttl);
    }

    /// Whether a shared (Redis) tier is configured.
    pub fn has_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Stores in the shared tier only (nothing without one); failures are counted.
    pub async fn put_shared(&self, key: &CacheKey, value: &CachedValue, ttl: Duration) {
        let Some(redis) = &self.redis else { return };
        match redis.put(key, value, ttl).await {
            Ok(Stored::Yes | Stored::ZeroTtl) => {}
            Ok(Stored::TooLarge) => {
                self.counters.redis_too_large.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "cache redis write failed");
            }
        }
    }

    /// Current counters (runs the memory tier's pending bookkeeping; for a metrics scrape).
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory: self.memory.stats(),
            redis_errors: self.counters.redis_errors.load(Ordering::Relaxed),
            redis_too_large: self.counters.redis_too_large.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Kind, RedisTierConfig, Scope, Tokens};
    use bytes::Bytes;
    use serde_json::json;
    use sluice_mock_upstream::RedisServer;

    fn key(i: u64) -> CacheKey {
        let body = json!({ "temperature": 0, "i": i });
        CacheKey::for_request(Scope::Tenant("t"), "r", "m", Kind::ChatJson, body.as_object().unwrap())
    }

    fn body(s: &'static str) -> CachedValue {
        CachedValue::Json { body: Bytes::from_static(s.as_bytes()), tokens: Tokens::default() }
    }

    fn shared_cache(server: &RedisServer) -> (Cache, MemoryTier) {
        let config =
            RedisTierConfig { key_prefix: "t".into(), timeout: Duration::from_secs(2), max_value_bytes: 1 << 20 };
        let memory = MemoryTier::new(1 << 20);
        let redis = RedisTier::connect_lazy(&server.url(), config).unwrap();
        (Cache::new(memory.clone(), Some(redis)), memory)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn memory_only_cache_round_trips() {
        let cache = Cache::new(MemoryTier::new(1 << 20), None);
        assert_eq!(cache.get(&key(1)).await, None);
        cache.put(&key(1), body("a"), HOUR).await;
        assert_eq!(cache.get(&key(1)).await, Some(Hit { value: body("a"), tier: Tier::Memory }));
    }

    #[tokio::test]
    async fn a_second_instance_hits_in_redis_then_in_its_own_memory() {
        let server = RedisServer::start().unwrap();
        let (a, _) = shared_cache(&server);
        let (b, b_memory) = shared_cache(&server);
        a.put(&key(1), body("from a"), HOUR).await;
        assert_eq!(a.get(&key(1)).await.map(|h| h.tier), Some(Tier::Memory));

        assert_eq!(b_memory.get(&key(1)), None);
        assert_eq!(b.get(&key(1)).await, Some(Hit { value: body("from a"), tier: Tier::Redis }));
        assert_eq!(b_memory.get(&key(1)), Some(body("from a")), "a redis hit fills memory");
        assert_eq!(b.get(&key(1)).await.map(|h| h.tier), Some(Tier::Memory));
        assert_eq!(b.get(&key(2)).await, None);
        assert_eq!(b.stats().redis_errors, 0);
    }

    #[tokio::test]
    async fn a_redis_outage_is_a_counted_miss_and_memory_keeps_serving() {
        let mut server = RedisServer::start().unwrap();
        let (cache, _) = shared_cache(&server);
        cache.put(&key(1), body("kept"), HOUR).await;
        server.kill();
        assert_eq!(cache.get(&key(1)).await.map(|h| h.value), Some(body("kept")));
        assert_eq!(cache.get(&key(2)).await, None);
        cache.put(&key(3), body("memory only"), HOUR).await;
        assert_eq!(cache.get(&key(3)).await.map(|h| h.tier), Some(Tier::Memory));
        assert_eq!(cache.stats().redis_errors, 2);
    }
}
