//! The state one mock server shares between its connections: options, call log, fault queue and the
//! id counter. Handles and request tasks hold it through an `Arc`.

use std::sync::atomic::AtomicU64;

use crate::calls::CallLog;
use crate::fault::FaultQueue;
use crate::options::MockOptions;

/// Shared state of one running mock.
#[derive(Debug)]
pub(crate) struct State {
    /// The options the server was started with.
    pub opts: MockOptions,
    /// Every API call, in arrival order.
    pub calls: CallLog,
    /// Faults waiting for the next calls.
    pub faults: FaultQueue,
    /// Source of response ids (`chatcmpl-N`, `call_N`, …).
    pub counter: AtomicU64,
    /// Source of `x-request-id` values.
    pub requests: AtomicU64,
}

impl State {
    /// Fresh state for `opts`.
    pub(crate) fn new(opts: MockOptions) -> Self {
        let calls = CallLog::new(opts.max_call_log);
        Self { opts, calls, faults: FaultQueue::default(), counter: AtomicU64::new(0), requests: AtomicU64::new(0) }
    }
}
