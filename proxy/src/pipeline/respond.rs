//! Writing responses downstream: JSON bodies, OpenAI-shaped errors, SSE headers.
//!
//! Every response carries `x-request-id`. Errors also carry `x-should-retry` so that SDK retries
//! never stack on top of a refusal that retrying cannot fix.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::context::RequestContext;
use crate::error::GatewayError;

/// Result of a downstream write: `Err` means the client is gone.
pub type WriteResult = pingora::Result<()>;

/// Extra response headers: a static (lowercase) name and an owned value, which becomes the
/// `HeaderValue` without another copy.
pub type ExtraHeaders = Vec<(&'static str, String)>;

/// A response header with the headers every Sluice response carries.
///
/// Built without Pingora's case-preserving name map: every name Sluice writes is lowercase (and
/// so are the `http::HeaderName`s Pingora and reqwest add), so the bytes on the wire are the same,
/// while each insert skips a second map insert and a copy of the name (profiled: about 9 % of
/// the instructions of a small JSON answer went into building its ~20 headers).
pub fn header(status: u16, ctx: &RequestContext, content_type: &'static str) -> pingora::Result<ResponseHeader> {
    let mut h = ResponseHeader::build_no_case(status, Some(8))?;
    h.insert_header("content-type", content_type)?;
    h.insert_header("x-request-id", ctx.request_id.as_str())?;
    Ok(h)
}

/// Writes a complete JSON response.
pub async fn json(
    session: &mut Session,
    ctx: &mut RequestContext,
    status: u16,
    body: Bytes,
    extra: ExtraHeaders,
) -> WriteResult {
    let mut h = header(status, ctx, "application/json")?;
    h.insert_header("content-length", body.len())?;
    for (name, value) in extra {
        h.insert_header(name, value)?;
    }
    ctx.status = status;
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}

/// Writes an error in OpenAI shape and records it in the context.
pub async fn error(session: &mut Session, ctx: &mut RequestContext, err: &GatewayError) -> WriteResult {
    ctx.record_error(err);
    if matches!(err, GatewayError::Internal(_)) {
        tracing::error!(request_id = %ctx.request_id, error = ?err, "internal error");
    }
    let mut h = header(err.status(), ctx, "application/json")?;
    let body = err.body();
    h.insert_header("content-length", body.len())?;
    let should_retry = err.should_retry() && !ctx.gave_up;
    h.insert_header("x-should-retry", if should_retry { "true" } else { "false" })?;
    if ctx.attempts > 0 {
        h.insert_header("x-sluice-attempts", ctx.attempts.to_string())?;
        h.insert_header("x-sluice-fallback", if ctx.fallback { "true" } else { "false" })?;
    }
    match err {
        GatewayError::Upstream(_)
        | GatewayError::AllCoolingDown { .. }
        | GatewayError::UpstreamBusy { .. }
        | GatewayError::UpstreamUnreachable { .. }
        | GatewayError::UpstreamTimeout { .. }
        | GatewayError::UpstreamProtocol { .. }
        | GatewayError::NoCandidate(_) => {
            h.insert_header("x-sluice-error-source", "upstream")?;
        }
        GatewayError::Refused { refusal, .. } => {
            h.insert_header("x-sluice-error-source", "policy")?;
            h.insert_header("x-sluice-refusal", refusal_label(refusal))?;
        }
        GatewayError::MethodNotAllowed { allowed, .. } => {
            h.insert_header("allow", *allowed)?;
            h.insert_header("x-sluice-error-source", "gateway")?;
        }
        _ => h.insert_header("x-sluice-error-source", "gateway")?,
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if let Some(wait) = err.retry_after(now) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        h.insert_header("retry-after", secs.max(1).to_string())?;
        h.insert_header("retry-after-ms", wait.as_millis().to_string())?;
    }
    if let Some(rate) = &ctx.rate {
        for (name, value) in crate::accounting::headers::rate_limit_headers(rate) {
            h.insert_header(name, value)?;
        }
    }
    if matches!(err, GatewayError::BodyTooLarge { .. }) {
        // The rest of the body is unread: do not reuse the connection.
        session.set_keepalive(None);
        h.insert_header("connection", "close")?;
    }
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}

fn refusal_label(r: &sluice_policies::store::Refusal) -> &'static str {
    use sluice_policies::store::{RateKind, Refusal};
    match r {
        Refusal::QuotaExhausted { .. } => "quota",
        Refusal::TenantQuotaExhausted { .. } => "tenant_quota",
        Refusal::RateLimited { kind: RateKind::Requests, .. } => "requests_per_minute",
        Refusal::RateLimited { kind: RateKind::Tokens, .. } => "tokens_per_minute",
        Refusal::TooLarge { .. } => "too_large",
    }
}

/// Writes the header of an SSE response.
pub async fn sse_header(session: &mut Session, ctx: &mut RequestContext, extra: ExtraHeaders) -> WriteResult {
    let mut h = header(200, ctx, "text/event-stream")?;
    h.insert_header("cache-control", "no-cache")?;
    h.insert_header("x-accel-buffering", "no")?;
    if !session.is_http2() {
        h.insert_header("transfer-encoding", "chunked")?;
    }
    for (name, value) in extra {
        h.insert_header(name, value)?;
    }
    ctx.status = 200;
    session.write_response_header(Box::new(h), false).await
}
