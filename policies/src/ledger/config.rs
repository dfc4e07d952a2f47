//! The ledger's runtime settings and its start-up errors.
//!
//! Owns the defaults and the Redis key layout derived from the stream key (so the dedup keys always
//! share the stream's hash slot). Never reads TOML: the proxy's config layer builds a
//! [`LedgerConfig`] from its validated file.

use std::path::PathBuf;
use std::time::Duration;

/// How the ledger delivers records. The proxy builds it from config; tests build it directly.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Redis to write the stream to (`redis://…`). `None` = single-instance mode: records are
    /// appended to `file_path` (JSON lines), which is then the ledger.
    pub redis_url: Option<String>,
    /// The Redis Stream billing consumes. Default `sluice:{ledger}:records`; the dedup keys take
    /// the same hash tag (see [`LedgerConfig::dedup_key`]) so the script works on Redis Cluster.
    pub stream_key: String,
    /// Approximate bound on the stream's length (`XADD … MAXLEN ~`), in entries. Default 1,000,000.
    pub max_len: u64,
    /// How long a request id is remembered for deduplication. Default 7 days.
    pub dedup_ttl: Duration,
    /// Local append-only spool (JSON lines) used while Redis or the ledger file is unavailable.
    /// One per instance: two processes must not share it. Default `sluice-ledger.spool`.
    pub spool_path: PathBuf,
    /// Single-instance ledger file (JSON lines), used when `redis_url` is `None`.
    /// Default `sluice-ledger.jsonl`.
    pub file_path: PathBuf,
    /// Batching window: records published within it go out in one pipeline / one write.
    /// Default 50 ms (the delivery target is < 5 s).
    pub flush_interval: Duration,
    /// Bound on one Redis call (connect, or one batch pipeline). Default 500 ms.
    pub redis_timeout: Duration,
    /// How often delivery of the spool is retried while Redis is down. Default 500 ms.
    pub retry_interval: Duration,
    /// Capacity of the in-memory queue, in records; when full, `publish` writes straight to the
    /// spool. Default 65,536.
    pub queue_capacity: usize,
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            redis_url: None,
            stream_key: "sluice:{ledger}:records".to_owned(),
            max_len: 1_000_000,
            dedup_ttl: Duration::from_secs(7 * 24 * 3600),
            spool_path: PathBuf::from("sluice-ledger.spool"),
            file_path: PathBuf::from("sluice-ledger.jsonl"),
            flush_interval: Duration::from_millis(50),
            redis_timeout: Duration::from_millis(500),
            retry_interval: Duration::from_millis(500),
            queue_capacity: 65_536,
        }
    }
}

impl LedgerConfig {
    /// The dedup key for a request id: `<prefix>:seen:<request_id>`, where the prefix is the
    /// stream key up to and including its hash tag (`sluice:{ledger}` for the default), or the
    /// whole stream key wrapped in braces when it has no tag — either way the same slot as the
    /// stream (a tagless key must then not contain `}`). Public so operators and tests can
    /// inspect the key.
    pub fn dedup_key(&self, request_id: &str) -> String {
        format!("{}:seen:{request_id}", self.dedup_prefix())
    }

    pub(crate) fn dedup_prefix(&self) -> String {
        let key = &self.stream_key;
        if let Some(open) = key.find('{') {
            if let Some(close) = key[open + 1..].find('}') {
                if close > 0 {
                    return key[..open + 1 + close + 1].to_owned();
                }
            }
        }
        format!("{{{key}}}")
    }
}

/// Why the ledger could not start. Once started it never fails: problems are logged, counted in
/// [`crate::ledger::LedgerStats`], and records wait in the spool.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `redis_url` is not a valid Redis URL (caller's config error: fix `ledger.redis_url`).
    #[error("ledger.redis_url is not a valid Redis URL: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// The spool file (or its directory) cannot be opened or inspected.
    #[error("cannot open the ledger spool {path}: {source}")]
    Spool {
        /// The spool path from the config.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The single-instance ledger file's directory cannot be created.
    #[error("cannot open the ledger file {path}: {source}")]
    File {
        /// The file path from the config.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_shares_the_stream_hash_tag() {
        let c = LedgerConfig::default();
        assert_eq!(c.dedup_key("r1"), "sluice:{ledger}:seen:r1");
        let c = LedgerConfig { stream_key: "billing".into(), ..LedgerConfig::default() };
        assert_eq!(c.dedup_key("r1"), "{billing}:seen:r1");
        let c = LedgerConfig { stream_key: "bill:{t1}:x".into(), ..LedgerConfig::default() };
        assert_eq!(c.dedup_key("r1"), "bill:{t1}:seen:r1");
    }
}
