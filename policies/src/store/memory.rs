//! [`MemoryStore`]: quota counters, reservations and per-minute buckets in this process — the
//! default backend for a single Sluice instance.
//!
//! Owns admit's atomicity with one short critical section (a std `Mutex`, never held across an
//! `.await`: no method awaits anything). It never persists: a restart forgets usage, which is why
//! several instances, or usage that must survive restarts, need [`super::RedisStore`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::counters::MonthCounters;
use super::limiters::{Check, Limiters};
use super::{
    band_of, Admission, AdmitRequest, Bucket, RateKind, RateState, Refusal, Reservation, Settlement, Store, StoreError,
    UsageSnapshot, DEFAULT_RESERVATION_TTL,
};
use crate::quota::{month_of, next_month_start, plan_reservation, size_reservation, Sizing};

/// Wall-clock source (time since the unix epoch) for months and reservation expiry; injectable so
/// tests can cross a month boundary or expire a reservation without waiting.
pub type UnixClock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Expired reservations swept back per admit at most (keeps the critical section short).
const SWEEP_BATCH: usize = 64;

/// Quota and rate-limit state of one Sluice instance.
///
/// Months and reservation expiry follow the [`UnixClock`]; the per-minute buckets follow
/// governor's monotonic clock.
pub struct MemoryStore {
    state: Mutex<State>,
    reservation_ttl: Duration,
    clock: UnixClock,
}

#[derive(Default)]
struct UserEntry {
    counters: MonthCounters,
    tier: String,
}

/// A reservation not yet settled or released; after its TTL it is swept (its tokens go back) and
/// kept one more TTL as a tombstone, so a late settle still counts its usage.
struct Held {
    tenant: String,
    user: String,
    month: String,
    tokens: u64,
    tenant_tokens: u64,
    expires_ms: u64,
    swept: bool,
}

struct State {
    /// The month of the last admit; a change triggers dropping users idle for two months.
    month: String,
    users: HashMap<String, HashMap<String, UserEntry>>,
    tenants: HashMap<String, MonthCounters>,
    held: HashMap<String, Held>,
    expiries: BTreeSet<(u64, String)>,
    requests: Limiters,
    tokens: Limiters,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock, holding reservations for [`DEFAULT_RESERVATION_TTL`].
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State {
                month: String::new(),
                users: HashMap::new(),
                tenants: HashMap::new(),
                held: HashMap::new(),
                expiries: BTreeSet::new(),
                requests: Limiters::new(),
                tokens: Limiters::new(),
            }),
            reservation_ttl: DEFAULT_RESERVATION_TTL,
            clock: Arc::new(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()),
        }
    }

    /// Holds unsettled reservations for `ttl` before sweeping them back.
    pub fn with_reservation_ttl(mut self, ttl: Duration) -> MemoryStore {
        self.reservation_ttl = ttl;
        self
    }

    /// Uses `clock` for months and reservation expiry (tests).
    pub fn with_unix_clock(mut self, clock: UnixClock) -> MemoryStore {
        self.clock = clock;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside the critical section cannot leave the counters half-updated in a way
        // worse than refusing service forever, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> (u64, u64) {
        let now = (self.clock)();
        (now.as_secs(), u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
    }

    fn admit_now(&self, req: &AdmitRequest<'_>) -> Result<Admission, StoreError> {
        let (secs, now_ms) = self.now();
        let (month, resets_at) = (month_of(secs), next_month_start(secs));
        let mut guard = self.lock();
        let st = &mut *guard;
        st.roll_month(&month);
        st.sweep(now_ms, self.reservation_ttl);
        if st.held.contains_key(req.request_id) {
            return Err(StoreError::Protocol(format!("reservation id {:?} is already held", req.request_id)));
        }
        let subject = req.subject;
        let limits = req.limits;
        let State { users, tenants, held, expiries, requests, tokens: token_buckets, .. } = st;
        let user = entry(entry(users, subject.tenant)?, subject.user)?;
        user.counters.roll_to(&month);
        let (used, reserved) = (user.counters.used, user.counters.reserved);
        let quota_available = limits.monthly_tokens.map(|l| l.saturating_sub(used.saturating_add(reserved)));
        let tokens = match size_reservation(
            quota_available,
            limits.tokens_per_minute,
            req.prompt_estimate,
            req.max_output,
            req.default_output,
        ) {
            Sizing::Fits(tokens) => tokens,
            Sizing::QuotaExhausted => {
                let limit = limits.monthly_tokens.unwrap_or(0);
                return Ok(Admission::Refused(Refusal::QuotaExhausted { limit, used, reserved, resets_at }));
            }
            Sizing::TooLargeForTokensPerMinute { requested } => {
                let limit = limits.tokens_per_minute.unwrap_or(0);
                return Ok(Admission::Refused(Refusal::TooLarge { kind: RateKind::Tokens, limit, requested }));
            }
        };
        if limits.requests_per_minute == Some(0) {
            return Ok(Admission::Refused(Refusal::TooLarge { kind: RateKind::Requests, limit: 0, requested: 1 }));
        }
        let tenant = entry(tenants, subject.tenant)?;
        tenant.roll_to(&month);
        let tenant_tokens = match req.tenant_monthly_tokens {
            None => 0,
            Some(cap) => {
                let available = cap.saturating_sub(tenant.used.saturating_add(tenant.reserved));
                match plan_reservation(available, req.prompt_estimate, req.max_output, req.default_output) {
                    Some(t) => t,
                    None => {
                        let used = tenant.used;
                        return Ok(Admission::Refused(Refusal::TenantQuotaExhausted { limit: cap, used, resets_at }));
                    }
                }
            }
        };
        // Rate limits last: a governor cell cannot be given back.
        let key = format!("{}:{}{}", subject.tenant.len(), subject.tenant, subject.user);
        let mut rate = RateState::default();
        if let Some(rpm) = limits.requests_per_minute {
            match charge(requests, rpm, &key, 1, RateKind::Requests, rate) {
                Ok(bucket) => rate.requests = Some(bucket),
                Err(refusal) => return Ok(Admission::Refused(refusal)),
            }
        }
        if let Some(tpm) = limits.tokens_per_minute {
            match charge(token_buckets, tpm, &key, tokens, RateKind::Tokens, rate) {
                Ok(bucket) => rate.tokens = Some(bucket),
                Err(refusal) => return Ok(Admission::Refused(refusal)),
            }
        }
        // Granted: record everything.
        user.counters.reserved = reserved.saturating_add(tokens);
        if user.tier != subject.tier {
            subject.tier.clone_into(&mut user.tier);
        }
        tenant.reserved = tenant.reserved.saturating_add(tenant_tokens);
        let expires_ms = now_ms.saturating_add(ttl_ms(self.reservation_ttl));
        let record = Held {
            tenant: subject.tenant.to_owned(),
            user: subject.user.to_owned(),
            month: month.clone(),
            tokens,
            tenant_tokens,
            expires_ms,
            swept: false,
        };
        held.insert(req.request_id.to_owned(), record);
        expiries.insert((expires_ms, req.request_id.to_owned()));
        let reservation = Reservation {
            id: req.request_id.to_owned(),
            tenant: subject.tenant.to_owned(),
            user: subject.user.to_owned(),
            tier: subject.tier.to_owned(),
            month,
            tokens,
            tenant_tokens,
        };
        let quota_remaining =
            limits.monthly_tokens.map(|l| l.saturating_sub(used.saturating_add(reserved).saturating_add(tokens)));
        Ok(Admission::Granted { reservation, rate, quota_remaining })
    }

    fn settle_now(&self, reservation: &Reservation, actual: u64) -> Result<Settlement, StoreError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let matches =
            st.held.get(&reservation.id).is_some_and(|h| h.tenant == reservation.tenant && h.user == reservation.user);
        let held = if matches { st.held.remove(&reservation.id) } else { None };
        let Some(held) = held else {
            let used = st
                .users
                .get(&reservation.tenant)
                .and_then(|u| u.get(&reservation.user))
                .map_or(0, |u| u.counters.of(&reservation.month).0);
            return Ok(Settlement { applied: false, used });
        };
        st.expiries.remove(&(held.expires_ms, reservation.id.clone()));
        let (tokens, tenant_tokens) = if held.swept { (0, 0) } else { (held.tokens, held.tenant_tokens) };
        let used = entry(entry(&mut st.users, &held.tenant)?, &held.user)?.counters.settle(&held.month, tokens, actual);
        entry(&mut st.tenants, &held.tenant)?.settle(&held.month, tenant_tokens, actual);
        Ok(Settlement { applied: true, used })
    }

    /// Every user with usage this month, optionally of one tier and/or tenant, unordered.
    fn snapshots(&self, tier: Option<&str>, tenant: Option<&str>) -> Vec<UsageSnapshot> {
        let (secs, _) = self.now();
        let (month, resets_at) = (month_of(secs), next_month_start(secs));
        let st = self.lock();
        let mut out = Vec::new();
        for (t, users) in st.users.iter().filter(|(t, _)| tenant.is_none_or(|want| want == t.as_str())) {
            for (u, e) in users.iter().filter(|(_, e)| tier.is_none_or(|want| want == e.tier)) {
                let (used, reserved) = e.counters.of(&month);
                if used > 0 {
                    out.push(UsageSnapshot {
                        tenant: t.clone(),
                        user: u.clone(),
                        tier: e.tier.clone(),
                        month: month.clone(),
                        used,
                        reserved,
                        resets_at,
                    });
                }
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn admit(&self, req: &AdmitRequest<'_>) -> Result<Admission, StoreError> {
        self.admit_now(req)
    }

    async fn settle(&self, reservation: &Reservation, actual_tokens: u64) -> Result<Settlement, StoreError> {
        self.settle_now(reservation, actual_tokens)
    }

    async fn usage(&self, tenant: &str, user: &str) -> Result<UsageSnapshot, StoreError> {
        let (secs, _) = self.now();
        let (month, resets_at) = (month_of(secs), next_month_start(secs));
        let st = self.lock();
        let entry = st.users.get(tenant).and_then(|users| users.get(user));
        let (used, reserved) = entry.map_or((0, 0), |e| e.counters.of(&month));
        let tier = entry.map_or_else(String::new, |e| e.tier.clone());
        Ok(UsageSnapshot { tenant: tenant.to_owned(), user: user.to_owned(), tier, month, used, reserved, resets_at })
    }

    async fn top_users(
        &self,
        tier: Option<&str>,
        tenant: Option<&str>,
        n: usize,
    ) -> Result<Vec<UsageSnapshot>, StoreError> {
        let mut all = self.snapshots(tier, tenant);
        all.sort_by(|a, b| b.used.cmp(&a.used).then_with(|| (&a.tenant, &a.user).cmp(&(&b.tenant, &b.user))));
        all.truncate(n);
        Ok(all)
    }

    async fn band_counts(&self, tier: &str, limit: u64) -> Result<[u64; 4], StoreError> {
        let mut bands = [0u64; 4];
        for s in self.snapshots(Some(tier), None) {
            bands[band_of(s.used, limit)] += 1;
        }
        Ok(bands)
    }

    async fn tenant_usage(&self, tenant: &str) -> Result<u64, StoreError> {
        let (secs, _) = self.now();
        let month = month_of(secs);
        Ok(self.lock().tenants.get(tenant).map_or(0, |c| c.of(&month).0))
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

impl State {
    /// On a new month, forgets users and tenants idle since before the previous month.
    fn roll_month(&mut self, month: &str) {
        if self.month.as_str() >= month {
            return;
        }
        let keep_from = std::mem::replace(&mut self.month, month.to_owned());
        self.users.retain(|_, users| {
            users.retain(|_, e| e.counters.month >= keep_from);
            !users.is_empty()
        });
        self.tenants.retain(|_, c| c.month >= keep_from);
    }

    /// Gives back the tokens of reservations past their TTL (keeping a tombstone for a late
    /// settle), and forgets tombstones past theirs.
    fn sweep(&mut self, now_ms: u64, ttl: Duration) {
        for _ in 0..SWEEP_BATCH {
            let Some(first) = self.expiries.first() else { return };
            if first.0 > now_ms {
                return;
            }
            let Some((_, id)) = self.expiries.pop_first() else { return };
            let Some(held) = self.held.get_mut(&id) else { continue };
            if held.swept {
                self.held.remove(&id);
                continue;
            }
            held.swept = true;
            held.expires_ms = now_ms.saturating_add(ttl_ms(ttl));
            let (tenant, user, month) = (held.tenant.clone(), held.user.clone(), held.month.clone());
            let (tokens, tenant_tokens, expires_ms) = (held.tokens, held.tenant_tokens, held.expires_ms);
            self.expiries.insert((expires_ms, id));
            if let Ok(user) = entry(&mut self.users, &tenant).and_then(|users| entry(users, &user)) {
                user.counters.settle(&month, tokens, 0);
            }
            if let Ok(counters) = entry(&mut self.tenants, &tenant) {
                counters.settle(&month, tenant_tokens, 0);
            }
        }
    }
}

/// Charges one bucket, turning a refusal into the admit outcome.
#[allow(clippy::ptr_arg)] // governor's keys are owned Strings; borrowing one avoids a copy per check
fn charge(
    limiters: &mut Limiters,
    limit: u64,
    key: &String,
    n: u64,
    kind: RateKind,
    mut rate: RateState,
) -> Result<Bucket, Refusal> {
    match limiters.check(limit, key, n) {
        Check::Passed(bucket) => Ok(bucket),
        Check::Refused { retry_after, bucket } => {
            match kind {
                RateKind::Requests => rate.requests = Some(bucket),
                RateKind::Tokens => rate.tokens = Some(bucket),
            }
            Err(Refusal::RateLimited { kind, limit, retry_after, rate })
        }
        Check::TooLarge => Err(Refusal::TooLarge { kind, limit, requested: n }),
    }
}

/// The value under `key`, inserted as default if missing (the key is copied only then).
fn entry<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> Result<&'m mut V, StoreError> {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    // Two lookups: the borrow checker cannot yet return the first one conditionally.
    map.get_mut(key).ok_or_else(|| StoreError::Protocol("memory store entry vanished".into()))
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}
