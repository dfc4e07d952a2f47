//! The state store behind quotas and rate limits: the [`Store`] trait the proxy calls, the types
//! it speaks, and its two backends — [`MemoryStore`] (one instance, the default) and [`RedisStore`]
//! (several instances share one state).
//!
//! A store owns the atomicity of admit (quota reserve + requests/min + tokens/min together) and the
//! exactly-once settlement of reservations. It never decides outage policy (fail open/closed is the
//! proxy's, which wraps the store), knows nothing of HTTP, and never logs user ids at info level.

mod counters;
mod keys;
mod limiters;
mod memory;
mod redis;
mod reply;

use std::time::Duration;

pub use self::redis::RedisStore;
pub use crate::quota::Limits;
pub use memory::{MemoryStore, UnixClock};

/// How long an unsettled reservation is held before a later admit sweeps it back (a crashed
/// instance's reservations must not leak forever). Both stores accept another value.
pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(3600);

/// Who a request is charged to: quotas and limits apply per (tenant, user); the tier labels usage
/// indexes and metrics.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The tenant (from the gateway API key).
    pub tenant: &'a str,
    /// The end user within the tenant.
    pub user: &'a str,
    /// The plan tier the limits came from.
    pub tier: &'a str,
}

/// Everything admit needs to reserve and rate-check one request.
#[derive(Clone, Debug)]
pub struct AdmitRequest<'a> {
    /// Who is charged.
    pub subject: Subject<'a>,
    /// Unique per request: the reservation id (settle/release are idempotent on it).
    pub request_id: &'a str,
    /// The (tenant, user)'s limits.
    pub limits: Limits,
    /// Prompt tokens, upper bound ([`crate::quota::prompt_estimate`]).
    pub prompt_estimate: u64,
    /// The client's `max_tokens`/`max_completion_tokens`, if given.
    pub max_output: Option<u64>,
    /// Output allowance when the client gave none (cut down to what remains).
    pub default_output: u64,
    /// The tenant's own monthly cap (all its users together); `None` = no cap.
    pub tenant_monthly_tokens: Option<u64>,
}

/// A granted reservation; settle or release it exactly once.
///
/// Serializable so it can cross a restart or a spool; everything settle needs is in it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    /// The request id it was admitted under.
    pub id: String,
    /// Tenant charged.
    pub tenant: String,
    /// User charged.
    pub user: String,
    /// Tier at admission (settle indexes usage under it).
    pub tier: String,
    /// "YYYY-MM" (UTC) it was made in, and settles into.
    pub month: String,
    /// Tokens reserved against the user's monthly quota (and charged to tokens/min).
    pub tokens: u64,
    /// Tokens reserved against the tenant's cap: 0 without a cap; may be less than `tokens` when
    /// the default output was cut down to what the tenant has left.
    pub tenant_tokens: u64,
}

/// One per-minute bucket's state, for the `x-ratelimit-*` headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// N of "N per minute".
    pub limit: u64,
    /// Cells (requests or tokens) that could pass right now.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

/// Both per-minute buckets of one (tenant, user); `None` where there is no such limit (or, in the
/// memory store, where the bucket was not consulted because an earlier check refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateState {
    /// Requests per minute.
    pub requests: Option<Bucket>,
    /// Tokens per minute.
    pub tokens: Option<Bucket>,
}

/// Which per-minute limit a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

/// Why admit refused; each maps to one 429 shape in the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The user's monthly quota cannot take the request.
    QuotaExhausted {
        /// Monthly quota.
        limit: u64,
        /// Settled this month.
        used: u64,
        /// Held by in-flight reservations.
        reserved: u64,
        /// Unix seconds of the next month start (UTC).
        resets_at: u64,
    },
    /// The tenant's own monthly cap cannot take the request.
    TenantQuotaExhausted {
        /// The tenant's monthly cap.
        limit: u64,
        /// The tenant's settled usage this month.
        used: u64,
        /// Unix seconds of the next month start (UTC).
        resets_at: u64,
    },
    /// A per-minute bucket is empty for now.
    RateLimited {
        /// Which bucket (the one that frees up last when both refuse).
        kind: RateKind,
        /// N of "N per minute".
        limit: u64,
        /// Time until this request would pass.
        retry_after: Duration,
        /// Both buckets, for the headers.
        rate: RateState,
    },
    /// The request can never pass this per-minute limit.
    TooLarge {
        /// Which limit.
        kind: RateKind,
        /// N of "N per minute".
        limit: u64,
        /// What the request needs at least.
        requested: u64,
    },
}

/// The outcome of [`Store::admit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Everything was granted and recorded.
    Granted {
        /// Settle or release it exactly once.
        reservation: Reservation,
        /// Per-minute buckets after this request.
        rate: RateState,
        /// Monthly quota left after this reservation (`None` = unlimited).
        quota_remaining: Option<u64>,
    },
    /// Nothing was recorded (see [`Store::admit`] for the one memory-store exception).
    Refused(Refusal),
}

/// The outcome of settle/release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// `false`: already settled or released before; nothing changed.
    pub applied: bool,
    /// The user's usage of the reservation's month after this call.
    pub used: u64,
}

/// One (tenant, user)'s current month, for the admin endpoint and top-user lists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UsageSnapshot {
    /// Tenant.
    pub tenant: String,
    /// User.
    pub user: String,
    /// Tier the user was last admitted under ("" if never).
    pub tier: String,
    /// "YYYY-MM" (UTC).
    pub month: String,
    /// Settled tokens this month.
    pub used: u64,
    /// Tokens held by in-flight reservations.
    pub reserved: u64,
    /// Unix seconds of the next month start (UTC).
    pub resets_at: u64,
}

/// Why a store call failed; the proxy's outage policy decides what happens next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached (connection refused or lost).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within the configured timeout.
    #[error("store timed out")]
    Timeout,
    /// The backend answered something unexpected (a bug or a misconfigured server).
    #[error("store protocol error: {0}")]
    Protocol(String),
}

/// Quota and rate-limit state, shared by every request of every instance that uses it.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Quota reserve + requests/min + tokens/min checks, atomically: either everything is granted
    /// and recorded, or nothing changes. Tokens/min is charged with the reservation (prompt
    /// estimate + output allowance), as OpenAI does.
    ///
    /// Exception: in [`MemoryStore`] a request refused for tokens/min has still consumed its
    /// requests/min cell (governor cannot undo a cell). [`RedisStore`] costs one pipelined round
    /// trip; with a tenant cap, two when exactly one of the user and tenant parts refuses (the
    /// second rolls the other back).
    async fn admit(&self, req: &AdmitRequest<'_>) -> Result<Admission, StoreError>;
    /// Settle to actual usage (used += actual, reserved -= reservation.tokens), exactly once per
    /// reservation id; calls after the first return `applied: false` and change nothing.
    async fn settle(&self, reservation: &Reservation, actual_tokens: u64) -> Result<Settlement, StoreError>;
    /// Release without usage (= settle with 0).
    async fn release(&self, reservation: &Reservation) -> Result<Settlement, StoreError> {
        self.settle(reservation, 0).await
    }
    /// Current month for one (tenant, user).
    async fn usage(&self, tenant: &str, user: &str) -> Result<UsageSnapshot, StoreError>;
    /// Current month's top users by settled usage, optionally only one tier and/or tenant,
    /// highest first.
    async fn top_users(
        &self,
        tier: Option<&str>,
        tenant: Option<&str>,
        n: usize,
    ) -> Result<Vec<UsageSnapshot>, StoreError>;
    /// Users of `tier` with usage this month by quota-use band for a monthly `limit`:
    /// [<50 %, 50–80 %, 80–100 %, ≥100 %] (for metrics).
    async fn band_counts(&self, tier: &str, limit: u64) -> Result<[u64; 4], StoreError>;
    /// Tenant's own settled usage this month (tokens).
    async fn tenant_usage(&self, tenant: &str) -> Result<u64, StoreError>;
    /// "memory" or "redis" (metrics label).
    fn backend(&self) -> &'static str;
}

/// Which of the four quota-use bands `used` falls in for a monthly `limit` (0 when `limit` is 0 and
/// `used` is 0 is impossible: a zero limit puts everyone at ≥100 %).
pub(crate) fn band_of(used: u64, limit: u64) -> usize {
    let (used, limit) = (u128::from(used), u128::from(limit));
    if used >= limit {
        3
    } else if used * 10 >= limit * 8 {
        2
    } else if used * 2 >= limit {
        1
    } else {
        0
    }
}
