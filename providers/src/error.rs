//! Upstream failures in OpenAI terms: the [`UpstreamError`] type, its OpenAI JSON and SSE forms, and
//! the translation of non-2xx upstream answers (OpenAI-shaped bodies, Workers AI v4 envelopes, or
//! anything else by status class).
//!
//! Owns the one mapping from upstream answers to client-visible status, type and code, and the
//! `retryable` / `out_of_credit` / `credentials_rejected` facts retry and breaker policies read.
//! Never includes an upstream key or raw unknown upstream bodies in a client message.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloudflare::error as cf_error;
use crate::types::Protocol;

/// An upstream failure, already in OpenAI terms for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream answered {upstream_status}: {message}")]
pub struct UpstreamError {
    /// Status the client should see.
    pub status: u16,
    /// Status the upstream answered (200 for a failure inside a 2xx body or stream).
    pub upstream_status: u16,
    /// OpenAI error `type`, e.g. `invalid_request_error`, `rate_limit_error`, `server_error`.
    pub error_type: String,
    /// OpenAI error `code`, e.g. `rate_limit_exceeded`, `insufficient_quota`.
    pub code: Option<String>,
    /// Message for the client; never contains a key.
    pub message: String,
    /// The request field the upstream blamed, if any.
    pub param: Option<String>,
    /// Whether sending the same request again (to the same upstream) may succeed.
    pub retryable: bool,
    /// The upstream account is out of credit/quota: retrying is pointless until it is refilled.
    pub out_of_credit: bool,
    /// The upstream rejected Sluice's own credentials (a configuration problem, never the client's).
    pub credentials_rejected: bool,
}

#[derive(Serialize)]
struct ErrorEnvelopeOut<'a> {
    error: ErrorOut<'a>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl UpstreamError {
    /// The client body: `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_json(&self) -> Bytes {
        let envelope = ErrorEnvelopeOut {
            error: ErrorOut {
                message: &self.message,
                error_type: &self.error_type,
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default())
    }

    /// A 2xx upstream body Sluice could not understand: 502, not retryable (the same upstream
    /// would answer the same way).
    pub(crate) fn bad_body(protocol: Protocol, what: &str) -> Self {
        UpstreamError {
            status: 502,
            upstream_status: 200,
            error_type: "server_error".into(),
            code: Some("bad_upstream_response".into()),
            message: format!("{} returned a response the gateway could not read ({what}).", provider_name(protocol)),
            param: None,
            retryable: false,
            out_of_credit: false,
            credentials_rejected: false,
        }
    }

    /// Sluice's own upstream credentials were rejected.
    pub(crate) fn auth_failed(protocol: Protocol, upstream_status: u16) -> Self {
        UpstreamError {
            status: 502,
            upstream_status,
            error_type: "server_error".into(),
            code: Some("upstream_auth_failed".into()),
            message: format!(
                "The gateway's credentials for {} were rejected (HTTP {upstream_status}). This is a gateway configuration problem, not a problem with your API key; please contact the gateway operator.",
                provider_name(protocol)
            ),
            param: None,
            retryable: false,
            out_of_credit: false,
            credentials_rejected: true,
        }
    }
}

/// The SSE event that ends a stream that failed mid-way:
/// `data: {"error":{"message":…,"type":…,"param":null,"code":…}}\n\n`.
pub fn stream_error_event(err: &UpstreamError) -> Bytes {
    let json = err.to_openai_json();
    let mut event = Vec::with_capacity(json.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(&json);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// Whether an upstream status is worth retrying: 408, 429, 500, 502, 503, 504.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Human name of the upstream for messages.
pub(crate) fn provider_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::OpenAi => "OpenAI",
        Protocol::CloudflareNative | Protocol::CloudflareOpenAi => "Cloudflare Workers AI",
    }
}

/// Any error body an upstream sends: OpenAI's `{"error": {...}}` (or `{"error": "text"}`) and
/// Workers AI's `{"errors": [{code, message}], "success": false}`.
#[derive(Deserialize)]
struct ErrorBodyWire {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    errors: Option<Vec<cf_error::V4ErrorWire>>,
}

/// Translate a non-2xx upstream answer into what the client should see.
///
/// OpenAI-shaped bodies keep their status, type, code, message and param, except 401/403: those
/// mean Sluice's own key is wrong, so the client gets a 502 `upstream_auth_failed` that never
/// blames its key. Workers AI v4 envelopes are mapped by error code (see
/// `cloudflare::error`). Anything else is mapped by status class. `retryable` is true for
/// 408, 429 (unless out of credit), 500, 502, 503, 504 and Workers AI 3007/3008/3040.
pub fn translate_error(protocol: Protocol, upstream_status: u16, upstream_body: &[u8]) -> UpstreamError {
    let parsed = serde_json::from_slice::<ErrorBodyWire>(upstream_body).ok();
    if let Some(wire) = parsed {
        match wire.error {
            Some(Value::Object(error)) => return from_openai(protocol, upstream_status, &error),
            Some(Value::String(message)) if !message.is_empty() => {
                return by_status(protocol, upstream_status, Some(&message))
            }
            _ => {}
        }
        if let Some(errors) = wire.errors {
            if let Some(err) = errors.iter().find_map(|e| cf_error::from_v4(protocol, upstream_status, e)) {
                return err;
            }
            let first = errors.first().map(|e| e.describe());
            return by_status(protocol, upstream_status, first.as_deref());
        }
    }
    by_status(protocol, upstream_status, None)
}

/// An OpenAI-shaped `error` object.
fn from_openai(protocol: Protocol, upstream_status: u16, error: &serde_json::Map<String, Value>) -> UpstreamError {
    let text = |key: &str| match error.get(key) {
        // An empty string says nothing: fall back as if the field were absent.
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let error_type = text("type");
    let code = text("code");
    // Statuses past 599 are not errors a client understands: judge those by the type, too.
    let status =
        if (400..=599).contains(&upstream_status) { upstream_status } else { status_for_type(error_type.as_deref()) };
    if matches!(status, 401 | 403) || error_type.as_deref() == Some("authentication_error") {
        return UpstreamError::auth_failed(protocol, upstream_status);
    }
    let out_of_credit =
        code.as_deref() == Some("insufficient_quota") || error_type.as_deref() == Some("insufficient_quota");
    UpstreamError {
        status,
        upstream_status,
        error_type: error_type.unwrap_or_else(|| default_type(status).to_owned()),
        code,
        message: text("message")
            .unwrap_or_else(|| format!("{} answered HTTP {upstream_status}.", provider_name(protocol))),
        param: text("param"),
        retryable: retryable_status(status) && !out_of_credit,
        out_of_credit,
        credentials_rejected: false,
    }
}

/// Client status for an error reported inside a 2xx answer (e.g. mid-stream), from its type.
fn status_for_type(error_type: Option<&str>) -> u16 {
    match error_type {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("rate_limit_error" | "insufficient_quota") => 429,
        _ => 502,
    }
}

/// OpenAI's usual error type for a status.
fn default_type(status: u16) -> &'static str {
    match status {
        400 | 404 | 409 | 413 | 422 => "invalid_request_error",
        429 => "rate_limit_error",
        _ => "server_error",
    }
}

/// An answer whose body says nothing usable: decide by status class. `detail` is a message the
/// upstream gave in a known field, if any.
pub(crate) fn by_status(protocol: Protocol, upstream_status: u16, detail: Option<&str>) -> UpstreamError {
    let provider = provider_name(protocol);
    let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
    let (status, error_type, code, message) = match upstream_status {
        401 | 403 => return UpstreamError::auth_failed(protocol, upstream_status),
        408 => (504, "server_error", "upstream_timeout", format!("{provider} timed out{detail}. Please retry.")),
        429 => (429, "rate_limit_error", "rate_limit_exceeded", format!("{provider} is rate limiting requests{detail}. Please retry after a short wait.")),
        400 | 422 => (400, "invalid_request_error", "invalid_request", format!("{provider} rejected the request{detail}.")),
        413 => (413, "invalid_request_error", "request_too_large", format!("{provider} rejected the request as too large{detail}. Send less input.")),
        404 => (502, "server_error", "upstream_not_found", format!("{provider} answered 404 for the configured model or endpoint{detail}. This is a gateway configuration problem.")),
        _ => (502, "server_error", "upstream_error", format!("{provider} answered HTTP {upstream_status}{detail}.")),
    };
    UpstreamError {
        status,
        upstream_status,
        error_type: error_type.into(),
        code: Some(code.into()),
        message,
        param: None,
        retryable: retryable_status(upstream_status),
        out_of_credit: false,
        credentials_rejected: false,
    }
}

#[cfg(test)]
mod tests;
