//! Native embeddings, `POST …/ai/run/@cf/baai/bge-…`: `{"text": "s" | ["s", …]}` in,
//! `{"result": {"shape": [n, D], "data": [[…]], "pooling": "mean"}}` out. More than 100 texts is a 400
//! with code 5004, the service's batch limit. No usage: the real service returns none.

use serde::Serialize;
use serde_json::Value;

use super::{embedding_dims, envelope};
use crate::context::Ctx;
use crate::reply::Reply;
use crate::vectors;

/// Most texts one request may embed.
const MAX_TEXTS: usize = 100;

#[derive(Serialize)]
struct Result<'a> {
    shape: [usize; 2],
    data: Vec<Vec<f32>>,
    pooling: &'a str,
}

/// Answers an embeddings run for `model`.
pub(crate) fn handle(ctx: &Ctx<'_>, model: &str) -> Reply {
    let texts: Vec<&str> = match ctx.body.get("text") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => match items.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
            Some(texts) => texts,
            None => return envelope::invalid_data("'text' must be a string or an array of strings"),
        },
        _ => return envelope::invalid_data("must have required property 'text'"),
    };
    if texts.is_empty() {
        return envelope::invalid_data("'text' must not be empty");
    }
    if texts.len() > MAX_TEXTS {
        return envelope::invalid_data(&format!("'text' must have at most {MAX_TEXTS} items"));
    }
    let dims = embedding_dims(model);
    let pooling = ctx.str_field("pooling").unwrap_or("mean");
    // CLS and mean pooling give different vectors, as on the real service.
    let salt: &[u8] = if pooling == "cls" { b"\0cls" } else { b"" };
    let data: Vec<Vec<f32>> =
        texts.iter().map(|t| vectors::embed(&[t.as_bytes(), salt].concat(), dims, dims)).collect();
    envelope::ok(Result { shape: [data.len(), dims], data, pooling })
}
