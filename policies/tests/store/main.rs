//! The state stores' tests, against their public API: one conformance suite run on both backends,
//! the concurrency property, and Redis-only behaviour (round trips, outage, recovery).
//! Redis tests start their own `redis-server` on a free port.

// Test code: a panic is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Every property of the `Store` contract, generated as a test per backend.
mod conformance;
// 500 concurrent admits from one user against a quota that fits ~10: no overshoot, no false refusal.
mod concurrency;
// Redis only: one round trip per admit, fail fast when Redis dies, recover when it returns.
mod redis;
// Shared setup: backends, a fake clock, request builders.
mod support;
// Months: the memory store across a month boundary; the Lua month arithmetic against quota.rs.
mod months;
