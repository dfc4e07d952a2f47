//! One JSON line per request (target `access`). Never prompt text, never credentials.

use std::time::Duration;

use crate::pipeline::context::RequestContext;

/// Writes the access-log line for a finished request.
pub fn write(ctx: &RequestContext, total: Duration) {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let overhead = ctx.upstream_elapsed.map(|up| total.saturating_sub(up));
    tracing::info!(
        target: "access",
        request_id = %ctx.request_id,
        endpoint = ctx.endpoint.as_str(),
        tenant = ctx.tenant.as_deref(),
        tier = ctx.tier.as_deref(),
        user = ctx.user.as_deref(),
        model_asked = ctx.model_asked.as_deref(),
        model_used = ctx.model_used.as_deref(),
        provider = ctx.provider.as_deref(),
        stream = ctx.stream,
        status = ctx.status,
        error_domain = ctx.error.as_ref().map(|(d, _)| d.as_str()),
        error_code = ctx.error.as_ref().map(|(_, c)| c.as_str()),
        latency_ms = total.as_secs_f64() * 1000.0,
        upstream_ms = ms(ctx.upstream_elapsed),
        overhead_ms = ms(overhead),
        first_byte_ms = ms(ctx.first_byte),
        prompt_tokens = ctx.usage.map(|u| u.prompt_tokens),
        completion_tokens = ctx.usage.map(|u| u.completion_tokens),
        usage_estimated = ctx.usage_estimated,
        stream_abort = ctx.stream_abort.map(|a| a.as_str()),
        "request"
    );
}
