//! Token counting with tiktoken, used only when an upstream reports no usage (some Workers AI
//! models, interrupted streams, embeddings on Workers AI). Counts made here are marked `estimated`.
//!
//! OpenAI models use their own encoding; every other model is counted with `o200k_base` as an
//! estimate. Encodings are built once, lazily, on first use (tiktoken-rs singletons).

use serde_json::{Map, Value};
use tiktoken_rs::CoreBPE;

/// The encoding for an upstream model id.
fn encoding(model: &str) -> &'static CoreBPE {
    tiktoken_rs::bpe_for_model(model).unwrap_or_else(|_| tiktoken_rs::o200k_base_singleton())
}

/// Tokens in a piece of text.
pub fn count_text(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    encoding(model).encode_with_special_tokens(text).len() as u64
}

/// Prompt tokens of a chat request, by OpenAI's published formula: 3 per message, plus its role,
/// content and name, plus 3 to prime the reply. Tool definitions are counted as their JSON text.
pub fn count_chat_prompt(model: &str, request: &Map<String, Value>) -> u64 {
    let mut total = 3;
    for message in request.get("messages").and_then(Value::as_array).into_iter().flatten() {
        total += count_message(model, message);
    }
    if let Some(tools) = request.get("tools") {
        total += count_text(model, &tools.to_string());
    }
    total
}

/// Tokens of one chat message: 3 of framing, plus its role, name, text and tool calls.
pub fn count_message(model: &str, message: &Value) -> u64 {
    let bpe = encoding(model);
    let count = |s: &str| bpe.encode_with_special_tokens(s).len() as u64;
    let mut total = 3;
    if let Some(role) = message.get("role").and_then(Value::as_str) {
        total += count(role);
    }
    if let Some(name) = message.get("name").and_then(Value::as_str) {
        total += count(name) + 1;
    }
    match message.get("content") {
        Some(Value::String(s)) => total += count(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    total += count(text);
                }
            }
        }
        _ => {}
    }
    if let Some(calls) = message.get("tool_calls") {
        total += count(&calls.to_string());
    }
    total
}

/// Prompt tokens of an embeddings, completions or responses request: the text of its `input`
/// or `prompt` (token-id arrays count one token per id).
pub fn count_input(model: &str, request: &Map<String, Value>) -> u64 {
    let value = request.get("input").or_else(|| request.get("prompt"));
    fn walk(model: &str, v: &Value) -> u64 {
        match v {
            Value::String(s) => count_text(model, s),
            Value::Number(_) => 1,
            Value::Array(items) => items.iter().map(|i| walk(model, i)).sum(),
            Value::Object(o) => o.values().map(|i| walk(model, i)).sum(),
            _ => 0,
        }
    }
    value.map(|v| walk(model, v)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_with_the_models_encoding() {
        // "hello world" is 2 tokens in both cl100k and o200k.
        assert_eq!(count_text("gpt-4o", "hello world"), 2);
        assert_eq!(count_text("@cf/meta/llama-3.1-8b-instruct", "hello world"), 2);
        assert_eq!(count_text("gpt-4o", ""), 0);
    }

    #[test]
    fn chat_prompt_follows_openais_formula() {
        let req = json!({"messages": [{"role": "user", "content": "hello world"}]});
        // 3 (priming) + 3 (message) + 1 (role "user") + 2 (content)
        assert_eq!(count_chat_prompt("gpt-4o", req.as_object().unwrap()), 9);
    }

    #[test]
    fn input_counts_strings_and_token_ids() {
        let req = json!({"input": ["hello world", "hello world"]});
        assert_eq!(count_input("text-embedding-3-small", req.as_object().unwrap()), 4);
        let ids = json!({"input": [[1, 2, 3]]});
        assert_eq!(count_input("text-embedding-3-small", ids.as_object().unwrap()), 3);
    }
}
