//! The caller's own `x-ratelimit-*` response headers, in OpenAI's format.

use std::time::Duration;

use sluice_policies::store::RateState;

/// Formats a duration like OpenAI (Go's `time.Duration`): `12ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    // Whole milliseconds in integers: float rounding printed 119.9996 s as `1m60s`.
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let mut s = format!("{}.{:03}", ms / 1000 % 60, ms % 1000);
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    match (hours, minutes) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `(name, value)` pairs for the configured limits.
pub fn rate_limit_headers(rate: &RateState) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(6);
    if let Some(b) = rate.requests {
        out.push(("x-ratelimit-limit-requests", b.limit.to_string()));
        out.push(("x-ratelimit-remaining-requests", b.remaining.to_string()));
        out.push(("x-ratelimit-reset-requests", go_duration(b.reset)));
    }
    if let Some(b) = rate.tokens {
        out.push(("x-ratelimit-limit-tokens", b.limit.to_string()));
        out.push(("x-ratelimit-remaining-tokens", b.remaining.to_string()));
        out.push(("x-ratelimit-reset-tokens", go_duration(b.reset)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_openai() {
        assert_eq!(go_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
