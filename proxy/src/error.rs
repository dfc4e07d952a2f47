//! Every way a request can fail, and the one place that maps each to an HTTP status and an
//! OpenAI-shaped error body.
//!
//! The `match` in [`GatewayError::status`] is exhaustive on purpose: a new variant forces a decision
//! about its status and fault domain. Messages name the offending field and say how to fix it; they
//! never contain credentials.

use bytes::Bytes;
use serde_json::json;
use sluice_providers::{InvalidRequest, UpstreamError};

use crate::identity::AuthError;
use sluice_policies::store::Refusal;

/// Who caused a failure: a metrics label and a log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDomain {
    /// The client sent something wrong.
    Caller,
    /// A Sluice policy refused (quota, rate limit, allow-list).
    Policy,
    /// The upstream provider failed.
    Provider,
    /// Sluice itself failed.
    Internal,
}

impl FaultDomain {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultDomain::Caller => "caller",
            FaultDomain::Policy => "policy",
            FaultDomain::Provider => "provider",
            FaultDomain::Internal => "internal",
        }
    }
}

/// A failed request. `Clone`, so one upstream failure can fail every request of a micro-batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Authentication failed.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// Caller may not use this resource.
    #[error("{0}")]
    Forbidden(String),
    /// No such route.
    #[error("Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs for the endpoints Sluice serves.")]
    UnknownPath {
        /// Method.
        method: String,
        /// Path (no query).
        path: String,
    },
    /// Known path, wrong method.
    #[error("Method {method} is not allowed on {path}; use {allowed}.")]
    MethodNotAllowed {
        /// Method sent.
        method: String,
        /// Path.
        path: String,
        /// Allowed method(s).
        allowed: &'static str,
    },
    /// Body over the limit.
    #[error("Request body is larger than the {limit}-byte limit. Send a smaller request.")]
    BodyTooLarge {
        /// Limit in bytes.
        limit: usize,
    },
    /// Body is not a JSON object.
    #[error("We could not parse the JSON body of your request: {0}. Send a JSON object with `Content-Type: application/json`.")]
    InvalidJson(String),
    /// A field is wrong.
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// Model is not configured.
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// Model exists but does not serve this endpoint.
    #[error("The model `{model}` cannot be used with {endpoint}.")]
    WrongEndpoint {
        /// Model.
        model: String,
        /// Endpoint path.
        endpoint: &'static str,
    },
    /// The upstream answered with an error.
    #[error("{}", .0.message)]
    Upstream(UpstreamError),
    /// Connecting to the upstream failed.
    #[error("Could not reach the upstream provider `{provider}`. Try again later.")]
    UpstreamUnreachable {
        /// Provider name.
        provider: String,
    },
    /// No answer in time.
    #[error("The upstream provider `{provider}` did not answer in time.")]
    UpstreamTimeout {
        /// Provider name.
        provider: String,
    },
    /// The upstream answered something that is not its documented format.
    #[error("The upstream provider `{provider}` sent a response Sluice could not read.")]
    UpstreamProtocol {
        /// Provider name.
        provider: String,
    },
    /// The route has no usable candidate.
    #[error("No upstream is available for model `{0}`.")]
    NoCandidate(String),
    /// Every candidate's circuit breaker is open.
    #[error("Every upstream for model `{model}` is cooling down after failures. Retry after the cool-down.")]
    AllCoolingDown {
        /// Model.
        model: String,
        /// Remaining cool-down of the first candidate to reopen.
        retry_after: std::time::Duration,
    },
    /// The upstream account is at its concurrency or pace limit and the wait queue is full or
    /// too slow.
    #[error("The upstream provider `{provider}` is at capacity; the request was not queued. Retry shortly.")]
    UpstreamBusy {
        /// Provider.
        provider: String,
        /// When a retry may succeed.
        retry_after: std::time::Duration,
    },
    /// A Sluice policy refused the request (quota, rate limit).
    #[error("{message}")]
    Refused {
        /// What refused.
        refusal: Refusal,
        /// Client message naming the limit and when it resets.
        message: String,
    },
    /// The quota/rate-limit store is unreachable and the outage policy is fail-closed.
    #[error("Usage accounting is temporarily unavailable, so the request was not admitted. Retry shortly.")]
    StoreUnavailable,
    /// Admin key missing or wrong.
    #[error("A valid admin key is required (Authorization: Bearer <admin key>).")]
    AdminUnauthorized,
    /// Metrics token missing or wrong.
    #[error("A valid metrics bearer token is required.")]
    MetricsUnauthorized,
    /// Bug or resource failure inside Sluice.
    #[error("Sluice failed to handle the request. It has been logged; please try again.")]
    Internal(String),
}

impl GatewayError {
    /// HTTP status, OpenAI `type`, `code`, `param`, and fault domain: the one mapping.
    pub fn parts(&self) -> (u16, &str, Option<&str>, Option<&str>, FaultDomain) {
        use FaultDomain::*;
        match self {
            GatewayError::Refused { refusal, .. } => match refusal {
                Refusal::QuotaExhausted { .. } | Refusal::TenantQuotaExhausted { .. } => {
                    (429, "insufficient_quota", Some("insufficient_quota"), None, Policy)
                }
                Refusal::RateLimited { .. } | Refusal::TooLarge { .. } => {
                    (429, "rate_limit_error", Some("rate_limit_exceeded"), None, Policy)
                }
            },
            GatewayError::StoreUnavailable => (503, "server_error", Some("usage_store_unavailable"), None, Internal),
            GatewayError::AllCoolingDown { .. } => (503, "server_error", Some("upstream_cooling_down"), None, Provider),
            GatewayError::UpstreamBusy { .. } => (503, "server_error", Some("upstream_busy"), None, Provider),
            GatewayError::AdminUnauthorized => (401, "invalid_request_error", Some("invalid_admin_key"), None, Caller),
            GatewayError::Unauthorized(_) => (401, "invalid_request_error", Some("invalid_api_key"), None, Caller),
            GatewayError::MetricsUnauthorized => (401, "invalid_request_error", Some("invalid_api_key"), None, Caller),
            GatewayError::Forbidden(_) => (403, "permission_error", Some("model_not_allowed"), Some("model"), Policy),
            GatewayError::UnknownPath { .. } => (404, "invalid_request_error", Some("unknown_url"), None, Caller),
            GatewayError::MethodNotAllowed { .. } => {
                (405, "invalid_request_error", Some("method_not_allowed"), None, Caller)
            }
            GatewayError::BodyTooLarge { .. } => {
                (413, "invalid_request_error", Some("request_too_large"), None, Caller)
            }
            GatewayError::InvalidJson(_) => (400, "invalid_request_error", Some("invalid_json"), None, Caller),
            GatewayError::InvalidRequest(e) => (400, "invalid_request_error", e.code, e.param.as_deref(), Caller),
            GatewayError::ModelNotFound(_) => {
                (404, "invalid_request_error", Some("model_not_found"), Some("model"), Caller)
            }
            GatewayError::WrongEndpoint { .. } => {
                (400, "invalid_request_error", Some("model_not_supported"), Some("model"), Caller)
            }
            GatewayError::Upstream(e) => {
                (e.status, e.error_type.as_str(), e.code.as_deref(), e.param.as_deref(), upstream_domain(e))
            }
            GatewayError::UpstreamUnreachable { .. } => {
                (502, "server_error", Some("upstream_unreachable"), None, Provider)
            }
            GatewayError::UpstreamTimeout { .. } => (504, "server_error", Some("upstream_timeout"), None, Provider),
            GatewayError::UpstreamProtocol { .. } => {
                (502, "server_error", Some("upstream_bad_response"), None, Provider)
            }
            GatewayError::NoCandidate(_) => (503, "server_error", Some("no_upstream_available"), None, Provider),
            GatewayError::Internal(_) => (500, "server_error", Some("internal_error"), None, Internal),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.parts().0
    }

    /// Fault domain.
    pub fn domain(&self) -> FaultDomain {
        self.parts().4
    }

    /// The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn body(&self) -> Bytes {
        let (_, kind, code, param, _) = self.parts();
        let body = json!({"error": {"message": self.to_string(), "type": kind, "param": param, "code": code}});
        Bytes::from(body.to_string())
    }

    /// How long to wait before retrying, when that is known (sent as `retry-after`).
    pub fn retry_after(&self, now_unix: u64) -> Option<std::time::Duration> {
        match self {
            GatewayError::Refused { refusal, .. } => match refusal {
                Refusal::QuotaExhausted { resets_at, .. } | Refusal::TenantQuotaExhausted { resets_at, .. } => {
                    Some(std::time::Duration::from_secs(resets_at.saturating_sub(now_unix).max(1)))
                }
                Refusal::RateLimited { retry_after, .. } => Some(*retry_after),
                Refusal::TooLarge { .. } => None,
            },
            GatewayError::StoreUnavailable => Some(std::time::Duration::from_secs(1)),
            GatewayError::AllCoolingDown { retry_after, .. } | GatewayError::UpstreamBusy { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// Whether an SDK retry could help; sent as `x-should-retry`.
    pub fn should_retry(&self) -> bool {
        match self {
            GatewayError::Refused { refusal: Refusal::RateLimited { .. }, .. } | GatewayError::StoreUnavailable => true,
            GatewayError::Upstream(e) => e.retryable,
            GatewayError::UpstreamUnreachable { .. }
            | GatewayError::UpstreamTimeout { .. }
            | GatewayError::NoCandidate(_) => true,
            _ => false,
        }
    }
}

/// Upstream 4xx that are the caller's fault (bad input passed through) count as caller errors.
fn upstream_domain(e: &UpstreamError) -> FaultDomain {
    if (400..500).contains(&e.status) && e.status != 429 && !e.credentials_rejected {
        FaultDomain::Caller
    } else {
        FaultDomain::Provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_openai_shaped_and_name_the_field() {
        let e = GatewayError::ModelNotFound("gpt-9".into());
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(e.status(), 404);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("gpt-9"));
    }

    #[test]
    fn statuses_cover_the_documented_set() {
        assert_eq!(GatewayError::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(GatewayError::Unauthorized(AuthError::Missing).status(), 401);
        assert_eq!(
            GatewayError::MethodNotAllowed { method: "GET".into(), path: "/".into(), allowed: "POST" }.status(),
            405
        );
        assert_eq!(GatewayError::UpstreamTimeout { provider: "p".into() }.status(), 504);
        assert_eq!(GatewayError::UpstreamUnreachable { provider: "p".into() }.domain(), FaultDomain::Provider);
    }
}
