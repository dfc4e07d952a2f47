//! Prometheus metrics. Label values are bounded: endpoints are a fixed set, models and providers
//! come from config (anything else is `other`), status is a class. Never a user, key or request id.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds (few, explicit).
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];
/// Gateway overhead buckets in seconds: sub-millisecond resolution.
const OVERHEAD_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/// All of Sluice's metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// `sluice_requests_total{endpoint, model, provider, status_class}`.
    pub requests: IntCounterVec,
    /// `sluice_errors_total{domain, code}` by fault domain.
    pub errors: IntCounterVec,
    /// `sluice_request_duration_seconds{endpoint}`: total latency seen by the client.
    pub request_duration: HistogramVec,
    /// `sluice_upstream_duration_seconds{provider}`: time spent waiting on the upstream.
    pub upstream_duration: HistogramVec,
    /// `sluice_gateway_overhead_seconds{endpoint}`: total − upstream.
    pub overhead: HistogramVec,
    /// `sluice_time_to_first_byte_seconds{endpoint, provider}`: for streams.
    pub time_to_first_byte: HistogramVec,
    /// `sluice_tokens_total{tier, tenant, model, kind}`: prompt / completion / cached / reasoning.
    pub tokens: IntCounterVec,
    /// `sluice_cost_usd_total{tier, tenant, model}` from the price table.
    pub cost: prometheus::CounterVec,
    /// `sluice_refusals_total{reason}`: requests Sluice's own policies refused.
    pub refusals: IntCounterVec,
    /// `sluice_store_errors_total{backend, op}`: quota store calls that failed.
    pub store_errors: IntCounterVec,
    /// `sluice_store_fail_open_total`: requests let through by the fail-open outage policy.
    pub store_fail_open: IntCounter,
    /// `sluice_pending_settlements`: settlements waiting for the store.
    pub pending_settlements: IntGauge,
    /// `sluice_quota_users{tier, band}`: users this month by share of quota used.
    pub quota_users: IntGaugeVec,
    /// `sluice_tenant_quota_used_ratio{tenant}`: tenant usage / tenant monthly cap.
    pub tenant_quota_ratio: prometheus::GaugeVec,
    /// `sluice_ledger_records_total{outcome}`: delivered, spooled, replayed, duplicates_skipped.
    pub ledger_records: IntCounterVec,
    /// `sluice_ledger_spool_bytes`.
    pub ledger_spool_bytes: IntGauge,
    /// `sluice_ledger_lag_seconds`: age of the oldest undelivered record.
    pub ledger_lag: prometheus::Gauge,
    /// `sluice_store_up{backend}`: 1 when the last store call succeeded.
    pub store_up: IntGaugeVec,
    /// `sluice_upstream_auth_failures_total{provider}`: the upstream rejected Sluice's own key.
    pub upstream_auth_failures: IntCounterVec,
    /// `sluice_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `sluice_config_version`: increments on each applied config.
    pub config_version: IntGauge,
    /// `sluice_in_flight_requests`.
    pub in_flight: IntGauge,
    /// `sluice_streams_aborted_total{reason}`.
    pub streams_aborted: IntCounterVec,
    /// `sluice_build_info{version}` = 1.
    pub build_info: IntGaugeVec,
    /// `sluice_retries_total{model}`: attempts that retried the same candidate.
    pub retries: IntCounterVec,
    /// `sluice_fallbacks_total{model}`: attempts on a candidate after the first.
    pub fallbacks: IntCounterVec,
    /// `sluice_breaker_transitions_total{candidate, to}`.
    pub breaker_transitions: IntCounterVec,
    /// `sluice_breaker_state{candidate}`: 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// `sluice_upstream_busy_total{provider}`: requests the pacing queue turned away.
    pub upstream_busy: IntCounterVec,
    /// `sluice_upstream_requests_total`: upstream calls made.
    pub upstream_requests: IntCounter,
    /// The response cache's metrics.
    pub cache: CacheMetrics,
    /// `sluice_downgrades_total{model, outcome}`: downgrade-rule decisions by asked model.
    pub downgrades: IntCounterVec,
    /// `sluice_downgrade_saved_usd_total{model}`: estimated USD saved by downgrades.
    pub downgrade_saved_usd: prometheus::CounterVec,
    /// `sluice_trims_total{model, outcome}`: conversations trimmed (summarized, truncated).
    pub trims: IntCounterVec,
    /// `sluice_trim_tokens_removed_total{model}`: prompt tokens trimming kept from the upstream.
    pub trim_tokens_removed: IntCounterVec,
}

/// `sluice_cache_*`: the response cache. Per-request counters carry the public model and the plan
/// tier (both from config); the tier-wide figures (bytes, entries, evictions) have no labels.
pub struct CacheMetrics {
    /// `sluice_cache_requests_total{model, tier, result}`: chat and embeddings requests by what
    /// the cache did: `hit`, `miss`, `bypass` or `refresh`.
    pub requests: IntCounterVec,
    /// `sluice_cache_hits_total{model, tier, layer}`: hits by where the answer came from:
    /// `memory`, `redis`, or `flight` (a concurrent identical request's answer).
    pub hits: IntCounterVec,
    /// `sluice_cache_single_flight_joins_total{model, tier}`: requests that waited for an identical
    /// request in flight instead of calling upstream.
    pub single_flight_joins: IntCounterVec,
    /// `sluice_cache_embedding_inputs_total{model, tier, result}`: embedding inputs served from the
    /// cache (`hit`) or sent upstream (`miss`).
    pub embedding_inputs: IntCounterVec,
    /// `sluice_cache_stores_total{result}`: answers `stored`, or `too_large` to keep.
    pub stores: IntCounterVec,
    /// `sluice_cache_saved_usd_total{model}`: what the hits would have cost upstream.
    pub saved_usd: prometheus::CounterVec,
    /// `sluice_cache_evictions_total`: memory-tier entries pushed out to make room.
    pub evictions: IntCounter,
    /// `sluice_cache_expirations_total`: memory-tier entries dropped at the end of their TTL.
    pub expirations: IntCounter,
    /// `sluice_cache_redis_errors_total`: shared-tier calls that failed or timed out (served as misses).
    pub redis_errors: IntCounter,
    /// `sluice_cache_bytes`: bytes of answers held in this process's memory tier.
    pub bytes: IntGauge,
    /// `sluice_cache_entries`: entries held in this process's memory tier.
    pub entries: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram =
            |name: &str, help: &str, labels: &[&str], buckets: &[f64]| -> Result<HistogramVec, prometheus::Error> {
                let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        let requests = counter(
            "sluice_requests_total",
            "Requests answered, by endpoint, public model, provider and status class.",
            &["endpoint", "model", "provider", "status_class"],
        )?;
        let errors = counter(
            "sluice_errors_total",
            "Failed requests by fault domain (caller, policy, provider, internal) and error code.",
            &["domain", "code"],
        )?;
        let request_duration = histogram(
            "sluice_request_duration_seconds",
            "Total request latency as seen by Sluice, until the last byte was written.",
            &["endpoint"],
            LATENCY_BUCKETS,
        )?;
        let upstream_duration = histogram(
            "sluice_upstream_duration_seconds",
            "Time spent on the upstream call, until its last byte.",
            &["provider"],
            LATENCY_BUCKETS,
        )?;
        let overhead = histogram(
            "sluice_gateway_overhead_seconds",
            "Latency Sluice added: total minus upstream time.",
            &["endpoint"],
            OVERHEAD_BUCKETS,
        )?;
        let time_to_first_byte = histogram(
            "sluice_time_to_first_byte_seconds",
            "Time from request start to the first streamed body byte sent downstream.",
            &["endpoint", "provider"],
            LATENCY_BUCKETS,
        )?;
        let tokens = counter(
            "sluice_tokens_total",
            "Tokens billed, by tier, tenant, public model and kind (prompt, completion, cached, reasoning).",
            &["tier", "tenant", "model", "kind"],
        )?;
        let cost = prometheus::CounterVec::new(
            Opts::new("sluice_cost_usd_total", "Cost in USD from the price table, by tier, tenant and public model."),
            &["tier", "tenant", "model"],
        )?;
        registry.register(Box::new(cost.clone()))?;
        let refusals = counter("sluice_refusals_total", "Requests refused by Sluice's own policies, by reason (quota, tenant_quota, rate_requests, rate_tokens, too_large, model_not_allowed, store_unavailable).", &["reason"])?;
        let store_errors = counter(
            "sluice_store_errors_total",
            "Quota store calls that failed, by backend and operation.",
            &["backend", "op"],
        )?;
        let ledger_records = counter(
            "sluice_ledger_records_total",
            "Usage-ledger records by outcome (delivered, spooled, replayed, duplicates_skipped).",
            &["outcome"],
        )?;
        let retries = counter(
            "sluice_retries_total",
            "Upstream attempts that retried the same candidate, by public model.",
            &["model"],
        )?;
        let fallbacks = counter(
            "sluice_fallbacks_total",
            "Upstream attempts on a fallback candidate, by public model.",
            &["model"],
        )?;
        let breaker_transitions = counter(
            "sluice_breaker_transitions_total",
            "Circuit breaker state changes, by candidate (provider/model) and new state.",
            &["candidate", "to"],
        )?;
        let upstream_busy = counter(
            "sluice_upstream_busy_total",
            "Requests turned away by a provider's pacing queue (full or too slow).",
            &["provider"],
        )?;
        let breaker_state = IntGaugeVec::new(
            Opts::new("sluice_breaker_state", "Circuit breaker state by candidate: 0 closed, 1 open, 2 half-open."),
            &["candidate"],
        )?;
        registry.register(Box::new(breaker_state.clone()))?;
        let store_fail_open = IntCounter::new(
            "sluice_store_fail_open_total",
            "Requests admitted without the store by the fail-open outage policy.",
        )?;
        registry.register(Box::new(store_fail_open.clone()))?;
        let pending_settlements =
            IntGauge::new("sluice_pending_settlements", "Quota settlements waiting for the store to come back.")?;
        registry.register(Box::new(pending_settlements.clone()))?;
        let quota_users = IntGaugeVec::new(Opts::new("sluice_quota_users", "Users this month by share of their monthly quota used (band: lt50, 50to80, 80to100, exhausted), per tier."), &["tier", "band"])?;
        registry.register(Box::new(quota_users.clone()))?;
        let tenant_quota_ratio = prometheus::GaugeVec::new(
            Opts::new(
                "sluice_tenant_quota_used_ratio",
                "Tenant usage this month divided by its monthly token cap (alert at 0.8 and 1).",
            ),
            &["tenant"],
        )?;
        registry.register(Box::new(tenant_quota_ratio.clone()))?;
        let ledger_spool_bytes =
            IntGauge::new("sluice_ledger_spool_bytes", "Bytes of usage records waiting in the local spool for Redis.")?;
        registry.register(Box::new(ledger_spool_bytes.clone()))?;
        let ledger_lag =
            prometheus::Gauge::new("sluice_ledger_lag_seconds", "Age of the oldest usage record not yet delivered.")?;
        registry.register(Box::new(ledger_lag.clone()))?;
        let store_up = IntGaugeVec::new(
            Opts::new("sluice_store_up", "1 when the quota store answered its last call, 0 when it failed."),
            &["backend"],
        )?;
        registry.register(Box::new(store_up.clone()))?;
        let upstream_auth_failures = counter(
            "sluice_upstream_auth_failures_total",
            "Upstream 401/403: Sluice's own provider credentials were rejected.",
            &["provider"],
        )?;
        let config_reloads = counter(
            "sluice_config_reloads_total",
            "Config reload attempts by result (applied, rejected).",
            &["result"],
        )?;
        let streams_aborted = counter(
            "sluice_streams_aborted_total",
            "Streams that did not complete, by reason (client_gone, upstream_error, idle_timeout).",
            &["reason"],
        )?;
        let config_version =
            IntGauge::new("sluice_config_version", "Number of configs applied since start (1 = the initial one).")?;
        registry.register(Box::new(config_version.clone()))?;
        let in_flight = IntGauge::new("sluice_in_flight_requests", "Requests being handled now.")?;
        registry.register(Box::new(in_flight.clone()))?;
        let upstream_requests = IntCounter::new("sluice_upstream_requests_total", "Calls made to upstream providers.")?;
        registry.register(Box::new(upstream_requests.clone()))?;
        let build_info =
            IntGaugeVec::new(Opts::new("sluice_build_info", "Build information; always 1."), &["version"])?;
        registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let int_counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let int_gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let saved_usd = prometheus::CounterVec::new(
            Opts::new("sluice_cache_saved_usd_total", "What the cache hits would have cost upstream, in USD."),
            &["model"],
        )?;
        registry.register(Box::new(saved_usd.clone()))?;
        let cache = CacheMetrics {
            requests: counter(
                "sluice_cache_requests_total",
                "Chat and embeddings requests by what the response cache did (hit, miss, bypass, refresh).",
                &["model", "tier", "result"],
            )?,
            hits: counter(
                "sluice_cache_hits_total",
                "Cache hits by where the answer came from (memory, redis, flight).",
                &["model", "tier", "layer"],
            )?,
            single_flight_joins: counter(
                "sluice_cache_single_flight_joins_total",
                "Requests that waited for an identical request in flight instead of calling upstream.",
                &["model", "tier"],
            )?,
            embedding_inputs: counter(
                "sluice_cache_embedding_inputs_total",
                "Embedding inputs served from the cache (hit) or sent upstream (miss).",
                &["model", "tier", "result"],
            )?,
            stores: counter("sluice_cache_stores_total", "Answers stored, or too large to keep.", &["result"])?,
            saved_usd,
            evictions: int_counter("sluice_cache_evictions_total", "Memory-tier entries evicted to make room.")?,
            expirations: int_counter("sluice_cache_expirations_total", "Memory-tier entries expired (TTL).")?,
            redis_errors: int_counter(
                "sluice_cache_redis_errors_total",
                "Shared-tier (Redis) cache calls that failed or timed out; each was served as a miss.",
            )?,
            bytes: int_gauge("sluice_cache_bytes", "Bytes of answers held in this process's memory tier.")?,
            entries: int_gauge("sluice_cache_entries", "Entries held in this process's memory tier.")?,
        };
        let downgrades = counter(
            "sluice_downgrades_total",
            "Downgrade-rule decisions by asked model: applied, holdback, complex, structured, opted_out, never.",
            &["model", "outcome"],
        )?;
        let downgrade_saved_usd = prometheus::CounterVec::new(
            Opts::new(
                "sluice_downgrade_saved_usd_total",
                "Estimated USD saved by downgrades: the asked model's price on the same usage minus the cost.",
            ),
            &["model"],
        )?;
        registry.register(Box::new(downgrade_saved_usd.clone()))?;
        let trims = counter(
            "sluice_trims_total",
            "Conversations cut by context trimming, by asked model and outcome (summarized, truncated).",
            &["model", "outcome"],
        )?;
        let trim_tokens_removed = counter(
            "sluice_trim_tokens_removed_total",
            "Prompt tokens context trimming kept from the upstream (before minus after, the summary included).",
            &["model"],
        )?;
        Ok(Metrics {
            registry,
            requests,
            errors,
            request_duration,
            upstream_duration,
            overhead,
            time_to_first_byte,
            tokens,
            cost,
            refusals,
            store_errors,
            store_fail_open,
            pending_settlements,
            quota_users,
            tenant_quota_ratio,
            ledger_records,
            ledger_spool_bytes,
            ledger_lag,
            store_up,
            retries,
            fallbacks,
            breaker_transitions,
            breaker_state,
            upstream_busy,
            upstream_auth_failures,
            config_reloads,
            config_version,
            in_flight,
            streams_aborted,
            build_info,
            upstream_requests,
            cache,
            downgrades,
            downgrade_saved_usd,
            trims,
            trim_tokens_removed,
        })
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed metrics; an error leaves a partial body.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// `2xx`, `4xx`, `5xx`… as a static label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new().unwrap();
        m.requests.with_label_values(&["chat", "gpt-4o", "openai", "2xx"]).inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(
            "sluice_requests_total{endpoint=\"chat\",model=\"gpt-4o\",provider=\"openai\",status_class=\"2xx\"} 1"
        ));
        assert!(text.contains("sluice_build_info"));
        assert_eq!(status_class(503), "5xx");
    }
}
