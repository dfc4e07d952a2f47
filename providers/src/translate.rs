//! [`translate_body`]: a 2xx non-streaming upstream answer turned into the client's OpenAI body
//! and its usage.
//!
//! Owns the dispatch by protocol; the rules live in [`crate::openai::response`] and
//! [`crate::cloudflare`]. Never handles non-2xx answers (see [`crate::translate_error`]).

use bytes::Bytes;

use crate::error::UpstreamError;
use crate::types::{Protocol, ResponseContext, TranslatedBody};
use crate::{cloudflare, openai};

/// Translate a 2xx non-streaming upstream body.
///
/// OpenAi: the bytes unchanged, usage read from them. CloudflareOpenAi: the same, except
/// embeddings asked as base64 are encoded here and missing usage is estimated. CloudflareNative:
/// the envelope rebuilt as a `chat.completion` or an embedding list. A body that cannot be read →
/// `Err` with status 502. Copies the body once; prefer [`translate_body_bytes`] when the body is
/// already `Bytes`.
pub fn translate_body(ctx: &ResponseContext, upstream_body: &[u8]) -> Result<TranslatedBody, UpstreamError> {
    match ctx.protocol {
        Protocol::OpenAi | Protocol::CloudflareOpenAi => {
            openai::response::translate(ctx, Bytes::copy_from_slice(upstream_body))
        }
        Protocol::CloudflareNative => cloudflare::translate(ctx, upstream_body),
    }
}

/// [`translate_body`] for a body already held as `Bytes`: pass-through answers are returned
/// without copying.
pub fn translate_body_bytes(ctx: &ResponseContext, upstream_body: Bytes) -> Result<TranslatedBody, UpstreamError> {
    match ctx.protocol {
        Protocol::OpenAi | Protocol::CloudflareOpenAi => openai::response::translate(ctx, upstream_body),
        Protocol::CloudflareNative => cloudflare::translate(ctx, &upstream_body),
    }
}
