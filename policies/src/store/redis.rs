//! [`RedisStore`]: quota counters, reservations and per-minute buckets in Redis, shared by every
//! Sluice instance pointed at it.
//!
//! Owns the wire side of the store: which Lua script runs with which keys (`lua/*.lua`, each
//! prefixed with `lua/common.lua`), pipelining admit into one round trip, script (re)loading, and
//! turning Redis failures into [`StoreError`]s within the configured timeout. Decisions live in the
//! scripts (on the Redis server's clock); the key layout lives in `keys.rs`. It never retries a
//! failed call and never falls back to local state: that is the proxy's outage policy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Pipeline, Script, ServerErrorKind, Value};

use super::keys::{member, parse_member, Keys};
use super::reply::{ints_and_strings, map_err, Reply};
use super::{
    Admission, AdmitRequest, Refusal, Reservation, Settlement, Store, StoreError, UsageSnapshot,
    DEFAULT_RESERVATION_TTL,
};

/// Usage indexes live this long after their last write (a month plus the admin's look back).
const INDEX_TTL_SECS: u64 = 40 * 86_400;

macro_rules! lua {
    ($file:literal) => {
        Script::new(concat!(include_str!("lua/common.lua"), include_str!(concat!("lua/", $file))))
    };
}

struct Scripts {
    admit_user: Script,
    admit_tenant: Script,
    settle: Script,
    unadmit_user: Script,
    usage: Script,
    month: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            admit_user: lua!("admit_user.lua"),
            admit_tenant: lua!("admit_tenant.lua"),
            settle: lua!("settle.lua"),
            unadmit_user: lua!("unadmit_user.lua"),
            usage: lua!("usage.lua"),
            month: lua!("month.lua"),
        }
    }

    fn all(&self) -> [&Script; 6] {
        [&self.admit_user, &self.admit_tenant, &self.settle, &self.unadmit_user, &self.usage, &self.month]
    }
}

/// Quota and rate-limit state in Redis, shared by several Sluice instances.
///
/// Cheap to share behind an `Arc`; the connection is multiplexed and reconnects by itself.
pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    timeout: Duration,
    reservation_ttl: Duration,
    round_trips: AtomicU64,
    scripts: Scripts,
}

impl RedisStore {
    /// Connects with a `ConnectionManager` (reconnects by itself) and loads the scripts.
    /// `timeout` bounds every call (connect and response); keys start with `key_prefix`.
    pub async fn connect(url: &str, key_prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let store = RedisStore::connect_lazy(url, key_prefix, timeout)?;
        store.load_scripts().await?;
        Ok(store)
    }

    /// Like [`RedisStore::connect`] but without waiting for Redis: the first call connects (and
    /// fails fast while Redis is down). Lets the gateway start during a Redis outage.
    pub fn connect_lazy(url: &str, key_prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let client = Client::open(url).map_err(|e| StoreError::Unavailable(format!("bad redis url: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(map_err)?;
        Ok(RedisStore {
            conn,
            keys: Keys::new(key_prefix),
            timeout,
            reservation_ttl: DEFAULT_RESERVATION_TTL,
            round_trips: AtomicU64::new(0),
            scripts: Scripts::new(),
        })
    }

    /// Holds unsettled reservations for `ttl` before a later admit sweeps them back.
    pub fn with_reservation_ttl(mut self, ttl: Duration) -> RedisStore {
        self.reservation_ttl = ttl;
        self
    }

    /// Number of network round trips made so far (for tests and the bench proving admit() costs one).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.reservation_ttl.as_millis()).unwrap_or(u64::MAX)
    }

    async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut pipe = ::redis::pipe();
        for script in self.scripts.all() {
            pipe.load_script(script);
        }
        self.query(&pipe).await.map(drop)
    }

    /// One round trip; server errors come back per command (as `Value::ServerError`).
    async fn query(&self, pipe: &Pipeline) -> Result<Vec<Value>, StoreError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, pipe.query_async::<Vec<Value>>(&mut conn)).await {
            Err(_) => Err(StoreError::Timeout),
            Ok(result) => result.map_err(map_err),
        }
    }

    /// Runs a pipeline of script calls; after a Redis restart emptied the script cache (every
    /// command answered NOSCRIPT, so none ran), loads the scripts and runs it once more.
    async fn run(&self, pipe: &mut Pipeline) -> Result<Vec<Value>, StoreError> {
        pipe.ignore_errors();
        let values = self.query(pipe).await?;
        let no_script = |v: &Value| matches!(v, Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript));
        if !values.is_empty() && values.iter().all(no_script) {
            tracing::info!("redis script cache is empty (restarted?): reloading the store's scripts");
            self.load_scripts().await?;
            return self.query(pipe).await;
        }
        Ok(values)
    }
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn admit(&self, req: &AdmitRequest<'_>) -> Result<Admission, StoreError> {
        let s = req.subject;
        let (uk, tk) = (self.keys.user(s.tenant, s.user), self.keys.tenant(s.tenant));
        let limits = req.limits;
        let ttl = self.ttl_ms();
        let mut user = self.scripts.admit_user.prepare_invoke();
        user.key(&uk.counters).key(&uk.reservations).key(&uk.expiries).key(&uk.requests).key(&uk.tokens);
        user.arg(req.request_id).arg(s.tier).arg(req.prompt_estimate).arg(opt(req.max_output)).arg(req.default_output);
        user.arg(opt(limits.monthly_tokens))
            .arg(opt(limits.requests_per_minute))
            .arg(opt(limits.tokens_per_minute))
            .arg(ttl);
        let mut pipe = ::redis::pipe();
        pipe.invoke_script(&user);
        // The tenant part only when the tenant has a cap to reserve against (its usage without a
        // cap is counted at settle): a tenant without a cap never costs a rollback.
        let mut tenant = self.scripts.admit_tenant.prepare_invoke();
        if let Some(cap) = req.tenant_monthly_tokens {
            tenant.key(&tk.counters).key(&tk.reservations).key(&tk.expiries);
            tenant.arg(req.request_id).arg(cap).arg(req.prompt_estimate).arg(opt(req.max_output));
            tenant.arg(req.default_output).arg(ttl);
            pipe.invoke_script(&tenant);
        }
        let mut values = self.run(&mut pipe).await?.into_iter();
        let user_reply = ints_and_strings(values.next().unwrap_or(Value::Nil))?;
        let tenant_reply = match values.next() {
            Some(v) => ints_and_strings(v)?,
            None => Reply::uncapped_tenant(),
        };
        let capped = req.tenant_monthly_tokens.is_some();
        let user_granted = user_reply.code()? == 1;
        let tenant_granted = tenant_reply.code()? == 1;

        if user_granted && !tenant_granted {
            let mut undo = self.scripts.unadmit_user.prepare_invoke();
            undo.key(&uk.counters).key(&uk.reservations).key(&uk.expiries).key(&uk.requests).key(&uk.tokens);
            undo.arg(req.request_id).arg(opt(limits.requests_per_minute)).arg(opt(limits.tokens_per_minute));
            let mut pipe = ::redis::pipe();
            pipe.invoke_script(&undo);
            if let Err(e) = self.run(&mut pipe).await {
                tracing::warn!(error = %e, "could not roll back a user reservation after a tenant refusal; it expires after its TTL");
            }
        } else if capped && tenant_granted && !user_granted {
            let mut undo = self.scripts.settle.prepare_invoke();
            undo.key(&tk.counters)
                .key(&tk.reservations)
                .key(&tk.expiries)
                .arg(req.request_id)
                .arg(0)
                .arg(tenant_reply.string(2)?)
                .arg("0");
            let mut pipe = ::redis::pipe();
            pipe.invoke_script(&undo);
            if let Err(e) = self.run(&mut pipe).await {
                tracing::warn!(error = %e, "could not roll back a tenant reservation after a user refusal; it expires after its TTL");
            }
        }

        if user_reply.code()? == 5 || tenant_reply.code()? == 5 {
            return Err(StoreError::Protocol(format!("reservation id {:?} is already held", req.request_id)));
        }
        let refusal = user_reply.user_refusal()?;
        if let Some(refusal) = refusal {
            return Ok(Admission::Refused(refusal));
        }
        if !tenant_granted {
            return Ok(Admission::Refused(Refusal::TenantQuotaExhausted {
                limit: tenant_reply.u64(1)?,
                used: tenant_reply.u64(2)?,
                resets_at: tenant_reply.u64(3)?,
            }));
        }
        let remaining = user_reply.int(3)?;
        let reservation = Reservation {
            id: req.request_id.to_owned(),
            tenant: s.tenant.to_owned(),
            user: s.user.to_owned(),
            tier: s.tier.to_owned(),
            month: user_reply.string(2)?,
            tokens: user_reply.u64(1)?,
            tenant_tokens: tenant_reply.u64(1)?,
        };
        let rate = user_reply.rate_state(4)?;
        Ok(Admission::Granted { reservation, rate, quota_remaining: u64::try_from(remaining).ok() })
    }

    async fn settle(&self, reservation: &Reservation, actual_tokens: u64) -> Result<Settlement, StoreError> {
        let r = reservation;
        let (uk, tk) = (self.keys.user(&r.tenant, &r.user), self.keys.tenant(&r.tenant));
        let mut user = self.scripts.settle.prepare_invoke();
        user.key(&uk.counters).key(&uk.reservations).key(&uk.expiries).arg(&r.id).arg(actual_tokens).arg(&r.month);
        let mut tenant = self.scripts.settle.prepare_invoke();
        tenant.key(&tk.counters).key(&tk.reservations).key(&tk.expiries).arg(&r.id).arg(actual_tokens).arg(&r.month);
        let mut pipe = ::redis::pipe();
        pipe.invoke_script(user.arg("0")).invoke_script(tenant.arg("0"));
        let mut values = self.run(&mut pipe).await?.into_iter();
        let reply = ints_and_strings(values.next().unwrap_or(Value::Nil))?;
        let tenant_applied = ints_and_strings(values.next().unwrap_or(Value::Nil))?.int(0)? == 1;
        let settlement = Settlement { applied: reply.int(0)? == 1, used: reply.u64(1)? };
        if !settlement.applied || actual_tokens == 0 {
            return Ok(settlement);
        }
        // Second trip, only once the user's settle applied: a tenant without a cap (no reservation
        // record) counts the usage now, and the usage indexes take absolute values (ZADD GT), so a
        // lost index update heals on the user's next settle.
        let mut pipe = ::redis::pipe();
        if !tenant_applied {
            let mut count = self.scripts.settle.prepare_invoke();
            count
                .key(&tk.counters)
                .key(&tk.reservations)
                .key(&tk.expiries)
                .arg(&r.id)
                .arg(actual_tokens)
                .arg(&r.month)
                .arg("1");
            pipe.invoke_script(&count);
        }
        let who = member(&r.tenant, &r.user);
        let tier = Some(r.tier.as_str());
        let tenant = Some(r.tenant.as_str());
        for (tier, tenant) in [(None, None), (tier, None), (None, tenant), (tier, tenant)] {
            let key = self.keys.index(&r.month, tier, tenant);
            pipe.cmd("ZADD").arg(&key).arg("GT").arg(settlement.used).arg(&who).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(INDEX_TTL_SECS).ignore();
        }
        if let Err(e) = self.run(&mut pipe).await {
            tracing::warn!(error = %e, "usage index or uncapped tenant usage not updated after a settle");
        }
        Ok(settlement)
    }

    async fn usage(&self, tenant: &str, user: &str) -> Result<UsageSnapshot, StoreError> {
        let k = self.keys.user(tenant, user);
        let reply = self.usage_of(&k.counters, &k.reservations, &k.expiries).await?;
        Ok(UsageSnapshot {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            tier: reply.string(4)?,
            month: reply.string(0)?,
            used: reply.u64(1)?,
            reserved: reply.u64(2)?,
            resets_at: reply.u64(3)?,
        })
    }

    async fn top_users(
        &self,
        tier: Option<&str>,
        tenant: Option<&str>,
        n: usize,
    ) -> Result<Vec<UsageSnapshot>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let (month, resets_at) = self.month().await?;
        let mut pipe = ::redis::pipe();
        pipe.cmd("ZREVRANGE").arg(self.keys.index(&month, tier, tenant)).arg(0).arg(n - 1);
        let listed = ints_and_strings(self.query(&pipe).await?.into_iter().next().unwrap_or(Value::Nil))?;
        let members = (0..listed.len()).map(|i| listed.string(i)).collect::<Result<Vec<_>, _>>()?;
        let who: Vec<(String, String)> = members.iter().filter_map(|m| parse_member(m)).collect();
        if who.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for (t, u) in &who {
            pipe.cmd("HMGET").arg(self.keys.user(t, u).counters).arg(&["m", "u", "r", "pm", "pu", "pr", "tier"]);
        }
        let rows = self.query(&pipe).await?;
        let mut out = Vec::with_capacity(who.len());
        for ((tenant, user), row) in who.into_iter().zip(rows) {
            let row = ints_and_strings(row)?;
            let (used, reserved) = if row.string(0)? == month {
                (row.u64(1)?, row.u64(2)?)
            } else if row.string(3)? == month {
                (row.u64(4)?, row.u64(5)?)
            } else {
                (0, 0)
            };
            out.push(UsageSnapshot {
                tenant,
                user,
                tier: row.string(6)?,
                month: month.clone(),
                used,
                reserved,
                resets_at,
            });
        }
        Ok(out)
    }

    async fn band_counts(&self, tier: &str, limit: u64) -> Result<[u64; 4], StoreError> {
        let (month, _) = self.month().await?;
        let key = self.keys.index(&month, Some(tier), None);
        // Integer thresholds matching `band_of`: ≥ ceil(L/2), ≥ ceil(8L/10), ≥ L.
        let half = limit.div_ceil(2);
        let eighty = u64::try_from((u128::from(limit) * 8).div_ceil(10)).unwrap_or(u64::MAX);
        let mut pipe = ::redis::pipe();
        pipe.cmd("ZCOUNT").arg(&key).arg("-inf").arg(format!("({half}"));
        pipe.cmd("ZCOUNT").arg(&key).arg(half).arg(format!("({eighty}"));
        pipe.cmd("ZCOUNT").arg(&key).arg(eighty).arg(format!("({limit}"));
        pipe.cmd("ZCOUNT").arg(&key).arg(limit).arg("+inf");
        let counts = ints_and_strings(Value::Array(self.query(&pipe).await?))?;
        Ok([counts.u64(0)?, counts.u64(1)?, counts.u64(2)?, counts.u64(3)?])
    }

    async fn tenant_usage(&self, tenant: &str) -> Result<u64, StoreError> {
        let k = self.keys.tenant(tenant);
        self.usage_of(&k.counters, &k.reservations, &k.expiries).await?.u64(1)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

impl RedisStore {
    async fn usage_of(&self, counters: &str, reservations: &str, expiries: &str) -> Result<Reply, StoreError> {
        let mut inv = self.scripts.usage.prepare_invoke();
        inv.key(counters).key(reservations).key(expiries).arg(self.ttl_ms());
        let mut pipe = ::redis::pipe();
        pipe.invoke_script(&inv);
        ints_and_strings(self.run(&mut pipe).await?.into_iter().next().unwrap_or(Value::Nil))
    }

    /// The current month and when it ends, on the Redis server's clock.
    async fn month(&self) -> Result<(String, u64), StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.invoke_script(&self.scripts.month.prepare_invoke());
        let reply = ints_and_strings(self.run(&mut pipe).await?.into_iter().next().unwrap_or(Value::Nil))?;
        Ok((reply.string(0)?, reply.u64(1)?))
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}
