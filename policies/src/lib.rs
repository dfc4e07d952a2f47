//! Sluice's policy decisions — quota, rate limit, circuit breaker, retry, downgrade, cache — and
//! the state stores behind them (in-process memory, or Redis shared by several instances).
//!
//! Pure logic: no Pingora, no HTTP types, no provider wire formats (Cargo enforces this boundary).
//! Policies take `now` as an argument so they are testable without real time. The policies
//! themselves arrive with the issues that need them; this crate is the place they go.
