//! Validation of `[providers.NAME]`: URL, credentials, pacing, and the pooled HTTP client per
//! upstream (shared across reloads while its settings are unchanged).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use sluice_policies::pacing::{PacerConfig, Rate};

use super::build::duration;
use super::file::ProviderFile;
use super::{Problems, Provider, ProviderKind, Timeouts};

pub(super) fn provider(
    name: &str,
    p: &ProviderFile,
    timeouts: &Timeouts,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<Provider> {
    let path = format!("providers.{name}");
    let kind = match p.kind.as_str() {
        "openai" => Some(ProviderKind::OpenAi),
        "cloudflare" => Some(ProviderKind::Cloudflare),
        other => {
            problems.push(format!("{path}.kind"), format!("unknown kind `{other}`: use \"openai\" or \"cloudflare\""));
            None
        }
    };
    let base_url = p.base_url.trim_end_matches('/').to_string();
    match reqwest::Url::parse(&base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => problems.push(format!("{path}.base_url"), format!("`{base_url}` is not an http(s) URL")),
    }
    let mut keys: Vec<(String, &str)> = Vec::new();
    if let Some(k) = p.api_key.as_deref().filter(|k| !k.is_empty()) {
        keys.push((format!("{path}.api_key"), k));
    }
    for (i, k) in p.api_keys.iter().flatten().enumerate() {
        if k.is_empty() {
            problems.push(format!("{path}.api_keys[{i}]"), "is empty");
        } else {
            keys.push((format!("{path}.api_keys[{i}]"), k));
        }
    }
    if keys.is_empty() {
        warnings.push(format!("{path}.api_key is empty: requests to this provider carry no credentials"));
    }
    let mut authorization = Vec::with_capacity(keys.len());
    for (key_path, key) in keys {
        match http::HeaderValue::from_str(&format!("Bearer {key}")) {
            Ok(mut v) => {
                v.set_sensitive(true);
                authorization.push(v);
            }
            Err(_) => problems.push(key_path, "contains characters not allowed in an HTTP header"),
        }
    }
    let client = match http_client(
        timeouts.connect,
        p.pool_max_idle_per_host.unwrap_or(256),
        p.ca_file.as_deref(),
        p.http2_prior_knowledge.unwrap_or(false),
    ) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("{path}.ca_file"), e);
            return None;
        }
    };
    let pacing = pacing(name, p, problems);
    let urls = crate::config::UPSTREAM_PATHS
        .iter()
        .filter_map(|path| Some((*path, reqwest::Url::parse(&format!("{base_url}{path}")).ok()?)))
        .collect();
    Some(Provider {
        name: name.to_string(),
        kind: kind?,
        base_url,
        urls,
        authorization,
        next_key: Default::default(),
        client,
        pacing,
    })
}

/// `None` when the provider has no concurrency or rate limit (requests never queue).
fn pacing(name: &str, p: &ProviderFile, problems: &mut Problems) -> Option<PacerConfig> {
    let path = format!("providers.{name}");
    if p.max_concurrency == Some(0) {
        problems.push(format!("{path}.max_concurrency"), "must be at least 1 (leave it out for unlimited)");
    }
    if p.requests_per_minute == Some(0) {
        problems.push(format!("{path}.requests_per_minute"), "must be at least 1 (leave it out for unlimited)");
    }
    if p.max_concurrency.is_none() && p.requests_per_minute.is_none() {
        return None;
    }
    let defaults = PacerConfig::default();
    Some(PacerConfig {
        max_concurrent: p.max_concurrency,
        rate: p.requests_per_minute.map(|n| Rate { burst: n, per: Duration::from_secs(60) }),
        max_queue: p.queue_length.unwrap_or(defaults.max_queue),
        max_wait: duration(&p.queue_timeout, &format!("{path}.queue_timeout"), defaults.max_wait, problems),
    })
}

type ClientKey = (Duration, usize, Option<String>, bool);

/// Clients are shared across reloads while their settings are unchanged, so a reload keeps the
/// warm keep-alive pool.
static CLIENTS: Mutex<BTreeMap<ClientKey, reqwest::Client>> = Mutex::new(BTreeMap::new());

fn http_client(connect: Duration, pool: usize, ca_file: Option<&str>, h2c: bool) -> Result<reqwest::Client, String> {
    let key = (connect, pool, ca_file.map(str::to_string), h2c);
    if let Some(c) = CLIENTS.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(c);
    }
    // rustls needs one process-wide crypto provider; ring is the one Pingora's TLS already uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .pool_max_idle_per_host(pool)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")));
    if h2c {
        builder = builder.http2_prior_knowledge();
    }
    if let Some(path) = ca_file {
        #[allow(clippy::disallowed_methods)] // config load, not the request path
        let pem = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("`{path}` is not a PEM CA bundle: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    if let Ok(mut m) = CLIENTS.lock() {
        m.insert(key, client.clone());
    }
    Ok(client)
}
