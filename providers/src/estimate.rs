//! Cheap token estimates for when no upstream count or tokenizer count exists yet.
//!
//! Owns the heuristic only; never claims exactness (callers mark estimates as such), never tokenizes.

use serde_json::Value;

/// Tokens OpenAI adds around every chat message (role and separators).
const PER_MESSAGE_TOKENS: u64 = 3;
/// Tokens OpenAI adds to prime the assistant's reply.
const REPLY_PRIMING_TOKENS: u64 = 3;

/// Cheap token estimate used where no tokenizer count exists yet: `ceil(utf8 bytes / 4)`.
///
/// Four bytes per token is OpenAI's published rule of thumb for English; it over-counts CJK less
/// than a character count would. The gateway replaces it with a tiktoken count later.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Estimates the prompt tokens of chat `messages`: the text of every content string or text part,
/// tool-call arguments, plus OpenAI's per-message overhead.
pub(crate) fn chat_prompt_tokens(messages: &[Value]) -> u64 {
    let mut total = REPLY_PRIMING_TOKENS;
    for message in messages {
        total += PER_MESSAGE_TOKENS;
        let Some(message) = message.as_object() else {
            continue;
        };
        match message.get("content") {
            Some(Value::String(text)) => total += estimate_tokens(text),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        total += estimate_tokens(text);
                    }
                }
            }
            _ => {}
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                let function = call.get("function");
                for key in ["name", "arguments"] {
                    if let Some(text) = function.and_then(|f| f.get(key)).and_then(Value::as_str) {
                        total += estimate_tokens(text);
                    }
                }
            }
        }
    }
    total
}

/// Estimates the tokens of an embeddings/completions `input`/`prompt`: text is estimated, token
/// ids are counted exactly.
pub(crate) fn input_tokens(input: &Value) -> u64 {
    match input {
        Value::String(text) => estimate_tokens(text),
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(input_tokens).sum(),
        _ => 0,
    }
}

/// Estimates the tokens of a Responses API `input` (a string or a list of items with content).
pub(crate) fn responses_input_tokens(input: &Value) -> u64 {
    match input {
        Value::String(text) => estimate_tokens(text),
        Value::Array(items) => items
            .iter()
            .map(|item| match item.get("content") {
                Some(Value::String(text)) => PER_MESSAGE_TOKENS + estimate_tokens(text),
                Some(Value::Array(parts)) => {
                    PER_MESSAGE_TOKENS
                        + parts
                            .iter()
                            .filter_map(|p| p.get("text").and_then(Value::as_str))
                            .map(estimate_tokens)
                            .sum::<u64>()
                }
                _ => PER_MESSAGE_TOKENS,
            })
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rounds_bytes_up_to_quarter() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("é"), 1); // 2 bytes
    }

    #[test]
    fn chat_prompt_counts_text_parts_and_overhead() {
        let messages = json!([
            {"role": "system", "content": "abcd"},
            {"role": "user", "content": [{"type": "text", "text": "abcdabcd"}, {"type": "image_url"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}
        ]);
        let messages = messages.as_array().cloned().unwrap_or_default();
        // 3 priming + 3*3 overhead + 1 + 2 + 1 + 1
        assert_eq!(chat_prompt_tokens(&messages), 3 + 9 + 1 + 2 + 1 + 1);
    }

    #[test]
    fn input_counts_token_ids_exactly() {
        assert_eq!(input_tokens(&json!([1, 2, 3])), 3);
        assert_eq!(input_tokens(&json!([[1, 2], [3]])), 3);
        assert_eq!(input_tokens(&json!(["abcd", "abcde"])), 3);
        assert_eq!(input_tokens(&json!("abcd")), 1);
    }

    #[test]
    fn responses_input_counts_items() {
        assert_eq!(responses_input_tokens(&json!("abcd")), 1);
        let items = json!([{"role": "user", "content": "abcd"}, {"role": "user", "content": [{"type": "input_text", "text": "abcd"}]}]);
        assert_eq!(responses_input_tokens(&items), 8);
    }
}
