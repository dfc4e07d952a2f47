//! The summariser's request: [`Summariser`] (the route's cheap model, prompt and summary length)
//! and [`summary_request`], the OpenAI chat body asking it to summarise the dropped messages.
//!
//! Owns the body's shape. It never sends it (the proxy routes it to the cheap model, charged to
//! the conversation's own tenant and user, marked as a summary in the ledger) and never reads the
//! answer: the proxy hands the answer's text to [`apply`](super::apply).

use serde_json::{json, Value};

use super::transcript;

/// A summarisation prompt for routes that configure none: keep the facts, drop the chatter.
pub const DEFAULT_SUMMARY_PROMPT: &str = "You summarise the earlier part of a conversation between a user and an \
AI assistant, so that the assistant can continue it without the original messages. Keep every fact \
the user stated (names, numbers, order or account ids, dates, addresses, preferences, constraints), \
every decision and commitment, the results of tool calls that still matter, and the questions still \
open. Write in the conversation's language, as concise notes, without preamble or commentary.";

/// Line before the transcript in the summariser's user message.
const TRANSCRIPT_HEADER: &str = "Conversation to summarise, oldest message first:\n\n";

/// Who summarises and how: the route's cheap model, its summarisation prompt, and the longest
/// summary. [`prefix_key`](super::prefix_key) hashes the same three, so a summary is reused only
/// for the request that would produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summariser<'a> {
    /// The upstream model id the summary request is sent to (the route's cheap model).
    pub model: &'a str,
    /// The summarisation prompt from the route's config (or [`DEFAULT_SUMMARY_PROMPT`]).
    pub prompt: &'a str,
    /// Longest summary, in tokens (the policy's `summary_max_tokens`).
    pub max_tokens: u32,
}

/// The OpenAI chat completions body asking `summariser` to summarise `dropped` (the plan's
/// [`Trim::dropped`](super::Trim::dropped) messages): the prompt as the system message, a
/// transcript of every dropped message as the user message, temperature 0, not streamed.
///
/// The transcript carries every message, so facts stated early (a name, an order number in the
/// first user message) reach the summariser. It can be long: as long as the dropped span.
pub fn summary_request<'m>(dropped: impl IntoIterator<Item = &'m Value>, summariser: &Summariser<'_>) -> Value {
    let mut text = String::from(TRANSCRIPT_HEADER);
    transcript::render(dropped, &mut |piece: &str| text.push_str(piece));
    json!({
        "model": summariser.model,
        "messages": [
            {"role": "system", "content": summariser.prompt},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        "max_completion_tokens": summariser.max_tokens,
        "stream": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_deterministic_non_streamed_chat_request() {
        let dropped = [
            json!({"role": "user", "content": "I'm Ada, order 7781."}),
            json!({"role": "assistant", "content": "Hi Ada."}),
        ];
        let s = Summariser { model: "gpt-4o-mini", prompt: "Summarise.", max_tokens: 300 };
        let body = summary_request(&dropped, &s);
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["temperature"], 0);
        assert_eq!(body["stream"], false);
        assert_eq!(body["max_completion_tokens"], 300);
        assert_eq!(body["messages"][0], json!({"role": "system", "content": "Summarise."}));
        assert_eq!(body["messages"][1]["role"], "user");
        let text = body["messages"][1]["content"].as_str().unwrap();
        assert_eq!(
            text,
            "Conversation to summarise, oldest message first:\n\n[1] user:\nI'm Ada, order 7781.\n\n[2] assistant:\nHi Ada."
        );
    }
}
