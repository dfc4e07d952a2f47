//! `sluice-providers`: the only code in Sluice that knows the OpenAI and Cloudflare Workers AI wire
//! formats.
//!
//! It validates client requests ([`validate`]), builds upstream requests ([`prepare`]), translates
//! answers ([`translate_body`], [`StreamTranslator`]) and upstream errors ([`translate_error`]).
//! Everything here is pure functions and small state machines: no I/O, no HTTP client, no Pingora,
//! no credentials. The proxy calls it in that order for every request:
//!
//! 1. `validate(endpoint, &body)` → [`RequestSummary`] (or an [`InvalidRequest`] 400);
//! 2. per route candidate, `prepare(..)` → [`PreparedRequest`] (path, body, [`ResponseContext`]);
//! 3. on 2xx, `translate_body(&ctx, ..)` or a [`StreamTranslator`] fed every network chunk;
//!    on non-2xx, `translate_error(protocol, status, body)`.

mod chunk;
pub mod cloudflare;
pub mod embedding_codec;
mod error;
mod estimate;
pub mod json;
mod openai;
mod overlay;
mod prepare;
pub mod sse;
mod stream;
#[cfg(test)]
mod test_support;
mod translate;
mod types;
mod usage;
mod validate;

pub use error::{stream_error_event, translate_error, UpstreamError};
pub use estimate::estimate_tokens;
pub use prepare::{max_embedding_inputs, prepare};
pub use stream::{StreamTranslator, MAX_EVENT_BYTES};
pub use translate::{translate_body, translate_body_bytes};
pub use types::{
    EncodingFormat, Endpoint, InvalidRequest, PreparedRequest, Protocol, RequestSummary, ResponseContext,
    TranslatedBody, Usage,
};
pub use validate::validate;
