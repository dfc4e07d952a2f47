//! OpenAI chat requests translated for Workers AI's native `…/ai/run/{model}` text generation.
//!
//! Owns which OpenAI fields Workers AI can honour: sampling fields and tools pass, bookkeeping
//! fields are dropped, fields that would change the output in ways Workers AI cannot reproduce are
//! rejected naming the field, unknown fields (`top_k`, `repetition_penalty`, …) pass verbatim.
//! Never sends image, audio or file content (text generation takes text only).

use serde_json::{Map, Value};

use crate::types::{InvalidRequest, RequestSummary};

/// `max_tokens` sent when the client sets none: Workers AI's own default (256) truncates most
/// answers, while OpenAI's default is "until the model stops".
pub const NATIVE_DEFAULT_MAX_TOKENS: u64 = 4096;

/// OpenAI fields with no effect on the generated text, dropped.
const DROPPED: [&str; 13] = [
    "model",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "parallel_tool_calls",
    "reasoning_effort",
    "verbosity",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "max_completion_tokens",
];

/// Fields copied as they are.
const PASSED: [&str; 7] =
    ["stream", "temperature", "top_p", "seed", "frequency_penalty", "presence_penalty", "max_tokens"];

/// Builds the native body; returns it with the `max_tokens` sent.
pub(crate) fn prepare(
    body: &Map<String, Value>,
    summary: &RequestSummary,
) -> Result<(Map<String, Value>, u64), InvalidRequest> {
    let mut out = Map::new();
    let mut drop_tools = false;
    for (key, value) in body {
        let key = key.as_str();
        if value.is_null() || DROPPED.contains(&key) {
            continue;
        }
        match key {
            "messages" => {
                out.insert(key.into(), Value::Array(messages(value)?));
            }
            "response_format" => {
                out.insert(key.into(), response_format(value));
            }
            "tools" => {
                out.insert(key.into(), value.clone());
            }
            "tool_choice" => match value.as_str() {
                Some("auto") => {}
                Some("none") => drop_tools = true,
                _ => return Err(unsupported(key, "only \"auto\" and \"none\" are supported")),
            },
            "n" if value.as_u64().is_some_and(|n| n > 1) => {
                return Err(unsupported(key, "only one choice is supported"))
            }
            "n" => {}
            "logprobs" if value.as_bool() == Some(true) => {
                return Err(unsupported(key, "log probabilities are not available"))
            }
            "logprobs" => {}
            "logit_bias" if value.as_object().is_some_and(|o| !o.is_empty()) => {
                return Err(unsupported(key, "token biases are not available"))
            }
            "logit_bias" => {}
            "stop" if value.as_array().is_some_and(Vec::is_empty) => {}
            "modalities" if value.as_array().is_some_and(|m| m.iter().all(|x| x == "text")) => {}
            "top_logprobs" | "stop" | "modalities" | "audio" | "prediction" | "web_search_options" | "functions"
            | "function_call" => return Err(unsupported(key, "the model cannot honour it")),
            _ if PASSED.contains(&key) => {
                out.insert(key.into(), value.clone());
            }
            // Not an OpenAI field: a Workers AI option such as top_k or repetition_penalty.
            _ => {
                out.insert(key.into(), value.clone());
            }
        }
    }
    if drop_tools {
        out.remove("tools");
    }
    let max_tokens = summary.max_output_tokens.unwrap_or(NATIVE_DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), Value::from(max_tokens));
    Ok((out, max_tokens))
}

/// "'stop' is not supported …": the client asked for something the route's model cannot do.
fn unsupported(param: &str, why: &str) -> InvalidRequest {
    InvalidRequest::new(
        format!("'{param}' is not supported by the model serving this route (Cloudflare Workers AI): {why}. Remove '{param}' or use a route backed by OpenAI."),
        param,
        "unsupported_parameter",
    )
}

/// Messages with content flattened to strings and `developer` spoken as `system`.
fn messages(value: &Value) -> Result<Vec<Value>, InvalidRequest> {
    let Some(messages) = value.as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let Some(message) = message.as_object() else {
            continue;
        };
        let mut translated = Map::new();
        for (key, field) in message {
            match key.as_str() {
                "content" => {}
                "role" if field == "developer" => {
                    translated.insert(key.clone(), Value::String("system".into()));
                }
                _ => {
                    translated.insert(key.clone(), field.clone());
                }
            }
        }
        let content = content_text(i, message.get("content"))?;
        translated.insert("content".into(), Value::String(content));
        out.push(Value::Object(translated));
    }
    Ok(out)
}

/// Content as one string: text parts joined with newlines, `null` as empty.
fn content_text(i: usize, content: Option<&Value>) -> Result<String, InvalidRequest> {
    match content {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (k, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                let piece = match kind {
                    "text" => part.get("text").and_then(Value::as_str),
                    "refusal" => part.get("refusal").and_then(Value::as_str),
                    _ => {
                        let param = format!("messages[{i}].content[{k}]");
                        return Err(InvalidRequest::new(
                            format!("Content parts of type '{kind}' are not supported by the model serving this route (Cloudflare Workers AI text generation). Send text only, or use a route backed by a model that accepts '{kind}'."),
                            param,
                            "unsupported_content",
                        ));
                    }
                };
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(piece.unwrap_or(""));
            }
            Ok(text)
        }
        _ => Ok(String::new()),
    }
}

/// `json_schema` as Workers AI takes it: the schema itself under `json_schema`, where OpenAI nests
/// it as `json_schema.schema` next to `name` and `strict`.
fn response_format(value: &Value) -> Value {
    let schema = value.get("json_schema").and_then(|s| s.get("schema"));
    match (value.get("type").and_then(Value::as_str), schema) {
        (Some("json_schema"), Some(schema)) => {
            serde_json::json!({"type": "json_schema", "json_schema": schema})
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests;
