//! OpenAI's error shape, `{"error": {message, type, param, code}}`, with the status-to-type table the
//! real API uses. Also the shape of errors on Workers AI's OpenAI-compatible endpoints.

use hyper::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::fault::Fault;
use crate::reply::Reply;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a Value>,
}

/// An OpenAI error answer.
pub(crate) fn error(status: StatusCode, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    let code = code.map(|c| Value::String(c.to_owned()));
    let body = ErrorBody { error: ErrorDetail { message, kind, param, code: code.as_ref() } };
    Reply::json(status, &body)
}

/// A 400 `invalid_request_error` about `param`.
pub(crate) fn invalid_request(message: &str, param: Option<&str>) -> Reply {
    error(StatusCode::BAD_REQUEST, message, "invalid_request_error", param, None)
}

/// The 401 for a missing or wrong key.
pub(crate) fn invalid_api_key() -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    )
}

/// The 404 for a path the API does not have.
pub(crate) fn invalid_url(method: &str, path: &str) -> Reply {
    let message = format!("Invalid URL ({method} {path})");
    error(StatusCode::NOT_FOUND, &message, "invalid_request_error", None, None)
}

/// The error answer a fault's `status` asks for, with OpenAI's usual message, type and code for that
/// status unless the fault overrides `error_type` / `error_code`.
pub(crate) fn from_fault(status: u16, fault: &Fault, model: Option<&str>) -> Reply {
    let model = model.unwrap_or("unknown");
    let not_found = format!("The model `{model}` does not exist or you do not have access to it.");
    let (message, kind, param, code): (&str, &str, Option<&str>, Option<&str>) = match status {
        400 => ("Mock: invalid request.", "invalid_request_error", None, None),
        401 => ("Incorrect API key provided.", "invalid_request_error", None, Some("invalid_api_key")),
        403 => ("Mock: permission denied.", "permission_error", None, None),
        404 => (&not_found, "invalid_request_error", Some("model"), Some("model_not_found")),
        408 => ("Mock: request timed out.", "timeout_error", None, None),
        413 => ("Mock: request too large.", "invalid_request_error", None, None),
        429 => (
            "Rate limit reached for requests. Please try again shortly.",
            "rate_limit_error",
            None,
            Some("rate_limit_exceeded"),
        ),
        503 => ("The server is overloaded or not ready yet.", "server_error", None, None),
        _ => ("The server had an error while processing your request. Sorry about that!", "server_error", None, None),
    };
    let code_value = match (&fault.error_code, code) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(c)) => Some(Value::String(c.to_owned())),
        (None, None) => None,
    };
    let quota = code_value.as_ref().and_then(Value::as_str) == Some("insufficient_quota");
    let (message, default_kind) = if quota {
        ("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota")
    } else {
        (message, kind)
    };
    let kind = fault.error_type.as_deref().unwrap_or(default_kind);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody { error: ErrorDetail { message, kind, param, code: code_value.as_ref() } };
    Reply::json(status, &body)
}
