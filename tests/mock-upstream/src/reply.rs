//! What an endpoint answers ([`Reply`]) and how it goes on the wire: status, headers, a JSON body or
//! an SSE stream, shaped by the fault (`chunk_delay_ms`, `drop_after_chunks`, `malformed`,
//! `content_type`, retry headers). Owns the outcome string of the call log.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::fault::Fault;
use crate::sse;

/// The response body type of every mock answer.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// An endpoint's answer before faults shape it.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON document with a status.
    Json {
        /// HTTP status.
        status: StatusCode,
        /// Serialised JSON.
        body: Bytes,
    },
    /// An SSE stream (status 200); events are complete frames, the last usually `data: [DONE]`.
    Sse {
        /// Frames in order.
        events: Vec<Bytes>,
    },
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        let body = serde_json::to_vec(value).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from);
        Reply::Json { status, body }
    }

    /// A 200 JSON answer.
    pub(crate) fn ok<T: Serialize>(value: &T) -> Self {
        Self::json(StatusCode::OK, value)
    }
}

/// How the fault shapes a reply on the wire.
pub(crate) struct Shaping<'a> {
    /// The fault in force, if any.
    pub fault: Option<&'a Fault>,
    /// Server default pause between stream events.
    pub default_chunk_delay_ms: u64,
    /// Value of the `x-request-id` header.
    pub request_id: String,
}

/// Renders a reply into a response, and names the outcome for the call log.
pub(crate) fn render(reply: Reply, shaping: &Shaping<'_>) -> (Response<Body>, String) {
    let fault = shaping.fault;
    let malformed = fault.is_some_and(|f| f.malformed);
    let (status, content_type, body, mut outcome) = match reply {
        Reply::Json { status, body } => {
            let body = if malformed { body.slice(..body.len() / 2) } else { body };
            let outcome = if status.as_u16() >= 400 {
                format!("status {}", status.as_u16())
            } else if malformed {
                "malformed".to_owned()
            } else {
                "ok".to_owned()
            };
            (status, "application/json", Full::new(body).map_err(|e| match e {}).boxed_unsync(), outcome)
        }
        Reply::Sse { mut events } => {
            if malformed {
                events.insert(events.len().min(1), sse::garbage());
            }
            let drop_after = fault.and_then(|f| f.drop_after_chunks);
            if let Some(n) = drop_after {
                let before_done = events.iter().filter(|e| e.as_ref() != sse::done().as_ref()).count();
                events.truncate(usize::try_from(n).unwrap_or(usize::MAX).min(before_done));
            }
            let delay_ms = fault.and_then(|f| f.chunk_delay_ms).unwrap_or(shaping.default_chunk_delay_ms);
            let outcome = match (drop_after, malformed) {
                (Some(_), _) => "dropped",
                (None, true) => "malformed",
                (None, false) => "ok",
            };
            let body = stream_body(events, Duration::from_millis(delay_ms), drop_after.is_some());
            (StatusCode::OK, "text/event-stream", body, outcome.to_owned())
        }
    };
    let status = match fault.and_then(|f| f.status) {
        Some(s) if s < 400 => {
            outcome = format!("status {s}");
            StatusCode::from_u16(s).unwrap_or(status)
        }
        _ => status,
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = fault.and_then(|f| f.content_type.as_deref()).unwrap_or(content_type);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    if content_type == "text/event-stream" {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    let mut extra: Vec<(String, String)> = vec![("x-request-id".to_owned(), shaping.request_id.clone())];
    if let Some(f) = fault {
        if let Some(v) = &f.retry_after {
            extra.push(("retry-after".to_owned(), v.clone()));
        }
        if let Some(v) = f.retry_after_ms {
            extra.push(("retry-after-ms".to_owned(), v.to_string()));
        }
        extra.extend(f.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.insert(n, v);
        }
    }
    (response, outcome)
}

/// A plain JSON response with no fault shaping (control endpoints).
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec(value).map_or_else(|_| Bytes::from_static(b"null"), Bytes::from);
    let mut response = Response::new(Full::new(body).map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An empty-bodied response (control endpoints).
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// A streamed body: the events with `delay` between them, then an I/O error when `fail_at_end`,
/// which makes hyper cut the connection without the chunked terminator.
fn stream_body(events: Vec<Bytes>, delay: Duration, fail_at_end: bool) -> Body {
    struct State {
        events: VecDeque<Bytes>,
        sent: usize,
        delay: Duration,
        fail_at_end: bool,
    }
    let state = State { events: events.into(), sent: 0, delay, fail_at_end };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        match s.events.pop_front() {
            Some(event) => {
                if s.sent > 0 && !s.delay.is_zero() {
                    tokio::time::sleep(s.delay).await;
                }
                s.sent += 1;
                Some((Ok(Frame::data(event)), s))
            }
            None if s.fail_at_end => {
                s.fail_at_end = false;
                // Pause first so hyper flushes the events already written; an error straight after
                // them would drop its unflushed buffer and the client would see nothing at all.
                tokio::time::sleep(s.delay.max(Duration::from_millis(2))).await;
                Some((Err(io::Error::new(io::ErrorKind::ConnectionAborted, "mock: stream dropped")), s))
            }
            None => None,
        }
    });
    StreamBody::new(stream).boxed_unsync()
}
