//! Every embeddings request: the per-input cache, splitting large requests over several upstream
//! calls, and micro-batching concurrent small ones into one.
//!
//! Each input of a request has its own cache entry, so a batch whose inputs were mostly seen
//! before sends only the new ones upstream (a repeated input once), and the answer is reassembled
//! in the client's order with the client's `encoding_format`. A request that bypasses the cache
//! takes the same path with a plan that neither reads nor stores. Concurrent identical requests
//! share one upstream call (single flight on the whole request); the flight carries no answer of
//! its own: its followers re-read the entries it stored.
//!
//! The missing inputs go upstream in calls of at most the route's `max_batch_inputs` (100 on
//! Workers AI), several in parallel ([`fetch`]); with a `batch_window`, they first wait that long
//! for other requests' inputs to share the calls ([`batching`]). The upstream is always asked for
//! base64 (exact `f32`s, a quarter of the JSON), and the response is always rebuilt here, so a hit
//! and a miss of the same input are byte-identical. All vectors of one answer come from one
//! model: the response's `model`, `x-sluice-model` and the ledger's `model_used` name it.
//!
//! Usage: the response's `usage` covers every input (each cached input keeps its share of the
//! prompt tokens of the request that embedded it); the ledger and the quota see only what the
//! upstream was asked for this time (a batched request: its inputs' share of the batch), so a
//! request served entirely from the cache is a hit at zero upstream cost.

mod batching;
mod fetch;

use std::collections::HashMap;
use std::io::Write as _;

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::Value;
use sluice_policies::cache::{embedding_input_key, CacheKey, CachedValue, Kind, Role, Scope, Tokens};
use sluice_providers::embedding_codec::{decode_f32_le, encode_f32_le};
use sluice_providers::{self as providers, EncodingFormat, Usage};

use self::fetch::{Fetched, Job, Trace};
use super::context::{RequestContext, StreamAbort};
use super::failover::{self, Downstream};
use super::forward::success_headers;
use super::from_cache::layer_of;
use super::respond;
use crate::caching::{CacheStatus, Decision, Plan};
use crate::error::GatewayError;

/// One input's vector (little-endian `f32`s) and its share of the prompt tokens.
#[derive(Clone, Debug)]
pub struct Vector {
    f32_le: Bytes,
    tokens: u32,
}

/// What every member of a micro-batch shares: who made the vectors and how the calls went.
#[derive(Clone, Debug)]
pub struct BatchShared {
    model: String,
    candidate: usize,
    estimated: bool,
    trace: Trace,
}

/// A micro-batch's failure, handed to every member.
#[derive(Clone, Debug)]
pub struct BatchFailed {
    error: GatewayError,
    trace: Trace,
}

/// Open micro-batches of embedding inputs, by route, upstream model and parameters (in
/// [`crate::state::AppState`], so they outlive config reloads).
pub type EmbeddingBatcher = sluice_policies::batch::Batcher<CacheKey, Value, Vector, BatchShared, BatchFailed>;

type EmbeddingBatch = sluice_policies::batch::Batch<Value, Vector, BatchShared, BatchFailed>;

/// Serves an embeddings request, whatever the cache decided for it.
pub async fn serve(
    req: &failover::Request<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    decision: &Decision,
) -> Result<(), GatewayError> {
    let state = req.state;
    let plan = match decision {
        Decision::Active(plan) => Some(plan),
        Decision::Bypass | Decision::NotApplicable => None,
    };
    let dimensions = checked_dimensions(req)?;
    let inputs = split_inputs(req.body.get("input").unwrap_or(&Value::Null));
    // Without a plan, keys only tell repeated inputs apart.
    let first_model = req.route.candidates.first().map_or("", |c| c.model.as_str());
    let keys: Vec<CacheKey> = inputs
        .iter()
        .map(|input| match plan {
            Some(p) => embedding_input_key(p.scope(), &p.route, &p.upstream_model, dimensions, input),
            None => embedding_input_key(Scope::Shared, &req.route.name, first_model, dimensions, input),
        })
        .collect();
    let mut found: Vec<Option<Vector>> = inputs.iter().map(|_| None).collect();
    let mut layer = "memory";
    let mut guard = None;
    if let Some(plan) = plan.filter(|p| p.read) {
        layer = lookup(state, &keys, &mut found).await;
        if found.iter().any(Option::is_none) {
            match state.caching.flights.join(&plan.key) {
                Role::Leader(g) => guard = Some(g),
                Role::Follower(handle) => {
                    let deadline = tokio::time::Instant::from_std(ctx.start + req.config.timeouts.total);
                    tokio::select! {
                        _ = handle.value() => {}
                        _ = session.gone() => {
                            client_gone::<()>(ctx);
                            return Ok(());
                        }
                        _ = tokio::time::sleep_until(deadline) => {}
                    }
                    // The leader stored what it fetched (or failed): read again, fetch the rest.
                    for (key, slot) in keys.iter().zip(found.iter_mut()) {
                        if slot.is_none() {
                            *slot = state.caching.cache.get_memory(key).and_then(vector_of);
                        }
                    }
                    layer = "flight";
                }
            }
        }
    }
    let hits = found.iter().filter(|v| v.is_some()).count();
    if plan.is_some() {
        ctx.cache_inputs = Some((count(hits), count(inputs.len() - hits)));
    }
    let model = match plan {
        Some(plan) if hits == inputs.len() => {
            ctx.cache = Some(CacheStatus::Hit);
            ctx.cache_layer = Some(layer);
            ctx.model_used = Some(plan.upstream_model.clone());
            ctx.provider = Some("cache".to_string());
            let prompt: u64 = found.iter().flatten().map(|v| u64::from(v.tokens)).sum();
            ctx.usage = Some(Usage { prompt_tokens: prompt, total_tokens: prompt, ..Usage::default() });
            plan.upstream_model.clone()
        }
        _ => {
            ctx.cache = Some(match plan {
                Some(p) if p.read => CacheStatus::Miss,
                Some(_) => CacheStatus::Refresh,
                None => CacheStatus::Bypass,
            });
            let Some(model) = fetch_misses(req, session, ctx, plan, &inputs, &keys, &mut found).await? else {
                return Ok(());
            };
            model
        }
    };
    if let Some(guard) = guard.take() {
        guard.complete(CachedValue::Json { body: Bytes::new(), tokens: Tokens::default() });
    }
    let vectors: Vec<Vector> = found.into_iter().flatten().collect();
    if vectors.len() != inputs.len() {
        return Err(GatewayError::Internal("an embedding input was left without a vector".to_string()));
    }
    let prompt_tokens: u64 = vectors.iter().map(|v| u64::from(v.tokens)).sum();
    let body = render(&vectors, req.summary.encoding_format, &model, prompt_tokens);
    ctx.status = 200;
    state.accounting.account(req.config, &state.metrics, ctx).await;
    let provider = ctx.provider.clone().unwrap_or_default();
    let mut headers = success_headers(req.config, ctx, &model, &provider);
    if plan.is_some() {
        headers.push(("x-sluice-cache-inputs", format!("{hits}/{}", inputs.len())));
    }
    // A write error means the client left after the answer was complete: nothing to undo.
    let _ = respond::json(session, ctx, 200, body, headers).await;
    Ok(())
}

/// The request's `dimensions`, or the route's fixed size: a route whose model makes vectors of
/// one size refuses any other (400).
fn checked_dimensions(req: &failover::Request<'_>) -> Result<Option<u64>, GatewayError> {
    match (req.summary.dimensions, req.route.dimensions) {
        (Some(asked), Some(fixed)) if asked != fixed => Err(GatewayError::InvalidRequest(providers::InvalidRequest {
            message: format!("The model `{}` produces {fixed}-dimensional embeddings; `dimensions` = {asked} cannot be honoured. Leave `dimensions` out or set it to {fixed}.", req.route.name),
            param: Some("dimensions".to_string()),
            code: Some("invalid_value"),
        })),
        (asked, fixed) => Ok(fixed.or(asked)),
    }
}

/// The inputs of an embeddings request, one per vector in the answer: a string, each string of
/// an array, one array of token ids, or each array of an array of token-id arrays.
fn split_inputs(input: &Value) -> Vec<&Value> {
    match input {
        Value::Array(items) if items.first().is_some_and(Value::is_number) => vec![input],
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Looks every input up (memory, then Redis, concurrently); returns the layer of the last hit
/// found in Redis, else `memory`.
async fn lookup(state: &crate::state::AppState, keys: &[CacheKey], found: &mut [Option<Vector>]) -> &'static str {
    let hits = futures_util::future::join_all(keys.iter().map(|k| state.caching.cache.get(k))).await;
    let mut layer = "memory";
    for (slot, hit) in found.iter_mut().zip(hits) {
        if let Some(hit) = hit {
            if let Some(vector) = vector_of(hit.value) {
                if layer_of(hit.tier) == "redis" {
                    layer = "redis";
                }
                *slot = Some(vector);
            }
        }
    }
    layer
}

fn vector_of(value: CachedValue) -> Option<Vector> {
    match value {
        CachedValue::Embedding { vector_f32_le, tokens } => {
            Some(Vector { f32_le: vector_f32_le, tokens: tokens.prompt })
        }
        _ => None,
    }
}

/// Sends the inputs without a vector upstream (each distinct input once; alone, or in a
/// micro-batch), stores their vectors and fills `found`. `Ok(None)`: the client left. Returns the
/// model the upstream named.
async fn fetch_misses(
    req: &failover::Request<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    plan: Option<&Plan>,
    inputs: &[&Value],
    keys: &[CacheKey],
    found: &mut [Option<Vector>],
) -> Result<Option<String>, GatewayError> {
    // Every slot of each distinct input; the first slot stands for the input.
    let mut slots: HashMap<CacheKey, Vec<usize>> = HashMap::with_capacity(keys.len());
    let (mut wanted, mut cached) = (Vec::new(), Vec::new());
    for (i, key) in keys.iter().enumerate() {
        let same = slots.entry(*key).or_default();
        if same.is_empty() {
            if found[i].is_none() { &mut wanted } else { &mut cached }.push(i);
        }
        same.push(i);
    }
    let items: Vec<Value> = wanted.iter().map(|&i| inputs[i].clone()).collect();
    let batch = req.route.batch;
    let fetched = if !batch.window.is_zero() && items.len() < batch.max_items {
        // The body's `user` is not sent with other requests' inputs.
        let job = Job::new(req, ctx, &["input", "encoding_format", "user"]);
        let first = req.route.candidates.first().map_or("", |c| c.model.as_str());
        let key = CacheKey::for_request(Scope::Shared, &req.route.name, first, Kind::Embeddings, &job.template);
        batching::fetch(&job, session, ctx, key, items).await?
    } else {
        let job = Job::new(req, ctx, &["input", "encoding_format"]);
        direct(&job, session, ctx, &items, None).await?
    };
    let Some(fetched) = fetched else { return Ok(None) };
    let upstream: u64 = fetched.vectors.iter().map(|v| u64::from(v.tokens)).sum();
    ctx.usage = Some(Usage { prompt_tokens: upstream, total_tokens: upstream, ..Usage::default() });
    ctx.usage_estimated = fetched.estimated;
    // A fallback model's vectors live in another space: served, never stored under this route.
    let store = plan.filter(|_| fetched.candidate == 0);
    place(found, &slots, keys, &wanted, fetched.vectors, |i, v| {
        if let Some(plan) = store {
            let value = CachedValue::Embedding {
                vector_f32_le: v.f32_le.clone(),
                tokens: Tokens { prompt: v.tokens, completion: 0 },
            };
            req.state.caching.store(&keys[i], &value, plan.ttl, plan.max_entry_bytes, &req.state.metrics);
        }
    });
    if fetched.candidate > 0 && !cached.is_empty() {
        // The cached vectors are the first choice's: ask the fallback that answered for those too.
        let items: Vec<Value> = cached.iter().map(|&i| inputs[i].clone()).collect();
        let job = Job::new(req, ctx, &["input", "encoding_format"]);
        let Some(again) = direct(&job, session, ctx, &items, Some(fetched.candidate)).await? else {
            return Ok(None);
        };
        let more: u64 = again.vectors.iter().map(|v| u64::from(v.tokens)).sum();
        ctx.usage = Some(Usage { prompt_tokens: upstream + more, total_tokens: upstream + more, ..Usage::default() });
        place(found, &slots, keys, &cached, again.vectors, |_, _| {});
    }
    Ok(Some(fetched.model))
}

/// Puts each fetched vector (for the input at `indices[n]`) in every slot of the same input, after
/// `each` saw it.
fn place(
    found: &mut [Option<Vector>],
    slots: &HashMap<CacheKey, Vec<usize>>,
    keys: &[CacheKey],
    indices: &[usize],
    vectors: Vec<Vector>,
    mut each: impl FnMut(usize, &Vector),
) {
    for (&i, vector) in indices.iter().zip(vectors) {
        each(i, &vector);
        for &j in slots.get(&keys[i]).map_or(&[][..], Vec::as_slice) {
            found[j] = Some(vector.clone());
        }
    }
}

/// Fetches `items` for this request alone; its client leaving cancels the upstream calls.
/// `Ok(None)`: the client left.
async fn direct(
    job: &Job<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    items: &[Value],
    only: Option<usize>,
) -> Result<Option<Fetched>, GatewayError> {
    let cancel = fetch::Cancel::new(false);
    let run = fetch::run(job, items, only, &cancel);
    tokio::pin!(run);
    let done = tokio::select! {
        r = &mut run => Some(r),
        _ = session.gone() => None,
    };
    let Some((result, trace)) = done else {
        // Stop every call, and let each record its breaker outcome before it goes.
        cancel.send_replace(true);
        let (_, trace) = run.await;
        trace.apply(ctx);
        return Ok(client_gone(ctx));
    };
    trace.apply(ctx);
    match result? {
        Some(fetched) => Ok(Some(fetched)),
        None => Ok(client_gone(ctx)),
    }
}

/// Marks the request as abandoned by its client (499).
fn client_gone<T>(ctx: &mut RequestContext) -> Option<T> {
    ctx.status = 499;
    ctx.stream_abort = Some(StreamAbort::ClientGone);
    None
}

/// The vectors of a translated (OpenAI-shaped) embeddings answer, by `index`, as `f32` bytes.
fn parse_vectors(body: &[u8], expected: usize) -> Option<(String, Vec<Bytes>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let model = v.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    let data = v.get("data")?.as_array()?;
    if data.len() != expected {
        return None;
    }
    let mut out: Vec<Option<Bytes>> = vec![None; expected];
    for (position, item) in data.iter().enumerate() {
        let index = item.get("index").and_then(Value::as_u64).map_or(position, |i| i as usize);
        let floats = match item.get("embedding")? {
            Value::String(b64) => decode_f32_le(b64)?,
            Value::Array(xs) => xs.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<f32>>>()?,
            _ => return None,
        };
        let mut bytes = Vec::with_capacity(floats.len() * 4);
        for f in floats {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        *out.get_mut(index)? = Some(Bytes::from(bytes));
    }
    out.into_iter().collect::<Option<Vec<Bytes>>>().map(|vectors| (model, vectors))
}

/// The OpenAI embeddings list for `vectors`, encoded as the client asked.
fn render(vectors: &[Vector], format: EncodingFormat, model: &str, prompt_tokens: u64) -> Bytes {
    let floats: usize = vectors.iter().map(|v| v.f32_le.len() / 4).sum();
    let mut out: Vec<u8> = Vec::with_capacity(128 + vectors.len() * 48 + floats * 12);
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, v) in vectors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{{\"object\":\"embedding\",\"index\":{i},\"embedding\":");
        let values = v.f32_le.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        match format {
            EncodingFormat::Base64 => {
                out.push(b'"');
                out.extend_from_slice(encode_f32_le(values).as_bytes());
                out.push(b'"');
            }
            EncodingFormat::Float => {
                out.push(b'[');
                for (j, x) in values.enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    // The exact value of the f32, as OpenAI's own float answers carry it.
                    let x = if x.is_finite() { f64::from(x) } else { 0.0 };
                    let _ = write!(out, "{x:?}");
                }
                out.push(b']');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    let _ = serde_json::to_writer(&mut out, model);
    let _ = write!(out, ",\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"total_tokens\":{prompt_tokens}}}}}");
    Bytes::from(out)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_split_one_per_vector() {
        let text = json!("a");
        assert_eq!(split_inputs(&text), vec![&text]);
        let texts = json!(["a", "b"]);
        assert_eq!(split_inputs(&texts).len(), 2);
        let ids = json!([1, 2, 3]);
        assert_eq!(split_inputs(&ids), vec![&ids]);
        assert_eq!(split_inputs(&json!([[1, 2], [3]])).len(), 2);
    }

    #[test]
    fn rendered_floats_and_base64_carry_the_same_f32s() {
        let values = [0.1f32, -0.25, 1e-7];
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let vectors = [Vector { f32_le: Bytes::from(bytes), tokens: 3 }];
        let float: Value = serde_json::from_slice(&render(&vectors, EncodingFormat::Float, "m", 3)).unwrap();
        let got: Vec<f32> =
            float["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(got, values);
        assert_eq!(float["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
        assert_eq!(float["data"][0]["index"], 0);
        let b64: Value = serde_json::from_slice(&render(&vectors, EncodingFormat::Base64, "m", 3)).unwrap();
        assert_eq!(decode_f32_le(b64["data"][0]["embedding"].as_str().unwrap()).unwrap(), values);
    }

    #[test]
    fn vectors_are_placed_by_index() {
        let body = json!({"model": "m", "data": [
            {"index": 1, "embedding": encode_f32_le([2.0f32])},
            {"index": 0, "embedding": [1.0]}
        ]});
        let (model, vectors) = parse_vectors(body.to_string().as_bytes(), 2).unwrap();
        assert_eq!(model, "m");
        assert_eq!(vectors[0], Bytes::from(1.0f32.to_le_bytes().to_vec()));
        assert_eq!(vectors[1], Bytes::from(2.0f32.to_le_bytes().to_vec()));
        assert!(parse_vectors(body.to_string().as_bytes(), 3).is_none(), "a count mismatch is refused");
    }
}
