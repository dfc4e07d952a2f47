//! [`RedisTier`]: the shared cache tier — one Redis string per entry, always written with a TTL,
//! under `{prefix}:cache:{hex key}`, so several Sluice instances serve each other's fills.
//!
//! Owns the key names, the size cap, the timeouts and the mapping of Redis failures to
//! [`CacheError`]s. Every call touches one key (no cross-slot commands, so a Redis Cluster works)
//! and is bounded by the tier's timeout. It never retries, never decides TTLs and never hides an
//! error: the [`super::Cache`] facade turns errors into misses and counts them.

use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};

use super::{CacheError, CacheKey, CachedValue, MAX_TTL};

/// How the shared tier is reached and bounded.
#[derive(Clone, Debug)]
pub struct RedisTierConfig {
    /// Key names start with `{prefix}:cache:`.
    pub key_prefix: String,
    /// Bound on every call (connect and answer); a slower Redis is a miss, not a slow request.
    pub timeout: Duration,
    /// Values whose [`CachedValue::weight`] is larger are not stored (bytes).
    pub max_value_bytes: usize,
}

impl Default for RedisTierConfig {
    /// Prefix `sluice`, 50 ms timeout, 1 MiB cap.
    fn default() -> RedisTierConfig {
        RedisTierConfig {
            key_prefix: "sluice".to_string(),
            timeout: Duration::from_millis(50),
            max_value_bytes: 1 << 20,
        }
    }
}

/// What [`RedisTier::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written, with its TTL.
    Yes,
    /// Larger than [`RedisTierConfig::max_value_bytes`]: not written.
    TooLarge,
    /// A zero TTL: nothing to write.
    ZeroTtl,
}

/// The shared tier. Cheap to clone (the connection is multiplexed and reconnects by itself).
#[derive(Clone)]
pub struct RedisTier {
    conn: ConnectionManager,
    config: RedisTierConfig,
}

impl RedisTier {
    /// Connects lazily (the first call connects, so Sluice starts during a Redis outage) with its
    /// own multiplexed connection.
    pub fn connect_lazy(url: &str, config: RedisTierConfig) -> Result<RedisTier, CacheError> {
        let client = Client::open(url).map_err(|e| CacheError::Unavailable(format!("bad redis url: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config).map_err(map_err)?;
        Ok(RedisTier { conn, config })
    }

    /// Uses an existing connection (e.g. shared with the quota store).
    pub fn with_connection(conn: ConnectionManager, config: RedisTierConfig) -> RedisTier {
        RedisTier { conn, config }
    }

    /// The Redis key name of `key`.
    pub fn key_name(&self, key: &CacheKey) -> String {
        format!("{}:cache:{}", self.config.key_prefix, key.to_hex())
    }

    /// The live value under `key` and the time it has left to live; `Ok(None)` on a miss. One
    /// round trip (`GET` and `PTTL` pipelined).
    pub async fn get(&self, key: &CacheKey) -> Result<Option<(CachedValue, Duration)>, CacheError> {
        let name = self.key_name(key);
        let mut pipe = redis::pipe();
        pipe.get(&name).pttl(&name);
        let (raw, pttl): (Value, i64) = self.query(&pipe).await?;
        let raw = match raw {
            Value::Nil => return Ok(None),
            Value::BulkString(b) => Bytes::from(b),
            _ => return Err(CacheError::Corrupt("cache entry is not a string")),
        };
        // PTTL: -2 = gone since GET, -1 = no TTL (never written so by Sluice; treat as a miss).
        let Ok(left_ms) = u64::try_from(pttl) else { return Ok(None) };
        if left_ms == 0 {
            return Ok(None);
        }
        Ok(Some((CachedValue::decode(raw)?, Duration::from_millis(left_ms))))
    }

    /// Stores `value` under `key` for `ttl` (rounded up to whole milliseconds, cut to
    /// [`MAX_TTL`]), unless it is over the size cap or the TTL is zero.
    pub async fn put(&self, key: &CacheKey, value: &CachedValue, ttl: Duration) -> Result<Stored, CacheError> {
        if ttl.is_zero() {
            return Ok(Stored::ZeroTtl);
        }
        if value.weight() > self.config.max_value_bytes {
            return Ok(Stored::TooLarge);
        }
        let ttl = ttl.min(MAX_TTL);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(self.key_name(key)).arg(value.encode().as_ref()).arg("PX").arg(ttl_ms).ignore();
        self.query::<()>(&pipe).await?;
        Ok(Stored::Yes)
    }

    async fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, CacheError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.config.timeout, pipe.query_async::<T>(&mut conn)).await {
            Err(_) => Err(CacheError::Timeout),
            Ok(result) => result.map_err(map_err),
        }
    }
}

fn map_err(e: redis::RedisError) -> CacheError {
    if e.is_timeout() {
        CacheError::Timeout
    } else {
        CacheError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Kind, Scope, Tokens};
    use redis::AsyncCommands;
    use serde_json::json;
    use sluice_mock_upstream::RedisServer;

    pub(crate) fn key(i: u64) -> CacheKey {
        let body = json!({ "temperature": 0, "i": i });
        CacheKey::for_request(Scope::Tenant("t"), "r", "m", Kind::ChatStream, body.as_object().unwrap())
    }

    fn tier(server: &RedisServer, max_value_bytes: usize) -> RedisTier {
        let config = RedisTierConfig { key_prefix: "test".into(), timeout: Duration::from_secs(2), max_value_bytes };
        RedisTier::connect_lazy(&server.url(), config).unwrap()
    }

    #[tokio::test]
    async fn round_trip_sets_a_ttl_and_keeps_chunk_boundaries() {
        let server = RedisServer::start().unwrap();
        let tier = tier(&server, 1 << 20);
        let value = CachedValue::Stream {
            events: vec![Bytes::from_static(b"data: {\"a\":1}\n\n"), Bytes::from_static(b"data: [DONE]\n\n")],
            tokens: Tokens { prompt: 3, completion: 9 },
        };
        assert_eq!(tier.get(&key(1)).await.unwrap(), None);
        assert_eq!(tier.put(&key(1), &value, Duration::from_secs(3600)).await.unwrap(), Stored::Yes);
        let (got, left) = tier.get(&key(1)).await.unwrap().unwrap();
        assert_eq!(got, value);
        assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600), "{left:?}");

        let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let name = tier.key_name(&key(1));
        assert!(name.starts_with("test:cache:") && name.len() == "test:cache:".len() + 64, "{name}");
        let ttl: i64 = raw.ttl(&name).await.unwrap();
        assert!(ttl > 0 && ttl <= 3600, "TTL {ttl}");
    }

    #[tokio::test]
    async fn values_over_the_cap_and_zero_ttls_are_not_stored() {
        let server = RedisServer::start().unwrap();
        let tier = tier(&server, 100);
        let big = CachedValue::Json { body: Bytes::from(vec![b'x'; 101]), tokens: Tokens::default() };
        let small = CachedValue::Json { body: Bytes::from(vec![b'x'; 100]), tokens: Tokens::default() };
        let hour = Duration::from_secs(3600);
        assert_eq!(tier.put(&key(1), &big, hour).await.unwrap(), Stored::TooLarge);
        assert_eq!(tier.get(&key(1)).await.unwrap(), None);
        assert_eq!(tier.put(&key(2), &small, Duration::ZERO).await.unwrap(), Stored::ZeroTtl);
        assert_eq!(tier.get(&key(2)).await.unwrap(), None);
        assert_eq!(tier.put(&key(3), &small, hour).await.unwrap(), Stored::Yes);
        assert_eq!(tier.get(&key(3)).await.unwrap().map(|(v, _)| v), Some(small));
    }

    #[tokio::test]
    async fn garbage_and_outages_are_errors_not_panics() {
        let mut server = RedisServer::start().unwrap();
        let tier = tier(&server, 1 << 20);
        let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = raw.set_ex(tier.key_name(&key(1)), "not an encoded value", 60).await.unwrap();
        assert!(matches!(tier.get(&key(1)).await, Err(CacheError::Corrupt(_))));
        server.kill();
        assert!(tier.get(&key(2)).await.is_err());
        assert!(tier
            .put(&key(2), &CachedValue::Json { body: Bytes::new(), tokens: Tokens::default() }, Duration::from_secs(1))
            .await
            .is_err());
    }
}
