//! Embeddings through the cache, one input at a time: each input of a request has its own entry,
//! so a batch whose inputs were mostly seen before sends only the new ones upstream, and the
//! answer is reassembled in the client's order with the client's `encoding_format`.
//!
//! The upstream is always asked for base64 (exact `f32`s, a quarter of the JSON), and the
//! response is always rebuilt here, so a hit and a miss of the same input are byte-identical.
//! Concurrent identical requests share one upstream call (single flight on the whole request);
//! the flight carries no answer of its own: its followers re-read the entries it stored.
//!
//! Usage: the response's `usage` covers every input (each cached input keeps its share of the
//! prompt tokens of the request that embedded it); the ledger and the quota see only what the
//! upstream was asked for this time, so a request served entirely from the cache is a hit at
//! zero upstream cost.

use std::io::Write as _;

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{Map, Value};
use sluice_policies::cache::{embedding_input_key, CacheKey, CachedValue, Role, Tokens};
use sluice_providers::embedding_codec::{decode_f32_le, encode_f32_le};
use sluice_providers::{self as providers, EncodingFormat, Usage};

use super::context::{RequestContext, StreamAbort};
use super::failover;
use super::forward::success_headers;
use super::from_cache::layer_of;
use super::respond;
use crate::accounting::tokens;
use crate::caching::{CacheStatus, Plan, RESPONSE_HEADER};
use crate::error::GatewayError;
use crate::upstream;

/// One input's vector and its share of the prompt tokens.
struct Vector {
    f32_le: Bytes,
    tokens: u32,
}

/// Serves an embeddings request whose cache plan is active.
pub async fn serve(
    req: &failover::Request<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    plan: &Plan,
) -> Result<(), GatewayError> {
    let state = req.state;
    let inputs = split_inputs(req.body.get("input").unwrap_or(&Value::Null));
    let keys: Vec<CacheKey> = inputs
        .iter()
        .map(|input| {
            embedding_input_key(plan.scope(), &plan.route, &plan.upstream_model, req.summary.dimensions, input)
        })
        .collect();
    let mut found: Vec<Option<Vector>> = inputs.iter().map(|_| None).collect();
    let mut layer = "memory";
    let mut guard = None;
    if plan.read {
        layer = lookup(state, &keys, &mut found).await;
        if found.iter().any(Option::is_none) {
            match state.caching.flights.join(&plan.key) {
                Role::Leader(g) => guard = Some(g),
                Role::Follower(handle) => {
                    let deadline = tokio::time::Instant::from_std(ctx.start + req.config.timeouts.total);
                    tokio::select! {
                        _ = handle.value() => {}
                        _ = session.read_body_or_idle(true) => {
                            ctx.status = 499;
                            ctx.stream_abort = Some(StreamAbort::ClientGone);
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
    ctx.cache_inputs = Some((count(hits), count(inputs.len() - hits)));
    let model = if hits == inputs.len() {
        ctx.cache = Some(CacheStatus::Hit);
        ctx.cache_layer = Some(layer);
        ctx.model_used = Some(plan.upstream_model.clone());
        ctx.provider = Some("cache".to_string());
        let prompt: u64 = found.iter().flatten().map(|v| u64::from(v.tokens)).sum();
        ctx.usage = Some(Usage { prompt_tokens: prompt, total_tokens: prompt, ..Usage::default() });
        if let Some(guard) = guard.take() {
            guard.complete(CachedValue::Json { body: Bytes::new(), tokens: Tokens::default() });
        }
        plan.upstream_model.clone()
    } else {
        ctx.cache = Some(if plan.read { CacheStatus::Miss } else { CacheStatus::Refresh });
        let Some(model) = fetch_misses(req, session, ctx, plan, &inputs, &keys, &mut found).await? else {
            return Ok(());
        };
        if let Some(guard) = guard.take() {
            guard.complete(CachedValue::Json { body: Bytes::new(), tokens: Tokens::default() });
        }
        model
    };
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
    headers.push(("x-sluice-cache-inputs", format!("{hits}/{}", inputs.len())));
    if !headers.iter().any(|(k, _)| *k == RESPONSE_HEADER) {
        headers.push((RESPONSE_HEADER, CacheStatus::Miss.header().to_string()));
    }
    let headers: Vec<(&'static str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A write error means the client left after the answer was complete: nothing to undo.
    let _ = respond::json(session, ctx, 200, body, &headers).await;
    Ok(())
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

/// Sends the inputs without a vector upstream (each distinct input once), stores their vectors
/// and fills `found`. `Ok(None)`: the client left. Returns the model the upstream named.
#[allow(clippy::too_many_arguments)]
async fn fetch_misses(
    req: &failover::Request<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    plan: &Plan,
    inputs: &[&Value],
    keys: &[CacheKey],
    found: &mut [Option<Vector>],
) -> Result<Option<String>, GatewayError> {
    // Distinct missing inputs, in first-seen order.
    let mut wanted: Vec<usize> = Vec::new();
    for (i, slot) in found.iter().enumerate() {
        if slot.is_none() && !wanted.iter().any(|&w| keys[w] == keys[i]) {
            wanted.push(i);
        }
    }
    let mut body: Map<String, Value> = req.body.clone();
    body.insert("input".to_string(), Value::Array(wanted.iter().map(|&i| inputs[i].clone()).collect()));
    body.insert("encoding_format".to_string(), Value::String("base64".to_string()));
    let mut summary = req.summary.clone();
    summary.encoding_format = EncodingFormat::Base64;
    summary.input_count = wanted.len();
    let sub = failover::Request { body: &body, summary: &summary, ..*req };
    let Some(failover::Served { candidate, prepared, mut resp, admitted, permit }) =
        failover::call(&sub, session, ctx).await?
    else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let read = upstream::read_body(&mut resp, req.config.timeouts.idle, &candidate.provider.name);
    let raw = tokio::select! {
        r = read => Some(r),
        _ = session.read_body_or_idle(true) => None,
    };
    ctx.upstream_elapsed = Some(ctx.upstream_elapsed.unwrap_or_default() + started.elapsed());
    let result = match raw {
        None => {
            ctx.status = 499;
            ctx.stream_abort = Some(StreamAbort::ClientGone);
            Ok(None)
        }
        Some(raw) => raw.and_then(|raw| {
            let translated =
                providers::translate_body_bytes(&prepared.response, raw).map_err(GatewayError::Upstream)?;
            let parsed = parse_vectors(&translated.body, wanted.len())
                .ok_or_else(|| GatewayError::UpstreamProtocol { provider: candidate.provider.name.clone() })?;
            Ok(Some((translated, parsed)))
        }),
    };
    failover::finish(&sub, candidate, admitted, result.is_err(), ctx);
    drop(permit);
    let Some((translated, (model, vectors))) = result? else { return Ok(None) };

    let usage = match translated.usage {
        Some(u) if !translated.usage_estimated => u,
        _ => {
            let prompt = tokens::count_input(&candidate.model, &body);
            ctx.usage_estimated = true;
            Usage { prompt_tokens: prompt, total_tokens: prompt, ..Usage::default() }
        }
    };
    ctx.usage = Some(usage);
    let shares = apportion(usage.prompt_tokens, wanted.iter().map(|&i| weight(inputs[i])));
    // A fallback model's vectors live in another space: served, never stored under this route.
    let store = !ctx.fallback;
    for ((&i, vector), share) in wanted.iter().zip(vectors).zip(shares) {
        let tokens = Tokens { prompt: share, completion: 0 };
        if store {
            let value = CachedValue::Embedding { vector_f32_le: vector.clone(), tokens };
            req.state.caching.store(&keys[i], &value, plan.ttl, plan.max_entry_bytes, &req.state.metrics);
        }
        for (j, slot) in found.iter_mut().enumerate() {
            if slot.is_none() && keys[j] == keys[i] {
                *slot = Some(Vector { f32_le: vector.clone(), tokens: share });
            }
        }
    }
    Ok(Some(model))
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

/// How much of a request's prompt tokens an input accounts for: its length.
fn weight(input: &Value) -> u64 {
    match input {
        Value::String(s) => s.len() as u64,
        Value::Array(ids) => ids.len() as u64,
        _ => 1,
    }
}

/// Splits `total` in proportion to `weights`; the parts add up to `total` exactly.
fn apportion(total: u64, weights: impl Iterator<Item = u64>) -> Vec<u32> {
    let weights: Vec<u64> = weights.map(|w| w.max(1)).collect();
    let sum: u64 = weights.iter().sum();
    let mut parts: Vec<u64> = weights.iter().map(|w| total.saturating_mul(*w) / sum.max(1)).collect();
    let given: u64 = parts.iter().sum();
    if let Some(last) = parts.last_mut() {
        *last += total.saturating_sub(given);
    }
    parts.into_iter().map(|p| u32::try_from(p).unwrap_or(u32::MAX)).collect()
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
    fn apportioned_shares_add_up() {
        assert_eq!(apportion(10, [1, 1].into_iter()), vec![5, 5]);
        assert_eq!(apportion(10, [1, 2].into_iter()), vec![3, 7]);
        assert_eq!(apportion(7, [3, 3, 3].into_iter()).iter().map(|p| u64::from(*p)).sum::<u64>(), 7);
        assert_eq!(apportion(0, [5].into_iter()), vec![0]);
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
