//! Faults: what a test asks the mock to do wrong (or differently) on one request, and the queue of
//! faults waiting for the next calls.
//!
//! Selection rule (also in the crate docs): a request whose JSON body has a top-level `"mock"` object
//! uses that fault and leaves the queue untouched; any other API request pops the oldest queued fault,
//! if there is one. Faults are chosen only once a request has reached a known endpoint and passed
//! authentication, so unknown paths and 401s never consume a queued fault.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A per-request fault or answer override. Every field is optional; `Fault::default()` changes nothing.
///
/// Order of effects: `delay_ms`, then `reset`, then `hang`, then `status` (an error answer in the
/// endpoint's own error shape); otherwise the normal answer, shaped by the remaining fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Answer with this HTTP status: ≥ 400 gives the endpoint's error shape (OpenAI error JSON for
    /// `/v1` and `/ai/v1`, the v4 envelope for `/ai/run`); below 400 only replaces the status code.
    pub status: Option<u16>,
    /// OpenAI `code` string (e.g. `"insufficient_quota"`) or Workers AI numeric code (e.g. `3040`).
    pub error_code: Option<serde_json::Value>,
    /// OpenAI error `type`; a default is derived from the status.
    pub error_type: Option<String>,
    /// `Retry-After` header value to send.
    pub retry_after: Option<String>,
    /// `retry-after-ms` header value to send.
    pub retry_after_ms: Option<u64>,
    /// Wait this long (milliseconds) before sending headers.
    pub delay_ms: Option<u64>,
    /// Wait this long (milliseconds) between streamed events; overrides the server default.
    pub chunk_delay_ms: Option<u64>,
    /// Streams only: send this many events, then cut the connection (no terminal chunk, no `[DONE]`).
    pub drop_after_chunks: Option<u32>,
    /// Never answer; the request stays open until the client goes away or the server shuts down.
    pub hang: bool,
    /// Close the connection without any response.
    pub reset: bool,
    /// Leave usage out: no `usage` object, no usage chunk or frame even when asked for.
    pub withhold_usage: bool,
    /// Length of the generated answer in tokens (default 12), still capped by `max_tokens`.
    pub completion_tokens: Option<u32>,
    /// Exact answer text instead of the generated one.
    pub content: Option<String>,
    /// `{"name": "...", "arguments": {...}}`: answer with this tool call instead of text.
    pub tool_call: Option<serde_json::Value>,
    /// Send invalid JSON (non-stream) or insert a garbage SSE frame after the first event (stream).
    pub malformed: bool,
    /// Override the response `Content-Type`.
    pub content_type: Option<String>,
    /// Extra response headers (e.g. `x-should-retry`, `x-ratelimit-remaining-tokens`).
    pub headers: BTreeMap<String, String>,
}

/// FIFO of faults waiting for the next API calls.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    queue: Mutex<VecDeque<Fault>>,
}

impl FaultQueue {
    /// Queues a fault for a later call.
    pub(crate) fn push(&self, fault: Fault) {
        self.lock().push_back(fault);
    }

    /// Takes the oldest queued fault.
    pub(crate) fn pop(&self) -> Option<Fault> {
        self.lock().pop_front()
    }

    /// Drops every queued fault.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Number of faults still waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Fault>> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Applies the selection rule: the body's `mock` field wins (queue untouched), else pop the queue.
/// `Err` carries a message when the body's `mock` field is not a valid fault.
pub(crate) fn select(body: &serde_json::Value, queue: &FaultQueue) -> Result<Option<Fault>, String> {
    match body.get("mock") {
        Some(raw) => Fault::deserialize(raw).map(Some).map_err(|e| format!("invalid `mock` fault: {e}")),
        None => Ok(queue.pop()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_fault_wins_and_leaves_queue() {
        let queue = FaultQueue::default();
        queue.push(Fault { status: Some(500), ..Fault::default() });
        let body = json!({"mock": {"status": 429}});
        let f = select(&body, &queue).unwrap().unwrap();
        assert_eq!(f.status, Some(429));
        assert_eq!(queue.len(), 1);
        let f = select(&json!({}), &queue).unwrap().unwrap();
        assert_eq!(f.status, Some(500));
        assert_eq!(select(&json!({}), &queue), Ok(None));
    }

    #[test]
    fn unknown_fault_field_is_invalid() {
        let queue = FaultQueue::default();
        assert!(select(&json!({"mock": {"stauts": 1}}), &queue).is_err());
    }
}
