//! Embedding inputs sent upstream: split into calls of at most the route's `max_batch_inputs`
//! (Workers AI takes 100 texts per call), at most [`PARALLEL_CALLS`] calls in flight at once, each
//! through failover (breakers, pacing, retries, fallback), and reassembled in input order.
//!
//! All or nothing: the first call that fails stops the others (each records a neutral breaker
//! outcome) and fails the whole fetch with its error, so no partial answer is ever served or
//! cached. All vectors of a fetch come from one model: if a fallback answered some calls and the
//! first choice others, the others are asked again of that fallback, because vectors of two
//! models never share a space.
//!
//! The calls watch a [`Cancel`] signal instead of a client connection, so the same code serves
//! one request (the signal is raised when its client leaves) and a micro-batch of several (it is
//! never raised by a client).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value};
use sluice_providers::{self as providers, Endpoint, Usage};
use tokio::sync::watch;

use super::Vector;
use crate::accounting::tokens;
use crate::error::GatewayError;
use crate::pipeline::context::{RequestContext, StreamAbort};
use crate::pipeline::failover::{self, Downstream};
use crate::upstream;

/// Upstream calls of one fetch in flight at once.
pub const PARALLEL_CALLS: usize = 4;

/// Raised to stop every call of a fetch: its client left, or one of its calls failed.
pub type Cancel = watch::Sender<bool>;

/// What the calls of one fetch need, whoever waits for them.
pub struct Job<'a> {
    /// The route, config and state (its body and summary are replaced per call).
    pub req: &'a failover::Request<'a>,
    /// Every body field but `input`, sent with each call.
    pub template: Map<String, Value>,
    /// Sent upstream as `x-request-id`.
    pub request_id: String,
    /// The pacing queue's tenant.
    pub tenant: Option<Arc<str>>,
    /// Start of the first-byte deadline.
    pub start: Instant,
}

impl<'a> Job<'a> {
    /// A job for `req` on behalf of `ctx`'s request, without the body fields in `drop`.
    pub fn new(req: &'a failover::Request<'a>, ctx: &RequestContext, drop: &[&str]) -> Job<'a> {
        let template =
            req.body.iter().filter(|(k, _)| !drop.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        Job { req, template, request_id: ctx.request_id.clone(), tenant: ctx.tenant.clone(), start: ctx.start }
    }
}

/// How the upstream calls of a fetch went, for the ledger, metrics and access log of every
/// request they served.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Upstream attempts, retries and fallbacks included.
    pub attempts: u32,
    /// The provider that answered (or was tried last).
    pub provider: Option<String>,
    /// The upstream model id that answered (or was tried last).
    pub model_used: Option<String>,
    /// A fallback candidate answered (or was tried last).
    pub fallback: bool,
    /// Sluice retried and gave up: clients must not retry on top.
    pub gave_up: bool,
    /// Wall time of the fetch.
    pub elapsed: Duration,
}

impl Trace {
    fn of(ctx: &RequestContext) -> Trace {
        Trace {
            attempts: ctx.attempts,
            provider: ctx.provider.clone(),
            model_used: ctx.model_used.clone(),
            fallback: ctx.fallback,
            gave_up: ctx.gave_up,
            elapsed: Duration::ZERO,
        }
    }

    /// Adds these calls to a request's context.
    pub fn apply(&self, ctx: &mut RequestContext) {
        ctx.attempts += self.attempts;
        if self.provider.is_some() {
            ctx.provider = self.provider.clone();
            ctx.model_used = self.model_used.clone();
        }
        ctx.fallback |= self.fallback;
        ctx.gave_up |= self.gave_up;
        ctx.upstream_elapsed = Some(ctx.upstream_elapsed.unwrap_or_default() + self.elapsed);
    }
}

/// The vectors of a successful fetch, in input order.
#[derive(Debug)]
pub struct Fetched {
    /// One per input, each with its share of the prompt tokens.
    pub vectors: Vec<Vector>,
    /// The model as the upstream named it (the response's `model`).
    pub model: String,
    /// Which of the route's candidates answered.
    pub candidate: usize,
    /// The token counts are tiktoken estimates (Workers AI reports none).
    pub estimated: bool,
}

/// One upstream call's answer.
struct Chunk {
    vectors: Vec<Vector>,
    model: String,
    candidate: usize,
    estimated: bool,
}

type ChunkResult = (Result<Option<Chunk>, GatewayError>, Trace);

/// Embeds `inputs` upstream. `Ok(None)`: cancelled (the client left). `only` pins every call to
/// one of the route's candidates.
pub async fn run(
    job: &Job<'_>,
    inputs: &[Value],
    only: Option<usize>,
    cancel: &Cancel,
) -> (Result<Option<Fetched>, GatewayError>, Trace) {
    let started = Instant::now();
    let chunks: Vec<&[Value]> = inputs.chunks(job.req.route.max_batch_inputs.max(1)).collect();
    let mut outs: Vec<ChunkResult> = calls(job, chunks.iter().copied(), only, cancel).await;
    let mut attempts: u32 = outs.iter().map(|(_, t)| t.attempts).sum();
    // Calls answered by different candidates: ask the fallback that answered (it works) again.
    let served = |outs: &[ChunkResult], i: usize| match &outs[i].0 {
        Ok(Some(chunk)) => Some(chunk.candidate),
        _ => None,
    };
    let all_served = (0..outs.len()).all(|i| served(&outs, i).is_some());
    let winner = (0..outs.len()).filter_map(|i| served(&outs, i)).max();
    if let (true, None, Some(winner)) = (all_served, only, winner) {
        let redo: Vec<usize> = (0..outs.len()).filter(|&i| served(&outs, i) != Some(winner)).collect();
        if !redo.is_empty() {
            let again = calls(job, redo.iter().map(|&i| chunks[i]), Some(winner), cancel).await;
            for (i, out) in redo.into_iter().zip(again) {
                attempts += out.1.attempts;
                outs[i] = out;
            }
        }
    }
    // The first real failure wins over the calls it cancelled.
    let decisive = outs
        .iter()
        .position(|(r, _)| r.is_err())
        .or_else(|| outs.iter().position(|(r, _)| matches!(r, Ok(None))))
        .unwrap_or(outs.len().saturating_sub(1));
    let mut trace = outs.get(decisive).map(|(_, t)| t.clone()).unwrap_or_default();
    trace.attempts = attempts;
    trace.elapsed = started.elapsed();
    // Not in chunk order: a call cancelled by a later call's failure must not pass for a client
    // that left (nobody would answer the client).
    if let Some(Err(e)) = outs.iter().position(|(r, _)| r.is_err()).map(|i| outs.swap_remove(i).0) {
        return (Err(e), trace);
    }
    let mut fetched =
        Fetched { vectors: Vec::with_capacity(inputs.len()), model: String::new(), candidate: 0, estimated: false };
    for (result, _) in outs {
        match result {
            Err(e) => return (Err(e), trace),
            Ok(None) => return (Ok(None), trace),
            Ok(Some(chunk)) => {
                fetched.vectors.extend(chunk.vectors);
                fetched.model = chunk.model;
                fetched.candidate = chunk.candidate;
                fetched.estimated |= chunk.estimated;
            }
        }
    }
    (Ok(Some(fetched)), trace)
}

/// The calls for `chunks`, [`PARALLEL_CALLS`] at a time, answers in chunk order.
async fn calls<'c>(
    job: &Job<'_>,
    chunks: impl Iterator<Item = &'c [Value]>,
    only: Option<usize>,
    cancel: &Cancel,
) -> Vec<ChunkResult> {
    // The futures are built first: a stream that maps with a closure is not `Send` enough for
    // Pingora's request future (rustc's higher-ranked lifetime limits).
    let pending: Vec<_> = chunks.map(|chunk| call(job, chunk, only, cancel)).collect();
    stream::iter(pending).buffered(PARALLEL_CALLS).collect().await
}

/// One upstream call for `inputs`, in a context of its own; a failure cancels the other calls.
async fn call(job: &Job<'_>, inputs: &[Value], only: Option<usize>, cancel: &Cancel) -> ChunkResult {
    let mut ctx = RequestContext::new();
    ctx.start = job.start;
    ctx.request_id.clone_from(&job.request_id);
    ctx.tenant.clone_from(&job.tenant);
    let result = if *cancel.borrow() { Ok(None) } else { attempt(job, inputs, only, cancel, &mut ctx).await };
    if result.is_err() {
        cancel.send_replace(true);
    }
    (result, Trace::of(&ctx))
}

async fn attempt(
    job: &Job<'_>,
    inputs: &[Value],
    only: Option<usize>,
    cancel: &Cancel,
    ctx: &mut RequestContext,
) -> Result<Option<Chunk>, GatewayError> {
    let mut body = job.template.clone();
    body.insert("input".to_string(), Value::Array(inputs.to_vec()));
    // Base64 carries the exact f32s in a quarter of the JSON; the client's format is rendered later.
    body.insert("encoding_format".to_string(), Value::String("base64".to_string()));
    let summary = providers::validate(Endpoint::Embeddings, &body)?;
    let sub = failover::Request { body: &body, summary: &summary, ..*job.req };
    let mut gone = Cancelled(cancel.subscribe());
    let Some(failover::Served { candidate, prepared, mut resp, admitted, permit }) =
        failover::call_with(&sub, only, &mut gone, ctx).await?
    else {
        return Ok(None);
    };
    let provider = candidate.provider.name.as_str();
    let raw = tokio::select! {
        r = upstream::read_body(&mut resp, job.req.config.timeouts.idle, provider) => Some(r),
        _ = gone.gone() => None,
    };
    let result = match raw {
        None => {
            ctx.stream_abort = Some(StreamAbort::ClientGone);
            Ok(None)
        }
        Some(raw) => raw.and_then(|raw| {
            let translated =
                providers::translate_body_bytes(&prepared.response, raw).map_err(GatewayError::Upstream)?;
            let parsed = super::parse_vectors(&translated.body, inputs.len())
                .ok_or_else(|| GatewayError::UpstreamProtocol { provider: provider.to_string() })?;
            Ok(Some((translated, parsed)))
        }),
    };
    failover::finish(&sub, candidate, admitted, result.is_err(), ctx);
    drop(permit);
    let Some((translated, (model, vectors))) = result? else { return Ok(None) };
    let (usage, estimated) = match translated.usage {
        Some(u) if !translated.usage_estimated => (u, false),
        _ => {
            let prompt = tokens::count_input(&candidate.model, &body);
            (Usage { prompt_tokens: prompt, total_tokens: prompt, ..Usage::default() }, true)
        }
    };
    let shares = apportion(usage.prompt_tokens, inputs.iter().map(weight));
    let candidate_index = job.req.route.candidates.iter().position(|c| std::ptr::eq(c, candidate)).unwrap_or_default();
    Ok(Some(Chunk {
        vectors: vectors
            .into_iter()
            .zip(shares)
            .map(|(f32_le, tokens): (Bytes, u32)| Vector { f32_le, tokens })
            .collect(),
        model: if model.is_empty() { candidate.model.clone() } else { model },
        candidate: candidate_index,
        estimated,
    }))
}

/// A call's view of [`Cancel`]: "the client left" once it is raised.
struct Cancelled(watch::Receiver<bool>);

impl Downstream for Cancelled {
    async fn gone(&mut self) {
        let closed = self.0.wait_for(|raised| *raised).await.is_err();
        if closed {
            // Nobody can raise it any more: it never will be.
            std::future::pending::<()>().await;
        }
    }
}

/// How much of a call's prompt tokens an input accounts for: its length.
pub fn weight(input: &Value) -> u64 {
    match input {
        Value::String(s) => s.len() as u64,
        Value::Array(ids) => ids.len() as u64,
        _ => 1,
    }
}

/// Splits `total` in proportion to `weights`; the parts add up to `total` exactly.
pub fn apportion(total: u64, weights: impl Iterator<Item = u64>) -> Vec<u32> {
    let weights: Vec<u64> = weights.map(|w| w.max(1)).collect();
    let sum: u64 = weights.iter().sum();
    let mut parts: Vec<u64> = weights.iter().map(|w| total.saturating_mul(*w) / sum.max(1)).collect();
    let given: u64 = parts.iter().sum();
    if let Some(last) = parts.last_mut() {
        *last += total.saturating_sub(given);
    }
    parts.into_iter().map(|p| u32::try_from(p).unwrap_or(u32::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportioned_shares_add_up() {
        assert_eq!(apportion(10, [1, 1].into_iter()), vec![5, 5]);
        assert_eq!(apportion(10, [1, 2].into_iter()), vec![3, 7]);
        assert_eq!(apportion(7, [3, 3, 3].into_iter()).iter().map(|p| u64::from(*p)).sum::<u64>(), 7);
        assert_eq!(apportion(0, [5].into_iter()), vec![0]);
    }
}
