//! Context trimming on the request path: a conversation over its route's token budget keeps its
//! system prompts and last turns whole, and its older turns are replaced by a summary written by
//! the route's cheap model.
//!
//! The decisions (where to cut, what the summariser sees, the summary's key) are
//! `sluice_policies::trim`'s. This module does the I/O around them:
//! - tiktoken counts, skipped when the body is too small to be over budget;
//! - the summary store: the response cache's tiers, keyed by tenant and prefix, so each prefix
//!   is summarised once and every instance sharing Redis reuses it;
//! - one summarisation call per prefix at a time, through the cache's single flight;
//! - the two modes: *wait* (bounded) and *truncate now, summarise in the background*.
//!
//! A summarisation call is charged to the conversation's own tenant and user: a reservation
//! settled to its usage, and a ledger record of its own (`endpoint` = `summary`, request id
//! `{id}:summary`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value};
use sluice_policies::cache::{CacheKey, CachedValue, Kind, LeaderGuard, Role, Scope};
use sluice_policies::ledger::UsageRecord;
use sluice_policies::quota::Limits;
use sluice_policies::store::{Admission, AdmitRequest, Subject};
use sluice_policies::trim::{self, Summariser, Trim, TrimPlan};
use sluice_providers::{self as providers, Endpoint, Usage};

use crate::accounting::{now_ms, tokens, Accounting};
use crate::config::{Config, ModelRoute, TrimRule};
use crate::error::GatewayError;
use crate::pipeline::context::RequestContext;
use crate::state::AppState;
use crate::telemetry::metrics::Metrics;
use crate::upstream;

/// The request header that opts one request out (`off`).
pub const REQUEST_HEADER: &str = "x-sluice-trim";

/// What trimming did to one request (for headers, the ledger and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    /// Prompt tokens of the conversation as the client sent it.
    pub tokens_before: u64,
    /// Prompt tokens sent upstream (estimated: the summary counted by its length).
    pub tokens_after: u64,
    /// How: `summarized`, or `truncated` (no summary ready: the older turns were dropped).
    pub outcome: &'static str,
}

/// Trims `request`'s messages in place when the route asks for it. Never fails the request for
/// a summary: a summariser that fails or is slow leaves the conversation truncated instead.
pub async fn apply(
    state: &AppState,
    ctx: &mut RequestContext,
    route: &ModelRoute,
    headers: &HeaderMap,
    request: &mut Map<String, Value>,
    body_len: usize,
) -> Result<(), GatewayError> {
    let opted_out = crate::opt_out::opted_out(headers, REQUEST_HEADER, "send the whole conversation")?;
    let Some(rule) = &route.trim else { return Ok(()) };
    // A token is at least one byte: a body within the budget in bytes is within it in tokens.
    if opted_out || (body_len as u64) <= rule.policy.budget_tokens {
        return Ok(());
    }
    let Some(Value::Array(messages)) = request.get("messages") else { return Ok(()) };
    let model = route.candidates.first().map_or("gpt-4o", |c| c.model.as_str());
    let counter = |m: &Value| tokens::count_message(model, m);
    let TrimPlan::Trim(cut) = trim::plan(messages, &rule.policy, &counter) else { return Ok(()) };

    let tenant = ctx.tenant.clone().unwrap_or_else(|| Arc::from(""));
    let summariser = Summariser {
        model: &rule.summary_route,
        prompt: &rule.summary_prompt,
        max_tokens: rule.policy.summary_max_tokens,
    };
    let prefix = trim::prefix_key(&tenant, &summariser, cut.dropped(messages));
    let key = summary_key(&tenant, &rule.summary_route, &prefix.to_hex());
    let mut summary = state.caching.cache.get(&key).await.and_then(|hit| summary_text(&hit.value));
    if summary.is_none() {
        let job = Job::new(state, ctx, rule, &summariser, &cut, messages, key);
        summary = match (state.caching.flights.join(&key), rule.wait) {
            (Role::Leader(guard), true) => tokio::time::timeout(rule.wait_timeout, job.run(guard)).await.ok().flatten(),
            (Role::Leader(guard), false) => {
                tokio::spawn(async move { job.run(guard).await });
                None
            }
            (Role::Follower(handle), true) => tokio::time::timeout(rule.wait_timeout, handle.value())
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|v| summary_text(&v)),
            // Another request is already writing this summary: truncate now.
            (Role::Follower(_), false) => None,
        };
    }
    let Some(Value::Array(messages)) = request.remove("messages") else { return Ok(()) };
    let original = messages.clone();
    let trimmed = match trim::apply(messages, &cut, summary.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "trim plan did not fit; forwarding untrimmed");
            request.insert("messages".to_string(), Value::Array(original));
            return Ok(());
        }
    };
    let tokens_after = if summary.is_some() { cut.tokens_after_summary } else { cut.tokens_after_truncation };
    let outcome = if summary.is_some() { "summarized" } else { "truncated" };
    if cut.over_budget {
        // The kept turns alone exceed the budget: they are sent anyway (never cut mid-turn).
        tracing::debug!(request_id = %ctx.request_id, tokens_after, "conversation still over its trim budget");
    }
    request.insert("messages".to_string(), Value::Array(trimmed));
    ctx.trimmed = Some(Trimmed { tokens_before: cut.tokens_before, tokens_after, outcome });
    let label = ctx.route.as_ref().map_or("none", |r| r.name.as_str());
    state.metrics.trims.with_label_values(&[label, outcome]).inc();
    state
        .metrics
        .trim_tokens_removed
        .with_label_values(&[label])
        .inc_by(cut.tokens_before.saturating_sub(tokens_after));
    Ok(())
}

/// The store key of a summary: per tenant, per summariser route, per prefix.
fn summary_key(tenant: &str, summary_route: &str, prefix_hex: &str) -> CacheKey {
    let mut id = Map::new();
    id.insert("prefix".to_string(), Value::String(prefix_hex.to_string()));
    CacheKey::for_request(Scope::Tenant(tenant), "sluice-trim-summary", summary_route, Kind::ChatJson, &id)
}

fn summary_text(value: &CachedValue) -> Option<String> {
    match value {
        CachedValue::Json { body, .. } => std::str::from_utf8(body).ok().map(str::to_string),
        _ => None,
    }
}

/// One summarisation call, owning everything it needs so it can outlive the request (truncate
/// mode runs it in the background).
struct Job {
    caching: sluice_policies::cache::Cache,
    accounting: Arc<Accounting>,
    metrics: Arc<Metrics>,
    config: Arc<Config>,
    body: Map<String, Value>,
    key: CacheKey,
    ttl: Duration,
    route: String,
    request_id: String,
    tenant: String,
    user: String,
    tier: String,
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    fn new(
        state: &AppState,
        ctx: &RequestContext,
        rule: &TrimRule,
        summariser: &Summariser<'_>,
        cut: &Trim,
        messages: &[Value],
        key: CacheKey,
    ) -> Job {
        let body = match trim::summary_request(cut.dropped(messages), summariser) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Job {
            caching: state.caching.cache.clone(),
            accounting: state.accounting.clone(),
            metrics: state.metrics.clone(),
            config: state.config(),
            body,
            key,
            // Summaries live as long as conversations plausibly continue.
            ttl: Duration::from_secs(24 * 3600),
            route: rule.summary_route.clone(),
            request_id: format!("{}:summary", ctx.request_id),
            tenant: ctx.tenant.as_deref().unwrap_or_default().to_string(),
            user: ctx.user.clone().unwrap_or_default(),
            tier: ctx.tier.as_deref().unwrap_or_default().to_string(),
        }
    }

    /// Calls the summariser, stores and charges the summary, and completes the flight (dropping
    /// the guard on failure lets the next request try again).
    async fn run(self, guard: LeaderGuard) -> Option<String> {
        let started = std::time::Instant::now();
        let result = self.call().await;
        let (status, usage, model, provider) = match &result {
            Ok((_, usage, model, provider)) => (200, *usage, Some(model.clone()), Some(provider.clone())),
            Err(e) => {
                tracing::warn!(request_id = %self.request_id, error = %e, "context summary failed; the conversation is truncated");
                (e.status(), Usage::default(), None, None)
            }
        };
        self.charge(status, usage, model, provider, started.elapsed()).await;
        let (text, usage, _, _) = result.ok()?;
        let value =
            CachedValue::Json { body: Bytes::from(text.clone()), tokens: crate::caching::tokens_of(Some(&usage)) };
        self.caching.put_memory(&self.key, value.clone(), self.ttl);
        self.caching.put_shared(&self.key, &value, self.ttl).await;
        guard.complete(value);
        Some(text)
    }

    /// The summariser's answer: its text, usage, upstream model and provider.
    async fn call(&self) -> Result<(String, Usage, String, String), GatewayError> {
        let route =
            self.config.models.get(&self.route).ok_or_else(|| GatewayError::ModelNotFound(self.route.clone()))?;
        let candidate = route.candidates.first().ok_or_else(|| GatewayError::NoCandidate(self.route.clone()))?;
        let summary = providers::validate(Endpoint::ChatCompletions, &self.body)?;
        let created = now_ms() / 1000;
        let prepared = providers::prepare(
            Endpoint::ChatCompletions,
            candidate.protocol,
            &self.body,
            &summary,
            &candidate.model,
            format!("chatcmpl-{}", self.request_id.replace(':', "-")),
            created,
        )?;
        self.metrics.upstream_requests.inc();
        let mut resp = upstream::send(candidate, &prepared, &self.request_id, &self.config.timeouts).await?;
        let status = resp.status().as_u16();
        let provider = candidate.provider.name.clone();
        let raw = upstream::read_body(&mut resp, self.config.timeouts.idle, &provider).await?;
        if !(200..300).contains(&status) {
            return Err(GatewayError::Upstream(providers::translate_error(candidate.protocol, status, &raw)));
        }
        let translated = providers::translate_body_bytes(&prepared.response, raw).map_err(GatewayError::Upstream)?;
        let v: Value = serde_json::from_slice(&translated.body)
            .map_err(|_| GatewayError::UpstreamProtocol { provider: provider.clone() })?;
        let text = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| GatewayError::UpstreamProtocol { provider: provider.clone() })?
            .to_string();
        let usage = match translated.usage {
            Some(u) => u,
            None => {
                let prompt = tokens::count_chat_prompt(&candidate.model, &self.body);
                let completion = tokens::count_text(&candidate.model, &text);
                Usage {
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    total_tokens: prompt + completion,
                    ..Usage::default()
                }
            }
        };
        Ok((text, usage, candidate.model.clone(), provider))
    }

    /// Charges the summary to the conversation's tenant and user: quota (a reservation settled to
    /// the usage; no limits apply to it) and one ledger record marked `summary`.
    async fn charge(&self, status: u16, usage: Usage, model: Option<String>, provider: Option<String>, took: Duration) {
        let actual = usage.prompt_tokens + usage.completion_tokens;
        if actual > 0 {
            let request = AdmitRequest {
                subject: Subject { tenant: &self.tenant, user: &self.user, tier: &self.tier },
                request_id: &self.request_id,
                limits: Limits::default(),
                prompt_estimate: 0,
                max_output: Some(0),
                default_output: 0,
                tenant_monthly_tokens: None,
            };
            if let Ok(Admission::Granted { reservation, .. }) = self.accounting.store.admit(&request).await {
                let _ = self.accounting.store.settle(&reservation, actual).await;
            }
        }
        let cost = model.as_deref().map_or(0.0, |m| self.config.cost_usd(m, &usage));
        let finished = now_ms();
        let latency_ms = took.as_secs_f64() * 1000.0;
        self.accounting.ledger.publish(UsageRecord {
            request_id: self.request_id.clone(),
            tenant: self.tenant.clone(),
            user: self.user.clone(),
            tier: self.tier.clone(),
            endpoint: "summary".to_string(),
            model_asked: self.route.clone(),
            model_used: model,
            provider,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            estimated: false,
            cost_usd: cost,
            cache_hit: false,
            downgraded: false,
            downgrade: None,
            complexity_score: None,
            saved_usd: 0.0,
            prompt_tokens_before_trim: None,
            trim: None,
            attempts: 1,
            status,
            stream: false,
            aborted: None,
            latency_ms,
            started_at_ms: finished.saturating_sub(latency_ms as u64),
            finished_at_ms: finished,
        });
    }
}
