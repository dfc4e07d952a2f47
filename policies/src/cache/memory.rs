//! [`MemoryTier`]: the in-process cache tier — moka, with capacity measured in bytes (each entry
//! weighs its value's size) and a TTL per entry, counting what it evicts.
//!
//! Owns this process's entries, their expiry and the eviction counters. It never talks to Redis
//! and never decides TTLs (callers pass one per entry). Expiry follows moka's own monotonic clock,
//! not an injected one: moka offers no clock injection, so its TTL tests wait a few milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache as Moka;
use moka::Expiry;

use super::{CacheKey, CachedValue, MAX_TTL};

/// What moka stores: the value and the TTL it was inserted with.
#[derive(Clone)]
struct Entry {
    value: CachedValue,
    ttl: Duration,
}

/// Per-entry expiry: each entry lives for the TTL it was inserted (or last replaced) with.
struct PerEntryTtl;

impl Expiry<CacheKey, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &CacheKey, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

#[derive(Default)]
struct Counters {
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// A snapshot of the memory tier, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Entries held.
    pub entries: u64,
    /// Bytes held (the sum of the entries' [`CachedValue::weight`]).
    pub weighted_bytes: u64,
    /// Entries pushed out to make room, since start.
    pub evictions: u64,
    /// Entries dropped because their TTL passed, since start.
    pub expirations: u64,
}

/// The in-process tier. Cheap to clone (clones share the entries); safe to call from async code
/// (no call blocks on I/O or awaits).
#[derive(Clone)]
pub struct MemoryTier {
    entries: Moka<CacheKey, Entry>,
    counters: Arc<Counters>,
}

impl MemoryTier {
    /// A tier holding at most `capacity_bytes` of values; the least useful entries are evicted
    /// beyond that (moka's TinyLFU), and a single value larger than the capacity is not kept.
    pub fn new(capacity_bytes: u64) -> MemoryTier {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let entries = Moka::builder()
            .max_capacity(capacity_bytes)
            .weigher(|_key: &CacheKey, entry: &Entry| u32::try_from(entry.value.weight()).unwrap_or(u32::MAX))
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _entry, cause| match cause {
                RemovalCause::Size => {
                    listener_counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Expired => {
                    listener_counters.expirations.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            })
            .build();
        MemoryTier { entries, counters }
    }

    /// The live value under `key`, if any (an expired entry is never returned).
    pub fn get(&self, key: &CacheKey) -> Option<CachedValue> {
        self.entries.get(key).map(|entry| entry.value)
    }

    /// Stores `value` under `key` for `ttl` (cut to [`MAX_TTL`]), replacing any older entry. A zero
    /// TTL stores nothing.
    pub fn put(&self, key: CacheKey, value: CachedValue, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        self.entries.insert(key, Entry { value, ttl: ttl.min(MAX_TTL) });
    }

    /// Drops the entry under `key`, if any.
    pub fn remove(&self, key: &CacheKey) {
        self.entries.invalidate(key);
    }

    /// Current counts. Runs moka's pending bookkeeping first so the numbers are up to date; meant
    /// for a metrics scrape, not for every request. Expired entries are swept in steps of about a
    /// second, so `entries` and `weighted_bytes` may include some that just expired (never served).
    pub fn stats(&self) -> MemoryStats {
        self.entries.run_pending_tasks();
        MemoryStats {
            entries: self.entries.entry_count(),
            weighted_bytes: self.entries.weighted_size(),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            expirations: self.counters.expirations.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheKey, Kind, Scope, Tokens};
    use bytes::Bytes;
    use serde_json::json;

    fn key(i: u64) -> CacheKey {
        let body = json!({ "temperature": 0, "i": i });
        CacheKey::for_request(Scope::Shared, "r", "m", Kind::ChatJson, body.as_object().unwrap())
    }

    fn json_of(len: usize) -> CachedValue {
        CachedValue::Json { body: Bytes::from(vec![b'x'; len]), tokens: Tokens::default() }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn put_then_get_returns_the_value_and_counts_its_bytes() {
        let tier = MemoryTier::new(1 << 20);
        let stream = CachedValue::Stream {
            events: vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")],
            tokens: Tokens::default(),
        };
        tier.put(key(1), json_of(100), HOUR);
        tier.put(key(2), stream.clone(), HOUR);
        assert_eq!(tier.get(&key(1)), Some(json_of(100)));
        assert_eq!(tier.get(&key(2)), Some(stream.clone()));
        assert_eq!(tier.get(&key(3)), None);
        let stats = tier.stats();
        assert_eq!(stats.entries, 2);
        assert_eq!(stats.weighted_bytes, 100 + stream.weight() as u64);
        tier.remove(&key(1));
        assert_eq!(tier.get(&key(1)), None);
    }

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl() {
        let tier = MemoryTier::new(1 << 20);
        tier.put(key(1), json_of(10), Duration::from_millis(30));
        tier.put(key(2), json_of(10), HOUR);
        tier.put(key(3), json_of(10), Duration::ZERO);
        assert!(tier.get(&key(1)).is_some());
        assert!(tier.get(&key(3)).is_none(), "a zero TTL stores nothing");
        // moka follows its own monotonic clock (no injection): a real, short wait.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(tier.get(&key(1)), None);
        assert_eq!(tier.get(&key(2)), Some(json_of(10)));
        // (Counting the expiry in stats() would need a >1 s wait: moka's timer wheel sweeps in
        // steps of about a second. Reads never see an expired entry, which is what matters.)
    }

    #[test]
    fn byte_weight_bounds_the_tier_and_counts_evictions() {
        let tier = MemoryTier::new(10_000);
        for i in 0..50 {
            tier.put(key(i), json_of(1_000), HOUR);
        }
        let stats = tier.stats();
        assert!(stats.weighted_bytes <= 10_000, "{stats:?}");
        assert!(stats.entries <= 10, "{stats:?}");
        assert!(stats.evictions >= 40, "{stats:?}");
        // A value larger than the whole tier is not kept.
        tier.put(key(99), json_of(20_000), HOUR);
        tier.stats();
        assert_eq!(tier.get(&key(99)), None);
    }
}
