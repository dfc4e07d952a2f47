//! Workers AI v4 error envelopes (`{"success":false,"errors":[{"code","message"}]}`) mapped onto
//! OpenAI errors, one row per documented code.
//!
//! Owns the code table only; the fallback for unknown codes is the status-class mapping in
//! [`crate::error`]. Model ids come from the operator's config, so "no such model" is the
//! gateway's problem (502), not the client's.

use serde::Deserialize;

use crate::error::{provider_name, UpstreamError};
use crate::types::Protocol;

/// One entry of a v4 envelope's `errors` array.
#[derive(Debug, Deserialize)]
pub(crate) struct V4ErrorWire {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

impl V4ErrorWire {
    /// "message (Workers AI error code)" for fallback messages.
    pub(crate) fn describe(&self) -> String {
        match (&self.message, self.code) {
            (Some(m), Some(c)) => format!("{m} (error {c})"),
            (Some(m), None) => m.clone(),
            (None, Some(c)) => format!("error {c}"),
            (None, None) => "unknown error".into(),
        }
    }
}

/// How one documented code is presented to the client.
struct Row {
    status: u16,
    error_type: &'static str,
    code: Option<&'static str>,
    retryable: bool,
    out_of_credit: bool,
    credentials_rejected: bool,
}

const fn row(status: u16, error_type: &'static str, code: Option<&'static str>, retryable: bool) -> Row {
    Row { status, error_type, code, retryable, out_of_credit: false, credentials_rejected: false }
}

/// The documented codes. `None` for a code the table does not know.
fn row_for(code: i64) -> Option<Row> {
    Some(match code {
        // No such model / invalid model id: the route's model id is the operator's config.
        5007 | 3042 => row(502, "server_error", Some("upstream_model_not_found"), false),
        // Invalid data / incomplete request: the client's input.
        5004 | 3003 => row(400, "invalid_request_error", None, false),
        3006 => row(413, "invalid_request_error", Some("request_too_large"), false),
        // Model agreement needed / account blocked: the operator must act.
        5016 | 3023 => row(502, "server_error", Some("upstream_forbidden"), false),
        3007 => row(504, "server_error", Some("upstream_timeout"), true),
        3008 => row(408, "server_error", Some("upstream_aborted"), true),
        // Daily free allocation used up: nothing helps until 00:00 UTC.
        3036 => Row { out_of_credit: true, ..row(429, "insufficient_quota", Some("insufficient_quota"), false) },
        // Out of capacity: retryable with backoff. It stays a 429 for the client (a 429 upstream
        // is a 429 downstream), typed as a rate limit so SDKs back off.
        3040 => row(429, "rate_limit_error", Some("rate_limit_exceeded"), true),
        // Authentication error: Sluice's token is wrong.
        10000 => Row { credentials_rejected: true, ..row(502, "server_error", Some("upstream_auth_failed"), false) },
        _ => return None,
    })
}

/// Maps one v4 error entry; `None` when its code is not in the table.
pub(crate) fn from_v4(protocol: Protocol, upstream_status: u16, wire: &V4ErrorWire) -> Option<UpstreamError> {
    let code = wire.code?;
    let row = row_for(code)?;
    if row.credentials_rejected {
        return Some(UpstreamError::auth_failed(protocol, upstream_status));
    }
    let provider = provider_name(protocol);
    let upstream = wire.message.as_deref().unwrap_or("no message");
    let message = match code {
        5007 | 3042 => format!("{provider} does not serve the model configured for this route ({upstream}; error {code}). This is a gateway configuration problem."),
        5016 | 3023 => format!("{provider} refused the model configured for this route for the gateway's account ({upstream}; error {code}). This is a gateway configuration problem."),
        3036 => format!("{provider}'s daily allocation for the gateway's account is used up ({upstream}; error {code}). It resets at 00:00 UTC."),
        3040 => format!("{provider} is out of capacity ({upstream}; error {code}). Please retry with backoff."),
        3007 | 3008 => format!("{provider} timed out ({upstream}; error {code}). Please retry."),
        _ => format!("{upstream} (Workers AI error {code})"),
    };
    Some(UpstreamError {
        status: row.status,
        upstream_status,
        error_type: row.error_type.into(),
        code: row.code.map(str::to_owned),
        message,
        param: None,
        retryable: row.retryable,
        out_of_credit: row.out_of_credit,
        credentials_rejected: false,
    })
}
