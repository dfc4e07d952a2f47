//! What an endpoint handler gets for one request: the parsed body, the fault to honour, and the
//! id counter. Owns the reading of request fields shared by several endpoints.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::fault::Fault;

/// Per-request input of an endpoint handler.
pub(crate) struct Ctx<'a> {
    /// The JSON request body (`Null` when there was none).
    pub body: &'a Value,
    /// The fault in force (`Fault::default()` when none).
    pub fault: &'a Fault,
    /// Server-wide counter for response ids.
    pub counter: &'a AtomicU64,
    /// Unix time of the request, in seconds.
    pub created: u64,
}

impl<'a> Ctx<'a> {
    /// A context for `body` and `fault`, stamped with the current time.
    pub(crate) fn new(body: &'a Value, fault: &'a Fault, counter: &'a AtomicU64) -> Self {
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { body, fault, counter, created }
    }

    /// A fresh id such as `chatcmpl-7`.
    pub(crate) fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.counter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// A string field of the body.
    pub(crate) fn str_field(&self, key: &str) -> Option<&'a str> {
        self.body.get(key).and_then(Value::as_str)
    }

    /// `"stream": true`.
    pub(crate) fn stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `stream_options.include_usage: true` (OpenAI streams).
    pub(crate) fn include_usage(&self) -> bool {
        self.body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The answer cap: `max_completion_tokens`, else `max_tokens`, else `max_output_tokens`.
    pub(crate) fn max_tokens(&self) -> Option<u32> {
        ["max_completion_tokens", "max_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| self.body.get(*k).and_then(Value::as_u64))
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Number of choices asked for (`n`, 1 to 128).
    pub(crate) fn n(&self) -> u32 {
        let n = self.body.get("n").and_then(Value::as_u64).unwrap_or(1).clamp(1, 128);
        u32::try_from(n).unwrap_or(1)
    }
}
