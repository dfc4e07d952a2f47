//! What Sluice tells operators: Prometheus metrics and one JSON log line per request.

pub mod access_log;
pub mod metrics;
