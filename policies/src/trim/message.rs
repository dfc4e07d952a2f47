//! How context trimming reads one OpenAI chat message: its [`Role`], the text of its content, and
//! the tool or function calls it makes or answers.
//!
//! Owns only reading. Malformed fields read as absent (the proxy validated the body already, and
//! trimming must never fail a request); it never writes or judges a message.

use serde_json::Value;

/// The role of a message, as far as trimming cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `system` or `developer`: instructions, always kept verbatim.
    System,
    /// `user`: starts a turn.
    User,
    /// `assistant`, possibly carrying `tool_calls` or a legacy `function_call`.
    Assistant,
    /// `tool`: the result of one tool call, named by its `tool_call_id`.
    Tool,
    /// Legacy `function`: the result of the latest `function_call`.
    Function,
    /// A role trimming does not know (or none); treated like any other droppable message.
    Other,
}

impl Role {
    pub(crate) fn of(message: &Value) -> Role {
        match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("tool") => Role::Tool,
            Some("function") => Role::Function,
            _ => Role::Other,
        }
    }
}

/// The `role` field as written, or `"unknown"`.
pub(crate) fn role_name(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("unknown")
}

/// A string field of the message, if present and a string.
pub(crate) fn str_field<'a>(message: &'a Value, field: &str) -> Option<&'a str> {
    message.get(field).and_then(Value::as_str)
}

/// The non-empty `tool_calls` array of an assistant message.
pub(crate) fn tool_calls(message: &Value) -> &[Value] {
    match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls,
        _ => &[],
    }
}

/// The legacy `function_call` object of an assistant message.
pub(crate) fn function_call(message: &Value) -> Option<&Value> {
    message.get("function_call").filter(|call| call.is_object())
}

/// The message makes at least one tool or function call that later messages may answer.
pub(crate) fn makes_calls(message: &Value) -> bool {
    !tool_calls(message).is_empty() || function_call(message).is_some()
}

/// One piece of a message's content, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// Text (a string content, a `text` part, or a `refusal` part).
    Text(&'a str),
    /// A non-text part (`image_url`, `input_audio`, `file`, …) by its `type`; its payload is
    /// never read.
    Attachment(&'a str),
}

/// Calls `each` with every part of the message's `content` (a string, null, or an array of parts).
pub(crate) fn for_each_part<'a>(message: &'a Value, mut each: impl FnMut(Part<'a>)) {
    match message.get("content") {
        Some(Value::String(text)) => each(Part::Text(text)),
        Some(Value::Array(parts)) => {
            for part in parts {
                match part {
                    Value::String(text) => each(Part::Text(text)),
                    Value::Object(fields) => {
                        let kind = fields.get("type").and_then(Value::as_str).unwrap_or("unknown");
                        let text = match kind {
                            "text" | "input_text" | "output_text" => fields.get("text"),
                            "refusal" => fields.get("refusal"),
                            _ => None,
                        };
                        match text.and_then(Value::as_str) {
                            Some(text) => each(Part::Text(text)),
                            None => each(Part::Attachment(kind)),
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(message: &Value) -> Vec<Part<'_>> {
        let mut out = Vec::new();
        for_each_part(message, |p| out.push(p));
        out
    }

    #[test]
    fn roles_include_developer_as_system_and_unknown_as_other() {
        assert_eq!(Role::of(&json!({"role": "developer"})), Role::System);
        assert_eq!(Role::of(&json!({"role": "function"})), Role::Function);
        assert_eq!(Role::of(&json!({"role": 3})), Role::Other);
        assert_eq!(Role::of(&json!("not an object")), Role::Other);
    }

    #[test]
    fn content_reads_as_string_null_or_parts() {
        assert_eq!(parts(&json!({"content": "hi"})), [Part::Text("hi")]);
        assert!(parts(&json!({"content": null})).is_empty());
        let message = json!({"content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "refusal", "refusal": "no"},
            42
        ]});
        assert_eq!(
            parts(&message),
            [Part::Text("look"), Part::Attachment("image_url"), Part::Attachment("input_audio"), Part::Text("no")]
        );
    }

    #[test]
    fn calls_are_non_empty_tool_calls_or_a_function_call() {
        assert!(makes_calls(&json!({"role": "assistant", "tool_calls": [{"id": "a"}]})));
        assert!(makes_calls(&json!({"role": "assistant", "function_call": {"name": "f"}})));
        assert!(!makes_calls(&json!({"role": "assistant", "tool_calls": []})));
        assert!(!makes_calls(&json!({"role": "assistant", "function_call": null, "tool_calls": null})));
    }
}
