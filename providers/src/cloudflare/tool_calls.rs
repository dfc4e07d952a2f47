//! Workers AI tool calls (`{name, arguments: {…}}`, or OpenAI's `{id, type, function}` from newer
//! models) normalized to OpenAI's shape: an id `call_…` and `arguments` as a JSON *string*.
//!
//! Owns that normalization and the generated ids; never decides finish reasons.

use serde_json::Value;

/// A complete tool call in OpenAI terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// The unique part of a response id (`chatcmpl-abc` → `abc`), used to derive tool-call ids.
pub(crate) fn id_seed(response_id: &str) -> &str {
    response_id.rsplit('-').next().unwrap_or(response_id)
}

/// A generated tool-call id, unique within the response.
pub(crate) fn call_id(seed: &str, index: u64) -> String {
    format!("call_{seed}_{index}")
}

/// `arguments` as OpenAI sends them: a JSON string (objects are serialized; absent means `{}`).
pub(crate) fn arguments_string(arguments: Option<&Value>) -> String {
    match arguments {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Normalizes one complete tool call of either shape; `None` if it names no function.
pub(crate) fn normalize(item: &Value, seed: &str, index: u64) -> Option<ToolCall> {
    let function = item.get("function").filter(|f| f.is_object()).unwrap_or(item);
    let name = function.get("name")?.as_str()?.to_owned();
    let id = match item.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => call_id(seed, index),
    };
    Some(ToolCall { id, name, arguments: arguments_string(function.get("arguments")) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn native_shape_gets_generated_id_and_string_arguments() {
        let call = normalize(&json!({"name": "get_weather", "arguments": {"city": "Paris"}}), "abc", 0);
        assert_eq!(
            call,
            Some(ToolCall {
                id: "call_abc_0".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            })
        );
    }

    #[test]
    fn openai_shape_keeps_id_and_string_arguments() {
        let item = json!({"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}});
        assert_eq!(
            normalize(&item, "abc", 3),
            Some(ToolCall { id: "call_x".into(), name: "f".into(), arguments: "{\"a\":1}".into() })
        );
    }

    #[test]
    fn missing_arguments_and_names() {
        assert_eq!(normalize(&json!({"name": "f"}), "s", 1).map(|c| c.arguments), Some("{}".into()));
        assert_eq!(normalize(&json!({"arguments": {}}), "s", 1), None);
        assert_eq!(id_seed("chatcmpl-9x8y"), "9x8y");
        assert_eq!(id_seed("plain"), "plain");
    }
}
