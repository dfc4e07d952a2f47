//! Workers AI's native API (`…/ai/run/{model}`): request building, answer and stream translation,
//! and its v4 error codes.
//!
//! Owns everything specific to the native wire format; the OpenAI-compatible `/ai/v1` API is an
//! OpenAI-shaped upstream and lives in the `openai` module. Never sees the account id or the token.

mod chat;
mod embeddings;
pub(crate) mod error;
mod response;
pub(crate) mod stream;
mod tool_calls;

pub use chat::NATIVE_DEFAULT_MAX_TOKENS;
pub use embeddings::NATIVE_MAX_TEXTS;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::UpstreamError;
use crate::types::{Endpoint, InvalidRequest, RequestSummary, ResponseContext, TranslatedBody};

/// Path, body and the `max_tokens` sent, for a native request.
pub(crate) fn prepare(
    endpoint: Endpoint,
    body: &Map<String, Value>,
    summary: &RequestSummary,
    upstream_model: &str,
) -> Result<(String, Bytes, Option<u64>), InvalidRequest> {
    let path = format!("/run/{upstream_model}");
    let (out, max_tokens) = match endpoint {
        Endpoint::ChatCompletions => {
            let (out, max_tokens) = chat::prepare(body, summary)?;
            (out, Some(max_tokens))
        }
        Endpoint::Embeddings => (embeddings::prepare(body)?, None),
        Endpoint::Completions | Endpoint::Responses => return Err(crate::prepare::unsupported_endpoint(endpoint)),
    };
    // Serializing a Map cannot fail.
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    Ok((path, Bytes::from(bytes), max_tokens))
}

/// Translates a 2xx native answer.
pub(crate) fn translate(ctx: &ResponseContext, body: &[u8]) -> Result<TranslatedBody, UpstreamError> {
    match ctx.endpoint {
        Endpoint::ChatCompletions => response::translate(ctx, body),
        Endpoint::Embeddings => embeddings::translate(ctx, body),
        Endpoint::Completions | Endpoint::Responses => {
            Err(UpstreamError::bad_body(ctx.protocol, "this endpoint is not served by the native API"))
        }
    }
}

#[cfg(test)]
mod tests;
