//! The memory store's per-minute buckets: governor keyed GCRA limiters, one per distinct limit
//! value (tiers differ), keyed by (tenant, user).
//!
//! Owns turning governor's outcomes into [`Bucket`]s and accurate `retry_after`s. It never holds a
//! lock of its own (the memory store calls it inside its critical section) and never undoes a
//! cell: governor cannot, which is why a tokens/min refusal keeps its requests/min cell.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::Bucket;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Checks between two sweeps of stale keys (keys whose bucket is full again are dropped).
const HOUSEKEEPING_EVERY: u64 = 16_384;

/// The result of charging `n` cells to one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Charged; the bucket after.
    Passed(Bucket),
    /// Not charged; the request would pass after `retry_after`.
    Refused { retry_after: Duration, bucket: Bucket },
    /// `n` exceeds the burst: it can never pass.
    TooLarge,
}

/// Keyed limiters for one kind of limit (requests or tokens), one per limit value.
pub(crate) struct Limiters {
    by_limit: HashMap<u64, Keyed>,
    clock: DefaultClock,
    checks: u64,
}

impl Limiters {
    pub fn new() -> Limiters {
        Limiters { by_limit: HashMap::new(), clock: DefaultClock::default(), checks: 0 }
    }

    /// Charges `n` cells to `key`'s bucket of "`limit` per minute" (burst `limit`, one cell back
    /// every 60/`limit` s), all or nothing.
    pub fn check(&mut self, limit: u64, key: &String, n: u64) -> Check {
        let Some(burst) = NonZeroU32::new(u32::try_from(limit).unwrap_or(u32::MAX)) else {
            return Check::TooLarge;
        };
        let period = Duration::from_secs(60).div_f64(f64::from(burst.get()));
        self.checks += 1;
        if self.checks.is_multiple_of(HOUSEKEEPING_EVERY) {
            self.housekeeping();
        }
        let limiter = self.by_limit.entry(limit).or_insert_with(|| {
            RateLimiter::dashmap_with_clock(Quota::per_minute(burst), DefaultClock::default())
                .with_middleware::<StateInformationMiddleware>()
        });
        let limit = u64::from(burst.get());
        let Some(cells) = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)) else {
            // Nothing to charge (an empty request): report the bucket as unconsulted-full.
            return Check::Passed(Bucket { limit, remaining: limit, reset: Duration::ZERO });
        };
        match limiter.check_key_n(key, cells) {
            Err(_) => Check::TooLarge,
            Ok(Ok(snapshot)) => {
                let remaining = u64::from(snapshot.remaining_burst_capacity()).min(limit);
                let reset = period.mul_f64((limit - remaining) as f64);
                Check::Passed(Bucket { limit, remaining, reset })
            }
            Ok(Err(not_until)) => {
                let retry_after = not_until.wait_time_from(self.clock.now());
                // `n` cells are free `retry_after` from now, so n - retry/period are free now; the
                // bucket is full (limit - n) periods after that.
                let n = u64::from(cells.get());
                let owed = (retry_after.as_secs_f64() / period.as_secs_f64()).ceil() as u64;
                let remaining = n.saturating_sub(owed);
                let reset = retry_after + period.mul_f64(limit.saturating_sub(n) as f64);
                Check::Refused { retry_after, bucket: Bucket { limit, remaining, reset } }
            }
        }
    }

    /// Drops keys whose buckets are full again and limiters nobody uses any more (bounded memory
    /// over days of uptime).
    fn housekeeping(&mut self) {
        self.by_limit.retain(|_, limiter| {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            !limiter.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_with_accurate_retry() {
        let mut l = Limiters::new();
        let key = "k".to_owned();
        for i in 0..6u64 {
            let Check::Passed(b) = l.check(6, &key, 1) else { panic!("cell {i} refused") };
            assert_eq!(b.remaining, 5 - i);
            assert_eq!(b.limit, 6);
        }
        let Check::Refused { retry_after, bucket } = l.check(6, &key, 1) else { panic!("7th passed") };
        assert!(
            retry_after > Duration::from_millis(9_000) && retry_after <= Duration::from_secs(10),
            "{retry_after:?}"
        );
        assert_eq!(bucket.remaining, 0);
        assert!(bucket.reset > Duration::from_secs(59), "{:?}", bucket.reset);
        assert_eq!(l.check(6, &key, 7), Check::TooLarge);
        assert_eq!(l.check(0, &key, 1), Check::TooLarge);
        assert!(matches!(l.check(6, &"other".to_owned(), 6), Check::Passed(b) if b.remaining == 0));
    }
}
