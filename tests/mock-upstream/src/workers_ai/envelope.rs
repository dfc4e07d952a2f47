//! The Cloudflare v4 envelope: `{"result", "success", "errors", "messages"}`, for answers and errors of
//! the native `/ai/run` endpoint, with the status-to-code table the real service uses.

use hyper::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::fault::Fault;
use crate::reply::Reply;

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    result: Option<T>,
    success: bool,
    errors: Vec<ErrorItem>,
    messages: Vec<()>,
}

#[derive(Serialize)]
struct ErrorItem {
    code: i64,
    message: String,
}

/// A 200 envelope around `result`.
pub(crate) fn ok<T: Serialize>(result: T) -> Reply {
    Reply::ok(&Envelope { result: Some(result), success: true, errors: Vec::new(), messages: Vec::new() })
}

/// An error envelope.
pub(crate) fn error(status: StatusCode, code: i64, message: &str) -> Reply {
    let errors = vec![ErrorItem { code, message: message.to_owned() }];
    Reply::json(status, &Envelope::<()> { result: None, success: false, errors, messages: Vec::new() })
}

/// The usual message for a Workers AI error code.
fn message_for(code: i64) -> &'static str {
    match code {
        3003 => "Bad input: incomplete request",
        3006 => "Request is too large",
        3007 => "Request timeout",
        3008 => "Request aborted",
        3023 => "Account blocked",
        3036 => "You have used up your daily free allocation of 10,000 neurons, please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage.",
        3040 => "Capacity temporarily exceeded, please try again.",
        3042 => "Invalid model ID",
        5004 => "Invalid data",
        5007 => "No such model",
        5016 => "Prior to using this model, you must submit the prompt 'agree'",
        10000 => "Authentication error",
        _ => "Internal server error",
    }
}

/// The default error code for a status.
fn code_for(status: u16) -> i64 {
    match status {
        400 => 5004,
        401 => 10000,
        403 => 5016,
        404 => 5007,
        408 => 3007,
        413 => 3006,
        429 => 3040,
        _ => 3043,
    }
}

/// The error envelope a fault's `status` asks for; `error_code` (a number) overrides the code.
pub(crate) fn from_fault(status: u16, fault: &Fault) -> Reply {
    let code = fault.error_code.as_ref().and_then(Value::as_i64).unwrap_or_else(|| code_for(status));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, code, message_for(code))
}

/// The 401 for a missing or wrong token.
pub(crate) fn authentication_error() -> Reply {
    error(StatusCode::UNAUTHORIZED, 10000, message_for(10000))
}

/// The 400 for a model id the catalogue does not have.
pub(crate) fn no_such_model() -> Reply {
    error(StatusCode::BAD_REQUEST, 5007, message_for(5007))
}

/// A 400 "invalid data" with a message naming the problem.
pub(crate) fn invalid_data(detail: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, 5004, &format!("{}: {detail}", message_for(5004)))
}
