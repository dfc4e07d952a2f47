//! Workers AI native text-generation answers (`{"result":{"response","tool_calls","usage"}}`)
//! rebuilt as OpenAI `chat.completion` objects.
//!
//! Owns the non-streaming chat answer shape; never passes Workers AI's envelope to the client.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::tool_calls::{self, ToolCall};
use crate::error::{translate_error, UpstreamError};
use crate::estimate::estimate_tokens;
use crate::types::{ResponseContext, TranslatedBody, Usage};
use crate::usage::{usage_from, ChatUsageOut, UsageWire};

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    usage: ChatUsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// The `result` of a v4 envelope, or the failure the envelope reports. Bodies without an envelope
/// are taken as the result itself.
pub(crate) fn envelope_result(ctx: &ResponseContext, body: &[u8]) -> Result<Value, UpstreamError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|_| UpstreamError::bad_body(ctx.protocol, "not JSON"))?;
    if value.get("success") == Some(&Value::Bool(false)) || value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(translate_error(ctx.protocol, 200, body));
    }
    match value.get_mut("result").map(Value::take) {
        Some(result @ Value::Object(_)) => Ok(result),
        Some(_) => Err(UpstreamError::bad_body(ctx.protocol, "envelope without a result")),
        None if value.is_object() => Ok(value),
        None => Err(UpstreamError::bad_body(ctx.protocol, "not a JSON object")),
    }
}

/// Text of a `response` field: strings as they are, JSON-mode objects serialized.
pub(crate) fn response_text(response: Option<&Value>) -> Option<String> {
    match response {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// `finish_reason` when the upstream gives none.
pub(crate) fn finish_reason(
    has_tool_calls: bool,
    upstream: Option<&str>,
    usage: Option<Usage>,
    max_tokens: Option<u64>,
) -> &str {
    if has_tool_calls {
        return "tool_calls";
    }
    if let Some(reason) = upstream {
        return reason;
    }
    match (usage, max_tokens) {
        (Some(u), Some(max)) if u.completion_tokens >= max => "length",
        _ => "stop",
    }
}

/// Translates a native chat answer.
pub(crate) fn translate(ctx: &ResponseContext, body: &[u8]) -> Result<TranslatedBody, UpstreamError> {
    let result = envelope_result(ctx, body)?;
    // Newer models answer in OpenAI's shape inside the envelope.
    let choice = result.get("choices").and_then(|c| c.get(0));
    let message = choice.and_then(|c| c.get("message"));
    let (content, raw_calls, upstream_finish) = match message {
        Some(message) => (
            response_text(message.get("content")),
            message.get("tool_calls"),
            choice.and_then(|c| c.get("finish_reason")).and_then(Value::as_str),
        ),
        None => (response_text(result.get("response")), result.get("tool_calls"), None),
    };
    let seed = tool_calls::id_seed(&ctx.response_id);
    let calls: Vec<ToolCall> = raw_calls
        .and_then(Value::as_array)
        .map(|items| items.iter().zip(0..).filter_map(|(item, i)| tool_calls::normalize(item, seed, i)).collect())
        .unwrap_or_default();
    let upstream_usage = result.get("usage").and_then(UsageWire::from_value);
    let usage = upstream_usage.unwrap_or_else(|| {
        let mut completion = content.as_deref().map_or(0, estimate_tokens);
        completion += calls.iter().map(|c| estimate_tokens(&c.arguments)).sum::<u64>();
        usage_from(ctx.prompt_tokens_estimate, completion)
    });
    let finish = finish_reason(!calls.is_empty(), upstream_finish, upstream_usage, ctx.max_output_tokens);
    let content = match content.as_deref() {
        Some("") | None if !calls.is_empty() => None,
        other => Some(other.unwrap_or("")),
    };
    let out = CompletionOut {
        id: &ctx.response_id,
        object: "chat.completion",
        created: ctx.created,
        model: &ctx.upstream_model,
        choices: [ChoiceOut {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content,
                refusal: None,
                tool_calls: calls
                    .iter()
                    .map(|c| ToolCallOut {
                        id: &c.id,
                        kind: "function",
                        function: FunctionOut { name: &c.name, arguments: &c.arguments },
                    })
                    .collect(),
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: ChatUsageOut::from(usage),
    };
    let body = serde_json::to_vec(&out).map_err(|_| UpstreamError::bad_body(ctx.protocol, "unserializable"))?;
    Ok(TranslatedBody { body: Bytes::from(body), usage: Some(usage), usage_estimated: upstream_usage.is_none() })
}
