//! The OpenAI API (`/v1/...`): routing to each endpoint and the wire types they share. Also serves
//! Workers AI's OpenAI-compatible endpoints (`/ai/v1/...`), which use the same shapes.

pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod embeddings;
pub(crate) mod error;
pub(crate) mod models;
pub(crate) mod responses;

use hyper::Method;
use serde::Serialize;

use crate::context::Ctx;
use crate::reply::Reply;

/// An OpenAI endpoint the mock serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions` (legacy text completions).
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/responses`.
    Responses,
    /// `GET /v1/models`.
    ListModels,
    /// `GET /v1/models/{id}`.
    Model(String),
}

/// Maps a method and a path below `/v1` (e.g. `/chat/completions`) to an endpoint.
pub(crate) fn route(method: &Method, rest: &str) -> Option<Endpoint> {
    match (method, rest) {
        (&Method::POST, "/chat/completions") => Some(Endpoint::Chat),
        (&Method::POST, "/completions") => Some(Endpoint::Completions),
        (&Method::POST, "/embeddings") => Some(Endpoint::Embeddings),
        (&Method::POST, "/responses") => Some(Endpoint::Responses),
        (&Method::GET, "/models") => Some(Endpoint::ListModels),
        (&Method::GET, r) => {
            r.strip_prefix("/models/").filter(|id| !id.is_empty()).map(|id| Endpoint::Model(id.to_owned()))
        }
        _ => None,
    }
}

/// Answers one OpenAI request.
pub(crate) fn handle(endpoint: &Endpoint, ctx: &Ctx<'_>) -> Reply {
    match endpoint {
        Endpoint::Chat => chat::handle(ctx),
        Endpoint::Completions => completions::handle(ctx),
        Endpoint::Embeddings => embeddings::handle(ctx, embeddings::Flavor::OpenAi),
        Endpoint::Responses => responses::handle(ctx),
        Endpoint::ListModels => models::list(),
        Endpoint::Model(id) => models::get(id),
    }
}

/// Chat and completion `usage`, with the detail objects OpenAI always sends.
#[derive(Serialize, Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Sum of both.
    pub total_tokens: u32,
    /// Always `{"cached_tokens": 0}`.
    pub prompt_tokens_details: PromptDetails,
    /// Always `{"reasoning_tokens": 0}`.
    pub completion_tokens_details: CompletionDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub(crate) struct PromptDetails {
    /// Prompt tokens served from cache: the mock never caches.
    pub cached_tokens: u32,
}

/// `usage.completion_tokens_details`.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub(crate) struct CompletionDetails {
    /// Hidden reasoning tokens: the mock never reasons.
    pub reasoning_tokens: u32,
}

impl Usage {
    /// Usage for a prompt and completion token count.
    pub(crate) fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: PromptDetails::default(),
            completion_tokens_details: CompletionDetails::default(),
        }
    }
}

/// The finish reason of a text answer.
pub(crate) fn finish_reason(truncated: bool) -> &'static str {
    if truncated {
        "length"
    } else {
        "stop"
    }
}
