//! Validation of `POST /v1/embeddings` bodies and of token-or-text inputs (also the legacy
//! completions `prompt`).
//!
//! Owns input-shape rules; never rewrites the body.

use serde_json::Value;

use super::fields::{self, invalid_type, invalid_value, missing, Body};
use crate::estimate;
use crate::types::{EncodingFormat, InvalidRequest, RequestSummary};

/// OpenAI's limit on inputs per embeddings request.
pub(crate) const MAX_INPUTS: usize = 2048;

/// Validates an embeddings body.
pub(crate) fn validate(body: &Body) -> Result<RequestSummary, InvalidRequest> {
    let model = fields::model(body)?;
    let input = fields::present(body, "input").ok_or_else(|| missing("input"))?;
    let input_count = check_input("input", input, false)?;
    let encoding_format = match fields::opt_string(body, "encoding_format")? {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(other) => {
            return Err(invalid_value(
                "encoding_format",
                format!("'{other}'. Supported values are: 'float' and 'base64'."),
            ))
        }
    };
    let dimensions = fields::opt_positive(body, "dimensions")?;
    let user = fields::user(body)?;
    Ok(RequestSummary {
        model,
        stream: false,
        include_usage: false,
        max_output_tokens: None,
        n: 1,
        user,
        encoding_format,
        dimensions,
        input_count,
        prompt_tokens_estimate: estimate::input_tokens(input),
    })
}

/// The shape of a text-or-tokens input, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputShape {
    /// One string.
    Text,
    /// An array of strings.
    Texts,
    /// One array of token ids.
    Tokens,
    /// An array of token-id arrays.
    TokenLists,
}

/// Classifies an input already validated by [`check_input`].
pub(crate) fn shape(input: &Value) -> InputShape {
    match input {
        Value::Array(items) => match items.first() {
            Some(Value::String(_)) => InputShape::Texts,
            Some(Value::Array(_)) => InputShape::TokenLists,
            _ => InputShape::Tokens,
        },
        _ => InputShape::Text,
    }
}

/// Checks a string | strings | token ids | token-id arrays input; returns how many inputs it holds.
/// `allow_empty_text` is true for completions prompts, where `""` is legal.
pub(crate) fn check_input(param: &str, input: &Value, allow_empty_text: bool) -> Result<usize, InvalidRequest> {
    let empty_string = |p: &str| {
        InvalidRequest::new(
            format!(
                "Invalid '{p}': empty string. Every input must contain at least one character; remove empty inputs."
            ),
            p,
            "empty_string",
        )
    };
    let expected = "a string, an array of strings, an array of integers or an array of integer arrays";
    match input {
        Value::String(s) if s.is_empty() && !allow_empty_text => Err(empty_string(param)),
        Value::String(_) => Ok(1),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(InvalidRequest::new(
                    format!("Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."),
                    param,
                    "empty_array",
                ));
            }
            if items.len() > MAX_INPUTS {
                return Err(InvalidRequest::new(
                    format!("Invalid '{param}': array too long. Expected an array with maximum length {MAX_INPUTS}, but got an array with length {} instead. Split the inputs over several requests.", items.len()),
                    param,
                    "array_above_max_length",
                ));
            }
            match &items[0] {
                Value::String(_) => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) if s.is_empty() && !allow_empty_text => {
                                return Err(empty_string(&format!("{param}[{i}]")))
                            }
                            Value::String(_) => {}
                            other => return Err(invalid_type(&format!("{param}[{i}]"), "a string", other)),
                        }
                    }
                    Ok(items.len())
                }
                Value::Number(_) => {
                    check_tokens(param, items)?;
                    Ok(1)
                }
                Value::Array(_) => {
                    for (i, item) in items.iter().enumerate() {
                        let item_param = format!("{param}[{i}]");
                        match item {
                            Value::Array(tokens) if tokens.is_empty() => {
                                return Err(InvalidRequest::new(
                                    format!("Invalid '{item_param}': empty array. Expected at least one token id."),
                                    item_param,
                                    "empty_array",
                                ))
                            }
                            Value::Array(tokens) => check_tokens(&item_param, tokens)?,
                            other => return Err(invalid_type(&item_param, "an array of integers", other)),
                        }
                    }
                    Ok(items.len())
                }
                other => {
                    Err(invalid_type(&format!("{param}[0]"), "a string, an integer or an array of integers", other))
                }
            }
        }
        other => Err(invalid_type(param, expected, other)),
    }
}

/// Token ids: non-negative integers.
fn check_tokens(param: &str, tokens: &[Value]) -> Result<(), InvalidRequest> {
    for (i, token) in tokens.iter().enumerate() {
        if token.as_u64().is_none() {
            return Err(invalid_type(&format!("{param}[{i}]"), "a non-negative integer token id", token));
        }
    }
    Ok(())
}
