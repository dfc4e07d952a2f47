//! Delivery to the Redis Stream, exactly once per request id.
//!
//! Owns the Lua script and the pipeline that carries a batch of records through it: for each
//! record, one atomic script sets the dedup key `<prefix>:seen:<request_id>` (`SET NX EX`) and only
//! if it was new appends the record with `XADD <stream> MAXLEN ~ <max_len> *`. So a replayed or
//! re-published record is written once. Never falls back, spools or retries: it reports what
//! happened and the writer decides.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::{LedgerConfig, LedgerError};
use super::record::Entry;
use super::sink::{Outcome, SinkError};

/// The dedup-then-append script. KEYS[1] = dedup key, KEYS[2] = stream (same hash slot);
/// ARGV = ttl seconds, max_len, request id, record JSON. Returns 1 = appended, 0 = already
/// written. If the `XADD` itself fails the dedup key is removed again, so a retry can write it.
pub const APPEND_ONCE_LUA: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  local res = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'request_id', ARGV[3], 'record', ARGV[4])
  if type(res) == 'table' and res.err then
    redis.call('DEL', KEYS[1])
    return res
  end
  return 1
end
return 0
";

/// The Redis side of the ledger.
pub(crate) struct RedisSink {
    conn: ConnectionManager,
    sha: String,
    script_loaded: bool,
    stream_key: String,
    seen_prefix: String,
    max_len: u64,
    ttl_secs: u64,
    timeout: Duration,
}

impl RedisSink {
    /// Builds the sink without connecting: the ledger must start, and spool, even while Redis is
    /// down. The connection manager reconnects by itself.
    pub(crate) fn new(url: &str, config: &LedgerConfig) -> Result<RedisSink, LedgerError> {
        let client = redis::Client::open(url).map_err(LedgerError::RedisUrl)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.redis_timeout))
            .set_response_timeout(Some(config.redis_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(config.retry_interval.max(Duration::from_millis(100)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config).map_err(LedgerError::RedisUrl)?;
        Ok(RedisSink {
            conn,
            sha: redis::Script::new(APPEND_ONCE_LUA).get_hash().to_owned(),
            script_loaded: false,
            stream_key: config.stream_key.clone(),
            seen_prefix: config.dedup_prefix(),
            max_len: config.max_len,
            ttl_secs: config.dedup_ttl.as_secs().max(1),
            timeout: config.redis_timeout,
        })
    }

    /// Sends the batch as one pipeline (loading the script first if this connection may not have
    /// it) and returns one outcome per record, in order.
    pub(crate) async fn deliver(&mut self, entries: &[Entry]) -> Result<Vec<Outcome>, SinkError> {
        match self.try_deliver(entries).await {
            Err(SinkError::Redis(e)) if e.code() == Some("NOSCRIPT") => {
                // The server lost its script cache (restart, SCRIPT FLUSH): load and resend once;
                // the dedup keys make the resend harmless.
                self.script_loaded = false;
                self.try_deliver(entries).await
            }
            other => other,
        }
    }

    async fn try_deliver(&mut self, entries: &[Entry]) -> Result<Vec<Outcome>, SinkError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        if !self.script_loaded {
            pipe.cmd("SCRIPT").arg("LOAD").arg(APPEND_ONCE_LUA).ignore();
        }
        for e in entries {
            pipe.cmd("EVALSHA")
                .arg(&self.sha)
                .arg(2)
                .arg(format!("{}:seen:{}", self.seen_prefix, e.request_id))
                .arg(&self.stream_key)
                .arg(self.ttl_secs)
                .arg(self.max_len)
                .arg(&e.request_id)
                .arg(&e.json);
        }
        let call = pipe.query_async::<Vec<redis::RedisResult<i64>>>(&mut self.conn);
        let replies = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(replies)) => replies,
            Ok(Err(e)) => {
                self.script_loaded = false;
                return Err(e.into());
            }
            Err(_) => {
                self.script_loaded = false;
                return Err(SinkError::Timeout(self.timeout));
            }
        };
        self.script_loaded = true;
        let mut outcomes = Vec::with_capacity(entries.len());
        for (reply, entry) in replies.into_iter().zip(entries) {
            outcomes.push(match reply {
                Ok(1) => Outcome::Written,
                Ok(_) => Outcome::Duplicate,
                Err(e) if e.code() == Some("NOSCRIPT") => return Err(e.into()),
                Err(e) => {
                    tracing::error!(request_id = %entry.request_id, error = %e, "redis refused a ledger record; keeping it in the spool");
                    Outcome::Failed
                }
            });
        }
        if outcomes.len() != entries.len() {
            // A short reply means we cannot tell what happened to the rest: treat it as a failure
            // of the whole batch (replay is idempotent).
            return Err(SinkError::ShortReply { sent: entries.len(), got: outcomes.len() });
        }
        Ok(outcomes)
    }
}
