//! `POST /v1/embeddings` (and Workers AI's `/ai/v1/embeddings`): every OpenAI input form (string,
//! strings, token ids, arrays of token ids), `dimensions`, and `encoding_format` float or base64.
//! Vectors are deterministic (see `vectors`); token-id inputs embed like the text they decode to.

use serde::Serialize;
use serde_json::Value;

use super::error;
use crate::context::Ctx;
use crate::reply::Reply;
use crate::tokens;
use crate::vectors;
use crate::workers_ai;

/// Which service's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// OpenAI: OpenAI model sizes, base64 on request.
    OpenAi,
    /// Workers AI's OpenAI-compatible endpoint: `@cf/…` model sizes, floats only.
    WorkersAi,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Item>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Embedding,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

/// One input: its bytes for hashing and its token count.
struct Input {
    key: Vec<u8>,
    tokens: u32,
}

fn text_input(s: &str) -> Input {
    Input { key: s.as_bytes().to_vec(), tokens: tokens::count(s) }
}

fn token_input(ids: &[Value]) -> Option<Input> {
    let ids: Vec<u32> = ids.iter().map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok())).collect::<Option<_>>()?;
    let key = match tokens::decode(&ids) {
        Some(text) => text.into_bytes(),
        None => ids.iter().flat_map(|id| id.to_le_bytes()).collect(),
    };
    Some(Input { key, tokens: u32::try_from(ids.len()).unwrap_or(u32::MAX) })
}

/// Parses `input` in any of its four forms; `None` when it is none of them or empty.
fn inputs(input: &Value) -> Option<Vec<Input>> {
    let parsed = match input {
        Value::String(s) => vec![text_input(s)],
        Value::Array(items) if items.is_empty() => return None,
        Value::Array(items) if items.iter().all(Value::is_number) => vec![token_input(items)?],
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(text_input(s)),
                Value::Array(ids) if !ids.is_empty() => token_input(ids),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some(parsed)
}

/// Full vector size of an OpenAI embedding model.
fn openai_dims(model: &str) -> usize {
    if model.contains("3-large") {
        3072
    } else {
        1536
    }
}

/// Answers an embeddings request.
pub(crate) fn handle(ctx: &Ctx<'_>, flavor: Flavor) -> Reply {
    let Some(model) = ctx.str_field("model") else {
        return error::invalid_request("you must provide a model parameter", Some("model"));
    };
    let Some(inputs) = ctx.body.get("input").and_then(inputs) else {
        return error::invalid_request(
            "'input' must be a non-empty string, array of strings, array of tokens, or array of token arrays",
            Some("input"),
        );
    };
    let full = match flavor {
        Flavor::OpenAi => openai_dims(model),
        Flavor::WorkersAi => workers_ai::embedding_dims(model),
    };
    let dims = match ctx.body.get("dimensions").and_then(Value::as_u64) {
        None => full,
        Some(_) if model.contains("ada-002") => {
            return error::invalid_request("This model does not support specifying dimensions.", Some("dimensions"))
        }
        Some(d) if d == 0 || d > full as u64 => {
            let msg = format!("Invalid value for 'dimensions': must be between 1 and {full}.");
            return error::invalid_request(&msg, Some("dimensions"));
        }
        Some(d) => usize::try_from(d).unwrap_or(full),
    };
    let base64 = flavor == Flavor::OpenAi && ctx.str_field("encoding_format") == Some("base64");
    let prompt_tokens = inputs.iter().map(|i| i.tokens).fold(0u32, u32::saturating_add);
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let v = vectors::embed(&input.key, full, dims);
            let embedding = if base64 { Embedding::Base64(vectors::to_base64(&v)) } else { Embedding::Floats(v) };
            Item { object: "embedding", index, embedding }
        })
        .collect();
    let usage = EmbeddingUsage { prompt_tokens, total_tokens: prompt_tokens };
    Reply::ok(&List { object: "list", data, model, usage })
}
