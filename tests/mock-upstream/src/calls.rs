//! The call log: one [`CallRecord`] per API request, in arrival order, bounded in size.
//!
//! Control requests (`/__mock/*`) are never recorded. The log never blocks a request for long: one
//! short `std::sync::Mutex` section per call, never held across an `.await`.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::fault::Fault;

/// What the mock saw and did for one API request; tests assert on these (e.g. the exact number of
/// upstream attempts a retry policy made).
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// HTTP method, e.g. `"POST"`.
    pub method: String,
    /// HTTP version as hyper prints it: `"HTTP/1.1"`, `"HTTP/2.0"`.
    pub version: String,
    /// Request path without the query, e.g. `"/v1/chat/completions"`.
    pub path: String,
    /// The raw `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The request body as JSON (`Null` when empty or not JSON), including any `mock` field.
    pub body: serde_json::Value,
    /// The model asked for: the body's `model`, or the model in a Workers AI `/ai/run/{model}` path.
    pub model: Option<String>,
    /// Whether the body asked for a stream (`"stream": true`).
    pub stream: bool,
    /// The fault applied to this call, from the body's `mock` field or the queue.
    pub fault: Option<Fault>,
    /// What the mock did: `"ok"`, `"status N"`, `"dropped"`, `"reset"`, `"hang"` or `"malformed"`.
    pub outcome: String,
}

/// Bounded, thread-safe list of [`CallRecord`]s.
#[derive(Debug)]
pub(crate) struct CallLog {
    records: Mutex<VecDeque<CallRecord>>,
    max: usize,
}

impl CallLog {
    /// An empty log keeping at most `max` records (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self { records: Mutex::new(VecDeque::new()), max: max.max(1) }
    }

    /// Appends a record, dropping the oldest when full.
    pub(crate) fn push(&self, record: CallRecord) {
        let mut records = self.lock();
        if records.len() >= self.max {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// A copy of every record, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<CallRecord> {
        self.lock().iter().cloned().collect()
    }

    /// Number of records held.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Forgets every record.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<CallRecord>> {
        // A poisoned lock only means a panicking test thread held it; the data is still a valid list.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
