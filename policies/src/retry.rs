//! The retry policy: after a failed attempt, wait and retry the same candidate, move on to the
//! next candidate, or give up.
//!
//! Owns the retry rules — which outcomes are retryable, exponential backoff with "equal"
//! jitter, honouring (and capping) `retry-after`, and never waiting past the request's deadline.
//! It never sleeps, reads a clock or draws random numbers itself: the caller passes how much of the
//! deadline is left and a jitter source, so every decision is reproducible. It never counts
//! attempts across candidates either — that is [`crate::attempts`]'s budget.

use std::time::Duration;

use crate::outcome::Outcome;

/// What to do after an attempt, as decided by [`RetryPolicy::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry the same candidate after waiting `after`.
    Retry {
        /// How long to wait before the retry (already jittered and capped).
        after: Duration,
    },
    /// Don't retry this candidate; the next candidate in the failover chain may be tried now.
    NextCandidate,
    /// Stop: the outcome stands (success, the caller's own error, a stream already relayed, or no
    /// time left).
    GiveUp,
}

/// Retry parameters for one route. Immutable; a config reload builds a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one candidate after its first attempt (default 3).
    pub max_retries: u32,
    /// Nominal delay before the first retry (default 1 s); doubles on each further retry.
    pub initial: Duration,
    /// Upper bound of the nominal delay (default 8 s, so the defaults give 1 s, 2 s, 4 s).
    pub max_delay: Duration,
    /// Upper bound for an upstream's `retry-after` (default 10 s).
    pub retry_after_cap: Duration,
}

/// Default of [`RetryPolicy::max_retries`].
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default of [`RetryPolicy::initial`].
pub const DEFAULT_INITIAL: Duration = Duration::from_secs(1);
/// Default of [`RetryPolicy::max_delay`].
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(8);
/// Default of [`RetryPolicy::retry_after_cap`].
pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            initial: DEFAULT_INITIAL,
            max_delay: DEFAULT_MAX_DELAY,
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
        }
    }
}

/// Whether an outcome may be retried on the same candidate, tried elsewhere, or must stand.
enum Class {
    Retryable { retry_after: Option<Duration> },
    Elsewhere,
    Final,
}

fn classify(outcome: &Outcome) -> Class {
    match *outcome {
        Outcome::Success | Outcome::BrokenMidStream => Class::Final,
        Outcome::ConnectError | Outcome::Timeout => Class::Retryable { retry_after: None },
        Outcome::Status { status, retryable_code, out_of_credit, retry_after } => {
            if out_of_credit {
                Class::Elsewhere
            } else if retryable_code || matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
                Class::Retryable { retry_after }
            } else if status < 400 {
                Class::Final
            } else if status >= 500 || matches!(status, 401 | 403) {
                // Other 5xx (501, 505, …) won't get better on this candidate but may elsewhere;
                // 401/403 mean Sluice's credentials for this candidate are broken.
                Class::Elsewhere
            } else {
                // Any other 4xx is the caller's error: another try anywhere would fail alike.
                Class::Final
            }
        }
    }
}

impl RetryPolicy {
    /// Decides what follows attempt number `attempt` (0 = the first attempt on this candidate)
    /// that ended with `outcome`, given the time `deadline_left` before the request's deadline and
    /// a `jitter` source returning values in `0.0..=1.0` (out-of-range values are clamped, NaN
    /// counts as 0).
    ///
    /// Retries connect errors, timeouts, 408, 429, 500, 502, 503, 504 and provider-retryable
    /// codes, at most [`max_retries`](Self::max_retries) times, after
    /// [`backoff`](Self::backoff)`(attempt)` or the upstream's `retry-after` (capped at
    /// [`retry_after_cap`](Self::retry_after_cap)) when given. A wait that would not end before
    /// the deadline, exhausted retries, out of credit, 401/403 and other 5xx move on to the next
    /// candidate; success, other 4xx, a stream broken mid-way and a spent deadline give up.
    pub fn decide(
        &self,
        attempt: u32,
        outcome: &Outcome,
        deadline_left: Duration,
        jitter: &mut impl FnMut() -> f64,
    ) -> RetryDecision {
        if deadline_left.is_zero() {
            return RetryDecision::GiveUp;
        }
        let retry_after = match classify(outcome) {
            Class::Final => return RetryDecision::GiveUp,
            Class::Elsewhere => return RetryDecision::NextCandidate,
            Class::Retryable { retry_after } => retry_after,
        };
        if attempt >= self.max_retries {
            return RetryDecision::NextCandidate;
        }
        let after = match retry_after {
            Some(asked) => asked.min(self.retry_after_cap),
            None => self.backoff(attempt, jitter()),
        };
        if after >= deadline_left {
            return RetryDecision::NextCandidate;
        }
        RetryDecision::Retry { after }
    }

    /// The nominal delay before retry number `attempt + 1`: `initial × 2^attempt`, capped at
    /// [`max_delay`](Self::max_delay).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max_delay)
    }

    /// The jittered delay: with `d` = [`nominal`](Self::nominal)`(attempt)`, `d/2 + jitter × d/2`,
    /// so it never falls below half the nominal delay ("equal jitter").
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let half = self.nominal(attempt) / 2;
        let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        half.saturating_add(scale(half, jitter))
    }
}

/// `d × factor` for `factor` in `0..=1`, in integer nanoseconds so it can never panic.
fn scale(d: Duration, factor: f64) -> Duration {
    let nanos = d.as_nanos();
    // `as` saturates float → int; the product is at most `nanos`.
    let scaled = ((nanos as f64) * factor) as u128;
    let scaled = scaled.min(nanos);
    let secs = u64::try_from(scaled / 1_000_000_000).unwrap_or(u64::MAX);
    let sub = u32::try_from(scaled % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

/// A jitter source for production: uniform in `0.0..1.0` from the thread-local generator.
///
/// Tests pass a closure returning fixed values instead.
pub fn random_jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLENTY: Duration = Duration::from_secs(30);

    fn decide(p: &RetryPolicy, attempt: u32, o: Outcome) -> RetryDecision {
        p.decide(attempt, &o, PLENTY, &mut || 1.0)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_is_equal_jitter_of_doubling_nominal_with_a_cap() {
        let p = RetryPolicy { max_retries: 10, ..RetryPolicy::default() };
        let nominal = [1, 2, 4, 8, 8];
        for (attempt, d) in nominal.into_iter().enumerate() {
            let attempt = attempt as u32;
            assert_eq!(p.nominal(attempt), secs(d));
            assert_eq!(p.backoff(attempt, 0.0), secs(d) / 2, "attempt {attempt} jitter 0");
            assert_eq!(p.backoff(attempt, 1.0), secs(d), "attempt {attempt} jitter 1");
            assert_eq!(p.backoff(attempt, 0.5), secs(d) * 3 / 4, "attempt {attempt} jitter 0.5");
        }
        assert_eq!(p.backoff(200, 1.0), secs(8), "huge attempt numbers saturate, then cap");
        assert_eq!(p.backoff(0, f64::NAN), Duration::from_millis(500));
        assert_eq!(p.backoff(0, 7.0), secs(1));
        assert_eq!(p.backoff(0, -1.0), Duration::from_millis(500));
    }

    #[test]
    fn decide_uses_the_jitter_source() {
        let p = RetryPolicy::default();
        let o = Outcome::status(503);
        for (attempt, (lo, hi)) in [(500, 1000), (1000, 2000), (2000, 4000)].into_iter().enumerate() {
            let attempt = attempt as u32;
            let ms = Duration::from_millis;
            assert_eq!(p.decide(attempt, &o, PLENTY, &mut || 0.0), RetryDecision::Retry { after: ms(lo) });
            assert_eq!(p.decide(attempt, &o, PLENTY, &mut || 1.0), RetryDecision::Retry { after: ms(hi) });
        }
        assert_eq!(p.decide(3, &o, PLENTY, &mut || 0.0), RetryDecision::NextCandidate, "3 retries max");
    }

    #[test]
    fn retryable_outcomes_are_retried() {
        let p = RetryPolicy::default();
        for o in [Outcome::ConnectError, Outcome::Timeout]
            .into_iter()
            .chain([408, 429, 500, 502, 503, 504].map(Outcome::status))
            .chain([Outcome::Status { status: 400, retryable_code: true, out_of_credit: false, retry_after: None }])
        {
            assert_eq!(decide(&p, 0, o), RetryDecision::Retry { after: secs(1) }, "{o:?}");
        }
    }

    #[test]
    fn caller_errors_are_never_retried() {
        let p = RetryPolicy::default();
        for s in [400, 404, 409, 413, 422] {
            assert_eq!(decide(&p, 0, Outcome::status(s)), RetryDecision::GiveUp, "status {s}");
        }
        let with_retry_after =
            Outcome::Status { status: 400, retryable_code: false, out_of_credit: false, retry_after: Some(secs(1)) };
        assert_eq!(decide(&p, 0, with_retry_after), RetryDecision::GiveUp);
    }

    #[test]
    fn credentials_and_other_5xx_fail_over() {
        let p = RetryPolicy::default();
        for s in [401, 403, 501, 505] {
            assert_eq!(decide(&p, 0, Outcome::status(s)), RetryDecision::NextCandidate, "status {s}");
        }
    }

    #[test]
    fn out_of_credit_fails_over_at_once() {
        let p = RetryPolicy::default();
        let o = Outcome::Status { status: 429, retryable_code: false, out_of_credit: true, retry_after: Some(secs(1)) };
        assert_eq!(decide(&p, 0, o), RetryDecision::NextCandidate);
        let coded = Outcome::Status { status: 429, retryable_code: true, out_of_credit: true, retry_after: None };
        assert_eq!(decide(&p, 0, coded), RetryDecision::NextCandidate, "out of credit wins");
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        let o =
            |ra| Outcome::Status { status: 429, retryable_code: false, out_of_credit: false, retry_after: Some(ra) };
        assert_eq!(decide(&p, 0, o(secs(2))), RetryDecision::Retry { after: secs(2) });
        assert_eq!(
            decide(&p, 2, o(Duration::from_millis(150))),
            RetryDecision::Retry { after: Duration::from_millis(150) }
        );
        assert_eq!(decide(&p, 0, o(secs(60))), RetryDecision::Retry { after: secs(10) }, "capped");
    }

    #[test]
    fn the_deadline_is_never_passed() {
        let p = RetryPolicy::default();
        let ra =
            Outcome::Status { status: 503, retryable_code: false, out_of_credit: false, retry_after: Some(secs(5)) };
        assert_eq!(p.decide(0, &ra, secs(6), &mut || 0.0), RetryDecision::Retry { after: secs(5) });
        assert_eq!(p.decide(0, &ra, secs(5), &mut || 0.0), RetryDecision::NextCandidate);
        let o = Outcome::status(503);
        assert_eq!(p.decide(2, &o, secs(3), &mut || 0.0), RetryDecision::Retry { after: secs(2) });
        assert_eq!(p.decide(2, &o, secs(3), &mut || 1.0), RetryDecision::NextCandidate, "4 s > 3 s left");
        assert_eq!(p.decide(0, &o, Duration::ZERO, &mut || 0.0), RetryDecision::GiveUp, "no time at all");
    }

    #[test]
    fn nothing_after_success_or_a_relayed_stream() {
        let p = RetryPolicy::default();
        assert_eq!(decide(&p, 0, Outcome::Success), RetryDecision::GiveUp);
        assert_eq!(decide(&p, 0, Outcome::status(200)), RetryDecision::GiveUp);
        assert_eq!(decide(&p, 0, Outcome::BrokenMidStream), RetryDecision::GiveUp);
    }

    #[test]
    fn zero_retries_fails_over_immediately() {
        let p = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
        assert_eq!(decide(&p, 0, Outcome::Timeout), RetryDecision::NextCandidate);
    }

    #[test]
    fn random_jitter_is_in_range() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
