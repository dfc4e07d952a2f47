//! The response cache on the request path: whether and how one request uses it ([`decide`]), the
//! process-wide two-tier cache and single flight ([`Caching`]), filling it from a finished answer
//! ([`fill`]) and giving replays a fresh identity ([`replay`]).
//!
//! Storage, keys, eligibility and stampede protection are `sluice_policies::cache`'s; this module
//! adds what needs HTTP and config: the client's headers ([`control`]), per-route TTL and scope,
//! the tenant opt-out, and metrics. Caching is per route and on by default, for deterministic
//! requests only (temperature 0 or a `seed`); only chat completions and embeddings are cached.

pub mod control;
pub mod fill;
pub mod replay;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use serde_json::{Map, Value};
use sluice_policies::cache::{
    eligible, Cache, CacheKey, CacheStats, EligibilityPolicy, Kind, MemoryTier, RedisTier, RedisTierConfig, Scope,
    SingleFlight,
};
use sluice_providers::Endpoint;

use crate::config::{CacheScope, CacheSettings, Config, ModelRoute};
use crate::error::GatewayError;
use crate::telemetry::metrics::Metrics;

/// The response header telling the client what the cache did.
pub const RESPONSE_HEADER: &str = "x-sluice-cache";

/// The cache and the flights in progress, shared by every request; survives config reloads
/// (its capacity and Redis connection are restart-only settings).
pub struct Caching {
    /// Both tiers.
    pub cache: Cache,
    /// Concurrent identical misses in progress.
    pub flights: SingleFlight,
    /// The tiers' counters at the last scrape (metrics export deltas).
    last_stats: Mutex<CacheStats>,
}

impl Caching {
    /// Builds the memory tier and, when configured, the Redis tier. Must run inside the runtime
    /// that keeps driving Redis connections (the process's state runtime).
    pub fn connect(settings: &CacheSettings, key_prefix: &str) -> anyhow::Result<Caching> {
        let memory = MemoryTier::new(settings.memory_bytes);
        let redis = match &settings.redis_url {
            None => None,
            Some(url) => {
                let config = RedisTierConfig {
                    key_prefix: key_prefix.to_string(),
                    timeout: settings.redis_timeout,
                    max_value_bytes: settings.max_entry_bytes,
                };
                Some(
                    RedisTier::connect_lazy(url, config)
                        .map_err(|e| anyhow::anyhow!("invalid cache Redis URL: {e}"))?,
                )
            }
        };
        Ok(Caching { cache: Cache::new(memory, redis), flights: SingleFlight::new(), last_stats: Mutex::default() })
    }

    /// Copies the tiers' counters into the metrics (at each scrape: moka's bookkeeping is not for
    /// the request path).
    pub fn export(&self, metrics: &Metrics) {
        let now = self.cache.stats();
        let Ok(mut last) = self.last_stats.lock() else { return };
        let m = &metrics.cache;
        m.evictions.inc_by(now.memory.evictions.saturating_sub(last.memory.evictions));
        m.expirations.inc_by(now.memory.expirations.saturating_sub(last.memory.expirations));
        m.redis_errors.inc_by(now.redis_errors.saturating_sub(last.redis_errors));
        m.bytes.set(i64::try_from(now.memory.weighted_bytes).unwrap_or(i64::MAX));
        m.entries.set(i64::try_from(now.memory.entries).unwrap_or(i64::MAX));
        *last = now;
    }
}

/// What the cache did for one request: the `x-sluice-cache` response header and the `result`
/// label of `sluice_cache_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered without an upstream call (stored answer, or an identical request's in flight).
    Hit,
    /// Looked up, not found: answered by the upstream (and stored).
    Miss,
    /// The cache was not used (config, tenant opt-out, headers, or a sampled request).
    Bypass,
    /// Not read on purpose (`no-cache`, `refresh`); the upstream's answer replaced the entry.
    Refresh,
}

impl CacheStatus {
    /// The response header value.
    pub fn header(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Refresh => "REFRESH",
        }
    }

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
            CacheStatus::Refresh => "refresh",
        }
    }
}

/// Usage as a cache entry keeps it.
pub fn tokens_of(usage: Option<&sluice_providers::Usage>) -> sluice_policies::cache::Tokens {
    let usage = usage.copied().unwrap_or_default();
    sluice_policies::cache::Tokens {
        prompt: u32::try_from(usage.prompt_tokens).unwrap_or(u32::MAX),
        completion: u32::try_from(usage.completion_tokens).unwrap_or(u32::MAX),
    }
}

/// What one request does with the cache.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Not a cached endpoint (completions, responses): no `x-sluice-cache` header.
    NotApplicable,
    /// Neither read nor written (config, tenant opt-out, headers, or not deterministic).
    Bypass,
    /// Read (unless refreshing) and fill.
    Active(Plan),
}

/// How an active request uses the cache.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `false`: `no-cache` / `refresh` — call upstream and overwrite the entry.
    pub read: bool,
    /// The request's key (for embeddings: of the whole request, used for single flight only;
    /// each input has its own entry).
    pub key: CacheKey,
    /// Entry lifetime.
    pub ttl: Duration,
    /// Largest answer stored.
    pub max_entry_bytes: usize,
    /// Who shares the entries: the tenant, or `None` for a shared route.
    pub tenant: Option<Arc<str>>,
    /// The route's name (part of every key).
    pub route: String,
    /// The upstream model the key names (the route's first candidate).
    pub upstream_model: String,
    /// That candidate's provider (named in errors of followed streams).
    pub provider: String,
}

impl Plan {
    /// The key scope.
    pub fn scope(&self) -> Scope<'_> {
        match &self.tenant {
            Some(t) => Scope::Tenant(t),
            None => Scope::Shared,
        }
    }
}

/// Decides how one validated model request uses the cache: config (global switch, route,
/// tenant opt-out), the client's headers, then eligibility (deterministic, `n`).
pub fn decide(
    config: &Config,
    route: &ModelRoute,
    endpoint: Endpoint,
    tenant: Option<&Arc<str>>,
    headers: &HeaderMap,
    request: &Map<String, Value>,
    stream: bool,
) -> Result<Decision, GatewayError> {
    let kind = match (endpoint, stream) {
        (Endpoint::ChatCompletions, false) => Kind::ChatJson,
        (Endpoint::ChatCompletions, true) => Kind::ChatStream,
        (Endpoint::Embeddings, _) => Kind::Embeddings,
        _ => return Ok(Decision::NotApplicable),
    };
    // Parsed first, so a bad header is a 400 whatever the config says.
    let directives = control::parse(headers)?;
    let tenant_allows = tenant.and_then(|t| config.tenants.get(&**t)).is_none_or(|t| t.cache);
    if !config.cache.enabled || !route.cache.enabled || !tenant_allows || directives.skip_write {
        return Ok(Decision::Bypass);
    }
    if kind != Kind::Embeddings {
        let policy = EligibilityPolicy {
            route_opt_in: route.cache.sampled,
            request_opt_in: directives.opt_in,
            allow_multiple_choices: route.cache.multiple_choices,
        };
        if !eligible(request, policy).is_yes() {
            return Ok(Decision::Bypass);
        }
    }
    let Some(first) = route.candidates.first() else { return Ok(Decision::Bypass) };
    let tenant = match route.cache.scope {
        CacheScope::Tenant => Some(tenant.cloned().unwrap_or_else(|| Arc::from(""))),
        CacheScope::Shared => None,
    };
    let scope = match &tenant {
        Some(t) => Scope::Tenant(t),
        None => Scope::Shared,
    };
    let key = CacheKey::for_request(scope, &route.name, &first.model, kind, request);
    Ok(Decision::Active(Plan {
        read: !directives.skip_read,
        key,
        ttl: route.cache.ttl,
        max_entry_bytes: config.cache.max_entry_bytes,
        tenant,
        route: route.name.clone(),
        upstream_model: first.model.clone(),
        provider: first.provider.name.clone(),
    }))
}
