//! Non-streaming answers of OpenAI-shaped upstreams: pass the bytes through and read the usage;
//! for Workers AI's compatibility API also encode base64 embeddings and estimate missing usage.
//!
//! Owns those repairs only; never rewrites an OpenAI answer.

use bytes::Bytes;
use serde_json::Value;

use crate::embedding_codec::encode_f32_le;
use crate::error::UpstreamError;
use crate::estimate::estimate_tokens;
use crate::types::{EncodingFormat, Endpoint, Protocol, ResponseContext, TranslatedBody};
use crate::usage::{try_usage_of, usage_from, UsageWire};

/// Translates a 2xx body from an OpenAI-shaped upstream.
pub(crate) fn translate(ctx: &ResponseContext, body: Bytes) -> Result<TranslatedBody, UpstreamError> {
    let bad = || UpstreamError::bad_body(ctx.protocol, "not a JSON object");
    if ctx.protocol == Protocol::CloudflareOpenAi
        && ctx.endpoint == Endpoint::Embeddings
        && ctx.encoding_format == EncodingFormat::Base64
    {
        return base64_embeddings(ctx, &body);
    }
    if let Some(usage) = try_usage_of(&body).map_err(|_| bad())? {
        return Ok(TranslatedBody { body, usage: Some(usage), usage_estimated: false });
    }
    // No usage (some Workers AI models): estimate from the request and the answer's text.
    let completion = match ctx.endpoint {
        Endpoint::Embeddings => 0,
        _ => {
            let value: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
            completion_estimate(&value)
        }
    };
    Ok(TranslatedBody { body, usage: Some(usage_from(ctx.prompt_tokens_estimate, completion)), usage_estimated: true })
}

/// Estimated completion tokens of a chat or completions answer (message content, tool-call
/// arguments, legacy `text`).
fn completion_estimate(value: &Value) -> u64 {
    let Some(choices) = value.get("choices").and_then(Value::as_array) else {
        return 0;
    };
    let mut total = 0;
    for choice in choices {
        let message = choice.get("message");
        for text in [
            message.and_then(|m| m.get("content")),
            message.and_then(|m| m.get("reasoning_content")),
            choice.get("text"),
        ]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        {
            total += estimate_tokens(text);
        }
        let calls = message.and_then(|m| m.get("tool_calls")).and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            if let Some(args) = call.get("function").and_then(|f| f.get("arguments")).and_then(Value::as_str) {
                total += estimate_tokens(args);
            }
        }
    }
    total
}

/// Workers AI compat embeddings asked as base64: upstream sent floats; encode them, and fill in
/// usage when missing.
fn base64_embeddings(ctx: &ResponseContext, body: &[u8]) -> Result<TranslatedBody, UpstreamError> {
    let bad = || UpstreamError::bad_body(ctx.protocol, "embeddings body is not an embedding list");
    let mut value: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let object = value.as_object_mut().ok_or_else(bad)?;
    let data = object.get_mut("data").and_then(Value::as_array_mut).ok_or_else(bad)?;
    for item in data.iter_mut() {
        let embedding = item.get_mut("embedding").ok_or_else(bad)?;
        if let Value::Array(floats) = embedding {
            let encoded = encode_f32_le(floats.iter().map(|f| f.as_f64().unwrap_or(0.0) as f32));
            *embedding = Value::String(encoded);
        }
    }
    let upstream_usage = object.get("usage").and_then(UsageWire::from_value);
    let (usage, estimated) = match upstream_usage {
        Some(usage) => (usage, false),
        None => {
            let usage = usage_from(ctx.prompt_tokens_estimate, 0);
            object.insert(
                "usage".into(),
                serde_json::json!({"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens}),
            );
            (usage, true)
        }
    };
    let body = Bytes::from(serde_json::to_vec(&value).map_err(|_| bad())?);
    Ok(TranslatedBody { body, usage: Some(usage), usage_estimated: estimated })
}
