//! The usage ledger: one [`UsageRecord`] per request, delivered to billing exactly once.
//!
//! Owns getting records off the request path and into the ledger — a Redis Stream that billing
//! reads with a consumer group, or a JSON-lines file in single-instance mode — within seconds,
//! without loss on a Redis outage, reload or graceful shutdown, and without duplicates in the
//! stream. Never computes usage or cost (the proxy fills the record) and never blocks the request
//! path: [`Ledger::publish`] only enqueues. The record schema, key layout and delivery guarantees
//! are documented in `docs/ledger.md`.
//!
//! - `record` — the record and its JSON line.
//! - `config` — settings, defaults, key layout, start-up errors.
//! - `writer` — the background task: batching, fallback to the spool, replay.
//! - `sink`, `redis_sink`, `file_sink` — delivery to the stream (dedup Lua script) or the file.
//! - `spool` — the local append-only spool and its crash-safe replay.
//! - `stats` — counters for metrics.

mod config;
mod file_sink;
mod record;
mod redis_sink;
mod sink;
mod spool;
mod stats;
mod writer;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use config::{LedgerConfig, LedgerError};
pub use record::UsageRecord;
pub use redis_sink::APPEND_ONCE_LUA;
pub use stats::LedgerStats;

use file_sink::FileSink;
use record::Entry;
use redis_sink::RedisSink;
use sink::Sink;
use spool::Spool;
use stats::Counters;
use writer::{Msg, Writer};

/// Handle used on the request path to publish usage records (cheap to clone). Create one per
/// process with [`Ledger::start`]; call [`Ledger::close`] on graceful shutdown.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    /// Records that bypassed the full queue (for rate-limited warnings).
    overflowed: AtomicU64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("stats", &self.stats()).finish()
    }
}

impl Ledger {
    /// Starts the background writer task on the current tokio runtime. Does not wait for Redis:
    /// if it is down, records go to the spool until it is back. Records left in the spool by an
    /// earlier run are replayed. Fails only on a bad `redis_url` or an unusable spool/file path.
    pub async fn start(config: LedgerConfig) -> Result<Ledger, LedgerError> {
        let counters = Arc::new(Counters::default());
        let spool_path = config.spool_path.clone();
        let spool = Spool::open(spool_path.clone(), counters.clone())
            .map_err(|source| LedgerError::Spool { path: spool_path, source })?;
        let spool = Arc::new(spool);
        let sink = match &config.redis_url {
            Some(url) => Sink::Redis(Box::new(RedisSink::new(url, &config)?)),
            None => {
                let path = config.file_path.clone();
                let file = FileSink::new(path.clone()).map_err(|source| LedgerError::File { path, source })?;
                Sink::File(Arc::new(file))
            }
        };
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let writer = Writer::new(rx, sink, spool.clone(), counters.clone(), &config);
        tokio::spawn(writer.run());
        Ok(Ledger { inner: Arc::new(Inner { tx, spool, counters, overflowed: AtomicU64::new(0) }) })
    }

    /// Hands a record to the writer. Never awaits and normally never blocks: it enqueues. If the
    /// queue is full (or the ledger is closed) the record is appended straight to the spool — a
    /// blocking write, rare by design — so a record is never dropped.
    pub fn publish(&self, record: UsageRecord) {
        let counters = &self.inner.counters;
        Counters::add(&counters.published, 1);
        Counters::add(&counters.queued, 1);
        let record = match self.inner.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(Msg::Record(r)))
            | Err(mpsc::error::TrySendError::Closed(Msg::Record(r))) => r,
            Err(_) => return, // we only ever send records here
        };
        Counters::sub(&counters.queued, 1);
        let n = self.inner.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            // Logged at the 1st, 2nd, 4th, 8th… overflow: loud at first, never a log flood.
            tracing::warn!(overflowed = n, "ledger queue full or closed: writing records straight to the spool");
        }
        let appended =
            Entry::encode(&record).map_err(std::io::Error::other).and_then(|entry| self.inner.spool.append(&[entry]));
        if let Err(e) = appended {
            tracing::error!(record = ?record, error = %e, "ledger record could be neither queued nor spooled");
        }
    }

    /// Resolves when every record published before this call has been delivered to Redis, the
    /// file ledger, or the spool. Returns at once after [`Ledger::close`].
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Flushes, then waits until the spool is empty too (everything reached the ledger itself),
    /// checking every 10 ms. Returns whether that happened within `timeout`. For tests and for
    /// a shutdown that prefers to wait for Redis rather than leave records in the spool.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if tokio::time::timeout_at(deadline, self.flush()).await.is_err() {
            return false;
        }
        loop {
            let s = self.stats();
            if s.queued == 0 && s.spool_bytes == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Graceful shutdown: flushes, then stops the writer, within `timeout`. Whatever could not
    /// reach the ledger in time is in the spool (replayed by the next start). Records published
    /// afterwards go straight to the spool.
    pub async fn close(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (done_tx, done) = oneshot::channel();
        let msg = Msg::Close { deadline, done: done_tx };
        let sent = tokio::time::timeout_at(deadline, self.inner.tx.send(msg)).await;
        let finished = match sent {
            Ok(Ok(())) => tokio::time::timeout_at(deadline, done).await.is_ok(),
            Ok(Err(_closed)) => true, // already closed
            Err(_elapsed) => false,
        };
        if !finished {
            tracing::error!(?timeout, stats = ?self.stats(), "ledger close timed out; the writer keeps spooling in the background");
        }
    }

    /// Current counters, for metrics (`sluice_ledger_*`) and health checks.
    pub fn stats(&self) -> LedgerStats {
        self.inner.counters.snapshot()
    }
}
