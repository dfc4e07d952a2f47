//! The upstream call, owned by Sluice (not Pingora's proxy path), so that later issues can retry
//! and fail over before the first byte goes downstream.
//!
//! Uses `reqwest` (hyper + rustls): pooled keep-alive connections per upstream host, TLS verified
//! against the OS trust store (plus a configured CA). This module sends one attempt and reads
//! bodies with an idle timeout; it never decides about retries.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_providers::PreparedRequest;

use crate::config::{Candidate, Timeouts};
use crate::error::GatewayError;

/// Largest non-streaming upstream body accepted (embeddings of big batches are large).
pub const MAX_UPSTREAM_BODY: usize = 256 * 1024 * 1024;

/// Sends one attempt and waits for the response headers (bounded by the first-byte timeout).
pub async fn send(
    candidate: &Candidate,
    prepared: &PreparedRequest,
    request_id: &str,
    timeouts: &Timeouts,
) -> Result<reqwest::Response, GatewayError> {
    let provider = &candidate.provider;
    let req = match provider.url(&prepared.path) {
        Some(url) => provider.client.post(url),
        None => {
            let mut url = String::with_capacity(provider.base_url.len() + prepared.path.len());
            url.push_str(&provider.base_url);
            url.push_str(&prepared.path);
            provider.client.post(url)
        }
    };
    let mut req = req
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, if prepared.stream { "text/event-stream" } else { "application/json" })
        .header("x-request-id", request_id)
        .body(prepared.body.clone());
    if let Some(auth) = provider.authorization() {
        req = req.header(http::header::AUTHORIZATION, auth.clone());
    }
    send_request(req, &provider.name, timeouts.first_byte).await
}

/// Sends a prepared `reqwest` request, mapping transport failures to gateway errors.
pub async fn send_request(
    req: reqwest::RequestBuilder,
    provider: &str,
    first_byte: Duration,
) -> Result<reqwest::Response, GatewayError> {
    match tokio::time::timeout(first_byte, req.send()).await {
        Err(_) => Err(GatewayError::UpstreamTimeout { provider: provider.to_string() }),
        Ok(Err(e)) => Err(transport_error(&e, provider)),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// Maps a reqwest transport error (never an HTTP status) to a gateway error.
pub fn transport_error(e: &reqwest::Error, provider: &str) -> GatewayError {
    tracing::warn!(provider, error = %without_url(e), "upstream transport error");
    if e.is_timeout() {
        GatewayError::UpstreamTimeout { provider: provider.to_string() }
    } else if e.is_decode() || e.is_body() {
        GatewayError::UpstreamProtocol { provider: provider.to_string() }
    } else {
        GatewayError::UpstreamUnreachable { provider: provider.to_string() }
    }
}

/// The error text without the URL (a URL may carry an account id).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    text.push_str(if e.is_connect() {
        "connect error"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "request error"
    });
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads one body chunk, bounded by the idle timeout. `Ok(None)` = end of body.
pub async fn next_chunk(
    resp: &mut reqwest::Response,
    idle: Duration,
    provider: &str,
) -> Result<Option<Bytes>, GatewayError> {
    match tokio::time::timeout(idle, resp.chunk()).await {
        Err(_) => Err(GatewayError::UpstreamTimeout { provider: provider.to_string() }),
        Ok(Err(e)) => Err(transport_error(&e, provider)),
        Ok(Ok(chunk)) => Ok(chunk),
    }
}

/// Reads a whole (non-streaming) body with the idle timeout between chunks and a size cap.
pub async fn read_body(resp: &mut reqwest::Response, idle: Duration, provider: &str) -> Result<Bytes, GatewayError> {
    let mut buf = BytesMut::with_capacity(resp.content_length().unwrap_or(8192).min(1 << 20) as usize);
    while let Some(chunk) = next_chunk(resp, idle, provider).await? {
        if buf.is_empty() && resp.content_length() == Some(chunk.len() as u64) {
            return Ok(chunk);
        }
        if buf.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(GatewayError::UpstreamProtocol { provider: provider.to_string() });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
