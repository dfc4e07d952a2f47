//! The admin API (usage reports), behind the admin key: `GET /admin/usage/{user}?tenant=…` and
//! `GET /admin/usage?tier=…&tenant=…&limit=…`. Per-user figures live here and in the ledger,
//! never in metric labels.

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::context::RequestContext;
use super::respond;
use crate::config::Config;
use crate::error::GatewayError;
use crate::state::AppState;

/// Checks `Authorization: Bearer <admin key>` in constant time.
pub fn authorize(config: &Config, session: &Session) -> Result<(), GatewayError> {
    let Some(expected) = config.admin_key else { return Err(GatewayError::AdminUnauthorized) };
    let presented = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::identity::bearer)
        .map(crate::identity::hash_key);
    match presented {
        Some(hash) if bool::from(hash.ct_eq(&expected)) => Ok(()),
        _ => Err(GatewayError::AdminUnauthorized),
    }
}

fn query_param(session: &Session, name: &str) -> Option<String> {
    let query = session.req_header().uri.query()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| super::percent_decode(v))
    })
}

/// `GET /admin/usage/{user}`.
pub async fn user_usage(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
    user: &str,
) -> Result<(), GatewayError> {
    authorize(config, session)?;
    let tenant = match query_param(session, "tenant") {
        Some(t) => t,
        None => single_tenant(config).ok_or_else(|| {
            GatewayError::InvalidRequest(sluice_providers::InvalidRequest {
                message: "Several tenants are configured: add `?tenant=<tenant>`.".to_string(),
                param: Some("tenant".to_string()),
                code: Some("missing_required_parameter"),
            })
        })?,
    };
    let snap = state.accounting.store.usage(&tenant, user).await.map_err(|_| GatewayError::StoreUnavailable)?;
    let limit = config.limits_for(&tenant, user, &snap.tier).monthly_tokens;
    let remaining = limit.map(|l| l.saturating_sub(snap.used + snap.reserved));
    let body = json!({
        "tenant": snap.tenant, "user": snap.user, "tier": snap.tier, "month": snap.month,
        "used": snap.used, "reserved": snap.reserved, "limit": limit, "remaining": remaining,
        "resets_at": snap.resets_at,
    });
    let _ = respond::json(session, ctx, 200, Bytes::from(body.to_string()), Vec::new()).await;
    Ok(())
}

/// `GET /admin/usage?tier=…&tenant=…&limit=…`: the month's top users.
pub async fn top_usage(
    state: &AppState,
    config: &Config,
    session: &mut Session,
    ctx: &mut RequestContext,
) -> Result<(), GatewayError> {
    authorize(config, session)?;
    let tier = query_param(session, "tier");
    let tenant = query_param(session, "tenant");
    let n = query_param(session, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(50).clamp(1, 1000);
    let users = state
        .accounting
        .store
        .top_users(tier.as_deref(), tenant.as_deref(), n)
        .await
        .map_err(|_| GatewayError::StoreUnavailable)?;
    let data: Vec<_> = users
        .iter()
        .map(|u| {
            let limit = config.limits_for(&u.tenant, &u.user, &u.tier).monthly_tokens;
            json!({"tenant": u.tenant, "user": u.user, "tier": u.tier, "month": u.month, "used": u.used,
                   "reserved": u.reserved, "limit": limit, "remaining": limit.map(|l| l.saturating_sub(u.used + u.reserved)),
                   "resets_at": u.resets_at})
        })
        .collect();
    let body = json!({"object": "list", "tier": tier, "tenant": tenant, "data": data});
    let _ = respond::json(session, ctx, 200, Bytes::from(body.to_string()), Vec::new()).await;
    Ok(())
}

fn single_tenant(config: &Config) -> Option<String> {
    config.identity.single_tenant()
}
