//! [`prepare`]: a validated client request turned into the upstream request for one route
//! candidate, plus the [`ResponseContext`] its answer will be translated with.
//!
//! Owns the dispatch by protocol and the context; the wire rules live in [`crate::openai`] and
//! [`crate::cloudflare`]. Never touches the network or credentials.

use serde_json::{Map, Value};

use crate::types::{Endpoint, InvalidRequest, PreparedRequest, Protocol, RequestSummary, ResponseContext};
use crate::{cloudflare, openai};

/// Translate a validated client request into the upstream request for one candidate (protocol +
/// upstream model id).
///
/// - OpenAi / CloudflareOpenAi: the client's body with only `model` replaced; streaming chat and
///   completions ask `stream_options.include_usage = true` upstream (the client's own wish is kept
///   in [`ResponseContext::include_usage`]); Workers AI compat embeddings asked as base64 are
///   requested as floats and encoded later. Paths: `/chat/completions`, `/embeddings`,
///   `/completions`, `/responses` for OpenAI (base URL ends with `/v1`); `/v1/chat/completions`,
///   `/v1/embeddings` for Workers AI compat (base URL ends with `/ai`).
/// - CloudflareNative: `/run/{upstream_model}` with a native body (see [`crate::cloudflare`]);
///   fields Workers AI cannot honour are rejected naming the field.
///
/// Completions and Responses on either Workers AI protocol → [`InvalidRequest`].
pub fn prepare(
    endpoint: Endpoint,
    protocol: Protocol,
    body: &Map<String, Value>,
    summary: &RequestSummary,
    upstream_model: &str,
    response_id: String,
    created: u64,
) -> Result<PreparedRequest, InvalidRequest> {
    let (path, bytes, max_output_tokens) = match protocol {
        Protocol::OpenAi | Protocol::CloudflareOpenAi => {
            let (path, bytes) = openai::prepare(endpoint, protocol, body, summary, upstream_model)?;
            (path, bytes, summary.max_output_tokens)
        }
        Protocol::CloudflareNative => cloudflare::prepare(endpoint, body, summary, upstream_model)?,
    };
    let stream = summary.stream && endpoint != Endpoint::Embeddings;
    Ok(PreparedRequest {
        path,
        body: bytes,
        stream,
        response: ResponseContext {
            protocol,
            endpoint,
            upstream_model: upstream_model.to_owned(),
            stream,
            include_usage: summary.include_usage,
            encoding_format: summary.encoding_format,
            dimensions: summary.dimensions,
            response_id,
            created,
            max_output_tokens,
            prompt_tokens_estimate: summary.prompt_tokens_estimate,
        },
    })
}

/// Most embedding inputs one upstream call of `protocol` may carry: Workers AI embeds at most
/// 100 texts per call (natively and through its OpenAI-compatible API), OpenAI 2048 inputs.
/// Larger requests must be split over several calls.
pub fn max_embedding_inputs(protocol: Protocol) -> usize {
    match protocol {
        Protocol::OpenAi => crate::validate::embeddings::MAX_INPUTS,
        Protocol::CloudflareNative | Protocol::CloudflareOpenAi => crate::cloudflare::NATIVE_MAX_TEXTS,
    }
}

/// The route's upstream cannot serve this endpoint.
pub(crate) fn unsupported_endpoint(endpoint: Endpoint) -> InvalidRequest {
    InvalidRequest {
        message: format!(
            "/v1{} is not supported by the model serving this route (Cloudflare Workers AI). Use /v1/chat/completions, or a route backed by OpenAI.",
            endpoint.openai_path()
        ),
        param: None,
        code: Some("unsupported_endpoint"),
    }
}
