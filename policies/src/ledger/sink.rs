//! Where a batch of records goes: the Redis Stream, or the single-instance ledger file.
//!
//! Owns the one interface the writer delivers through and the outcome vocabulary. Never spools,
//! retries or decides anything: the writer does.

use std::sync::Arc;
use std::time::Duration;

use super::file_sink::FileSink;
use super::record::Entry;
use super::redis_sink::RedisSink;

/// What the script did with one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Appended to the stream.
    Written,
    /// Its request id was already in the stream: skipped.
    Duplicate,
    /// Redis refused it (e.g. OOM): not written, must be kept and retried.
    Failed,
}

/// Why a whole batch failed: nothing is known about which records were written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// Redis did not answer within the per-call timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused or lost, protocol error, …
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The pipeline answered fewer replies than records sent.
    #[error("redis answered {got} replies for {sent} records")]
    ShortReply {
        /// Records sent.
        sent: usize,
        /// Replies received.
        got: usize,
    },
    /// The single-instance ledger file could not be written.
    #[error("ledger file: {0}")]
    File(#[from] std::io::Error),
}

/// The ledger's destination.
pub(crate) enum Sink {
    /// Several instances share a Redis Stream.
    Redis(Box<RedisSink>),
    /// One instance, one file.
    File(Arc<FileSink>),
}

impl Sink {
    /// Delivers a batch; one outcome per record, or an error meaning "unknown, keep them all".
    pub(crate) async fn deliver(&mut self, entries: &[Entry]) -> Result<Vec<Outcome>, SinkError> {
        match self {
            Sink::Redis(redis) => redis.deliver(entries).await,
            Sink::File(file) => {
                let file = file.clone();
                // A copy goes to the blocking pool so the caller keeps the batch whatever happens.
                let batch = entries.to_vec();
                match tokio::task::spawn_blocking(move || file.append(&batch)).await {
                    Ok(Ok(())) => Ok(vec![Outcome::Written; entries.len()]),
                    Ok(Err(e)) => Err(SinkError::File(e)),
                    Err(join) => Err(SinkError::File(std::io::Error::other(join))),
                }
            }
        }
    }

    /// Whether this is the Redis stream (for the `redis_up` stat).
    pub(crate) fn is_redis(&self) -> bool {
        matches!(self, Sink::Redis(_))
    }
}
