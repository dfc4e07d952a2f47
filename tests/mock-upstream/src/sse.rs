//! Server-sent event framing: `data: <json>\n\n`, named events, and the `data: [DONE]` terminator.

use bytes::Bytes;
use serde::Serialize;

/// One `data:` event carrying `value` as compact JSON.
pub(crate) fn data<T: Serialize>(value: &T) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("data: {json}\n\n"))
}

/// One event with an `event:` name line (the Responses API style).
pub(crate) fn named<T: Serialize>(name: &str, value: &T) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// The stream terminator `data: [DONE]`.
pub(crate) fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// The frame the `malformed` fault inserts: broken JSON in a `data:` line.
pub(crate) fn garbage() -> Bytes {
    Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"brok\n\n")
}
