//! The mock's deterministic answers: the text (as token-sized pieces ready to stream) or the tool call
//! that a request gets. Never touches wire formats; the endpoint modules wrap these in their shapes.
//!
//! A generated answer reads `Mock answer about <first words of the prompt> <filler…>` and has exactly
//! the requested number of tokens (default 12, or the fault's `completion_tokens`), capped by the
//! request's max tokens, in which case the answer is marked truncated (finish reason `length`).

use serde_json::{Map, Value};

use crate::fault::Fault;
use crate::tokens;

/// Default answer length in tokens.
const DEFAULT_TOKENS: u32 = 12;
/// How many words of the prompt are echoed.
const ECHOED_WORDS: usize = 6;
/// Words that pad an answer; each is a single token with its leading space.
const FILLER: [&str; 10] = ["and", "the", "mock", "upstream", "says", "more", "words", "here", "for", "you"];

/// A text answer split into the pieces a stream sends, one token-ish piece each.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// Pieces in order; concatenated they are the answer text.
    pub pieces: Vec<String>,
    /// Tokens in the whole text.
    pub tokens: u32,
    /// True when the max-tokens cap cut the answer (finish reason `length`).
    pub truncated: bool,
}

impl Answer {
    /// The full answer text.
    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// Builds the answer for a prompt whose most relevant text is `prompt`, honouring the fault's
/// `content` / `completion_tokens` and the request's token `cap`.
pub(crate) fn text(prompt: &str, fault: &Fault, cap: Option<u32>) -> Answer {
    let cap = cap.unwrap_or(u32::MAX);
    let generated = fault.content.is_none();
    let (candidates, wanted): (Box<dyn Iterator<Item = String>>, u32) = match &fault.content {
        Some(content) => (Box::new(split_pieces(content).into_iter()), u32::MAX),
        None => (generated_pieces(prompt), fault.completion_tokens.unwrap_or(DEFAULT_TOKENS)),
    };
    let budget = wanted.min(cap);
    let mut pieces = Vec::new();
    let mut used: u32 = 0;
    let mut truncated = false;
    for piece in candidates {
        let n = tokens::count(&piece);
        if used.saturating_add(n) > budget {
            if generated && used < budget {
                // A multi-token echoed word that does not fit: skip it, filler words will.
                continue;
            }
            truncated = !generated || cap < wanted;
            break;
        }
        used = used.saturating_add(n);
        pieces.push(piece);
    }
    let text: String = pieces.concat();
    Answer { tokens: tokens::count(&text), pieces, truncated }
}

/// `Mock answer about <prompt words>` followed by endless filler (the caller stops at its budget).
fn generated_pieces(prompt: &str) -> Box<dyn Iterator<Item = String>> {
    let echoed: Vec<String> = prompt
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).collect::<String>())
        .filter(|w| !w.is_empty())
        .take(ECHOED_WORDS)
        .map(|w| format!(" {w}"))
        .collect();
    let head = ["Mock", " answer", " about"].into_iter().map(str::to_owned);
    let filler = FILLER.iter().cycle().map(|w| format!(" {w}"));
    Box::new(head.chain(echoed).chain(filler))
}

/// Splits text into pieces that each start with the whitespace before a word.
fn split_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            pieces.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A tool call answer: function name and its arguments as JSON text.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    /// Function name.
    pub name: String,
    /// Arguments object as JSON text.
    pub arguments: Value,
}

impl ToolCall {
    /// Arguments as compact JSON text (the OpenAI `function.arguments` string).
    pub(crate) fn arguments_text(&self) -> String {
        self.arguments.to_string()
    }

    /// Tokens billed for the call.
    pub(crate) fn tokens(&self) -> u32 {
        tokens::count(&self.name).saturating_add(tokens::count(&self.arguments_text()))
    }

    /// The arguments text cut into short pieces, for streaming.
    pub(crate) fn argument_pieces(&self) -> Vec<String> {
        let chars: Vec<char> = self.arguments_text().chars().collect();
        chars.chunks(8).map(|c| c.iter().collect()).collect()
    }
}

/// Decides whether the request is answered with a tool call: the fault asks for one, or the request
/// has `tools` and either forces one (`tool_choice` `"required"` or a named function) or its last
/// user message says "call the tool" (and `tool_choice` is not `"none"`).
pub(crate) fn tool_call(body: &Value, fault: &Fault, prompt: &str) -> Option<ToolCall> {
    let tools: &[Value] = body.get("tools").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    if let Some(asked) = &fault.tool_call {
        let name = asked
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| tools.first().and_then(tool_name))
            .unwrap_or_else(|| "mock_tool".to_owned());
        let arguments = match asked.get("arguments") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(v) => v.clone(),
            None => sample_arguments(find_tool(tools, &name)),
        };
        return Some(ToolCall { name, arguments });
    }
    if tools.is_empty() {
        return None;
    }
    let choice = body.get("tool_choice");
    let forced =
        choice.and_then(|c| c.get("function")).and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_owned);
    let required = choice.and_then(Value::as_str) == Some("required");
    let none = choice.and_then(Value::as_str) == Some("none");
    let asked_in_text = prompt.to_lowercase().contains("call the tool");
    if forced.is_none() && !required && (none || !asked_in_text) {
        return None;
    }
    let name = forced.or_else(|| tools.first().and_then(tool_name))?;
    let arguments = sample_arguments(find_tool(tools, &name));
    Some(ToolCall { name, arguments })
}

/// The function definition inside an OpenAI (`{type, function}`) or Workers AI (`{name, …}`) tool.
fn function_def(tool: &Value) -> &Value {
    tool.get("function").unwrap_or(tool)
}

fn tool_name(tool: &Value) -> Option<String> {
    function_def(tool).get("name").and_then(Value::as_str).map(str::to_owned)
}

fn find_tool<'a>(tools: &'a [Value], name: &str) -> Option<&'a Value> {
    tools.iter().find(|t| tool_name(t).as_deref() == Some(name))
}

/// Arguments that fit the tool's JSON schema: one sample value per declared property.
fn sample_arguments(tool: Option<&Value>) -> Value {
    let props = tool
        .map(function_def)
        .and_then(|f| f.get("parameters"))
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object);
    let mut args = Map::new();
    for (key, schema) in props.into_iter().flatten() {
        let sample = match schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            Some(first) => first.clone(),
            None => match schema.get("type").and_then(Value::as_str) {
                Some("integer" | "number") => Value::from(1),
                Some("boolean") => Value::Bool(true),
                Some("array") => Value::Array(Vec::new()),
                Some("object") => Value::Object(Map::new()),
                _ => Value::String("mock".to_owned()),
            },
        };
        args.insert(key.clone(), sample);
    }
    Value::Object(args)
}

/// The text of the last `user` message of a chat `messages` array.
pub(crate) fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(tokens::content_text)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_answer_has_twelve_tokens() {
        let a = text("What is Sluice, really?", &Fault::default(), None);
        assert_eq!(a.tokens, 12);
        assert_eq!(a.pieces.len(), 12 - 2); // "Sluice" is three tokens
        assert!(a.text().starts_with("Mock answer about What is Sluice really"));
        assert!(!a.truncated);
    }

    #[test]
    fn cap_truncates() {
        let fault = Fault { completion_tokens: Some(40), ..Fault::default() };
        let a = text("hi", &fault, Some(20));
        assert_eq!((a.tokens, a.truncated, a.pieces.len()), (20, true, 20));
        let a = text("hi", &fault, None);
        assert_eq!((a.tokens, a.truncated), (40, false));
    }

    #[test]
    fn exact_content() {
        let fault = Fault { content: Some("Hello there  world".into()), ..Fault::default() };
        let a = text("x", &fault, None);
        assert_eq!(a.text(), "Hello there  world");
        assert_eq!(a.pieces, ["Hello", " there", "  world"]);
    }

    #[test]
    fn tool_call_from_text_and_schema() {
        let body = json!({"tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]});
        let call = tool_call(&body, &Fault::default(), "Please call the tool").map(|c| c.arguments_text());
        assert_eq!(call.as_deref(), Some(r#"{"city":"mock","days":1}"#));
        assert!(tool_call(&body, &Fault::default(), "hello").is_none());
    }
}
