//! Workers AI native embeddings: OpenAI requests become `{"text": [...]}`, and
//! `{"result":{"shape","data"}}` answers become OpenAI embedding lists (floats or base64).
//!
//! Owns the native embeddings shapes; never shortens vectors (`dimensions` is refused: bge models
//! are not trained to be truncated) and never sends token ids (Workers AI takes text only).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::embedding_codec::encode_f32_le;
use crate::error::{translate_error, UpstreamError};
use crate::types::{EncodingFormat, InvalidRequest, ResponseContext, TranslatedBody};
use crate::usage::{usage_from, EmbeddingUsageOut};
use crate::validate::embeddings::{shape, InputShape};

/// Workers AI's limit on texts per embeddings request.
pub const NATIVE_MAX_TEXTS: usize = 100;

/// OpenAI embeddings fields that are not forwarded as they are.
const CONSUMED: [&str; 5] = ["model", "input", "encoding_format", "dimensions", "user"];

/// Builds the native embeddings body; unknown fields (e.g. `pooling`) pass verbatim.
pub(crate) fn prepare(body: &Map<String, Value>) -> Result<Map<String, Value>, InvalidRequest> {
    let input = body.get("input").unwrap_or(&Value::Null);
    let texts = match shape(input) {
        InputShape::Text => Value::Array(vec![input.clone()]),
        InputShape::Texts => input.clone(),
        InputShape::Tokens | InputShape::TokenLists => {
            return Err(InvalidRequest::new(
                "The model serving this route (Cloudflare Workers AI) embeds text only; send 'input' as a string or an array of strings instead of token ids.",
                "input",
                "unsupported_value",
            ))
        }
    };
    if texts.as_array().is_some_and(|t| t.len() > NATIVE_MAX_TEXTS) {
        return Err(InvalidRequest::new(
            format!("The model serving this route (Cloudflare Workers AI) embeds at most {NATIVE_MAX_TEXTS} inputs per request; split 'input' over several requests."),
            "input",
            "array_above_max_length",
        ));
    }
    if body.get("dimensions").is_some_and(|d| !d.is_null()) {
        return Err(InvalidRequest::new(
            "'dimensions' is not supported by the model serving this route (Cloudflare Workers AI): its vectors have a fixed size. Remove 'dimensions'.",
            "dimensions",
            "unsupported_parameter",
        ));
    }
    let mut out = Map::new();
    out.insert("text".into(), texts);
    for (key, value) in body {
        if !CONSUMED.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct EnvelopeWire<'a> {
    #[serde(default, borrow)]
    result: Option<ResultWire<'a>>,
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct ResultWire<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Serialize)]
struct ListOut<'a> {
    object: &'static str,
    data: Vec<ItemOut<'a>>,
    model: &'a str,
    usage: EmbeddingUsageOut,
}

#[derive(Serialize)]
struct ItemOut<'a> {
    object: &'static str,
    index: usize,
    embedding: Embedding<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding<'a> {
    /// The upstream's float array, copied without re-parsing.
    Floats(&'a RawValue),
    Base64(String),
}

/// Translates a native embeddings answer; usage is always estimated (Workers AI reports none).
pub(crate) fn translate(ctx: &ResponseContext, body: &[u8]) -> Result<TranslatedBody, UpstreamError> {
    let wire: EnvelopeWire<'_> = serde_json::from_slice(body)
        .map_err(|_| UpstreamError::bad_body(ctx.protocol, "embeddings body is not a Workers AI result"))?;
    let result = match (wire.result, wire.success) {
        (_, Some(false)) | (None, _) => return Err(translate_error(ctx.protocol, 200, body)),
        (Some(result), _) => result,
    };
    let mut data = Vec::with_capacity(result.data.len());
    for (index, row) in result.data.into_iter().enumerate() {
        let embedding = match ctx.encoding_format {
            EncodingFormat::Float if row.get().starts_with('[') => Embedding::Floats(row),
            EncodingFormat::Float => {
                return Err(UpstreamError::bad_body(ctx.protocol, "embedding is not an array of numbers"))
            }
            EncodingFormat::Base64 => {
                let floats: Vec<f32> = serde_json::from_str(row.get())
                    .map_err(|_| UpstreamError::bad_body(ctx.protocol, "embedding is not an array of numbers"))?;
                Embedding::Base64(encode_f32_le(floats))
            }
        };
        data.push(ItemOut { object: "embedding", index, embedding });
    }
    let usage = usage_from(ctx.prompt_tokens_estimate, 0);
    let out = ListOut {
        object: "list",
        data,
        model: &ctx.upstream_model,
        usage: EmbeddingUsageOut { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens },
    };
    let body = serde_json::to_vec(&out).map_err(|_| UpstreamError::bad_body(ctx.protocol, "unserializable"))?;
    Ok(TranslatedBody { body: Bytes::from(body), usage: Some(usage), usage_estimated: true })
}
