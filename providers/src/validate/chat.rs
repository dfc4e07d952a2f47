//! Validation of `POST /v1/chat/completions` bodies: the message list and the sampling fields.
//!
//! Owns chat-specific rules; never rewrites the body (unknown fields are left for forwarding).

use serde_json::Value;

use super::fields::{self, invalid_type, invalid_value, missing, Body};
use crate::estimate;
use crate::types::{EncodingFormat, InvalidRequest, RequestSummary};

/// Roles OpenAI accepts in `messages`.
const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

/// Validates a chat completions body.
pub(crate) fn validate(body: &Body) -> Result<RequestSummary, InvalidRequest> {
    let model = fields::model(body)?;
    let messages = messages(body)?;
    let (stream, include_usage) = fields::stream(body)?;
    let max_tokens = fields::opt_positive(body, "max_tokens")?;
    let max_completion_tokens = fields::opt_positive(body, "max_completion_tokens")?;
    let n = fields::opt_int_in(body, "n", 1, 128)?.map_or(1, |n| n.unsigned_abs());
    fields::opt_number_in(body, "temperature", 0.0, 2.0)?;
    fields::opt_number_in(body, "top_p", 0.0, 1.0)?;
    fields::opt_number_in(body, "presence_penalty", -2.0, 2.0)?;
    fields::opt_number_in(body, "frequency_penalty", -2.0, 2.0)?;
    fields::opt_int_in(body, "seed", i64::MIN, i64::MAX)?;
    fields::opt_bool(body, "logprobs")?;
    fields::opt_int_in(body, "top_logprobs", 0, 20)?;
    fields::opt_object(body, "logit_bias")?;
    fields::opt_bool(body, "parallel_tool_calls")?;
    fields::stop(body)?;
    fields::tools(body)?;
    tool_choice(body)?;
    response_format(body)?;
    let user = fields::user(body)?;
    Ok(RequestSummary {
        model,
        stream,
        include_usage,
        max_output_tokens: max_completion_tokens.or(max_tokens),
        n,
        user,
        encoding_format: EncodingFormat::Float,
        dimensions: None,
        input_count: 0,
        prompt_tokens_estimate: estimate::chat_prompt_tokens(messages),
    })
}

/// `messages`: a non-empty array of well-formed messages.
fn messages(body: &Body) -> Result<&[Value], InvalidRequest> {
    let messages = match fields::present(body, "messages") {
        None => return Err(missing("messages")),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid_type("messages", "an array", other)),
    };
    if messages.is_empty() {
        return Err(InvalidRequest::new(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        check_message(i, message)?;
    }
    Ok(messages)
}

fn check_message(i: usize, message: &Value) -> Result<(), InvalidRequest> {
    let param = format!("messages[{i}]");
    let Some(message) = message.as_object() else {
        return Err(invalid_type(&param, "an object", message));
    };
    let role = match message.get("role") {
        None | Some(Value::Null) => return Err(missing(&format!("{param}.role"))),
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            return Err(invalid_value(
                &format!("{param}.role"),
                format!(
                "'{role}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'."
            ),
            ))
        }
        Some(other) => return Err(invalid_type(&format!("{param}.role"), "a string", other)),
    };
    let has_calls = message.get("tool_calls").is_some_and(|c| !c.is_null())
        || message.get("function_call").is_some_and(|c| !c.is_null());
    let content_param = format!("{param}.content");
    match message.get("content") {
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => check_parts(&content_param, parts)?,
        None | Some(Value::Null) if role == "assistant" => {}
        None => return Err(missing(&content_param)),
        Some(Value::Null) => {
            return Err(InvalidRequest::new(
                format!("Invalid value for '{content_param}': null is only allowed for an assistant message with 'tool_calls'. Send a string or an array of content parts."),
                content_param,
                "invalid_value",
            ))
        }
        Some(other) => return Err(invalid_type(&content_param, "a string or an array of content parts", other)),
    }
    if role == "assistant" && !has_calls && message.get("content").is_none_or(Value::is_null) {
        return Err(InvalidRequest::new(
            format!(
                "Invalid value for '{content_param}': an assistant message needs 'content' unless it has 'tool_calls'."
            ),
            content_param,
            "missing_required_parameter",
        ));
    }
    if let Some(calls) = message.get("tool_calls").filter(|c| !c.is_null()) {
        let Some(calls) = calls.as_array() else {
            return Err(invalid_type(&format!("{param}.tool_calls"), "an array", calls));
        };
        for (j, call) in calls.iter().enumerate() {
            if !call.is_object() {
                return Err(invalid_type(&format!("{param}.tool_calls[{j}]"), "an object", call));
            }
        }
    }
    if role == "tool" {
        match message.get("tool_call_id") {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => return Err(missing(&format!("{param}.tool_call_id"))),
            Some(other) => return Err(invalid_type(&format!("{param}.tool_call_id"), "a string", other)),
        }
    }
    Ok(())
}

/// Content parts: objects with a string `type`; `text` parts need a string `text`.
fn check_parts(param: &str, parts: &[Value]) -> Result<(), InvalidRequest> {
    if parts.is_empty() {
        return Err(InvalidRequest::new(
            format!("Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."),
            param,
            "empty_array",
        ));
    }
    for (k, part) in parts.iter().enumerate() {
        let part_param = format!("{param}[{k}]");
        let Some(part) = part.as_object() else {
            return Err(invalid_type(&part_param, "an object", part));
        };
        match part.get("type") {
            Some(Value::String(kind)) if kind == "text" => match part.get("text") {
                Some(Value::String(_)) => {}
                None | Some(Value::Null) => return Err(missing(&format!("{part_param}.text"))),
                Some(other) => return Err(invalid_type(&format!("{part_param}.text"), "a string", other)),
            },
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => return Err(missing(&format!("{part_param}.type"))),
            Some(other) => return Err(invalid_type(&format!("{part_param}.type"), "a string", other)),
        }
    }
    Ok(())
}

/// `tool_choice`: `"none" | "auto" | "required"` or an object naming a tool.
fn tool_choice(body: &Body) -> Result<(), InvalidRequest> {
    match fields::present(body, "tool_choice") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(Value::String(s)) if matches!(s.as_str(), "none" | "auto" | "required") => Ok(()),
        Some(Value::String(s)) => Err(invalid_value(
            "tool_choice",
            format!("'{s}'. Supported values are: 'none', 'auto' and 'required', or an object naming a function."),
        )),
        Some(other) => Err(invalid_type("tool_choice", "a string or an object", other)),
    }
}

/// `response_format`: an object with a string `type`.
fn response_format(body: &Body) -> Result<(), InvalidRequest> {
    let Some(format) = fields::opt_object(body, "response_format")? else {
        return Ok(());
    };
    match format.get("type") {
        Some(Value::String(_)) => Ok(()),
        None | Some(Value::Null) => Err(missing("response_format.type")),
        Some(other) => Err(invalid_type("response_format.type", "a string", other)),
    }
}
