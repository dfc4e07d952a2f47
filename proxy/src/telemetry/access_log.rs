//! One JSON line per request (target `access`). Never prompt text, never credentials.
//!
//! The line has the shape `tracing-subscriber`'s JSON formatter gives every other log event
//! (`timestamp`, `level`, `message`, the fields, `target`; absent fields left out), but it is
//! serialized here in one pass with serde and written with one `write_all`: through `tracing`'s
//! field visitor and JSON formatter the line cost ~34k instructions per request (13 % of a small
//! chat request in callgrind), several times what the serialization itself needs. Whether it is
//! written still follows the log filter (`log.level`, e.g. `warn,access=info`).

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::pipeline::context::RequestContext;

/// The access-log line, fields in their log order.
#[derive(Serialize)]
struct Line<'a> {
    timestamp: Rfc3339,
    level: &'static str,
    message: &'static str,
    request_id: &'a str,
    endpoint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_asked: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_used: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    stream: bool,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_domain: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overhead_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_byte_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens: Option<u64>,
    usage_estimated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_abort: Option<&'static str>,
    target: &'static str,
}

/// Serializes `humantime`'s RFC 3339 timestamp (microseconds, `Z`) as a JSON string, the format
/// of the other log lines.
impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Wrapper so the foreign timestamp type can be serialized as a string.
struct Rfc3339(humantime::Rfc3339Timestamp);

/// Writes the access-log line for a finished request, if the log filter lets `access` info
/// events through.
pub fn write(ctx: &RequestContext, total: Duration) {
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return;
    }
    let mut buf = Vec::with_capacity(512);
    if serde_json::to_writer(&mut buf, &line(ctx, total, SystemTime::now())).is_err() {
        return; // serializing plain strings and numbers into a Vec cannot fail
    }
    buf.push(b'\n');
    // One write_all on the locked stdout, as tracing-subscriber writes its lines: never
    // interleaved with another log line. A log that cannot be written is not worth failing for.
    let _ = std::io::stdout().lock().write_all(&buf);
}

fn line(ctx: &RequestContext, total: Duration, now: SystemTime) -> Line<'_> {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let overhead = ctx.upstream_elapsed.map(|up| total.saturating_sub(up));
    Line {
        timestamp: Rfc3339(humantime::format_rfc3339_micros(now)),
        level: "INFO",
        message: "request",
        request_id: &ctx.request_id,
        endpoint: ctx.endpoint.as_str(),
        tenant: ctx.tenant.as_deref(),
        tier: ctx.tier.as_deref(),
        user: ctx.user.as_deref(),
        model_asked: ctx.model_asked.as_deref(),
        model_used: ctx.model_used.as_deref(),
        provider: ctx.provider.as_deref(),
        stream: ctx.stream,
        status: ctx.status,
        error_domain: ctx.error.as_ref().map(|(d, _)| d.as_str()),
        error_code: ctx.error.as_ref().map(|(_, c)| c.as_str()),
        latency_ms: total.as_secs_f64() * 1000.0,
        upstream_ms: ms(ctx.upstream_elapsed),
        overhead_ms: ms(overhead),
        first_byte_ms: ms(ctx.first_byte),
        prompt_tokens: ctx.usage.map(|u| u.prompt_tokens),
        completion_tokens: ctx.usage.map(|u| u.completion_tokens),
        usage_estimated: ctx.usage_estimated,
        stream_abort: ctx.stream_abort.map(|a| a.as_str()),
        target: "access",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::pipeline::context::{EndpointLabel, StreamAbort};

    /// The line as `tracing-subscriber`'s JSON formatter wrote it before (the same event and
    /// formatter options as `main.rs`).
    fn via_tracing(ctx: &RequestContext, total: Duration) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(true)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
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
        });
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn ours(ctx: &RequestContext, total: Duration) -> String {
        let mut s = serde_json::to_string(&line(ctx, total, SystemTime::now())).unwrap();
        s.push('\n');
        s
    }

    /// Same keys in the same order with the same values; only the timestamp differs.
    fn same_line(a: &str, b: &str) {
        let strip = |s: &str| {
            let v: serde_json::Map<String, Value> = serde_json::from_str(s).unwrap();
            let ts = v["timestamp"].as_str().unwrap().to_string();
            assert_eq!(ts.len(), "2026-11-26T00:49:34.451499Z".len(), "{ts}");
            assert!(ts.ends_with('Z'));
            v.into_iter().filter(|(k, _)| k != "timestamp").collect::<Vec<_>>()
        };
        assert!(a.ends_with('\n') && b.ends_with('\n'));
        assert_eq!(strip(a), strip(b), "\n{a}{b}");
    }

    #[test]
    fn same_line_as_the_tracing_formatter() {
        let mut ctx = RequestContext::new();
        ctx.request_id = "a\"b\\c\u{1}é".to_string();
        ctx.status = 401;
        ctx.error = Some((crate::error::FaultDomain::Caller, "invalid_api_key".to_string()));
        let total = Duration::from_micros(68_982);
        same_line(&via_tracing(&ctx, total), &ours(&ctx, total));

        ctx.endpoint = EndpointLabel::Chat;
        ctx.tenant = Some("bench".into());
        ctx.tier = Some("pro".into());
        ctx.user = Some("bench-user".into());
        ctx.model_asked = Some("gpt-4o".into());
        ctx.model_used = Some("gpt-4o-mini".into());
        ctx.provider = Some("openai".into());
        ctx.stream = true;
        ctx.status = 200;
        ctx.error = None;
        ctx.upstream_elapsed = Some(Duration::from_nanos(404_419));
        ctx.first_byte = Some(Duration::from_nanos(509_044));
        ctx.usage = Some(sluice_providers::Usage { prompt_tokens: 15, completion_tokens: 24, ..Default::default() });
        ctx.usage_estimated = true;
        ctx.stream_abort = Some(StreamAbort::ClientGone);
        let total = Duration::from_nanos(877_940);
        same_line(&via_tracing(&ctx, total), &ours(&ctx, total));
    }
}
