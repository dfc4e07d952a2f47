//! The Pingora service: forwards Pingora's phases to [`crate::pipeline`].
//!
//! Sluice answers every request in `request_filter` (returning "already answered"), so Pingora's
//! own upstream path (`upstream_peer`, its retries and filters) is never used: Sluice owns the
//! upstream call to retry on status codes and translate formats (see `ARCHITECTURE.md`).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};

use crate::pipeline::{self, context::RequestContext};
use crate::state::AppState;

/// One listener's request handler.
pub struct SluiceService {
    state: Arc<AppState>,
    /// Serves only `/metrics`, `/healthz`, `/readyz` (the admin address).
    admin_only: bool,
}

impl SluiceService {
    /// The public API service.
    pub fn api(state: Arc<AppState>) -> SluiceService {
        SluiceService { state, admin_only: false }
    }

    /// The admin-address service (metrics and health only).
    pub fn admin(state: Arc<AppState>) -> SluiceService {
        SluiceService { state, admin_only: true }
    }
}

#[async_trait]
impl ProxyHttp for SluiceService {
    type CTX = RequestContext;

    fn new_ctx(&self) -> RequestContext {
        RequestContext::new()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestContext) -> pingora::Result<bool> {
        pipeline::handle(&self.state, session, ctx, self.admin_only).await;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut RequestContext) -> pingora::Result<Box<HttpPeer>> {
        // Unreachable by construction: request_filter always answers.
        pingora::Error::e_explain(pingora::ErrorType::InternalError, "sluice answers every request in request_filter")
    }

    async fn logging(&self, _session: &mut Session, _e: Option<&pingora::Error>, ctx: &mut RequestContext) {
        ctx.finish(&self.state).await;
    }
}
