//! Quotas, rate limits and usage accounting on the request path.
//!
//! - [`Accounting::admit`], before the upstream call: the tier's model allow-list, then quota
//!   reserve + requests/min + tokens/min in ONE store call (one Redis round trip), with the
//!   configured outage policies when the store is unreachable.
//! - [`Accounting::account`], exactly once per request: settles the reservation to the actual
//!   usage and updates the token and cost counters. Successful responses call it before their last
//!   byte is written; every other path (errors, client gone, panics caught by Pingora) reaches it
//!   from the logging phase, so a reservation is never leaked.
//! - [`Accounting::record`]: one usage-ledger record per request, from the logging phase.
//!
//! Settlements the store cannot take right now are retried in the background, never dropped.

pub mod headers;
pub mod reports;
pub mod tokens;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_policies::ledger::{Ledger, UsageRecord};
use sluice_policies::quota;
use sluice_policies::store::{Admission, AdmitRequest, Refusal, Reservation, Store, Subject};
use sluice_providers::{Endpoint, RequestSummary};

use crate::config::{Config, ModelRoute, OutagePolicy};
use crate::error::GatewayError;
use crate::pipeline::context::RequestContext;
use crate::telemetry::metrics::Metrics;

/// The store and ledger, shared by all requests; survives config reloads.
pub struct Accounting {
    /// Quota and rate-limit state.
    pub store: Arc<dyn Store>,
    /// Usage ledger.
    pub ledger: Ledger,
    /// Settlements waiting for the store to come back.
    pending: Mutex<Vec<(Reservation, u64)>>,
}

impl Accounting {
    /// Wraps a store and a ledger.
    pub fn new(store: Arc<dyn Store>, ledger: Ledger) -> Accounting {
        Accounting { store, ledger, pending: Mutex::new(Vec::new()) }
    }

    /// Admission control for one model request. On success the reservation (if any) and the
    /// caller's rate-limit state are in `ctx`.
    #[allow(clippy::too_many_arguments)]
    pub async fn admit(
        &self,
        config: &Config,
        metrics: &Metrics,
        ctx: &mut RequestContext,
        route: &ModelRoute,
        endpoint: Endpoint,
        summary: &RequestSummary,
        body_len: usize,
    ) -> Result<(), GatewayError> {
        let tenant = ctx.tenant.clone().unwrap_or_default();
        let tier = ctx.tier.clone().unwrap_or_default();
        let user = ctx.user.clone().unwrap_or_default();
        if let Some(allowed) = config.tiers.get(&*tier).and_then(|t| t.models.as_ref()) {
            if !allowed.contains(&route.name) {
                metrics.refusals.with_label_values(&["model_not_allowed"]).inc();
                return Err(GatewayError::Forbidden(format!(
                    "The `{tier}` plan does not include the model `{}`. Choose one of: {}.",
                    route.name,
                    allowed.join(", ")
                )));
            }
        }
        let limits = config.limits_for(&tenant, &user, &tier);
        let tenant_cap = config.tenants.get(&*tenant).and_then(|t| t.monthly_tokens);
        let n = summary.n.max(1);
        let (max_output, default_output) = match endpoint {
            Endpoint::Embeddings => (Some(0), 0),
            _ => {
                let route_cap = route.max_output_tokens.unwrap_or(u64::MAX);
                (
                    summary.max_output_tokens.map(|m| m.saturating_mul(n)),
                    config.quota.default_max_tokens.min(route_cap).saturating_mul(n),
                )
            }
        };
        let request = AdmitRequest {
            subject: Subject { tenant: &tenant, user: &user, tier: &tier },
            request_id: &ctx.request_id,
            limits,
            prompt_estimate: quota::prompt_estimate(body_len, config.quota.bytes_per_token),
            max_output,
            default_output,
            tenant_monthly_tokens: tenant_cap,
        };
        match self.store.admit(&request).await {
            Ok(Admission::Granted { reservation, rate, quota_remaining }) => {
                ctx.reservation = Some(reservation);
                ctx.rate = Some(rate);
                ctx.quota_remaining = quota_remaining;
                Ok(())
            }
            Ok(Admission::Refused(refusal)) => {
                if let Refusal::RateLimited { rate, .. } = &refusal {
                    ctx.rate = Some(*rate);
                }
                metrics.refusals.with_label_values(&[refusal_reason(&refusal)]).inc();
                Err(refused(refusal, &tier))
            }
            Err(e) => {
                metrics.store_errors.with_label_values(&[self.store.backend(), "admit"]).inc();
                let quota_applies = limits.monthly_tokens.is_some() || tenant_cap.is_some();
                let policy = if quota_applies { config.store.quota_outage } else { config.store.rate_limit_outage };
                tracing::error!(
                    request_id = %ctx.request_id,
                    backend = self.store.backend(),
                    error = %e,
                    policy = ?policy,
                    "QUOTA STORE UNAVAILABLE: applying the outage policy"
                );
                match policy {
                    OutagePolicy::FailClosed => {
                        metrics.refusals.with_label_values(&["store_unavailable"]).inc();
                        Err(GatewayError::StoreUnavailable)
                    }
                    OutagePolicy::FailOpen => {
                        metrics.store_fail_open.inc();
                        ctx.store_degraded = true;
                        Ok(())
                    }
                }
            }
        }
    }

    /// Settles the reservation to the actual usage and counts tokens and cost, once per request.
    pub async fn account(&self, config: &Config, metrics: &Metrics, ctx: &mut RequestContext) {
        if ctx.accounted {
            return;
        }
        ctx.accounted = true;
        let usage = ctx.usage.unwrap_or_default();
        let hit = ctx.cache == Some(crate::caching::CacheStatus::Hit);
        let mut actual = usage.prompt_tokens + usage.completion_tokens;
        if let Some(model) = ctx.model_used.as_deref() {
            ctx.cost_usd = config.cost_usd(model, &usage);
        }
        if let Some(asked) = ctx.downgraded_from.as_deref() {
            // What the asked model would have cost on the same usage (tokenizers differ a little).
            let saved = (config.cost_usd(asked, &usage) - ctx.cost_usd).max(0.0);
            ctx.saved_usd = saved;
            let route = ctx.route.as_ref().map_or("none", |r| r.name.as_str());
            metrics.downgrade_saved_usd.with_label_values(&[route]).inc_by(saved);
        }
        if hit {
            // Served from the cache: no upstream cost; the quota is charged only if the tier says so.
            let route = ctx.route.as_ref().map_or("none", |r| r.name.as_str());
            metrics.cache.saved_usd.with_label_values(&[route]).inc_by(ctx.cost_usd);
            ctx.saved_usd += ctx.cost_usd;
            ctx.cost_usd = 0.0;
            let tier = ctx.tier.as_deref().unwrap_or_default();
            if !config.tiers.get(tier).is_some_and(|t| t.cache_hits_use_quota) {
                actual = 0;
            }
        }
        if let Some(reservation) = ctx.reservation.take() {
            match self.store.settle(&reservation, actual).await {
                Ok(_) => {}
                Err(e) => {
                    metrics.store_errors.with_label_values(&[self.store.backend(), "settle"]).inc();
                    tracing::error!(request_id = %ctx.request_id, error = %e, "settlement deferred: the store is unavailable");
                    if let Ok(mut pending) = self.pending.lock() {
                        pending.push((reservation, actual));
                        metrics.pending_settlements.set(pending.len() as i64);
                    }
                }
            }
        }
        if actual > 0 && !hit {
            let tier = ctx.tier.as_deref().unwrap_or("none");
            let tenant = bounded_tenant(config, ctx.tenant.as_deref());
            let model = ctx.route.as_ref().map_or("none", |r| r.name.as_str());
            let labels = |kind| [tier, tenant, model, kind];
            metrics.tokens.with_label_values(&labels("prompt")).inc_by(usage.prompt_tokens);
            metrics.tokens.with_label_values(&labels("completion")).inc_by(usage.completion_tokens);
            if usage.cached_tokens > 0 {
                metrics.tokens.with_label_values(&labels("cached")).inc_by(usage.cached_tokens);
            }
            if usage.reasoning_tokens > 0 {
                metrics.tokens.with_label_values(&labels("reasoning")).inc_by(usage.reasoning_tokens);
            }
            metrics.cost.with_label_values(&[tier, tenant, model]).inc_by(ctx.cost_usd);
        }
    }

    /// Publishes the request's ledger record (never blocks).
    pub fn record(&self, ctx: &RequestContext) {
        let Some(model_asked) = ctx.model_asked.clone() else { return };
        let usage = ctx.usage.unwrap_or_default();
        let finished = now_ms();
        let latency_ms = ctx.start.elapsed().as_secs_f64() * 1000.0;
        self.ledger.publish(UsageRecord {
            request_id: ctx.request_id.clone(),
            tenant: ctx.tenant.as_deref().unwrap_or_default().to_string(),
            user: ctx.user.clone().unwrap_or_default(),
            tier: ctx.tier.as_deref().unwrap_or_default().to_string(),
            endpoint: ctx.endpoint.as_str().to_string(),
            model_asked,
            model_used: ctx.model_used.clone(),
            provider: ctx.provider.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            estimated: ctx.usage_estimated,
            cost_usd: ctx.cost_usd,
            cache_hit: ctx.cache == Some(crate::caching::CacheStatus::Hit),
            downgraded: ctx.downgraded_from.is_some(),
            downgrade: ctx.downgrade.map(|(o, _)| o.as_str().to_string()),
            complexity_score: ctx.downgrade.and_then(|(_, s)| s),
            saved_usd: ctx.saved_usd,
            prompt_tokens_before_trim: ctx.trimmed.map(|t| t.tokens_before),
            trim: ctx.trimmed.map(|t| t.outcome.to_string()),
            attempts: ctx.attempts,
            status: ctx.status,
            stream: ctx.stream,
            aborted: ctx.stream_abort.map(|a| a.as_str().to_string()),
            latency_ms,
            started_at_ms: finished.saturating_sub(latency_ms as u64),
            finished_at_ms: finished,
        });
    }

    /// Retries deferred settlements until the store takes them (background task).
    pub async fn retry_pending(self: Arc<Self>, metrics: Arc<Metrics>, period: Duration) {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let batch = match self.pending.lock() {
                Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
                _ => continue,
            };
            let mut failed = Vec::new();
            for (reservation, actual) in batch {
                if self.store.settle(&reservation, actual).await.is_err() {
                    failed.push((reservation, actual));
                }
            }
            if let Ok(mut p) = self.pending.lock() {
                p.extend(failed);
                metrics.pending_settlements.set(p.len() as i64);
            }
        }
    }
}

/// Tenants named in config are label values; anything else (e.g. from JWT claims) is `other`.
fn bounded_tenant<'a>(config: &Config, tenant: Option<&'a str>) -> &'a str {
    match tenant {
        Some(t) if config.tenants.contains_key(t) || config.identity.knows_tenant(t) => t,
        Some(_) => "other",
        None => "none",
    }
}

fn refusal_reason(r: &Refusal) -> &'static str {
    match r {
        Refusal::QuotaExhausted { .. } => "quota",
        Refusal::TenantQuotaExhausted { .. } => "tenant_quota",
        Refusal::RateLimited { kind: sluice_policies::store::RateKind::Requests, .. } => "rate_requests",
        Refusal::RateLimited { .. } => "rate_tokens",
        Refusal::TooLarge { .. } => "too_large",
    }
}

fn refused(refusal: Refusal, tier: &str) -> GatewayError {
    use sluice_policies::store::RateKind;
    let kind = |k: &RateKind| match k {
        RateKind::Requests => "requests",
        RateKind::Tokens => "tokens",
    };
    let message = match &refusal {
        Refusal::QuotaExhausted { limit, used, reserved, .. } => format!(
            "You exceeded your monthly quota of {limit} tokens on the `{tier}` plan ({used} used, {reserved} reserved by requests in flight). It resets at the start of next month (UTC); see retry-after."
        ),
        Refusal::TenantQuotaExhausted { limit, used, .. } => format!(
            "Your organisation exceeded its monthly quota of {limit} tokens ({used} used). It resets at the start of next month (UTC)."
        ),
        Refusal::RateLimited { kind: k, limit, retry_after, .. } => format!(
            "Rate limit reached: {limit} {} per minute on the `{tier}` plan. Please try again in {}.",
            kind(k),
            headers::go_duration(*retry_after)
        ),
        Refusal::TooLarge { kind: k, limit, requested } => format!(
            "Request too large: it needs {requested} {} but the `{tier}` plan allows {limit} per minute. Send a smaller request or lower max_tokens.",
            kind(k)
        ),
    };
    GatewayError::Refused { refusal, message }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Builds the store and the ledger the config asks for. Must run inside the tokio runtime that
/// will keep driving them (the process's state runtime).
pub async fn connect(config: &Config) -> anyhow::Result<Accounting> {
    use crate::config::Backend;
    use sluice_policies::ledger::LedgerConfig;
    use sluice_policies::store::{MemoryStore, RedisStore};
    let (store, redis_url): (Arc<dyn Store>, Option<String>) = match &config.store.backend {
        Backend::Memory => (Arc::new(MemoryStore::new()), None),
        Backend::Redis { url } => {
            // Lazy: Sluice starts (and applies its outage policies) while Redis is still down.
            let store = RedisStore::connect_lazy(url, &config.store.key_prefix, config.store.timeout)
                .map_err(|e| anyhow::anyhow!("invalid Redis store URL: {e}"))?;
            (Arc::new(store), Some(url.clone()))
        }
    };
    let ledger_config = LedgerConfig {
        redis_url,
        stream_key: config.ledger.stream_key.clone(),
        max_len: config.ledger.max_len,
        spool_path: config.ledger.spool.clone(),
        file_path: config.ledger.file.clone(),
        ..LedgerConfig::default()
    };
    let ledger =
        Ledger::start(ledger_config).await.map_err(|e| anyhow::anyhow!("cannot start the usage ledger: {e}"))?;
    Ok(Accounting::new(store, ledger))
}
