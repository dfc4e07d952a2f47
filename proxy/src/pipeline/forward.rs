//! Model requests (chat, embeddings, completions, responses): validate, route, translate, call the
//! upstream, and relay the answer — JSON in one piece, SSE event by event as it arrives.
//!
//! Architecture invariant: nothing is written downstream before the upstream has answered with
//! its headers, so later issues can retry or fail over inside [`call_upstream`]'s caller; once the
//! first byte is out, a failure ends the stream with an OpenAI error event instead.

use std::time::Instant;

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{Map, Value};
use sluice_providers::{self as providers, Endpoint, PreparedRequest, Protocol, StreamTranslator, Usage};

use super::context::{RequestContext, StreamAbort};
use super::failover;
use super::from_cache::{self, Followed};
use super::respond;
use crate::accounting::headers::{go_duration, rate_limit_headers};
use crate::accounting::tokens;
use crate::caching::fill::Fill;
use crate::caching::{self, CacheStatus, Decision, RESPONSE_HEADER};
use crate::config::{Candidate, Config};
use crate::downgrade;
use crate::error::GatewayError;
use crate::identity::{self, Caller};
use crate::state::AppState;
use crate::upstream;

/// Handles one model request whose body has been read.
pub async fn serve(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    endpoint: Endpoint,
    caller: &Caller,
    body: &[u8],
) -> Result<(), GatewayError> {
    let mut request: Map<String, Value> = parse_object(body)?;
    let summary = providers::validate(endpoint, &request)?;
    ctx.model_asked = Some(summary.model.clone());
    ctx.stream = summary.stream;

    let header_user = session.req_header().headers.get("x-sluice-user").and_then(|v| v.to_str().ok());
    let user = identity::end_user(caller, summary.user.as_deref(), header_user);
    if user.len() > identity::MAX_USER_LEN {
        return Err(GatewayError::InvalidRequest(providers::InvalidRequest {
            message: format!("The end-user id is longer than {} bytes.", identity::MAX_USER_LEN),
            param: Some("user".to_string()),
            code: Some("invalid_value"),
        }));
    }
    ctx.user = Some(user);

    let route = config.models.get(&summary.model).ok_or_else(|| GatewayError::ModelNotFound(summary.model.clone()))?;
    ctx.route = Some(route.clone());
    if !route.kind.serves(endpoint) {
        return Err(GatewayError::WrongEndpoint { model: route.name.clone(), endpoint: endpoint_path(endpoint) });
    }
    let first = route.candidates.first().ok_or_else(|| GatewayError::NoCandidate(route.name.clone()))?;
    if let (Some(asked), Some(fixed), Protocol::CloudflareNative) =
        (summary.dimensions, route.dimensions, first.protocol)
    {
        if asked != fixed {
            return Err(GatewayError::InvalidRequest(providers::InvalidRequest {
                message: format!("The model `{}` produces {fixed}-dimensional embeddings; `dimensions` = {asked} cannot be honoured. Leave `dimensions` out or set it to {fixed}.", route.name),
                param: Some("dimensions".to_string()),
                code: Some("invalid_value"),
            }));
        }
    }

    let headers = &session.req_header().headers;
    // A downgrade rule may hand the request to a cheaper route; quotas and the tier's allow-list
    // still apply to the route asked for.
    let asked = route;
    let mut target = None;
    if endpoint == Endpoint::ChatCompletions {
        let (tier, tenant) = (ctx.tier.as_deref().unwrap_or(""), ctx.tenant.as_deref().unwrap_or(""));
        if let Some(verdict) = downgrade::decide(config, asked, tier, tenant, headers, &request, &ctx.request_id)? {
            ctx.downgrade = Some((verdict.outcome, verdict.score));
            ctx.downgrade_reason = verdict.reason;
            if let Some(to) = verdict.to.as_ref().and_then(|t| config.models.get(&t.name)) {
                ctx.downgraded_from = asked.candidates.first().map(|c| c.model.clone());
                target = Some(to);
            }
        }
    }
    let route = target.unwrap_or(asked);
    if endpoint == Endpoint::ChatCompletions {
        crate::trimming::apply(state, ctx, asked, headers, &mut request, body.len()).await?;
    }
    let decision = caching::decide(config, route, endpoint, ctx.tenant.as_ref(), headers, &request, summary.stream)?;

    state.accounting.admit(config, &state.metrics, ctx, asked, endpoint, &summary, body.len()).await?;

    let mut fill = None;
    match &decision {
        // Every embeddings request, cached or not: per-input cache, splitting, micro-batching.
        _ if endpoint == Endpoint::Embeddings => {
            let req = failover::Request {
                state,
                config,
                route,
                endpoint,
                body: &request,
                summary: &summary,
                body_len: body.len(),
            };
            return super::embeddings::serve(&req, session, ctx, &decision).await;
        }
        Decision::NotApplicable => {}
        Decision::Bypass => ctx.cache = Some(CacheStatus::Bypass),
        Decision::Active(plan) if !plan.read => {
            ctx.cache = Some(CacheStatus::Refresh);
            fill = Some(Fill::new(plan, None));
        }
        Decision::Active(plan) => {
            ctx.cache = Some(CacheStatus::Miss);
            if let Some(hit) = state.caching.cache.get(&plan.key).await {
                let layer = from_cache::layer_of(hit.tier);
                return from_cache::serve(state, config, session, ctx, plan, hit.value, layer).await;
            }
            match state.caching.flights.join(&plan.key) {
                sluice_policies::cache::Role::Leader(guard) => {
                    // A flight for this key may have completed (and stored) since the lookup.
                    if let Some(value) = state.caching.cache.get_memory(&plan.key) {
                        guard.complete(value.clone());
                        return from_cache::serve(state, config, session, ctx, plan, value, "memory").await;
                    }
                    fill = Some(Fill::new(plan, Some(guard)));
                }
                sluice_policies::cache::Role::Follower(handle) => {
                    if from_cache::follow(state, config, session, ctx, plan, handle, summary.stream).await?
                        == Followed::Served
                    {
                        return Ok(());
                    }
                    // The leader failed before answering: go upstream on our own (and fill).
                    fill = Some(Fill::new(plan, None));
                }
            }
        }
    }

    let failover =
        failover::Request { state, config, route, endpoint, body: &request, summary: &summary, body_len: body.len() };
    let Some(failover::Served { candidate, prepared, resp, admitted, permit }) =
        failover::call(&failover, session, ctx).await?
    else {
        return Ok(());
    };
    let call = Call { state, config, candidate, prepared: &prepared, request: &request, endpoint };
    let upstream_start = Instant::now();
    let result = if prepared.stream {
        relay_stream(&call, session, ctx, resp, upstream_start, fill).await
    } else {
        relay_json(&call, session, ctx, resp, upstream_start, fill).await
    };
    failover::finish(&failover, candidate, admitted, result.is_err(), ctx);
    drop(permit);
    result
}

/// Everything about one upstream call that the relay steps read.
struct Call<'a> {
    state: &'a AppState,
    config: &'a Config,
    candidate: &'a Candidate,
    prepared: &'a PreparedRequest,
    request: &'a Map<String, Value>,
    endpoint: Endpoint,
}

/// Diagnostic and rate-limit headers of a successful response served by `model` of `provider`.
pub(super) fn success_headers(
    config: &Config,
    ctx: &RequestContext,
    model: &str,
    provider: &str,
) -> respond::ExtraHeaders {
    let mut h = Vec::with_capacity(16);
    h.extend([("x-sluice-model", model.to_string()), ("x-sluice-provider", provider.to_string())]);
    h.push(("x-sluice-attempts", ctx.attempts.to_string()));
    h.push(("x-sluice-fallback", if ctx.fallback { "true" } else { "false" }.to_string()));
    if let Some(status) = ctx.cache {
        h.push((RESPONSE_HEADER, status.header().to_string()));
    }
    if let Some((outcome, score)) = ctx.downgrade {
        h.push((downgrade::REQUEST_HEADER, outcome.as_str().to_string()));
        let mut reason = ctx.downgrade_reason.clone();
        if let Some(score) = score {
            reason = format!("score={score:.2}; signals={reason}");
        }
        h.push(("x-sluice-downgrade-reason", reason));
    }
    if let Some(rate) = &ctx.rate {
        h.extend(rate_limit_headers(rate));
    }
    if let Some(left) = ctx.quota_remaining {
        h.push(("x-sluice-quota-remaining-tokens", left.to_string()));
        // Without a tokens/min limit, the token headers describe the monthly quota, so they
        // still fall as the user spends.
        if ctx.rate.is_none_or(|r| r.tokens.is_none()) {
            let (tenant, user, tier) = (ctx.tenant.as_deref(), ctx.user.as_deref(), ctx.tier.as_deref());
            let limits = config.limits_for(tenant.unwrap_or(""), user.unwrap_or(""), tier.unwrap_or(""));
            if let Some(limit) = limits.monthly_tokens {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let reset = sluice_policies::quota::next_month_start(now).saturating_sub(now);
                h.push(("x-ratelimit-limit-tokens", limit.to_string()));
                h.push(("x-ratelimit-remaining-tokens", left.to_string()));
                h.push(("x-ratelimit-reset-tokens", go_duration(std::time::Duration::from_secs(reset))));
            }
        }
    }
    h
}

impl Call<'_> {
    /// Diagnostic and rate-limit headers of a successful response.
    fn success_headers(&self, ctx: &RequestContext) -> respond::ExtraHeaders {
        success_headers(self.config, ctx, &self.candidate.model, &self.candidate.provider.name)
    }

    /// Fills in usage the upstream did not report, counted with tiktoken and marked estimated.
    fn complete_usage(&self, ctx: &mut RequestContext, completion_text: Option<&str>) {
        if ctx.usage.is_some() && !ctx.usage_estimated {
            return;
        }
        let model = self.candidate.model.as_str();
        let prompt = match self.endpoint {
            Endpoint::ChatCompletions => tokens::count_chat_prompt(model, self.request),
            _ => tokens::count_input(model, self.request),
        };
        let completion = match completion_text {
            Some(text) => tokens::count_text(model, text),
            None => ctx.usage.map_or(0, |u| u.completion_tokens),
        };
        ctx.usage = Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        });
        ctx.usage_estimated = true;
    }
}

async fn relay_json(
    call: &Call<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    mut resp: reqwest::Response,
    upstream_start: Instant,
    mut fill: Option<Fill>,
) -> Result<(), GatewayError> {
    let (config, candidate) = (call.config, call.candidate);
    let read = upstream::read_body(&mut resp, config.timeouts.idle, &candidate.provider.name);
    tokio::pin!(read);
    let mut client_present = true;
    let body = loop {
        tokio::select! {
            r = &mut read => break Some(r),
            _ = session.read_body_or_idle(true), if client_present => {
                // The client left; the answer is still read to its end when others follow it.
                client_present = false;
                if !fill.as_ref().is_some_and(Fill::has_followers) {
                    break None;
                }
            }
        }
    };
    ctx.upstream_elapsed = Some(upstream_start.elapsed());
    let Some(body) = body else {
        ctx.status = 499;
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(());
    };
    let translated = providers::translate_body_bytes(&call.prepared.response, body?).map_err(GatewayError::Upstream)?;
    ctx.usage = translated.usage;
    ctx.usage_estimated = translated.usage_estimated;
    if ctx.usage.is_none() || ctx.usage_estimated {
        let text = completion_text_of(&translated.body);
        call.complete_usage(ctx, text.as_deref());
    }
    // Usage is settled and counted before the answer's last byte goes out.
    ctx.status = 200;
    call.state.accounting.account(config, &call.state.metrics, ctx).await;
    if let Some(fill) = fill.take() {
        // Only the route's first choice is stored: a fallback model's answer is served, not kept.
        let tokens = caching::tokens_of(ctx.usage.as_ref());
        fill.complete_json(&call.state.caching, &call.state.metrics, translated.body.clone(), tokens, !ctx.fallback);
    }
    if !client_present {
        ctx.status = 499;
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(());
    }
    let headers = call.success_headers(ctx);
    // A write error means the client left after the answer was complete: nothing to undo.
    let _ = respond::json(session, ctx, 200, translated.body, headers).await;
    Ok(())
}

/// The generated text of a translated JSON answer (for token estimation only).
fn completion_text_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut text = String::new();
    for choice in v.get("choices")?.as_array()? {
        if let Some(t) = choice.pointer("/message/content").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(t) = choice.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(calls) = choice.pointer("/message/tool_calls") {
            text.push_str(&calls.to_string());
        }
    }
    Some(text)
}

enum Step {
    Chunk(Result<Option<Bytes>, GatewayError>),
    ClientGone,
    Deadline,
}

async fn relay_stream(
    call: &Call<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    mut resp: reqwest::Response,
    upstream_start: Instant,
    mut fill: Option<Fill>,
) -> Result<(), GatewayError> {
    let (config, candidate) = (call.config, call.candidate);
    let provider = candidate.provider.name.as_str();
    let is_sse = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        ctx.upstream_elapsed = Some(upstream_start.elapsed());
        return Err(GatewayError::UpstreamProtocol { provider: provider.to_string() });
    }
    let headers = call.success_headers(ctx);
    if respond::sse_header(session, ctx, headers).await.is_err() {
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(());
    }
    let deadline = tokio::time::Instant::from_std(ctx.start + config.timeouts.total);
    let mut translator = StreamTranslator::new(&call.prepared.response);
    let mut out: Vec<Bytes> = Vec::with_capacity(4);
    let mut relay = Relay { fill: fill.take(), downstream: true };
    loop {
        let step = tokio::select! {
            r = upstream::next_chunk(&mut resp, config.timeouts.idle, provider) => Step::Chunk(r),
            _ = session.read_body_or_idle(true), if relay.downstream => Step::ClientGone,
            _ = tokio::time::sleep_until(deadline) => Step::Deadline,
        };
        let failure = match step {
            Step::ClientGone => {
                ctx.stream_abort = Some(StreamAbort::ClientGone);
                relay.downstream = false;
                if relay.followed() {
                    // Others follow this answer: read it to its end without a client of our own.
                    continue;
                }
                break;
            }
            Step::Deadline => GatewayError::UpstreamTimeout { provider: provider.to_string() },
            Step::Chunk(Err(e)) => e,
            Step::Chunk(Ok(None)) => match translator.finish(&mut out) {
                Err(e) => GatewayError::Upstream(e),
                Ok(()) if translator.is_complete() => {
                    finish_stream(call, session, ctx, &translator, &mut out, upstream_start, &mut relay).await;
                    break;
                }
                // The upstream closed without its terminal event: the answer is truncated.
                Ok(()) => GatewayError::UpstreamProtocol { provider: provider.to_string() },
            },
            Step::Chunk(Ok(Some(chunk))) => match translator.push(&chunk, &mut out) {
                Err(e) => GatewayError::Upstream(e),
                Ok(()) if translator.is_complete() => {
                    finish_stream(call, session, ctx, &translator, &mut out, upstream_start, &mut relay).await;
                    break;
                }
                Ok(()) => {
                    if relay.write(session, ctx, &mut out).await.is_err() {
                        break;
                    }
                    continue;
                }
            },
        };
        // The stream failed after bytes went downstream: end it with an OpenAI error event.
        // Events already decoded from the failing chunk are sent first. The fill is dropped
        // with `relay`, so nothing is cached and any followers end their streams the same way.
        let _ = relay.write(session, ctx, &mut out).await;
        ctx.stream_abort = Some(if matches!(failure, GatewayError::UpstreamTimeout { .. }) {
            StreamAbort::IdleTimeout
        } else {
            StreamAbort::UpstreamError
        });
        ctx.error = Some((failure.domain(), failure.parts().2.unwrap_or("error").to_string()));
        tracing::warn!(request_id = %ctx.request_id, provider, error = %failure, "stream failed mid-way");
        if relay.downstream {
            let _ = session.write_response_body(Some(error_event(&failure)), true).await;
        }
        break;
    }
    drop(relay);
    drop(resp);
    if ctx.upstream_elapsed.is_none() {
        ctx.upstream_elapsed = Some(upstream_start.elapsed());
    }
    if !ctx.accounted {
        // Aborted or failed: what was generated is still accounted (settled in the logging phase).
        stream_usage(call, ctx, &translator);
    }
    Ok(())
}

/// Usage of a stream: the upstream's usage chunk, or a tiktoken count of what was streamed.
fn stream_usage(call: &Call<'_>, ctx: &mut RequestContext, translator: &StreamTranslator) {
    ctx.usage = translator.usage();
    ctx.usage_estimated = false;
    if ctx.usage.is_none() {
        call.complete_usage(ctx, Some(translator.completion_text()));
    }
}

/// The terminal event arrived: settle usage, then write the last events and end the stream, so a
/// client that has read its answer sees its usage counted. Then the complete answer is cached
/// and handed to any followers.
async fn finish_stream(
    call: &Call<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    translator: &StreamTranslator,
    out: &mut Vec<Bytes>,
    upstream_start: Instant,
    relay: &mut Relay,
) {
    ctx.upstream_elapsed = Some(upstream_start.elapsed());
    stream_usage(call, ctx, translator);
    call.state.accounting.account(call.config, &call.state.metrics, ctx).await;
    if relay.write(session, ctx, out).await.is_ok() && relay.downstream {
        let _ = session.write_response_body(None, true).await;
    }
    if let Some(fill) = relay.fill.take() {
        let tokens = caching::tokens_of(ctx.usage.as_ref());
        // Only the route's first choice is stored: a fallback model's answer is served, not kept.
        fill.complete_stream(&call.state.caching, &call.state.metrics, tokens, !ctx.fallback);
    }
}

/// Where relayed stream events go: the client (while it is there) and the cache fill.
struct Relay {
    fill: Option<Fill>,
    /// The client is still reading.
    downstream: bool,
}

impl Relay {
    /// Whether other requests follow this stream.
    fn followed(&self) -> bool {
        self.fill.as_ref().is_some_and(Fill::has_followers)
    }

    /// Sends the decoded events on. `Err` once there is nobody left to relay to (the client
    /// left and nobody follows): stop reading the upstream.
    async fn write(&mut self, session: &mut Session, ctx: &mut RequestContext, out: &mut Vec<Bytes>) -> Result<(), ()> {
        for event in out.drain(..) {
            if let Some(fill) = self.fill.as_mut() {
                fill.event(&event);
            }
            if !self.downstream {
                continue;
            }
            if ctx.first_byte.is_none() {
                ctx.first_byte = Some(ctx.start.elapsed());
            }
            if session.write_response_body(Some(event), false).await.is_err() {
                ctx.stream_abort = Some(StreamAbort::ClientGone);
                self.downstream = false;
            }
        }
        if self.downstream || self.followed() {
            Ok(())
        } else {
            Err(())
        }
    }
}

/// `data: {"error": {...}}\n\n` for a stream that fails mid-way.
pub fn error_event(err: &GatewayError) -> Bytes {
    let body = err.body();
    let mut event = Vec::with_capacity(body.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(&body);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// Parses the body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.is_empty() {
        return Err(GatewayError::InvalidJson("the body is empty".to_string()));
    }
    match sluice_providers::json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GatewayError::InvalidJson("the body is not a JSON object".to_string())),
        Err(e) => Err(GatewayError::InvalidJson(e.to_string())),
    }
}

fn endpoint_path(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ChatCompletions => "/v1/chat/completions",
        Endpoint::Embeddings => "/v1/embeddings",
        Endpoint::Completions => "/v1/completions",
        Endpoint::Responses => "/v1/responses",
    }
}
