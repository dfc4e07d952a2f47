//! Token counting for honest `usage`: tiktoken's `o200k_base` (the GPT-4o family encoding), built once.
//!
//! Chat prompts follow OpenAI's published accounting (3 tokens per message plus its role, name and
//! text, plus 3 to prime the reply), so counts are close to, not byte-equal with, OpenAI's. If the
//! encoding ever failed to build, counts fall back to words plus punctuation marks.

use std::sync::LazyLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());

/// Builds the encoding now (about half a second in debug builds) so no request pays for it.
pub(crate) fn warm_up() {
    LazyLock::force(&O200K);
}

/// Number of tokens in `text`.
pub(crate) fn count(text: &str) -> u32 {
    let n = match O200K.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => fallback_count(text),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The text of token ids, when the encoding is available and the ids are valid.
pub(crate) fn decode(ids: &[u32]) -> Option<String> {
    O200K.as_ref().and_then(|bpe| bpe.decode(ids).ok())
}

/// Words plus punctuation marks: the documented fallback when the encoding is unavailable.
fn fallback_count(text: &str) -> usize {
    let words = text.split_whitespace().count();
    let marks = text.chars().filter(|c| c.is_ascii_punctuation()).count();
    words + marks
}

/// The text of a message `content`: a string, or the `text` of each part of a part array.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    }
}

/// Prompt tokens of a chat `messages` array (plus `tools`, if any), the way OpenAI bills them.
pub(crate) fn chat_prompt(messages: &[Value], tools: Option<&Value>) -> u32 {
    let mut total: u32 = 3;
    for m in messages {
        total = total.saturating_add(3);
        if let Some(role) = m.get("role").and_then(Value::as_str) {
            total = total.saturating_add(count(role));
        }
        if let Some(name) = m.get("name").and_then(Value::as_str) {
            total = total.saturating_add(count(name).saturating_add(1));
        }
        if let Some(content) = m.get("content") {
            total = total.saturating_add(count(&content_text(content)));
        }
        if let Some(calls) = m.get("tool_calls") {
            total = total.saturating_add(count(&calls.to_string()));
        }
    }
    if let Some(tools) = tools {
        total = total.saturating_add(count(&tools.to_string()));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_words() {
        assert_eq!(count("Hello world"), 2);
        assert_eq!(count(""), 0);
    }

    #[test]
    fn chat_overhead() {
        let msgs = [json!({"role": "user", "content": "Hello world"})];
        // 3 (priming) + 3 (message) + 1 ("user") + 2 ("Hello world")
        assert_eq!(chat_prompt(&msgs, None), 9);
    }
}
