//! Validation of `POST /v1/completions` (legacy text completions) and `POST /v1/responses`.
//!
//! Owns the light checks these pass-through endpoints get; never rewrites the body.

use super::embeddings::check_input;
use super::fields::{self, missing, Body};
use crate::estimate;
use crate::types::{EncodingFormat, InvalidRequest, RequestSummary};

/// Validates a legacy completions body.
pub(crate) fn validate_completions(body: &Body) -> Result<RequestSummary, InvalidRequest> {
    let model = fields::model(body)?;
    let prompt = fields::present(body, "prompt").ok_or_else(|| missing("prompt"))?;
    check_input("prompt", prompt, true)?;
    let (stream, include_usage) = fields::stream(body)?;
    let max_tokens = fields::opt_positive(body, "max_tokens")?;
    let n = fields::opt_int_in(body, "n", 1, 128)?.map_or(1, |n| n.unsigned_abs());
    fields::opt_int_in(body, "best_of", 1, 20)?;
    fields::opt_number_in(body, "temperature", 0.0, 2.0)?;
    fields::opt_number_in(body, "top_p", 0.0, 1.0)?;
    fields::opt_number_in(body, "presence_penalty", -2.0, 2.0)?;
    fields::opt_number_in(body, "frequency_penalty", -2.0, 2.0)?;
    fields::opt_int_in(body, "logprobs", 0, 5)?;
    fields::opt_bool(body, "echo")?;
    fields::opt_string(body, "suffix")?;
    fields::stop(body)?;
    let user = fields::user(body)?;
    Ok(RequestSummary {
        model,
        stream,
        include_usage,
        max_output_tokens: max_tokens,
        n,
        user,
        encoding_format: EncodingFormat::Float,
        dimensions: None,
        input_count: 0,
        prompt_tokens_estimate: estimate::input_tokens(prompt),
    })
}

/// Validates a Responses API body (only the fields the gateway's policies read).
pub(crate) fn validate_responses(body: &Body) -> Result<RequestSummary, InvalidRequest> {
    let model = fields::model(body)?;
    let stream = fields::opt_bool(body, "stream")?.unwrap_or(false);
    let max_output_tokens = fields::opt_positive(body, "max_output_tokens")?;
    fields::opt_number_in(body, "temperature", 0.0, 2.0)?;
    fields::opt_number_in(body, "top_p", 0.0, 1.0)?;
    fields::opt_string(body, "instructions")?;
    fields::opt_array(body, "tools")?;
    let user = fields::user(body)?;
    let input_estimate = match fields::present(body, "input") {
        None => 0,
        Some(input @ (serde_json::Value::String(_) | serde_json::Value::Array(_))) => {
            estimate::responses_input_tokens(input)
        }
        Some(other) => return Err(fields::invalid_type("input", "a string or an array of input items", other)),
    };
    let instructions = fields::opt_string(body, "instructions")?.map_or(0, estimate::estimate_tokens);
    Ok(RequestSummary {
        model,
        stream,
        include_usage: false,
        max_output_tokens,
        n: 1,
        user,
        encoding_format: EncodingFormat::Float,
        dimensions: None,
        input_count: 0,
        prompt_tokens_estimate: input_estimate + instructions,
    })
}
