//! OpenAI-shaped upstreams (OpenAI itself and Workers AI's `/ai/v1` compatibility API): requests
//! are the client's body with `model` swapped, responses pass through untouched where possible.
//!
//! Owns the pass-through rules and the few Workers-AI-compat repairs (base64 embeddings, missing
//! usage); never reshapes an OpenAI response that needs no repair.

pub(crate) mod response;
pub(crate) mod stream;

use serde_json::{Map, Value};

use crate::overlay::Overlay;
use crate::types::{EncodingFormat, Endpoint, InvalidRequest, Protocol, RequestSummary};

/// Path and body for an OpenAI-shaped upstream.
pub(crate) fn prepare(
    endpoint: Endpoint,
    protocol: Protocol,
    body: &Map<String, Value>,
    summary: &RequestSummary,
    upstream_model: &str,
) -> Result<(String, bytes::Bytes), InvalidRequest> {
    let path = match (protocol, endpoint) {
        (Protocol::CloudflareOpenAi, Endpoint::ChatCompletions | Endpoint::Embeddings) => {
            format!("/v1{}", endpoint.openai_path())
        }
        (Protocol::CloudflareOpenAi | Protocol::CloudflareNative, _) => {
            return Err(crate::prepare::unsupported_endpoint(endpoint))
        }
        (Protocol::OpenAi, _) => endpoint.openai_path().to_owned(),
    };
    let mut set: Vec<(&str, Value)> = Vec::with_capacity(3);
    set.push(("model", Value::String(upstream_model.to_owned())));
    if summary.stream && matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions) {
        // Ask for usage upstream always; the client's wish is applied when streaming back.
        let mut options = body.get("stream_options").and_then(Value::as_object).cloned().unwrap_or_default();
        options.insert("include_usage".into(), Value::Bool(true));
        set.push(("stream_options", Value::Object(options)));
    }
    if protocol == Protocol::CloudflareOpenAi
        && endpoint == Endpoint::Embeddings
        && summary.encoding_format == EncodingFormat::Base64
    {
        // Workers AI does not document base64; ask floats and encode them ourselves.
        set.push(("encoding_format", Value::String("float".into())));
    }
    Ok((path, Overlay { base: body, set: &set, remove: &[] }.to_bytes()))
}

#[cfg(test)]
mod tests;
