//! What happened to one upstream attempt, in words the policies share.
//!
//! Owns the [`Outcome`] vocabulary that the proxy builds from whatever its HTTP client reported,
//! and the single mapping from an outcome to a breaker [`Signal`], so the retry policy and the
//! circuit breaker never disagree about what counts as a failure. It never sees HTTP types or
//! provider bodies: the proxy (with `sluice-providers`) has already decided whether a status
//! carries a provider-retryable code or means "out of credit".

use std::time::Duration;

use crate::breaker::Signal;

/// The result of one attempt against one upstream candidate.
///
/// The proxy builds it before any byte has gone downstream; after that it may only report
/// [`Outcome::BrokenMidStream`] (to the breaker) and must never retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with a success (the proxy starts relaying it).
    Success,
    /// The upstream answered with an HTTP status the proxy does not relay as a success.
    Status {
        /// The HTTP status code (e.g. 429, 503).
        status: u16,
        /// The provider's error code is one it documents as retryable (Workers AI 3007, 3008,
        /// 3040), whatever the HTTP status says.
        retryable_code: bool,
        /// A 429 that means the account is out of credit (OpenAI `insufficient_quota`, Workers AI
        /// 3036): retrying the same account cannot help.
        out_of_credit: bool,
        /// `retry-after` / `retry-after-ms` from the response, already parsed.
        retry_after: Option<Duration>,
    },
    /// Connecting (TCP or TLS) to the upstream failed or the connection was reset before any
    /// response byte arrived.
    ConnectError,
    /// A connect or time-to-first-byte timeout fired.
    Timeout,
    /// The response stream broke after bytes had already gone downstream.
    BrokenMidStream,
}

impl Outcome {
    /// A status answer without a provider code or `retry-after` — shorthand for tests and for
    /// upstreams whose bodies carry nothing more.
    pub fn status(status: u16) -> Self {
        Outcome::Status { status, retryable_code: false, out_of_credit: false, retry_after: None }
    }

    /// How the circuit breaker of the candidate that produced this outcome should count it.
    ///
    /// Failures are 5xx, 408, 429 (including out of credit), 401/403 (Sluice's own credentials
    /// are broken for that candidate), provider-retryable codes, timeouts, connection errors and
    /// broken streams. Other 4xx are the caller's fault and are [`Signal::Neutral`].
    pub fn signal(&self) -> Signal {
        match *self {
            Outcome::Success => Signal::Success,
            Outcome::ConnectError | Outcome::Timeout | Outcome::BrokenMidStream => Signal::Failure,
            Outcome::Status { status, retryable_code, out_of_credit, .. } => {
                if retryable_code || out_of_credit {
                    Signal::Failure
                } else if status < 400 {
                    Signal::Success
                } else if status >= 500 || matches!(status, 401 | 403 | 408 | 429) {
                    Signal::Failure
                } else {
                    Signal::Neutral
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_follow_the_issue() {
        for s in [500, 502, 503, 504, 501, 429, 408, 401, 403] {
            assert_eq!(Outcome::status(s).signal(), Signal::Failure, "status {s}");
        }
        for s in [400, 404, 409, 413, 422] {
            assert_eq!(Outcome::status(s).signal(), Signal::Neutral, "status {s}");
        }
        assert_eq!(Outcome::status(200).signal(), Signal::Success);
        assert_eq!(Outcome::Success.signal(), Signal::Success);
        assert_eq!(Outcome::Timeout.signal(), Signal::Failure);
        assert_eq!(Outcome::ConnectError.signal(), Signal::Failure);
        assert_eq!(Outcome::BrokenMidStream.signal(), Signal::Failure);
        let coded = Outcome::Status { status: 400, retryable_code: true, out_of_credit: false, retry_after: None };
        assert_eq!(coded.signal(), Signal::Failure);
    }
}
