//! The request path, in order. [`crate::service`] forwards Pingora's phases here; this file owns
//! the order of the steps:
//!
//! 1. **Request id**: the client's `x-request-id` (if sane) or a new one; on every response.
//! 2. **Route** by method and path: health, readiness, metrics, models, the model endpoints,
//!    configured pass-throughs; anything else is 404 (405 for a known path with the wrong method).
//! 3. **Authenticate** (gateway key or JWT) → tenant and tier ([`crate::identity`]).
//! 4. **Read the body** within the size limit (413) — before routing, since routing needs `model`.
//! 5. **Validate** the JSON (400 naming the field) and resolve the end user.
//! 6. **Route the model** (404 `model_not_found`) to its candidates.
//! 7. **Admit** (allow-list, quota reserve, rate limits) and **the response cache**
//!    ([`crate::caching`]): a hit is replayed ([`from_cache`]), an identical request in flight is
//!    followed, a miss leads and fills (*later issue: downgrade, trimming*).
//! 8. **Translate and call the upstream** ourselves ([`forward`]); nothing is written downstream
//!    before the upstream answered, so retries and failover can slot in here.
//! 9. **Relay**: JSON in one write, or SSE event by event as it arrives.
//! 10. **Log and count** in Pingora's logging phase ([`context::RequestContext::finish`]).
//!
//! Invariants: errors are answered in OpenAI shape by [`respond::error`], never a bare 500; each
//! request reads one config snapshot for its whole life.

pub mod admin;
pub mod body;
pub mod context;
pub mod embeddings;
pub mod endpoints;
pub mod failover;
pub mod forward;
pub mod from_cache;
pub mod passthrough;
pub mod respond;

use pingora::proxy::Session;
use sluice_providers::Endpoint;

use self::context::{EndpointLabel, RequestContext};
use crate::error::GatewayError;
use crate::state::AppState;

/// What the path and method ask for.
enum Target {
    Model(Endpoint),
    Models,
    Model1(String),
    Health,
    Ready,
    Metrics,
    Passthrough(usize),
    AdminUser(String),
    AdminTop,
}

/// Handles one request completely (the response is always written here).
pub async fn handle(state: &AppState, session: &mut Session, ctx: &mut RequestContext, admin_only: bool) {
    ctx.request_id = request_id(session);
    let config = state.config();
    session.set_write_timeout(Some(config.timeouts.downstream_write));
    if state.is_draining() {
        // Shutting down: finish this request, then close the connection.
        session.set_keepalive(None);
    }
    let result = route(state, &config, session, ctx, admin_only).await;
    if let Err(err) = result {
        // A failed write means the client is gone; there is nobody left to tell.
        let _ = respond::error(session, ctx, &err).await;
    }
}

async fn route(
    state: &AppState,
    config: &crate::config::Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    admin_only: bool,
) -> Result<(), GatewayError> {
    let method = session.req_header().method.clone();
    let path = session.req_header().uri.path().to_string();
    let target = classify(&path, config, admin_only);
    let wanted = match &target {
        Some(Target::Model(_)) => "POST",
        Some(Target::Passthrough(_)) => "ANY",
        Some(Target::AdminUser(_) | Target::AdminTop) => "GET",
        Some(_) => "GET",
        None => return Err(GatewayError::UnknownPath { method: method.to_string(), path }),
    };
    if wanted != "ANY" && method.as_str() != wanted && !(wanted == "GET" && method == http::Method::HEAD) {
        return Err(GatewayError::MethodNotAllowed { method: method.to_string(), path, allowed: wanted });
    }
    let Some(target) = target else { return Ok(()) };
    match target {
        Target::Health => {
            ctx.quiet = true;
            ctx.endpoint = EndpointLabel::Internal;
            endpoints::health(session, ctx).await
        }
        Target::Ready => {
            ctx.quiet = true;
            ctx.endpoint = EndpointLabel::Internal;
            endpoints::ready(session, ctx, config, state.is_draining()).await
        }
        Target::Metrics => {
            ctx.quiet = true;
            ctx.endpoint = EndpointLabel::Internal;
            endpoints::metrics(state, config, session, ctx).await
        }
        Target::AdminUser(user) => {
            ctx.endpoint = EndpointLabel::Internal;
            admin::user_usage(state, config, session, ctx, &user).await
        }
        Target::AdminTop => {
            ctx.endpoint = EndpointLabel::Internal;
            admin::top_usage(state, config, session, ctx).await
        }
        Target::Models | Target::Model1(_) | Target::Model(_) | Target::Passthrough(_) => {
            state.metrics.in_flight.inc();
            ctx.counted_in_flight = true;
            let auth = session.req_header().headers.get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
            let caller = config.identity.authenticate(auth)?;
            ctx.tenant = Some(caller.tenant.clone());
            ctx.tier = Some(caller.tier.clone());
            match target {
                Target::Models => {
                    ctx.endpoint = EndpointLabel::Models;
                    endpoints::models(session, ctx, config).await
                }
                Target::Model1(id) => {
                    ctx.endpoint = EndpointLabel::Models;
                    endpoints::model(session, ctx, config, &id).await
                }
                Target::Passthrough(i) => {
                    ctx.endpoint = EndpointLabel::Passthrough;
                    let body = body::read_limited(session, config.server.body_limit).await?;
                    passthrough::serve(config, session, ctx, &config.passthrough[i], body).await
                }
                Target::Model(endpoint) => {
                    ctx.endpoint = label(endpoint);
                    let body = body::read_limited(session, config.server.body_limit).await?;
                    forward::serve(state, config, session, ctx, endpoint, &caller, &body).await
                }
                Target::Health | Target::Ready | Target::Metrics | Target::AdminUser(_) | Target::AdminTop => Ok(()),
            }
        }
    }
}

fn classify(path: &str, config: &crate::config::Config, admin_only: bool) -> Option<Target> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    match path {
        "/healthz" => return Some(Target::Health),
        "/readyz" => return Some(Target::Ready),
        "/metrics" if admin_only || config.metrics.enabled => return Some(Target::Metrics),
        "/admin/usage" => return Some(Target::AdminTop),
        _ if path.starts_with("/admin/usage/") => {
            return Some(Target::AdminUser(percent_decode(&path["/admin/usage/".len()..])))
        }
        _ if admin_only => return None,
        "/v1/chat/completions" => return Some(Target::Model(Endpoint::ChatCompletions)),
        "/v1/embeddings" => return Some(Target::Model(Endpoint::Embeddings)),
        "/v1/completions" => return Some(Target::Model(Endpoint::Completions)),
        "/v1/responses" => return Some(Target::Model(Endpoint::Responses)),
        "/v1/models" => return Some(Target::Models),
        _ => {}
    }
    if let Some(id) = path.strip_prefix("/v1/models/") {
        return Some(Target::Model1(percent_decode(id)));
    }
    config
        .passthrough
        .iter()
        .position(|p| path == p.path_prefix || path.starts_with(&format!("{}/", p.path_prefix.trim_end_matches('/'))))
        .map(Target::Passthrough)
}

/// Model ids may contain `/` or `@` percent-encoded by SDKs.
pub(crate) fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn label(endpoint: Endpoint) -> EndpointLabel {
    match endpoint {
        Endpoint::ChatCompletions => EndpointLabel::Chat,
        Endpoint::Embeddings => EndpointLabel::Embeddings,
        Endpoint::Completions => EndpointLabel::Completions,
        Endpoint::Responses => EndpointLabel::Responses,
    }
}

/// The client's request id when it is short printable ASCII, otherwise a fresh one.
fn request_id(session: &Session) -> String {
    if let Some(v) = session.req_header().headers.get("x-request-id") {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
            if let Ok(s) = v.to_str() {
                return s.to_string();
            }
        }
    }
    let mut id = String::with_capacity(36);
    id.push_str("req_");
    id.push_str(uuid::Uuid::new_v4().simple().encode_lower(&mut uuid::Uuid::encode_buffer()));
    id
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_percent_escapes_in_model_ids() {
        assert_eq!(percent_decode("%40cf%2Fmeta%2Fllama"), "@cf/meta/llama");
        assert_eq!(percent_decode("gpt-4o"), "gpt-4o");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
    }
}
