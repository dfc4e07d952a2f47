//! The `/__mock/*` control endpoints, for users of the binary: read or clear the call log, queue or
//! clear faults, health. Control calls are never recorded and never consume a fault.
//!
//! - `GET /__mock/health` → `{"status":"ok"}`
//! - `GET /__mock/calls` → JSON array of call records; `DELETE /__mock/calls` clears it (204)
//! - `POST /__mock/faults` with a fault or an array of faults → `{"queued": <queue length>}`;
//!   `DELETE /__mock/faults` empties the queue (204)

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::fault::Fault;
use crate::reply::{empty, json_response, Body};
use crate::state::State;

/// Answers a control request; `rest` is the path after `/__mock/`.
pub(crate) fn handle(state: &State, method: &Method, rest: &str, body: &Bytes) -> Response<Body> {
    match (method, rest) {
        (&Method::GET, "health") => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "calls") => json_response(StatusCode::OK, &state.calls.snapshot()),
        (&Method::DELETE, "calls") => {
            state.calls.clear();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, "faults") => match parse_faults(body) {
            Ok(faults) => {
                faults.into_iter().for_each(|f| state.faults.push(f));
                json_response(StatusCode::OK, &json!({"queued": state.faults.len()}))
            }
            Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
        },
        (&Method::DELETE, "faults") => {
            state.faults.clear();
            empty(StatusCode::NO_CONTENT)
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no control endpoint {method} /__mock/{rest}")}),
        ),
    }
}

/// A fault object or an array of them.
fn parse_faults(body: &Bytes) -> Result<Vec<Fault>, serde_json::Error> {
    if body.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice(body)
    } else {
        serde_json::from_slice(body).map(|f: Fault| vec![f])
    }
}
