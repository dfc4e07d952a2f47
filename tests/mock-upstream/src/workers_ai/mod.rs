//! Cloudflare Workers AI below `/client/v4/accounts/{account}/ai`: the native `run/{model}` endpoint
//! (v4 envelope, its own stream framing) and the OpenAI-compatible `v1/...` endpoints (OpenAI shapes,
//! served by the `openai` module). Owns model-id rules: ids start with `@cf/` or `@hf/`; embedding
//! models are those whose id contains `bge` or `embedding`.

pub(crate) mod embeddings;
pub(crate) mod envelope;
pub(crate) mod run;

use hyper::{Method, StatusCode};

use crate::context::Ctx;
use crate::openai;
use crate::reply::Reply;

/// A Workers AI endpoint the mock serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST …/ai/run/{model}`; the model id may contain slashes.
    Run(String),
    /// `POST …/ai/v1/chat/completions`.
    CompatChat,
    /// `POST …/ai/v1/embeddings`.
    CompatEmbeddings,
}

impl Endpoint {
    /// True for the native endpoint, whose errors use the v4 envelope.
    pub(crate) fn is_native(&self) -> bool {
        matches!(self, Endpoint::Run(_))
    }
}

/// Maps a method and the path after the account id (e.g. `/ai/run/@cf/meta/llama-3.1-8b-instruct`).
pub(crate) fn route(method: &Method, rest: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    match rest {
        "/ai/v1/chat/completions" => Some(Endpoint::CompatChat),
        "/ai/v1/embeddings" => Some(Endpoint::CompatEmbeddings),
        r => r.strip_prefix("/ai/run/").filter(|m| !m.is_empty()).map(|m| Endpoint::Run(m.to_owned())),
    }
}

/// Whether a model id looks like a Workers AI catalogue id.
pub(crate) fn is_known_model(model: &str) -> bool {
    model.starts_with("@cf/") || model.starts_with("@hf/")
}

/// Whether a model id names an embedding model.
pub(crate) fn is_embedding_model(model: &str) -> bool {
    model.contains("bge") || model.contains("embedding")
}

/// Vector size of a Workers AI embedding model (768 unless the id says small, large or m3).
pub(crate) fn embedding_dims(model: &str) -> usize {
    if model.contains("bge-small") {
        384
    } else if model.contains("bge-large") || model.contains("bge-m3") {
        1024
    } else {
        768
    }
}

/// Answers one Workers AI request.
pub(crate) fn handle(endpoint: &Endpoint, ctx: &Ctx<'_>) -> Reply {
    match endpoint {
        Endpoint::Run(model) if !is_known_model(model) => envelope::no_such_model(),
        Endpoint::Run(model) if is_embedding_model(model) => embeddings::handle(ctx, model),
        Endpoint::Run(model) => run::handle(ctx, model),
        Endpoint::CompatChat | Endpoint::CompatEmbeddings => {
            let model = ctx.str_field("model").unwrap_or_default();
            if !is_known_model(model) {
                let message = format!("No such model {model}");
                return openai::error::error(
                    StatusCode::BAD_REQUEST,
                    &message,
                    "invalid_request_error",
                    Some("model"),
                    Some("model_not_found"),
                );
            }
            if *endpoint == Endpoint::CompatChat {
                openai::chat::handle(ctx)
            } else {
                openai::embeddings::handle(ctx, openai::embeddings::Flavor::WorkersAi)
            }
        }
    }
}

/// The 404 envelope Cloudflare sends for an account id that is not this mock's (code 7003).
pub(crate) fn unknown_account(path: &str) -> Reply {
    let message = format!("Could not route to {path}, perhaps your object identifier is invalid?");
    envelope::error(StatusCode::NOT_FOUND, 7003, &message)
}
