//! Per-request state carried through the pipeline and read once at the end for metrics and the
//! access log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_providers::Usage;

use crate::config::ModelRoute;
use crate::error::GatewayError;
use crate::state::AppState;
use crate::telemetry::metrics::status_class;

/// Bounded `endpoint` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointLabel {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/responses`.
    Responses,
    /// `GET /v1/models…`.
    Models,
    /// Configured pass-through.
    Passthrough,
    /// Health, readiness, metrics.
    Internal,
    /// Anything else.
    Other,
}

impl EndpointLabel {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointLabel::Chat => "chat",
            EndpointLabel::Embeddings => "embeddings",
            EndpointLabel::Completions => "completions",
            EndpointLabel::Responses => "responses",
            EndpointLabel::Models => "models",
            EndpointLabel::Passthrough => "passthrough",
            EndpointLabel::Internal => "internal",
            EndpointLabel::Other => "other",
        }
    }
}

/// How a stream ended, when it did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamAbort {
    /// The client went away; the upstream call was cancelled.
    ClientGone,
    /// The upstream failed mid-stream; an error event was sent.
    UpstreamError,
    /// The upstream went silent longer than the idle timeout.
    IdleTimeout,
}

impl StreamAbort {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamAbort::ClientGone => "client_gone",
            StreamAbort::UpstreamError => "upstream_error",
            StreamAbort::IdleTimeout => "idle_timeout",
        }
    }
}

/// Everything known about one request.
#[derive(Debug)]
pub struct RequestContext {
    /// When the request headers were read.
    pub start: Instant,
    /// The client's `x-request-id` or a generated one.
    pub request_id: String,
    /// Endpoint label.
    pub endpoint: EndpointLabel,
    /// Tenant, once authenticated.
    pub tenant: Option<Arc<str>>,
    /// Plan tier, once authenticated.
    pub tier: Option<Arc<str>>,
    /// End user.
    pub user: Option<String>,
    /// `model` the client asked for.
    pub model_asked: Option<String>,
    /// The configured model route (its name is the bounded `model` label), once routed.
    pub route: Option<Arc<ModelRoute>>,
    /// Upstream model that served the request.
    pub model_used: Option<String>,
    /// Provider that served the request.
    pub provider: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Status sent downstream.
    pub status: u16,
    /// The error, if the request failed before or instead of a response.
    pub error: Option<(crate::error::FaultDomain, String)>,
    /// Time spent on the upstream call.
    pub upstream_elapsed: Option<Duration>,
    /// Time to the first streamed body byte sent downstream.
    pub first_byte: Option<Duration>,
    /// Usage of the request, when known.
    pub usage: Option<Usage>,
    /// Whether `usage` is an estimate.
    pub usage_estimated: bool,
    /// How a stream ended early.
    pub stream_abort: Option<StreamAbort>,
    /// Do not log or count (health checks, metrics scrapes).
    pub quiet: bool,
    /// Gauge guard: decremented when the request is logged.
    pub counted_in_flight: bool,
    /// The quota reservation, until it is settled or released.
    pub reservation: Option<sluice_policies::store::Reservation>,
    /// The caller's rate-limit state, for `x-ratelimit-*` headers.
    pub rate: Option<sluice_policies::store::RateState>,
    /// Monthly tokens left after this request's reservation (`None`: unlimited).
    pub quota_remaining: Option<u64>,
    /// Admitted without the store (fail-open outage policy).
    pub store_degraded: bool,
    /// Usage has been settled and counted.
    pub accounted: bool,
    /// Cost of the request in USD.
    pub cost_usd: f64,
    /// Upstream attempts made.
    pub attempts: u32,
    /// A candidate after the first served (or was tried last).
    pub fallback: bool,
    /// Sluice retried and gave up: clients must not retry on top (`x-should-retry: false`).
    pub gave_up: bool,
    /// What the response cache did (chat and embeddings only).
    pub cache: Option<crate::caching::CacheStatus>,
    /// Where a hit came from: `memory`, `redis` or `flight`.
    pub cache_layer: Option<&'static str>,
    /// Embedding inputs: (served from the cache, sent upstream).
    pub cache_inputs: Option<(u32, u32)>,
    /// What the route's downgrade rule decided, and the complexity score.
    pub downgrade: Option<(crate::downgrade::Outcome, Option<f32>)>,
    /// The classifier's strongest signals (for the `x-sluice-downgrade-reason` header).
    pub downgrade_reason: String,
    /// The upstream model the asked route would have used (set when a downgrade applied), for
    /// the saving estimate.
    pub downgraded_from: Option<String>,
    /// Estimated USD saved (downgrade or cache hit).
    pub saved_usd: f64,
    /// What context trimming did.
    pub trimmed: Option<crate::trimming::Trimmed>,
}

impl RequestContext {
    /// A fresh context at request start.
    pub fn new() -> RequestContext {
        RequestContext {
            start: Instant::now(),
            request_id: String::new(),
            endpoint: EndpointLabel::Other,
            tenant: None,
            tier: None,
            user: None,
            model_asked: None,
            route: None,
            model_used: None,
            provider: None,
            stream: false,
            status: 0,
            error: None,
            upstream_elapsed: None,
            first_byte: None,
            usage: None,
            usage_estimated: false,
            stream_abort: None,
            quiet: false,
            counted_in_flight: false,
            reservation: None,
            rate: None,
            quota_remaining: None,
            store_degraded: false,
            accounted: false,
            cost_usd: 0.0,
            attempts: 0,
            fallback: false,
            gave_up: false,
            cache: None,
            cache_layer: None,
            cache_inputs: None,
            downgrade: None,
            downgrade_reason: String::new(),
            downgraded_from: None,
            saved_usd: 0.0,
            trimmed: None,
        }
    }

    /// Records a failure for the log and metrics.
    pub fn record_error(&mut self, err: &GatewayError) {
        let (status, _, code, _, domain) = err.parts();
        self.status = status;
        self.error = Some((domain, code.unwrap_or("error").to_string()));
    }

    /// Settles anything still open, publishes the ledger record, emits metrics and the access-log
    /// line. Called once, from Pingora's logging phase.
    pub async fn finish(&mut self, state: &AppState) {
        if self.model_asked.is_some() && self.tenant.is_some() {
            let config = state.config();
            state.accounting.account(&config, &state.metrics, self).await;
            state.accounting.record(self);
        }
        let m = &state.metrics;
        if self.counted_in_flight {
            m.in_flight.dec();
            self.counted_in_flight = false;
        }
        if self.quiet {
            return;
        }
        let total = self.start.elapsed();
        let endpoint = self.endpoint.as_str();
        let model = self.route.as_ref().map_or("none", |r| r.name.as_str());
        let provider = self.provider.as_deref().unwrap_or("none");
        m.requests.with_label_values(&[endpoint, model, provider, status_class(self.status)]).inc();
        m.request_duration.with_label_values(&[endpoint]).observe(total.as_secs_f64());
        if let Some(up) = self.upstream_elapsed {
            m.upstream_duration.with_label_values(&[provider]).observe(up.as_secs_f64());
            m.overhead.with_label_values(&[endpoint]).observe(total.saturating_sub(up).as_secs_f64());
        }
        if let Some(fb) = self.first_byte {
            m.time_to_first_byte.with_label_values(&[endpoint, provider]).observe(fb.as_secs_f64());
        }
        if let Some((domain, code)) = &self.error {
            m.errors.with_label_values(&[domain.as_str(), bounded_code(code)]).inc();
        }
        if let Some(abort) = self.stream_abort {
            m.streams_aborted.with_label_values(&[abort.as_str()]).inc();
        }
        if let Some((outcome, _)) = self.downgrade {
            m.downgrades.with_label_values(&[model, outcome.as_str()]).inc();
        }
        if let Some(status) = self.cache {
            let tier = self.tier.as_deref().unwrap_or("none");
            m.cache.requests.with_label_values(&[model, tier, status.label()]).inc();
            if let Some(layer) = self.cache_layer {
                m.cache.hits.with_label_values(&[model, tier, layer]).inc();
                if layer == "flight" {
                    m.cache.single_flight_joins.with_label_values(&[model, tier]).inc();
                }
            }
            if let Some((hits, misses)) = self.cache_inputs {
                m.cache.embedding_inputs.with_label_values(&[model, tier, "hit"]).inc_by(u64::from(hits));
                m.cache.embedding_inputs.with_label_values(&[model, tier, "miss"]).inc_by(u64::from(misses));
            }
        }
        if state.access_log_enabled() {
            crate::telemetry::access_log::write(self, total);
        }
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext::new()
    }
}

/// Error codes are Sluice's own or relayed upstream codes; keep the label set bounded.
fn bounded_code(code: &str) -> &str {
    const KNOWN: &[&str] = &[
        "invalid_api_key",
        "model_not_allowed",
        "unknown_url",
        "method_not_allowed",
        "request_too_large",
        "invalid_json",
        "model_not_found",
        "model_not_supported",
        "upstream_unreachable",
        "upstream_timeout",
        "upstream_bad_response",
        "no_upstream_available",
        "internal_error",
        "upstream_auth_failed",
        "rate_limit_exceeded",
        "insufficient_quota",
        "context_length_exceeded",
        "invalid_value",
        "invalid_type",
        "missing_required_parameter",
        "unsupported_parameter",
    ];
    KNOWN.iter().find(|k| **k == code).copied().unwrap_or("other")
}
