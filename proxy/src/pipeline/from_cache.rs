//! Answers that need no upstream call of their own: a stored answer replayed (JSON in one write,
//! a stream event by event with its original chunk boundaries), or the answer of an identical
//! request in flight, followed as it arrives (single flight). Every replay gets a fresh `id` and
//! `created` ([`crate::caching::replay`]).
//!
//! Hits are settled before their last byte like any answer: recorded in the ledger as cached at
//! zero upstream cost, and counted against the quota only when the plan tier says so.

use bytes::Bytes;
use pingora::proxy::Session;
use sluice_policies::cache::{CachedValue, FollowerHandle, Tokens};
use sluice_providers::Usage;

use super::context::{RequestContext, StreamAbort};
use super::forward::{error_event, success_headers};
use super::respond;
use crate::caching::replay::Fresh;
use crate::caching::{CacheStatus, Plan, RESPONSE_HEADER};
use crate::config::Config;
use crate::error::GatewayError;
use crate::state::AppState;

/// Where a hit came from (the `layer` metric label).
pub fn layer_of(tier: sluice_policies::cache::Tier) -> &'static str {
    match tier {
        sluice_policies::cache::Tier::Memory => "memory",
        sluice_policies::cache::Tier::Redis => "redis",
    }
}

/// Replays a stored answer.
pub async fn serve(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    plan: &Plan,
    value: CachedValue,
    layer: &'static str,
) -> Result<(), GatewayError> {
    mark_hit(ctx, plan, layer);
    ctx.usage = Some(usage_of(value.tokens()));
    state.accounting.account(config, &state.metrics, ctx).await;
    let headers = hit_headers(config, ctx, plan);
    let mut fresh = Fresh::new();
    match value {
        CachedValue::Json { body, .. } => {
            // A write error means the client left after the answer was complete: nothing to undo.
            let _ = respond::json(session, ctx, 200, fresh.body(&body), headers).await;
        }
        CachedValue::Stream { events, .. } => {
            if respond::sse_header(session, ctx, headers).await.is_err() {
                ctx.stream_abort = Some(StreamAbort::ClientGone);
                return Ok(());
            }
            for event in &events {
                if write(session, ctx, fresh.event(event)).await.is_err() {
                    return Ok(());
                }
            }
            let _ = session.write_response_body(None, true).await;
        }
        CachedValue::Embedding { .. } => {
            return Err(GatewayError::Internal("an embedding cache entry was found under a chat key".to_string()))
        }
    }
    Ok(())
}

/// What following a flight came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// The request was answered (or its client left).
    Served,
    /// The leader failed before this request wrote anything: call the upstream yourself.
    LeaderFailed,
}

/// Waits for the leader of an identical request in flight and answers with its answer: the whole
/// JSON body once it is complete, or each stream event as the leader relays it. A leader that
/// fails before the first byte lets this request go upstream on its own; one that fails mid-stream
/// ends this stream with an error event too (its bytes are already out).
pub async fn follow(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    plan: &Plan,
    mut handle: FollowerHandle,
    stream: bool,
) -> Result<Followed, GatewayError> {
    let deadline = tokio::time::Instant::from_std(ctx.start + config.timeouts.total);
    if !stream {
        let value = tokio::select! {
            v = handle.value() => v,
            _ = session.read_body_or_idle(true) => return Ok(client_gone(ctx)),
            _ = tokio::time::sleep_until(deadline) => return Ok(Followed::LeaderFailed),
        };
        return match value {
            Ok(value) => serve(state, config, session, ctx, plan, value, "flight").await.map(|()| Followed::Served),
            Err(_) => Ok(Followed::LeaderFailed),
        };
    }
    let first = tokio::select! {
        e = handle.next_event() => e,
        _ = session.read_body_or_idle(true) => return Ok(client_gone(ctx)),
        _ = tokio::time::sleep_until(deadline) => return Ok(Followed::LeaderFailed),
    };
    let Ok(Some(first)) = first else { return Ok(Followed::LeaderFailed) };
    mark_hit(ctx, plan, "flight");
    let headers = hit_headers(config, ctx, plan);
    if respond::sse_header(session, ctx, headers).await.is_err() {
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(Followed::Served);
    }
    let mut fresh = Fresh::new();
    let mut event = first;
    loop {
        if event.starts_with(b"data: [DONE]") {
            // The terminal event: settle before it goes out, with the leader's final usage.
            let value = tokio::select! {
                v = handle.value() => v.ok(),
                _ = tokio::time::sleep_until(deadline) => None,
            };
            ctx.usage = Some(usage_of(value.map_or(Tokens::default(), |v| v.tokens())));
            state.accounting.account(config, &state.metrics, ctx).await;
            if write(session, ctx, fresh.event(&event)).await.is_ok() {
                let _ = session.write_response_body(None, true).await;
            }
            return Ok(Followed::Served);
        }
        if write(session, ctx, fresh.event(&event)).await.is_err() {
            return Ok(Followed::Served);
        }
        let next = tokio::select! {
            e = handle.next_event() => e,
            _ = session.read_body_or_idle(true) => {
                ctx.stream_abort = Some(StreamAbort::ClientGone);
                return Ok(Followed::Served);
            }
            _ = tokio::time::sleep_until(deadline) => Err(sluice_policies::cache::LeaderFailed),
        };
        match next {
            Ok(Some(e)) => event = e,
            Ok(None) => {
                // Complete without a `[DONE]` event (not a chat stream): end it here.
                let value = handle.value().await.ok();
                ctx.usage = Some(usage_of(value.map_or(Tokens::default(), |v| v.tokens())));
                state.accounting.account(config, &state.metrics, ctx).await;
                let _ = session.write_response_body(None, true).await;
                return Ok(Followed::Served);
            }
            Err(_) => {
                let failure = GatewayError::UpstreamProtocol { provider: plan.provider.clone() };
                ctx.stream_abort = Some(StreamAbort::UpstreamError);
                ctx.error = Some((failure.domain(), failure.parts().2.unwrap_or("error").to_string()));
                let _ = session.write_response_body(Some(error_event(&failure)), true).await;
                return Ok(Followed::Served);
            }
        }
    }
}

fn mark_hit(ctx: &mut RequestContext, plan: &Plan, layer: &'static str) {
    ctx.cache = Some(CacheStatus::Hit);
    ctx.cache_layer = Some(layer);
    ctx.model_used = Some(plan.upstream_model.clone());
    ctx.provider = Some("cache".to_string());
    ctx.status = 200;
}

fn usage_of(tokens: Tokens) -> Usage {
    let (prompt, completion) = (u64::from(tokens.prompt), u64::from(tokens.completion));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

fn hit_headers(config: &Config, ctx: &RequestContext, plan: &Plan) -> respond::ExtraHeaders {
    let mut h = success_headers(config, ctx, &plan.upstream_model, "cache");
    h.push((RESPONSE_HEADER, CacheStatus::Hit.header().to_string()));
    h
}

fn client_gone(ctx: &mut RequestContext) -> Followed {
    ctx.status = 499;
    ctx.stream_abort = Some(StreamAbort::ClientGone);
    Followed::Served
}

async fn write(session: &mut Session, ctx: &mut RequestContext, event: Bytes) -> respond::WriteResult {
    if ctx.first_byte.is_none() {
        ctx.first_byte = Some(ctx.start.elapsed());
    }
    let r = session.write_response_body(Some(event), false).await;
    if r.is_err() {
        ctx.stream_abort = Some(StreamAbort::ClientGone);
    }
    r
}
