//! The vocabulary shared by every translation: protocols, endpoints, the facts validation learns,
//! the prepared upstream request and the context a response is translated with.
//!
//! Owns plain data only; never parses, serializes or decides anything.

use bytes::Bytes;
use serde::Serialize;

/// Which wire format an upstream speaks; chosen per route candidate in the gateway config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI's own API (`https://api.openai.com/v1`).
    OpenAi,
    /// Workers AI's native `…/ai/run/{model}` API with its `{result, success, errors}` envelope.
    CloudflareNative,
    /// Workers AI's OpenAI-compatible API under `…/ai/v1`.
    CloudflareOpenAi,
}

/// The OpenAI endpoint a client called; decides which validation and translation applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/completions` (legacy text completions).
    Completions,
    /// `POST /v1/responses`.
    Responses,
}

impl Endpoint {
    /// The OpenAI path of this endpoint below `/v1`, for messages and upstream paths.
    pub fn openai_path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Completions => "/completions",
            Endpoint::Responses => "/responses",
        }
    }
}

/// Client-request problem: becomes an OpenAI-shaped 400 (or 404/413) naming `param`.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{message}")]
pub struct InvalidRequest {
    /// Human-readable explanation that says how to fix the request.
    pub message: String,
    /// Path of the offending field, e.g. `messages[2].role`; `None` when the body as a whole is wrong.
    pub param: Option<String>,
    /// OpenAI-style machine code, e.g. `invalid_type`, `missing_required_parameter`.
    pub code: Option<&'static str>,
}

impl InvalidRequest {
    /// Builds an error naming `param` with a machine `code`.
    pub fn new(message: impl Into<String>, param: impl Into<String>, code: &'static str) -> Self {
        Self { message: message.into(), param: Some(param.into()), code: Some(code) }
    }
}

/// Token usage as billed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Input tokens (OpenAI `prompt_tokens`, Responses `input_tokens`).
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included (OpenAI `completion_tokens`, Responses `output_tokens`).
    pub completion_tokens: u64,
    /// Upstream's total, or the sum when it sent none.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (billed cheaper).
    pub cached_tokens: u64,
    /// Hidden reasoning tokens, already included in `completion_tokens`.
    pub reasoning_tokens: u64,
}

/// How the client wants embedding vectors encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EncodingFormat {
    /// JSON arrays of floats (OpenAI's default when `encoding_format` is absent).
    #[default]
    Float,
    /// Base64 of the little-endian f32 bytes (what the official Python SDK asks for).
    Base64,
}

/// What validation learned about a client request (cheap facts the policies need).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSummary {
    /// The model the client named (a route name for the gateway).
    pub model: String,
    /// Whether the client asked for an SSE stream.
    pub stream: bool,
    /// Whether the client asked `stream_options.include_usage`.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens` (`max_output_tokens` on Responses).
    pub max_output_tokens: Option<u64>,
    /// Number of choices asked (`n`, default 1).
    pub n: u64,
    /// The client's end-user id, if it sent one.
    pub user: Option<String>,
    /// Embeddings: the encoding asked (default float).
    pub encoding_format: EncodingFormat,
    /// Embeddings: the dimensions asked, if any.
    pub dimensions: Option<u64>,
    /// Embeddings: how many inputs are embedded.
    pub input_count: usize,
    /// Estimated prompt tokens (see [`crate::estimate_tokens`]); exact for token-id inputs.
    /// Quota reservations use it before a tokenizer count exists.
    pub prompt_tokens_estimate: u64,
}

/// An upstream request ready to send: path relative to the provider's base URL, and body bytes (JSON).
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    /// Path to append to the provider's base URL, e.g. `/chat/completions` or `/run/@cf/meta/…`.
    pub path: String,
    /// JSON body to send.
    pub body: Bytes,
    /// Whether the upstream will answer with SSE.
    pub stream: bool,
    /// What the response translation needs later.
    pub response: ResponseContext,
}

/// Everything needed later to translate this request's response.
#[derive(Clone, Debug)]
pub struct ResponseContext {
    /// Wire format of the upstream that answers.
    pub protocol: Protocol,
    /// Endpoint the client called.
    pub endpoint: Endpoint,
    /// Model id sent upstream; reported as `model` in responses built here.
    pub upstream_model: String,
    /// Whether the response is an SSE stream.
    pub stream: bool,
    /// Whether the client asked for the usage chunk (it is always asked upstream).
    pub include_usage: bool,
    /// Embeddings: the encoding the client asked for.
    pub encoding_format: EncodingFormat,
    /// Embeddings: the dimensions the client asked for.
    pub dimensions: Option<u64>,
    /// Id for responses built here, e.g. `chatcmpl-<id>`; its suffix also seeds tool-call ids.
    pub response_id: String,
    /// Unix seconds for responses built here.
    pub created: u64,
    /// Output-token cap actually sent upstream, to report `finish_reason: "length"` when reached.
    pub max_output_tokens: Option<u64>,
    /// Estimated prompt tokens, used when the upstream reports no usage.
    pub prompt_tokens_estimate: u64,
}

/// A successful non-streaming upstream body translated for the client.
#[derive(Clone, Debug)]
pub struct TranslatedBody {
    /// The body for the client (OpenAI wire format).
    pub body: Bytes,
    /// Usage reported upstream, or estimated when `usage_estimated`.
    pub usage: Option<Usage>,
    /// True when `usage` is an estimate rather than the upstream's count.
    pub usage_estimated: bool,
}
