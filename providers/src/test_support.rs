//! Helpers shared by the unit tests: bodies from `json!`, and prepared contexts.

use serde_json::{Map, Value};

use crate::types::{Endpoint, PreparedRequest, Protocol, ResponseContext};

/// A JSON object from `json!`.
pub(crate) fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Validates and prepares `body` for `protocol` with upstream model `model`.
pub(crate) fn prepared(endpoint: Endpoint, protocol: Protocol, body: Value, model: &str) -> PreparedRequest {
    let body = obj(body);
    let summary = crate::validate(endpoint, &body).unwrap();
    crate::prepare(endpoint, protocol, &body, &summary, model, "chatcmpl-abc".into(), 1_764_000_000).unwrap()
}

/// The context `prepared` would build.
pub(crate) fn ctx(endpoint: Endpoint, protocol: Protocol, body: Value, model: &str) -> ResponseContext {
    prepared(endpoint, protocol, body, model).response
}

/// Parses JSON bytes.
pub(crate) fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}
