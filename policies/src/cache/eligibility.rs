//! [`eligible`]: whether a chat request's answer may be served from, and stored in, the cache.
//!
//! Owns the rule: cache by default only answers that are deterministic enough (`temperature` 0,
//! or a `seed` given), or when the route or the request opted in; never a request for several
//! choices (`n > 1`) unless the route allows it. It never reads headers or config (the proxy turns
//! them into an [`EligibilityPolicy`]) and never handles `Cache-Control` (a request-level bypass
//! is the proxy's, decided before this). Embeddings are deterministic and need no check.

use serde_json::{Map, Value};

/// The proxy's inputs to [`eligible`], from route config and request headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EligibilityPolicy {
    /// The route caches even sampled (non-deterministic) answers.
    pub route_opt_in: bool,
    /// The request asked to be cached even though sampled (e.g. a request header).
    pub request_opt_in: bool,
    /// The route allows caching requests for several choices (`n > 1`).
    pub allow_multiple_choices: bool,
}

/// Whether to use the cache for one request, and why (for logs and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// Read and fill the cache.
    Yes(Eligible),
    /// Neither read nor fill it.
    No(Ineligible),
}

/// Why a request may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligible {
    /// `temperature` is 0.
    ZeroTemperature,
    /// The request fixes a `seed`.
    Seeded,
    /// Sampled, but the route or the request opted in.
    OptedIn,
}

/// Why a request may not be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ineligible {
    /// Sampled (`temperature` absent or above 0, no `seed`) and nobody opted in.
    Sampled,
    /// Asks for `n > 1` choices and the route does not allow caching those.
    MultipleChoices,
}

impl Eligibility {
    /// True when the cache is to be used.
    pub fn is_yes(self) -> bool {
        matches!(self, Eligibility::Yes(_))
    }
}

/// Decides whether a chat request (its JSON body) is cacheable under `policy`.
///
/// `temperature` absent means the provider default (1, sampled); `"seed": null` is no seed.
pub fn eligible(request: &Map<String, Value>, policy: EligibilityPolicy) -> Eligibility {
    let n = request.get("n").and_then(Value::as_f64).unwrap_or(1.0);
    if n > 1.0 && !policy.allow_multiple_choices {
        return Eligibility::No(Ineligible::MultipleChoices);
    }
    if request.get("temperature").and_then(Value::as_f64) == Some(0.0) {
        Eligibility::Yes(Eligible::ZeroTemperature)
    } else if request.get("seed").is_some_and(|s| !s.is_null()) {
        Eligibility::Yes(Eligible::Seeded)
    } else if policy.route_opt_in || policy.request_opt_in {
        Eligibility::Yes(Eligible::OptedIn)
    } else {
        Eligibility::No(Ineligible::Sampled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value, policy: EligibilityPolicy) -> Eligibility {
        eligible(body.as_object().unwrap(), policy)
    }

    const DEFAULT: EligibilityPolicy =
        EligibilityPolicy { route_opt_in: false, request_opt_in: false, allow_multiple_choices: false };

    #[test]
    fn deterministic_requests_are_eligible_by_default() {
        assert_eq!(check(json!({"temperature": 0}), DEFAULT), Eligibility::Yes(Eligible::ZeroTemperature));
        assert_eq!(check(json!({"temperature": 0.0}), DEFAULT), Eligibility::Yes(Eligible::ZeroTemperature));
        assert_eq!(check(json!({"temperature": 0.7, "seed": 42}), DEFAULT), Eligibility::Yes(Eligible::Seeded));
        assert!(check(json!({"temperature": 0, "tools": [{"type": "function"}]}), DEFAULT).is_yes());
    }

    #[test]
    fn sampled_requests_need_an_opt_in() {
        for body in [json!({}), json!({"temperature": 0.5}), json!({"seed": null})] {
            assert_eq!(check(body.clone(), DEFAULT), Eligibility::No(Ineligible::Sampled), "{body}");
            let route = EligibilityPolicy { route_opt_in: true, ..DEFAULT };
            assert_eq!(check(body.clone(), route), Eligibility::Yes(Eligible::OptedIn));
            let request = EligibilityPolicy { request_opt_in: true, ..DEFAULT };
            assert_eq!(check(body, request), Eligibility::Yes(Eligible::OptedIn));
        }
    }

    #[test]
    fn several_choices_are_never_cached_unless_allowed() {
        let body = json!({"temperature": 0, "n": 3});
        let opted = EligibilityPolicy { route_opt_in: true, request_opt_in: true, ..DEFAULT };
        assert_eq!(check(body.clone(), opted), Eligibility::No(Ineligible::MultipleChoices));
        let allowed = EligibilityPolicy { allow_multiple_choices: true, ..DEFAULT };
        assert_eq!(check(body, allowed), Eligibility::Yes(Eligible::ZeroTemperature));
        assert!(check(json!({"temperature": 0, "n": 1}), DEFAULT).is_yes());
    }
}
