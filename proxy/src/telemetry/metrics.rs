//! Prometheus metrics. Label values are bounded: endpoints are a fixed set, models and providers
//! come from config (anything else is `other`), status is a class. Never a user, key or request id.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds (few, explicit).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];
/// Gateway overhead buckets in seconds: sub-millisecond resolution.
const OVERHEAD_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

/// All of Sluice's metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// `sluice_requests_total{endpoint, model, provider, status_class}`.
    pub requests: IntCounterVec,
    /// `sluice_errors_total{domain, code}` by fault domain.
    pub errors: IntCounterVec,
    /// `sluice_request_duration_seconds{endpoint}`: total latency seen by the client.
    pub request_duration: HistogramVec,
    /// `sluice_upstream_duration_seconds{provider}`: time spent waiting on the upstream.
    pub upstream_duration: HistogramVec,
    /// `sluice_gateway_overhead_seconds{endpoint}`: total − upstream.
    pub overhead: HistogramVec,
    /// `sluice_time_to_first_byte_seconds{endpoint, provider}`: for streams.
    pub time_to_first_byte: HistogramVec,
    /// `sluice_tokens_total{model, kind}`: prompt / completion tokens.
    pub tokens: IntCounterVec,
    /// `sluice_upstream_auth_failures_total{provider}`: the upstream rejected Sluice's own key.
    pub upstream_auth_failures: IntCounterVec,
    /// `sluice_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `sluice_config_version`: increments on each applied config.
    pub config_version: IntGauge,
    /// `sluice_in_flight_requests`.
    pub in_flight: IntGauge,
    /// `sluice_streams_aborted_total{reason}`.
    pub streams_aborted: IntCounterVec,
    /// `sluice_build_info{version}` = 1.
    pub build_info: IntGaugeVec,
    /// `sluice_upstream_requests_total`: upstream calls made.
    pub upstream_requests: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let histogram = |name: &str,
                         help: &str,
                         labels: &[&str],
                         buckets: &[f64]|
         -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let requests = counter(
            "sluice_requests_total",
            "Requests answered, by endpoint, public model, provider and status class.",
            &["endpoint", "model", "provider", "status_class"],
        )?;
        let errors = counter(
            "sluice_errors_total",
            "Failed requests by fault domain (caller, policy, provider, internal) and error code.",
            &["domain", "code"],
        )?;
        let request_duration = histogram(
            "sluice_request_duration_seconds",
            "Total request latency as seen by Sluice, until the last byte was written.",
            &["endpoint"],
            LATENCY_BUCKETS,
        )?;
        let upstream_duration = histogram(
            "sluice_upstream_duration_seconds",
            "Time spent on the upstream call, until its last byte.",
            &["provider"],
            LATENCY_BUCKETS,
        )?;
        let overhead = histogram(
            "sluice_gateway_overhead_seconds",
            "Latency Sluice added: total minus upstream time.",
            &["endpoint"],
            OVERHEAD_BUCKETS,
        )?;
        let time_to_first_byte = histogram(
            "sluice_time_to_first_byte_seconds",
            "Time from request start to the first streamed body byte sent downstream.",
            &["endpoint", "provider"],
            LATENCY_BUCKETS,
        )?;
        let tokens = counter(
            "sluice_tokens_total",
            "Tokens billed, by public model and kind (prompt, completion).",
            &["model", "kind"],
        )?;
        let upstream_auth_failures = counter(
            "sluice_upstream_auth_failures_total",
            "Upstream 401/403: Sluice's own provider credentials were rejected.",
            &["provider"],
        )?;
        let config_reloads = counter(
            "sluice_config_reloads_total",
            "Config reload attempts by result (applied, rejected).",
            &["result"],
        )?;
        let streams_aborted = counter(
            "sluice_streams_aborted_total",
            "Streams that did not complete, by reason (client_gone, upstream_error, idle_timeout).",
            &["reason"],
        )?;
        let config_version = IntGauge::new(
            "sluice_config_version",
            "Number of configs applied since start (1 = the initial one).",
        )?;
        registry.register(Box::new(config_version.clone()))?;
        let in_flight = IntGauge::new("sluice_in_flight_requests", "Requests being handled now.")?;
        registry.register(Box::new(in_flight.clone()))?;
        let upstream_requests = IntCounter::new(
            "sluice_upstream_requests_total",
            "Calls made to upstream providers.",
        )?;
        registry.register(Box::new(upstream_requests.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new("sluice_build_info", "Build information; always 1."),
            &["version"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Metrics {
            registry,
            requests,
            errors,
            request_duration,
            upstream_duration,
            overhead,
            time_to_first_byte,
            tokens,
            upstream_auth_failures,
            config_reloads,
            config_version,
            in_flight,
            streams_aborted,
            build_info,
            upstream_requests,
        })
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed metrics; an error leaves a partial body.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// `2xx`, `4xx`, `5xx`… as a static label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new().unwrap();
        m.requests
            .with_label_values(&["chat", "gpt-4o", "openai", "2xx"])
            .inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("sluice_requests_total{endpoint=\"chat\",model=\"gpt-4o\",provider=\"openai\",status_class=\"2xx\"} 1"));
        assert!(text.contains("sluice_build_info"));
        assert_eq!(status_class(503), "5xx");
    }
}
