//! Command-line options ([`Args`]) and their checks: turns them into a [`Target`] and a [`Plan`],
//! refusing anything that is not plain HTTP to a loopback address.
//!
//! Owns option parsing and validation only; it reads the `--bodies` file once, before the run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::client::{host_header, Target};
use crate::run::Plan;
use crate::schedule::Schedule;
use crate::stats::Load;

/// Measured duration when neither `--duration` nor `--requests` is given, in seconds.
const DEFAULT_DURATION_SECS: f64 = 10.0;

/// HTTP/1.1 keep-alive load generator for 127.0.0.1 (closed or open loop, optional SSE timings).
///
/// Latencies are of successful requests, in microsecond histograms, printed in milliseconds.
/// In the open loop (`--rate`) a request's latency counts from when it was due, so a stalled
/// server or generator shows up in the percentiles (no coordinated omission).
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Args {
    /// Target URL: `http://127.0.0.1:PORT/path` (loopback only).
    #[arg(long)]
    pub url: String,
    /// Request header `name: value`; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body (JSON), the same for every request.
    #[arg(long, conflicts_with = "bodies")]
    pub body: Option<String>,
    /// File of JSON bodies, one per line, used round-robin.
    #[arg(long)]
    pub bodies: Option<PathBuf>,
    /// Request method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Connections: closed-loop concurrency, or the open loop's most requests in flight.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// Open loop at this many requests per second (latency from each request's scheduled time).
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Measured seconds (after the warm-up); default 10 unless `--requests` is given.
    #[arg(long, short = 'd')]
    pub duration: Option<f64>,
    /// Most measured requests (after the warm-up).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Seconds of load before measuring, excluded from the figures.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Seconds one exchange may take (connecting included; in the open loop from when it was due)
    /// before it counts as a timeout error.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Answers are SSE: measure time to first event and gaps; an answer without `data: [DONE]` is an error.
    #[arg(long)]
    pub stream: bool,
    /// Tokio worker threads (1 runs everything on the main thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Label of the row (system and scenario, e.g. `sluice json-hit`).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print one JSON line instead of the table row.
    #[arg(long)]
    pub json: bool,
    /// Print the column names above the row.
    #[arg(long)]
    pub table_header: bool,
}

/// An option that cannot be used, with what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// A malformed or disallowed option value.
    #[error("{0}")]
    Invalid(String),
    /// The `--bodies` file could not be read.
    #[error("reading --bodies {path}: {source}")]
    Bodies {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn invalid(msg: impl Into<String>) -> ArgError {
    ArgError::Invalid(msg.into())
}

fn seconds(name: &str, v: f64) -> Result<Duration, ArgError> {
    Duration::try_from_secs_f64(v).map_err(|_| invalid(format!("{name} {v}: expected seconds >= 0")))
}

impl Args {
    /// The load plan.
    pub fn plan(&self) -> Result<Plan, ArgError> {
        if self.concurrency == 0 {
            return Err(invalid("--concurrency must be at least 1"));
        }
        let schedule = match self.rate {
            None => None,
            Some(r) => Some(Schedule::new(r).ok_or_else(|| invalid(format!("--rate {r}: expected requests/s > 0")))?),
        };
        let duration = match (self.duration, self.requests) {
            (Some(d), _) => Some(seconds("--duration", d)?),
            (None, Some(_)) => None,
            (None, None) => Some(seconds("--duration", DEFAULT_DURATION_SECS)?),
        };
        Ok(Plan {
            connections: self.concurrency,
            schedule,
            warmup: seconds("--warmup", self.warmup)?,
            duration,
            requests: self.requests,
        })
    }

    /// How the load is offered, for the report.
    pub fn load(&self) -> Load {
        match self.rate {
            None => Load::Closed { connections: self.concurrency },
            Some(rate) => Load::Open { rate, connections: self.concurrency },
        }
    }

    /// What every request is made of.
    pub fn target(&self) -> Result<Target, ArgError> {
        let (addr, path) = loopback_url(&self.url)?;
        let method =
            Method::from_bytes(self.method.as_bytes()).map_err(|_| invalid(format!("--method {}", self.method)))?;
        let mut headers = HeaderMap::new();
        headers.insert(HOST, host_header(addr).map_err(|e| invalid(e.to_string()))?);
        for h in &self.headers {
            let (name, value) = parse_header(h)?;
            headers.append(name, value);
        }
        let bodies = self.read_bodies()?;
        if !bodies.is_empty() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let timeout = seconds("--timeout", self.timeout)?;
        if timeout.is_zero() {
            return Err(invalid("--timeout must be > 0"));
        }
        Ok(Target { addr, method, path, headers, bodies, stream: self.stream, timeout })
    }

    fn read_bodies(&self) -> Result<Vec<Bytes>, ArgError> {
        let raw: Vec<Vec<u8>> = match (&self.body, &self.bodies) {
            (Some(b), _) => vec![b.clone().into_bytes()],
            (None, Some(path)) => {
                let text = std::fs::read(path).map_err(|source| ArgError::Bodies { path: path.clone(), source })?;
                let lines: Vec<Vec<u8>> = text
                    .split(|&b| b == b'\n')
                    .map(<[u8]>::trim_ascii)
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                if lines.is_empty() {
                    return Err(invalid(format!("--bodies {}: no JSON lines", path.display())));
                }
                lines
            }
            (None, None) => Vec::new(),
        };
        for (i, b) in raw.iter().enumerate() {
            serde_json::from_slice::<serde_json::Value>(b)
                .map_err(|e| invalid(format!("body {} is not JSON: {e}", i + 1)))?;
        }
        Ok(raw.into_iter().map(Bytes::from).collect())
    }
}

/// Splits `http://HOST:PORT/path?query` into a loopback socket address and the request target.
/// `HOST` must be a loopback IP or `localhost` (which means 127.0.0.1).
pub fn loopback_url(url: &str) -> Result<(SocketAddr, Uri), ArgError> {
    let uri: Uri = url.parse().map_err(|e| invalid(format!("--url {url}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid(format!("--url {url}: only http:// is supported")));
    }
    let host = uri.host().unwrap_or_default();
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| invalid(format!("--url {url}: host must be an IP")))?,
    };
    if !ip.is_loopback() {
        return Err(invalid(format!("--url {url}: loadgen only targets loopback addresses (127.0.0.1)")));
    }
    let port = uri.port_u16().unwrap_or(80);
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = target.parse().map_err(|e| invalid(format!("--url {url}: {e}")))?;
    Ok((SocketAddr::new(ip, port), path))
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), ArgError> {
    let (name, value) = h.split_once(':').ok_or_else(|| invalid(format!("--header {h:?}: expected 'name: value'")))?;
    let name =
        HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid(format!("--header {h:?}: bad name")))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| invalid(format!("--header {h:?}: bad value")))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_accepted() {
        let (addr, path) = loopback_url("http://127.0.0.1:8080/v1/chat/completions?x=1").unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:8080");
        assert_eq!(path, "/v1/chat/completions?x=1");
        assert_eq!(loopback_url("http://localhost:9/").unwrap().0.to_string(), "127.0.0.1:9");
        assert!(loopback_url("http://10.0.0.1:80/").is_err());
        assert!(loopback_url("https://127.0.0.1/").is_err());
        assert!(loopback_url("http://example.com/").is_err());
    }

    #[test]
    fn headers_split_at_the_first_colon() {
        let (n, v) = parse_header("Authorization: Bearer a:b").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("authorization", "Bearer a:b"));
        assert!(parse_header("no-colon").is_err());
    }
}
