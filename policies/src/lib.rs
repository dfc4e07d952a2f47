//! Sluice's policy decisions — quota, rate limit, circuit breaker, retry, downgrade, cache,
//! micro-batching — and the state stores behind them (in-process memory, or Redis shared by
//! several instances).
//!
//! Pure logic plus stores: no Pingora, no HTTP types, no provider wire formats (Cargo enforces this
//! boundary). Policies take `now` as an argument where they can, so they are testable without real
//! time.

pub mod attempts;
pub mod batch;
pub mod breaker;
pub mod cache;
pub mod downgrade;
pub mod ledger;
pub mod outcome;
pub mod pacing;
pub mod quota;
pub mod retry;
pub mod store;
pub mod trim;
