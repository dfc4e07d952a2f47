//! Counting the tokens of one chat message: the [`TokenCounter`] seam and [`ApproxCounter`], a
//! cheap estimator for tests and benches.
//!
//! Owns the seam only. The proxy plugs in tiktoken (the upstream model's encoding, the same
//! per-message formula as its usage fallback) so budgets are in real tokens; this module never
//! loads an encoding itself, which keeps `sluice-policies` free of tiktoken's tables.

use serde_json::Value;

use super::message::{for_each_part, function_call, tool_calls, Part};

/// Counts the prompt tokens one message costs upstream, framing included.
///
/// [`plan`](super::plan) calls it once per message, so an implementation should be cheap and
/// must be deterministic: the same message always counts the same, or consecutive turns of a
/// conversation could cut at different places.
pub trait TokenCounter {
    /// Tokens of `message` (role, content, name, tool calls) as the upstream would count them.
    fn message_tokens(&self, message: &Value) -> u64;
}

impl<F: Fn(&Value) -> u64> TokenCounter for F {
    fn message_tokens(&self, message: &Value) -> u64 {
        self(message)
    }
}

/// Framing tokens of one message in OpenAI's published formula (3), plus one for the role.
const MESSAGE_OVERHEAD: u64 = 4;

/// Flat cost of one image, audio or file part: OpenAI's price of a low-detail image. Real costs
/// vary (high-detail images cost more); the estimator only needs to be in the right range.
const ATTACHMENT_TOKENS: u64 = 85;

/// Framing of one tool call (id, type, braces) beyond its name and arguments.
const CALL_OVERHEAD: u64 = 8;

/// A tokenizer-free estimate: one token per 4 bytes of text, plus fixed framing.
///
/// Within roughly ±20 % of tiktoken on English prose, and an undercount on CJK text (about one
/// token per 3-byte character). Use it in tests and benches, and where no tokenizer is at hand;
/// the proxy counts with tiktoken.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApproxCounter;

impl ApproxCounter {
    fn text(text: &str) -> u64 {
        (text.len() as u64).div_ceil(4)
    }
}

impl TokenCounter for ApproxCounter {
    fn message_tokens(&self, message: &Value) -> u64 {
        let mut tokens = MESSAGE_OVERHEAD;
        for_each_part(message, |part| {
            tokens += match part {
                Part::Text(text) => Self::text(text),
                Part::Attachment(_) => ATTACHMENT_TOKENS,
            }
        });
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            tokens += 1 + Self::text(name);
        }
        let function = |call: &Value| {
            let field = |f: &str| call.get(f).and_then(Value::as_str).map_or(0, Self::text);
            CALL_OVERHEAD + field("name") + field("arguments")
        };
        for call in tool_calls(message) {
            tokens += call.get("function").map_or(CALL_OVERHEAD, function);
        }
        if let Some(call) = function_call(message) {
            tokens += function(call);
        }
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_counts_a_token_per_four_bytes_plus_framing() {
        let c = ApproxCounter;
        assert_eq!(c.message_tokens(&json!({"role": "user", "content": ""})), 4);
        assert_eq!(c.message_tokens(&json!({"role": "user", "content": "abcde"})), 6);
        assert_eq!(
            c.message_tokens(
                &json!({"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "image_url"}]})
            ),
            4 + 1 + 85
        );
    }

    #[test]
    fn tool_calls_and_names_count() {
        let c = ApproxCounter;
        let call = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"id\":\"A-1\"}"}}
        ]});
        assert_eq!(c.message_tokens(&call), 4 + 8 + 2 + 3);
        let legacy = json!({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}});
        assert_eq!(c.message_tokens(&legacy), 4 + 8 + 1 + 1);
        assert_eq!(c.message_tokens(&json!({"role": "user", "name": "bob", "content": "hi"})), 4 + 1 + 1 + 1);
    }

    #[test]
    fn closures_are_counters() {
        let flat = |_: &Value| 7;
        assert_eq!(flat.message_tokens(&json!({})), 7);
    }
}
