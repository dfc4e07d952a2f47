//! A borrowed view of an OpenAI chat request: exactly what the complexity classifier reads.
//!
//! Owns [`ChatView`] and its construction from the request body. It copies no text unless the
//! last user message is split over several text parts (then it joins them once). It never judges
//! anything; [`assess`](super::assess) does.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// What the classifier needs to know about a chat request, borrowed from the request body.
///
/// Build it with [`ChatView::from_request`] in the proxy, or by hand in tests and benches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatView<'a> {
    /// Text of the last `user` message (text parts joined by newlines); empty if there is none.
    pub last_user_text: Cow<'a, str>,
    /// User and assistant (and tool) messages before the last user message: context only.
    pub earlier_turns: usize,
    /// The request declares tools or (legacy) functions.
    pub has_tools: bool,
    /// The request asks for a strict JSON schema (`response_format.type = "json_schema"`).
    pub json_schema: bool,
    /// The last user message carries an image, audio or file part.
    pub has_attachments: bool,
    /// Total bytes of system/developer message text.
    pub system_text_len: usize,
}

impl<'a> ChatView<'a> {
    /// A view of a single-turn request whose only user message is `text`.
    pub fn from_text(text: &'a str) -> Self {
        Self { last_user_text: Cow::Borrowed(text), ..Self::default() }
    }

    /// Reads the OpenAI chat completions body (`messages`, `tools`, `functions`,
    /// `response_format`). Missing or malformed fields read as absent: the proxy validates the
    /// body elsewhere, and the classifier must never fail a request.
    pub fn from_request(body: &'a Map<String, Value>) -> Self {
        let messages: &[Value] = match body.get("messages") {
            Some(Value::Array(m)) => m,
            _ => &[],
        };
        let last_user = messages.iter().rposition(|m| role(m) == Some("user"));
        let mut view = Self::default();
        for (i, message) in messages.iter().enumerate() {
            match role(message) {
                Some("system" | "developer") => {
                    view.system_text_len += content_len(message.get("content"));
                }
                Some(_) if Some(i) < last_user => view.earlier_turns += 1,
                _ => {}
            }
        }
        if let Some(message) = last_user.and_then(|i| messages.get(i)) {
            let (text, attachments) = user_content(message.get("content"));
            view.last_user_text = text;
            view.has_attachments = attachments;
        }
        view.has_tools = non_empty_array(body.get("tools")) || non_empty_array(body.get("functions"));
        view.json_schema =
            body.get("response_format").and_then(|f| f.get("type")).and_then(Value::as_str) == Some("json_schema");
        view
    }
}

fn role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

fn non_empty_array(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Array(a)) if !a.is_empty())
}

/// Bytes of text in a message content (a string or an array of parts).
fn content_len(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(parts)) => parts.iter().filter_map(part_text).map(str::len).sum(),
        _ => 0,
    }
}

fn part_text(part: &Value) -> Option<&str> {
    match part {
        Value::String(s) => Some(s),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("text") => {
            o.get("text").and_then(Value::as_str)
        }
        _ => None,
    }
}

/// The text of a user content and whether it carries a non-text part.
fn user_content(content: Option<&Value>) -> (Cow<'_, str>, bool) {
    match content {
        Some(Value::String(s)) => (Cow::Borrowed(s.as_str()), false),
        Some(Value::Array(parts)) => {
            let attachments = parts.iter().any(|p| {
                matches!(
                    p.get("type").and_then(Value::as_str),
                    Some("image_url" | "input_image" | "input_audio" | "file" | "input_file")
                )
            });
            let mut texts = parts.iter().filter_map(part_text);
            let text = match (texts.next(), texts.next()) {
                (None, _) => Cow::Borrowed(""),
                (Some(only), None) => Cow::Borrowed(only),
                (Some(first), Some(second)) => {
                    let mut joined = format!("{first}\n{second}");
                    for more in texts {
                        joined.push('\n');
                        joined.push_str(more);
                    }
                    Cow::Owned(joined)
                }
            };
            (text, attachments)
        }
        _ => (Cow::Borrowed(""), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn reads_last_user_message_and_context() {
        let b = body(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Prove Fermat's little theorem."},
                {"role": "assistant", "content": "..."},
                {"role": "user", "content": "thanks!"}
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "response_format": {"type": "json_schema", "json_schema": {}}
        }));
        let v = ChatView::from_request(&b);
        assert_eq!(v.last_user_text, "thanks!");
        assert!(matches!(v.last_user_text, Cow::Borrowed(_)));
        assert_eq!(v.earlier_turns, 2);
        assert_eq!(v.system_text_len, 16);
        assert!(v.has_tools && v.json_schema && !v.has_attachments);
    }

    #[test]
    fn joins_text_parts_and_flags_attachments() {
        let b = body(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in"},
            {"type": "image_url", "image_url": {"url": "data:"}},
            {"type": "text", "text": "this picture?"}
        ]}]}));
        let v = ChatView::from_request(&b);
        assert_eq!(v.last_user_text, "What is in\nthis picture?");
        assert!(v.has_attachments);
        assert_eq!(v.earlier_turns, 0);
    }

    #[test]
    fn malformed_bodies_read_as_empty() {
        for b in [json!({}), json!({"messages": "x"}), json!({"messages": [{"role": 3}]})] {
            let b = body(b);
            let v = ChatView::from_request(&b);
            assert_eq!(v.last_user_text, "");
            assert!(!v.has_tools && !v.json_schema);
        }
        let b =
            body(json!({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}));
        assert!(!ChatView::from_request(&b).json_schema);
    }
}
