//! One request's path through the mock: route it, check the key, pick its fault, answer (or reset,
//! or hang), record the call. The order is:
//!
//! 1. `/__mock/*` → control endpoints (not recorded).
//! 2. Route: OpenAI `/v1/...`, Workers AI `/client/v4/accounts/{account}/ai/...`, else 404 in the
//!    family's error shape.
//! 3. Auth: with a configured key, a wrong or missing `Authorization: Bearer` is a 401.
//! 4. Body: invalid JSON is a 400.
//! 5. Fault: the body's `mock` field, else the next queued fault (see `fault`).
//! 6. `reset` / `hang` / `status` / the endpoint's answer, shaped by the fault.
//! 7. The call is recorded, then `delay_ms` is waited, then the response goes out.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::calls::CallRecord;
use crate::context::Ctx;
use crate::control;
use crate::fault::{self, Fault};
use crate::openai;
use crate::reply::{render, Body, Reply, Shaping};
use crate::state::State;
use crate::workers_ai::{self, envelope};

/// Where a request goes.
enum Route {
    OpenAi(openai::Endpoint),
    Workers(workers_ai::Endpoint),
    WorkersUnknownAccount,
    NotFound { workers: bool },
}

/// What the mock does with a request.
enum Action {
    Reply(Reply),
    Reset,
    Hang,
}

fn classify(method: &Method, path: &str, account: &str) -> Route {
    if let Some(rest) = path.strip_prefix("/v1") {
        return openai::route(method, rest).map_or(Route::NotFound { workers: false }, Route::OpenAi);
    }
    let Some(after) = path.strip_prefix("/client/v4/accounts/") else {
        return Route::NotFound { workers: false };
    };
    let (acct, rest) = after.split_once('/').map_or((after, ""), |(a, r)| (a, r));
    let rest = format!("/{rest}");
    match workers_ai::route(method, &rest) {
        Some(_) if acct != account => Route::WorkersUnknownAccount,
        Some(endpoint) => Route::Workers(endpoint),
        None => Route::NotFound { workers: true },
    }
}

fn authorized(expected: Option<&str>, header: Option<&str>) -> bool {
    match expected {
        None => true,
        Some(key) => header.and_then(|h| h.strip_prefix("Bearer ")).is_some_and(|got| got.trim() == key),
    }
}

/// Serves one HTTP request. An `Err` makes hyper close the connection without a response (`reset`).
pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, io::Error> {
    let method = req.method().clone();
    let version = format!("{:?}", req.version());
    let path = req.uri().path().to_owned();
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes: Bytes = req.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
    if let Some(rest) = path.strip_prefix("/__mock/") {
        return Ok(control::handle(&state, &method, rest, &bytes));
    }
    let (body, body_invalid) = match serde_json::from_slice::<Value>(&bytes) {
        _ if bytes.is_empty() => (Value::Null, false),
        Ok(v) => (v, false),
        Err(_) => (Value::Null, true),
    };
    let route = classify(&method, &path, &state.opts.cloudflare_account);
    let (fault, action) = decide(&state, &route, &method, &path, authorization.as_deref(), &body, body_invalid);
    let model = match &route {
        Route::Workers(workers_ai::Endpoint::Run(m)) => Some(m.clone()),
        _ => body.get("model").and_then(Value::as_str).map(str::to_owned),
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let delay = fault.as_ref().and_then(|f| f.delay_ms).map(Duration::from_millis);
    let request_id = format!("req_mock{}", state.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    let shaping =
        Shaping { fault: fault.as_ref(), default_chunk_delay_ms: state.opts.default_chunk_delay_ms, request_id };
    let (result, outcome) = match action {
        Action::Reply(reply) => {
            let (response, outcome) = render(reply, &shaping);
            (Some(response), outcome)
        }
        Action::Reset => (None, "reset".to_owned()),
        Action::Hang => (None, "hang".to_owned()),
    };
    let hang = outcome == "hang";
    state.calls.push(CallRecord {
        method: method.to_string(),
        version,
        path,
        authorization,
        body,
        model,
        stream,
        fault,
        outcome,
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match result {
        Some(response) => Ok(response),
        None if hang => std::future::pending().await,
        None => Err(io::Error::new(io::ErrorKind::ConnectionReset, "mock: reset fault")),
    }
}

/// Steps 2 to 6 of the module docs: which fault applies and what to do.
fn decide(
    state: &State,
    route: &Route,
    method: &Method,
    path: &str,
    authorization: Option<&str>,
    body: &Value,
    body_invalid: bool,
) -> (Option<Fault>, Action) {
    let opts = &state.opts;
    let (native, ok) = match route {
        Route::NotFound { workers: false } => {
            return (None, Action::Reply(openai::error::invalid_url(method.as_str(), path)))
        }
        Route::NotFound { workers: true } => {
            return (None, Action::Reply(envelope::error(StatusCode::NOT_FOUND, 7000, "No route for that URI")))
        }
        Route::WorkersUnknownAccount => return (None, Action::Reply(workers_ai::unknown_account(path))),
        Route::OpenAi(_) => (false, authorized(opts.openai_key.as_deref(), authorization)),
        Route::Workers(endpoint) => (endpoint.is_native(), authorized(opts.cloudflare_key.as_deref(), authorization)),
    };
    if !ok {
        let reply = match route {
            Route::OpenAi(_) => openai::error::invalid_api_key(),
            _ => envelope::authentication_error(),
        };
        return (None, Action::Reply(reply));
    }
    let bad_request = |message: &str| {
        if native {
            envelope::invalid_data(message)
        } else {
            openai::error::invalid_request(message, None)
        }
    };
    if body_invalid {
        return (None, Action::Reply(bad_request("We could not parse the JSON body of your request.")));
    }
    let fault = match fault::select(body, &state.faults) {
        Ok(fault) => fault,
        Err(message) => return (None, Action::Reply(bad_request(&message))),
    };
    let action = match &fault {
        Some(f) if f.reset => Action::Reset,
        Some(f) if f.hang => Action::Hang,
        Some(f) if f.status.is_some_and(|s| s >= 400) => {
            let status = f.status.unwrap_or(500);
            let model = body.get("model").and_then(Value::as_str);
            Action::Reply(if native {
                envelope::from_fault(status, f)
            } else {
                openai::error::from_fault(status, f, model)
            })
        }
        _ => {
            let none = Fault::default();
            let ctx = Ctx::new(body, fault.as_ref().unwrap_or(&none), &state.counter);
            let reply = match route {
                Route::OpenAi(endpoint) => openai::handle(endpoint, &ctx),
                Route::Workers(endpoint) => workers_ai::handle(endpoint, &ctx),
                _ => openai::error::invalid_url(method.as_str(), path),
            };
            Action::Reply(reply)
        }
    };
    (fault, action)
}
