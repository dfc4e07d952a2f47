//! The per-request opt-out headers of the cost policies (`x-sluice-downgrade`, `x-sluice-trim`):
//! `off` skips the route's rule for this request, `auto` (or no header) lets it decide, and any
//! other value is a 400 naming the header, so a typo never silently changes what is sent upstream.

use http::HeaderMap;

use crate::error::GatewayError;

/// Whether `header` opts this request out. `off_means` finishes the 400's explanation of `off`.
pub fn opted_out(headers: &HeaderMap, header: &'static str, off_means: &str) -> Result<bool, GatewayError> {
    match headers.get(header).map(|v| v.to_str().unwrap_or("").trim()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(false),
        Some(_) => Err(GatewayError::InvalidRequest(sluice_providers::InvalidRequest {
            message: format!(
                "Invalid header `{header}`: use `off` ({off_means}) or `auto` (let the route's rule decide)."
            ),
            param: Some(header.to_string()),
            code: Some("invalid_value"),
        })),
    }
}
