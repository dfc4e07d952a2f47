//! The transcript of the dropped messages: the text the summariser reads, and the text the
//! summary's key is hashed from.
//!
//! Owns the rendering: every dropped message, oldest first, numbered, with its role (and `name`),
//! its text parts, the name and arguments of every tool or function call it makes, and the result
//! it carries. Attachments (images, audio, files) become a placeholder naming their type; their
//! payload never reaches the summariser. It never decides which messages are dropped
//! ([`plan`](super::plan)) and never wraps the text in a request ([`summary_request`](super::summary_request)).
//!
//! Summaries are keyed by this text, so a change to the rendering must bump
//! [`super::key`]'s format tag, or summaries of the old rendering would be reused.

use std::collections::HashMap;

use serde_json::Value;

use super::message::{for_each_part, function_call, role_name, str_field, tool_calls, Part, Role};

/// Writes the transcript of `dropped` to `out`, piece by piece (so a hasher can take it without a
/// copy).
pub(crate) fn render<'m>(dropped: impl IntoIterator<Item = &'m Value>, out: &mut impl FnMut(&str)) {
    // Tool results carry only the call id; name the tool from the call that asked for it.
    let mut tool_names: HashMap<&str, &str> = HashMap::new();
    for (i, message) in dropped.into_iter().enumerate() {
        if i > 0 {
            out("\n\n");
        }
        out(&format!("[{}] ", i + 1));
        match Role::of(message) {
            Role::Tool => {
                out("tool result");
                let id = str_field(message, "tool_call_id");
                if let Some(name) = id.and_then(|id| tool_names.get(id)) {
                    out(" of ");
                    out(name);
                }
                if let Some(id) = id {
                    out(" (call ");
                    out(id);
                    out(")");
                }
            }
            Role::Function => out("function result"),
            _ => out(role_name(message)),
        }
        if let Some(name) = str_field(message, "name") {
            out(" (name: ");
            out(name);
            out(")");
        }
        out(":");
        for_each_part(message, |part| {
            out("\n");
            match part {
                Part::Text(text) => out(text),
                Part::Attachment(kind) => {
                    out("[");
                    out(kind);
                    out(" omitted]");
                }
            }
        });
        if let Some(refusal) = str_field(message, "refusal") {
            out("\n[refused: ");
            out(refusal);
            out("]");
        }
        if message.get("audio").is_some_and(Value::is_object) {
            out("\n[audio reply omitted]");
        }
        for call in tool_calls(message) {
            let id = str_field(call, "id");
            let kind = str_field(call, "type").unwrap_or("function");
            let body = call.get(kind).or_else(|| call.get("function"));
            let name = body.and_then(|b| str_field(b, "name")).unwrap_or("unnamed");
            if let Some(id) = id {
                tool_names.insert(id, name);
            }
            out("\n[calls tool ");
            out(name);
            if let Some(id) = id {
                out(" (call ");
                out(id);
                out(")");
            }
            write_arguments(body.and_then(|b| b.get("arguments").or_else(|| b.get("input"))), out);
        }
        if let Some(call) = function_call(message) {
            out("\n[calls function ");
            out(str_field(call, "name").unwrap_or("unnamed"));
            write_arguments(call.get("arguments"), out);
        }
    }
}

fn write_arguments(arguments: Option<&Value>, out: &mut impl FnMut(&str)) {
    match arguments {
        Some(Value::String(text)) => {
            out(" with ");
            out(text);
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            out(" with ");
            out(&other.to_string());
        }
    }
    out("]");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The transcript as one string.
    fn to_string<'m>(dropped: impl IntoIterator<Item = &'m Value>) -> String {
        let mut text = String::new();
        render(dropped, &mut |piece: &str| text.push_str(piece));
        text
    }

    #[test]
    fn renders_roles_text_calls_results_and_placeholders() {
        let dropped = json!([
            {"role": "user", "name": "ana", "content": [
                {"type": "text", "text": "My order is A-17."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,SECRETPIXELS"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"order\":\"A-17\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"status\":\"shipped\"}"},
            {"role": "assistant", "function_call": {"name": "eta", "arguments": "{}"}},
            {"role": "function", "name": "eta", "content": "2 days"},
            {"role": "assistant", "content": "Shipped, 2 days.", "refusal": null}
        ]);
        let text = to_string(dropped.as_array().unwrap());
        assert_eq!(
            text,
            "[1] user (name: ana):\nMy order is A-17.\n[image_url omitted]\n\n\
             [2] assistant:\n[calls tool lookup (call c1) with {\"order\":\"A-17\"}]\n\n\
             [3] tool result of lookup (call c1):\n{\"status\":\"shipped\"}\n\n\
             [4] assistant:\n[calls function eta with {}]\n\n\
             [5] function result (name: eta):\n2 days\n\n\
             [6] assistant:\nShipped, 2 days."
        );
        assert!(!text.contains("SECRETPIXELS"));
    }

    #[test]
    fn odd_shapes_render_without_failing() {
        let dropped = json!([
            {"role": "assistant", "tool_calls": [{"id": "k", "type": "custom", "custom": {"name": "sql", "input": "select 1"}}],
             "refusal": "I can't", "audio": {"id": "au_1"}},
            {"content": "no role"},
            {"role": "tool", "content": [{"type": "text", "text": "orphan"}]},
            "not a message"
        ]);
        let text = to_string(dropped.as_array().unwrap());
        assert!(text.contains("[calls tool sql (call k) with select 1]"), "{text}");
        assert!(text.contains("[refused: I can't]") && text.contains("[audio reply omitted]"), "{text}");
        assert!(text.contains("[2] unknown:\nno role") && text.contains("[3] tool result:\norphan"), "{text}");
        assert!(text.ends_with("[4] unknown:"), "{text}");
    }
}
