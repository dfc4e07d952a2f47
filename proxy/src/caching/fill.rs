//! [`Fill`]: filling the cache from the answer a request is relaying, and handing that answer to
//! the requests that follow it (single flight).
//!
//! A fill sees every event written downstream (publishing each to the followers at once), then
//! either completes — the answer is stored (if the caller says it may be) and the followers get
//! it — or is dropped, which fails the flight: nothing is stored and the followers go upstream
//! themselves. So a stream cut mid-way, an upstream error or a cancelled request never reaches
//! the cache.

use bytes::Bytes;
use sluice_policies::cache::{CacheKey, CachedValue, LeaderGuard, Tokens};

use super::{Caching, Plan};
use crate::telemetry::metrics::Metrics;

/// The cache fill of one request.
pub struct Fill {
    key: CacheKey,
    ttl: std::time::Duration,
    max_bytes: usize,
    guard: Option<LeaderGuard>,
    events: Vec<Bytes>,
    bytes: usize,
    /// False once a stream without followers outgrew `max_bytes` (its events are dropped).
    keep: bool,
}

impl Fill {
    /// A fill for `plan`; `guard` when this request leads a flight others may follow.
    pub fn new(plan: &Plan, guard: Option<LeaderGuard>) -> Fill {
        Fill {
            key: plan.key,
            ttl: plan.ttl,
            max_bytes: plan.max_entry_bytes,
            guard,
            events: Vec::new(),
            bytes: 0,
            keep: true,
        }
    }

    /// Whether other requests are waiting for this answer (then it is read to its end even if
    /// this request's own client leaves).
    pub fn has_followers(&self) -> bool {
        self.guard.as_ref().is_some_and(LeaderGuard::has_followers)
    }

    /// Records one stream event as it goes downstream.
    pub fn event(&mut self, event: &Bytes) {
        if let Some(guard) = &self.guard {
            guard.event(event.clone());
        }
        if !self.keep {
            return;
        }
        self.bytes += event.len();
        if self.bytes > self.max_bytes && self.guard.is_none() {
            // Too large to store and nobody follows: stop holding it.
            self.keep = false;
            self.events = Vec::new();
        } else {
            self.events.push(event.clone());
        }
    }

    /// The JSON answer is complete: store it when `store` (not a fallback model's answer), and
    /// hand it to the followers.
    pub fn complete_json(self, caching: &Caching, metrics: &Metrics, body: Bytes, tokens: Tokens, store: bool) {
        self.complete(caching, metrics, CachedValue::Json { body, tokens }, store);
    }

    /// The stream reached its terminal event: store it when `store`, and end the followers'
    /// streams.
    pub fn complete_stream(mut self, caching: &Caching, metrics: &Metrics, tokens: Tokens, store: bool) {
        let events = std::mem::take(&mut self.events);
        let store = store && self.keep;
        self.complete(caching, metrics, CachedValue::Stream { events, tokens }, store);
    }

    fn complete(mut self, caching: &Caching, metrics: &Metrics, value: CachedValue, store: bool) {
        if store {
            caching.store(&self.key, &value, self.ttl, self.max_bytes, metrics);
        }
        if let Some(guard) = self.guard.take() {
            guard.complete(value);
        }
    }
}

impl Caching {
    /// Stores a finished answer: in memory now (the next request here hits), in Redis in the
    /// background (the answer is not held up by the shared tier).
    pub fn store(
        &self,
        key: &CacheKey,
        value: &CachedValue,
        ttl: std::time::Duration,
        max_bytes: usize,
        metrics: &Metrics,
    ) {
        if value.weight() > max_bytes {
            metrics.cache.stores.with_label_values(&["too_large"]).inc();
            return;
        }
        metrics.cache.stores.with_label_values(&["stored"]).inc();
        self.cache.put_memory(key, value.clone(), ttl);
        if self.cache.has_shared() {
            let (cache, key, value) = (self.cache.clone(), *key, value.clone());
            tokio::spawn(async move { cache.put_shared(&key, &value, ttl).await });
        }
    }
}
