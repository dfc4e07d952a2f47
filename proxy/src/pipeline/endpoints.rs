//! Sluice's own endpoints: health, readiness, metrics and the model list from config.

use bytes::Bytes;
use pingora::proxy::Session;
use subtle::ConstantTimeEq;

use super::context::RequestContext;
use super::respond;
use crate::config::routes::model_object;
use crate::config::Config;
use crate::error::GatewayError;
use crate::state::AppState;

/// `GET /healthz`: the process is alive.
pub async fn health(session: &mut Session, ctx: &mut RequestContext) -> Result<(), GatewayError> {
    let _ = respond::json(session, ctx, 200, Bytes::from_static(br#"{"status":"ok"}"#), Vec::new()).await;
    Ok(())
}

/// `GET /readyz`: a config is loaded, at least one model has a candidate, and the process is not
/// shutting down.
pub async fn ready(
    session: &mut Session,
    ctx: &mut RequestContext,
    config: &Config,
    draining: bool,
) -> Result<(), GatewayError> {
    let routes = config.models.values().filter(|m| !m.candidates.is_empty()).count();
    let (status, body) = if draining {
        (503, r#"{"status":"draining"}"#.to_string())
    } else if routes > 0 {
        (200, format!(r#"{{"status":"ready","models":{routes}}}"#))
    } else {
        (503, r#"{"status":"not_ready","reason":"no model routes with upstream candidates"}"#.to_string())
    };
    let _ = respond::json(session, ctx, status, Bytes::from(body), Vec::new()).await;
    Ok(())
}

/// `GET /metrics`: Prometheus text format, behind a bearer token when configured.
pub async fn metrics(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    if let Some(token) = &config.metrics.bearer_token {
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::identity::bearer)
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(token.0.as_bytes())) {
            return Err(GatewayError::MetricsUnauthorized);
        }
    }
    state.caching.export(&state.metrics);
    let body = Bytes::from(state.metrics.render());
    let mut h = respond::header(200, ctx, "text/plain; version=0.0.4; charset=utf-8").map_err(internal)?;
    h.insert_header("content-length", body.len()).map_err(internal)?;
    ctx.status = 200;
    if session.write_response_header(Box::new(h), false).await.is_ok() {
        let _ = session.write_response_body(Some(body), true).await;
    }
    Ok(())
}

/// `GET /v1/models`.
pub async fn models(session: &mut Session, ctx: &mut RequestContext, config: &Config) -> Result<(), GatewayError> {
    let _ = respond::json(session, ctx, 200, config.models_listing.clone(), Vec::new()).await;
    Ok(())
}

/// `GET /v1/models/{id}`.
pub async fn model(
    session: &mut Session,
    ctx: &mut RequestContext,
    config: &Config,
    id: &str,
) -> Result<(), GatewayError> {
    let route = config.models.get(id).ok_or_else(|| GatewayError::ModelNotFound(id.to_string()))?;
    let body = Bytes::from(model_object(id, route.owned_by.as_deref()).to_string());
    let _ = respond::json(session, ctx, 200, body, Vec::new()).await;
    Ok(())
}

fn internal(e: Box<pingora::Error>) -> GatewayError {
    GatewayError::Internal(e.to_string())
}
