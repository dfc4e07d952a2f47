//! A wire-exact fake of the OpenAI API and the Cloudflare Workers AI API, with per-request fault
//! injection and a call log, for Sluice's integration tests (in-process, through [`MockUpstream`]),
//! the offline demo and the benchmarks (the `mock-upstream` binary).
//!
//! # Endpoints
//! - OpenAI, below [`MockUpstream::openai_base_url`]: `POST /v1/chat/completions`,
//!   `/v1/completions`, `/v1/embeddings`, `/v1/responses`; `GET /v1/models`, `/v1/models/{id}`.
//! - Workers AI, below [`MockUpstream::cloudflare_base_url`]: `POST run/{model}` (v4 envelope) and
//!   the OpenAI-compatible `POST v1/chat/completions`, `v1/embeddings`.
//! - Control (never recorded): `GET /__mock/health`, `GET|DELETE /__mock/calls`,
//!   `POST|DELETE /__mock/faults`.
//!
//! Answers are deterministic: text reads `Mock answer about <first words of the last user message>
//! …`, 12 tokens long by default, streamed one token per chunk; `usage` is counted with tiktoken's
//! `o200k_base`; embeddings are unit vectors derived from a hash of the input.
//!
//! # Choosing a fault for a request
//! 1. A top-level `"mock": {…Fault fields…}` object in the JSON request body (how SDK tests inject
//!    faults through a gateway, via `extra_body`). That call uses it and the queue is left alone.
//! 2. Otherwise the oldest fault queued with [`MockUpstream::push_fault`] or `POST /__mock/faults`
//!    is taken, by whichever API call comes next, on any endpoint.
//!
//! Faults are picked only after routing and authentication succeed: a 404 path or a 401 never
//! consumes a queued fault. Every API call is recorded as a [`CallRecord`], whatever its outcome.

mod answer;
mod calls;
mod context;
mod control;
mod fault;
mod openai;
mod options;
mod redis_server;
mod reply;
mod router;
mod server;
mod sse;
mod state;
mod tokens;
mod vectors;
mod workers_ai;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use calls::CallRecord;
pub use fault::Fault;
pub use options::MockOptions;
pub use redis_server::RedisServer;

use state::State;

/// A running mock server. Dropping it, or calling [`MockUpstream::shutdown`], stops the server and
/// closes every open connection.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts a mock on `127.0.0.1:0` with default options (no keys, account `test-account`).
    pub async fn start() -> anyhow::Result<MockUpstream> {
        Self::start_with(MockOptions::default()).await
    }

    /// Starts a mock with `opts`; returns once it is listening and its tokenizer is built.
    pub async fn start_with(opts: MockOptions) -> anyhow::Result<MockUpstream> {
        let bind = opts.addr.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        tokio::task::spawn_blocking(tokens::warm_up).await?;
        let state = Arc::new(State::new(opts));
        let task = tokio::spawn(server::serve(listener, Arc::clone(&state)));
        Ok(MockUpstream { addr, state, task: Some(task) })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// OpenAI base URL, `http://127.0.0.1:PORT/v1`, as an SDK's `base_url`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Workers AI base URL, `http://127.0.0.1:PORT/client/v4/accounts/{account}/ai`.
    pub fn cloudflare_base_url(&self) -> String {
        format!("http://{}/client/v4/accounts/{}/ai", self.addr, self.state.opts.cloudflare_account)
    }

    /// Every API call so far (at most `max_call_log`), in arrival order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.calls.snapshot()
    }

    /// Number of API calls recorded.
    pub fn call_count(&self) -> usize {
        self.state.calls.len()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state.calls.clear();
    }

    /// Queues a fault for the next API call (any endpoint) whose body has no `mock` field.
    pub fn push_fault(&self, fault: Fault) {
        self.state.faults.push(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Number of queued faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.state.faults.len()
    }

    /// Stops the server and waits until its listener and connections are closed.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
