//! Validation of client request bodies in OpenAI's wire format, before any policy runs.
//!
//! Owns the type and range checks and the facts policies need ([`RequestSummary`]); never
//! rewrites the body and never rejects unknown fields (they are forwarded verbatim).

mod chat;
pub(crate) mod embeddings;
pub(crate) mod fields;
mod legacy;

use serde_json::{Map, Value};

use crate::types::{Endpoint, InvalidRequest, RequestSummary};

/// Validate the parsed JSON body of a client request to `endpoint` (OpenAI wire format).
///
/// Checks the types and ranges of the fields OpenAI defines (model, messages, stream,
/// stream_options, token limits, sampling parameters, stop, tools, embeddings input, …). Error
/// messages name the field path like OpenAI does (`messages[2].role`, `temperature`) and say how
/// to fix it. Unknown fields are allowed: they are forwarded verbatim.
pub fn validate(endpoint: Endpoint, body: &Map<String, Value>) -> Result<RequestSummary, InvalidRequest> {
    match endpoint {
        Endpoint::ChatCompletions => chat::validate(body),
        Endpoint::Embeddings => embeddings::validate(body),
        Endpoint::Completions => legacy::validate_completions(body),
        Endpoint::Responses => legacy::validate_responses(body),
    }
}

#[cfg(test)]
mod tests;
