//! Configured pass-through prefixes (e.g. `/v1/moderations`): authenticated, counted and logged,
//! forwarded unchanged to an OpenAI-kind provider with Sluice's credentials, answer relayed as it
//! arrives. The upstream URL is always the provider's base URL plus the request path: clients
//! never choose a host.

use std::time::Instant;

use bytes::Bytes;
use pingora::proxy::Session;

use super::context::{RequestContext, StreamAbort};
use super::respond;
use crate::config::{Config, Passthrough};
use crate::error::GatewayError;
use crate::upstream;

/// Forwards one request.
pub async fn serve(
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    route: &Passthrough,
    body: Bytes,
) -> Result<(), GatewayError> {
    let provider = &route.provider;
    ctx.provider = Some(provider.name.clone());
    let req = session.req_header();
    let path_and_query = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let rest = path_and_query.strip_prefix("/v1").unwrap_or(path_and_query);
    let method =
        reqwest::Method::from_bytes(req.method.as_str().as_bytes()).map_err(|_| GatewayError::MethodNotAllowed {
            method: req.method.to_string(),
            path: req.uri.path().to_string(),
            allowed: "GET, POST",
        })?;
    let mut builder = provider
        .client
        .request(method, format!("{}{}", provider.base_url, rest))
        .header("x-request-id", ctx.request_id.as_str());
    if let Some(ct) = req.headers.get(http::header::CONTENT_TYPE) {
        builder = builder.header(http::header::CONTENT_TYPE, ct.clone());
    }
    if let Some(auth) = provider.authorization() {
        builder = builder.header(http::header::AUTHORIZATION, auth.clone());
    }
    if !body.is_empty() {
        builder = builder.body(body);
    }
    let started = Instant::now();
    let sent = tokio::select! {
        r = upstream::send_request(builder, &provider.name, config.timeouts.first_byte) => Some(r),
        _ = session.read_body_or_idle(true) => None,
    };
    let Some(sent) = sent else {
        ctx.status = 499;
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(());
    };
    let mut resp = sent.inspect_err(|_| ctx.upstream_elapsed = Some(started.elapsed()))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        ctx.upstream_elapsed = Some(started.elapsed());
        let err = sluice_providers::translate_error(sluice_providers::Protocol::OpenAi, status, b"");
        return Err(GatewayError::Upstream(err));
    }
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let mut h = respond::header(status, ctx, "application/json").map_err(|e| GatewayError::Internal(e.to_string()))?;
    h.insert_header("content-type", content_type).map_err(|e| GatewayError::Internal(e.to_string()))?;
    if !session.is_http2() {
        h.insert_header("transfer-encoding", "chunked").map_err(|e| GatewayError::Internal(e.to_string()))?;
    }
    ctx.status = status;
    if session.write_response_header(Box::new(h), false).await.is_err() {
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        return Ok(());
    }
    loop {
        let next = tokio::select! {
            r = upstream::next_chunk(&mut resp, config.timeouts.idle, &provider.name) => Some(r),
            _ = session.read_body_or_idle(true) => None,
        };
        match next {
            None => {
                ctx.stream_abort = Some(StreamAbort::ClientGone);
                break;
            }
            Some(Ok(Some(chunk))) => {
                if session.write_response_body(Some(chunk), false).await.is_err() {
                    ctx.stream_abort = Some(StreamAbort::ClientGone);
                    break;
                }
            }
            Some(Ok(None)) => {
                let _ = session.write_response_body(None, true).await;
                break;
            }
            Some(Err(e)) => {
                ctx.stream_abort = Some(StreamAbort::UpstreamError);
                ctx.record_error(&e);
                ctx.status = status;
                // Cut the response: the client sees a truncated body, never a fake success.
                session.set_keepalive(None);
                break;
            }
        }
    }
    ctx.upstream_elapsed = Some(started.elapsed());
    Ok(())
}
