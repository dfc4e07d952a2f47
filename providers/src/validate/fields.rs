//! Type and range checks for single request fields, with OpenAI's error wording and codes.
//!
//! Owns field-level checks only; never knows which endpoint a field belongs to. `null` counts as
//! absent everywhere, as in OpenAI's API.

use serde_json::{Map, Value};

use crate::types::InvalidRequest;

/// The JSON object of a request body.
pub(crate) type Body = Map<String, Value>;

/// OpenAI's name for the JSON type of `value`, used in "got … instead" messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "Invalid type for 'param': expected …, but got … instead."
pub(crate) fn invalid_type(param: &str, expected: &str, got: &Value) -> InvalidRequest {
    InvalidRequest::new(
        format!("Invalid type for '{param}': expected {expected}, but got {} instead.", type_name(got)),
        param,
        "invalid_type",
    )
}

/// "Invalid value for 'param': …" with OpenAI's `invalid_value` code.
pub(crate) fn invalid_value(param: &str, why: impl std::fmt::Display) -> InvalidRequest {
    InvalidRequest::new(format!("Invalid value for '{param}': {why}"), param, "invalid_value")
}

/// "Missing required parameter: 'param'."
pub(crate) fn missing(param: &str) -> InvalidRequest {
    InvalidRequest::new(format!("Missing required parameter: '{param}'."), param, "missing_required_parameter")
}

/// The field's value, with `null` treated as absent.
pub(crate) fn present<'a>(body: &'a Body, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

/// `model`: required non-empty string.
pub(crate) fn model(body: &Body) -> Result<String, InvalidRequest> {
    match present(body, "model") {
        None => Err(InvalidRequest::new(
            "You must provide a model parameter, e.g. \"model\": \"gpt-4o-mini\".",
            "model",
            "missing_required_parameter",
        )),
        Some(Value::String(s)) if s.is_empty() => Err(InvalidRequest::new(
            "Invalid 'model': empty string. Name the model to use, e.g. \"gpt-4o-mini\".",
            "model",
            "empty_string",
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(invalid_type("model", "a string", other)),
    }
}

/// An optional boolean.
pub(crate) fn opt_bool(body: &Body, key: &str) -> Result<Option<bool>, InvalidRequest> {
    match present(body, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid_type(key, "a boolean", other)),
    }
}

/// An optional string.
pub(crate) fn opt_string<'a>(body: &'a Body, key: &str) -> Result<Option<&'a str>, InvalidRequest> {
    match present(body, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid_type(key, "a string", other)),
    }
}

/// An optional object.
pub(crate) fn opt_object<'a>(body: &'a Body, key: &str) -> Result<Option<&'a Body>, InvalidRequest> {
    match present(body, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(invalid_type(key, "an object", other)),
    }
}

/// An optional array.
pub(crate) fn opt_array<'a>(body: &'a Body, key: &str) -> Result<Option<&'a Vec<Value>>, InvalidRequest> {
    match present(body, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(invalid_type(key, "an array", other)),
    }
}

/// An optional integer within `min..=max`.
pub(crate) fn opt_int_in(body: &Body, key: &str, min: i64, max: i64) -> Result<Option<i64>, InvalidRequest> {
    let Some(value) = present(body, key) else {
        return Ok(None);
    };
    let Some(n) = value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX)) else {
        return Err(invalid_type(key, "an integer", value));
    };
    if n < min {
        return Err(InvalidRequest::new(
            format!("Invalid '{key}': integer below minimum value. Expected a value >= {min}, but got {n} instead."),
            key,
            "integer_below_min_value",
        ));
    }
    if n > max {
        return Err(InvalidRequest::new(
            format!(
                "Invalid '{key}': integer above maximum value. Expected a value <= {max}, but got {value} instead."
            ),
            key,
            "integer_above_max_value",
        ));
    }
    Ok(Some(n))
}

/// An optional positive integer (token limits, `n`, `dimensions`).
pub(crate) fn opt_positive(body: &Body, key: &str) -> Result<Option<u64>, InvalidRequest> {
    let Some(value) = present(body, key) else {
        return Ok(None);
    };
    match value.as_u64() {
        Some(n) if n >= 1 => Ok(Some(n)),
        Some(n) => Err(InvalidRequest::new(
            format!("Invalid '{key}': integer below minimum value. Expected a value >= 1, but got {n} instead."),
            key,
            "integer_below_min_value",
        )),
        None if value.as_i64().is_some() => Err(InvalidRequest::new(
            format!("Invalid '{key}': integer below minimum value. Expected a value >= 1, but got {value} instead."),
            key,
            "integer_below_min_value",
        )),
        None => Err(invalid_type(key, "an integer", value)),
    }
}

/// An optional number within `min..=max`.
pub(crate) fn opt_number_in(body: &Body, key: &str, min: f64, max: f64) -> Result<Option<f64>, InvalidRequest> {
    let Some(value) = present(body, key) else {
        return Ok(None);
    };
    let Some(x) = value.as_f64() else {
        return Err(invalid_type(key, "a decimal", value));
    };
    if x < min {
        return Err(InvalidRequest::new(
            format!(
                "Invalid '{key}': decimal below minimum value. Expected a value >= {min}, but got {value} instead."
            ),
            key,
            "decimal_below_min_value",
        ));
    }
    if x > max {
        return Err(InvalidRequest::new(
            format!(
                "Invalid '{key}': decimal above maximum value. Expected a value <= {max}, but got {value} instead."
            ),
            key,
            "decimal_above_max_value",
        ));
    }
    Ok(Some(x))
}

/// `stop`: a string or an array of at most 4 strings.
pub(crate) fn stop(body: &Body) -> Result<(), InvalidRequest> {
    match present(body, "stop") {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(items)) => {
            if items.len() > 4 {
                return Err(InvalidRequest::new(
                    format!("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length {} instead.", items.len()),
                    "stop",
                    "array_above_max_length",
                ));
            }
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    return Err(invalid_type(&format!("stop[{i}]"), "a string", item));
                }
            }
            Ok(())
        }
        Some(other) => Err(invalid_type("stop", "a string or an array of strings", other)),
    }
}

/// `stream` and `stream_options`; returns `(stream, include_usage)`.
pub(crate) fn stream(body: &Body) -> Result<(bool, bool), InvalidRequest> {
    let stream = opt_bool(body, "stream")?.unwrap_or(false);
    let Some(options) = opt_object(body, "stream_options")? else {
        return Ok((stream, false));
    };
    if !stream {
        return Err(InvalidRequest::new(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled. Set \"stream\": true or remove 'stream_options'.",
            "stream_options",
            "invalid_value",
        ));
    }
    let include_usage = match options.get("include_usage") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_type("stream_options.include_usage", "a boolean", other)),
    };
    Ok((stream, include_usage))
}

/// `user`: an optional string, returned owned for the summary.
pub(crate) fn user(body: &Body) -> Result<Option<String>, InvalidRequest> {
    Ok(opt_string(body, "user")?.map(str::to_owned))
}

/// `tools`: an array of objects, each with a string `type`; function tools need `function.name`.
pub(crate) fn tools(body: &Body) -> Result<(), InvalidRequest> {
    let Some(tools) = opt_array(body, "tools")? else {
        return Ok(());
    };
    for (i, tool) in tools.iter().enumerate() {
        let param = format!("tools[{i}]");
        let Some(tool) = tool.as_object() else {
            return Err(invalid_type(&param, "an object", tool));
        };
        match tool.get("type") {
            Some(Value::String(_)) => {}
            Some(other) => return Err(invalid_type(&format!("{param}.type"), "a string", other)),
            None => return Err(missing(&format!("{param}.type"))),
        }
        if tool.get("type").and_then(Value::as_str) == Some("function") {
            let function = tool.get("function");
            match function.and_then(|f| f.get("name")) {
                Some(Value::String(_)) => {}
                Some(other) => return Err(invalid_type(&format!("{param}.function.name"), "a string", other)),
                None => return Err(missing(&format!("{param}.function.name"))),
            }
        }
    }
    Ok(())
}
