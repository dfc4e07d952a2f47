//! Response cache storage: the exact-match key of a request, whether a request may be cached at
//! all, the two storage tiers (in-process and Redis) behind one [`Cache`] facade, and the single
//! flight that turns concurrent identical misses into one upstream call.
//!
//! Owns keys, eligibility, storage, expiry and stampede protection. It never parses HTTP headers
//! (`Cache-Control`, `x-sluice-cache`), never rewrites a response (fresh `id`/`created` on replay,
//! usage chunks), never decides per-route TTLs or scopes from config, and never talks to an
//! upstream: the proxy does all of that and hands this module finished bytes.
//!
//! The proxy's order on a cacheable request: [`eligible`] → [`CacheKey::for_request`] →
//! [`Cache::get`] → on a miss [`SingleFlight::join`]; the leader calls upstream, [`Cache::put`]s
//! the finished answer (streams only after their terminal event) and completes its guard; the
//! followers take the leader's answer instead of calling upstream.

mod canonical;
mod eligibility;
mod key;
mod memory;
mod redis_tier;
mod single_flight;
mod two_tier;
mod value;

pub use eligibility::{eligible, Eligibility, EligibilityPolicy, Eligible, Ineligible};
pub use key::{embedding_input_key, CacheKey, Kind, Scope, EXCLUDED_FIELDS};
pub use memory::{MemoryStats, MemoryTier};
pub use redis_tier::{RedisTier, RedisTierConfig, Stored};
pub use single_flight::{FollowerHandle, LeaderFailed, LeaderGuard, Role, SingleFlight};
pub use two_tier::{Cache, CacheStats, Hit, Tier};
pub use value::{CachedValue, Tokens};

use std::time::Duration;

/// Default time to live of a chat completion entry (the proxy may configure another per route).
pub const DEFAULT_CHAT_TTL: Duration = Duration::from_secs(3600);

/// Default time to live of an embedding entry (the proxy may configure another per route).
pub const DEFAULT_EMBEDDINGS_TTL: Duration = Duration::from_secs(24 * 3600);

/// Longest TTL either tier accepts; longer ones are cut to this (moka refuses absurd expiries, and
/// nothing in a cache should outlive a year).
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why the shared tier could not serve or store an entry. The [`Cache`] facade treats every one of
/// them as a miss (a cache outage never fails a request); [`RedisTier`] returns them so the proxy
/// can count them.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis cannot be reached or refused the command.
    #[error("cache redis unavailable: {0}")]
    Unavailable(String),
    /// Redis did not answer within the tier's timeout.
    #[error("cache redis timed out")]
    Timeout,
    /// A stored value could not be decoded (written by an incompatible version, or corrupted); the
    /// entry is ignored and will be overwritten by the next fill.
    #[error("cached value is corrupt: {0}")]
    Corrupt(&'static str),
}
