//! Validation: raw [`ConfigFile`] → runtime [`Config`], collecting every problem with its TOML path.
//!
//! Never panics and never stops at the first problem: operators fix a file in one pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_providers::Protocol;

use super::file::{BreakerFile, ConfigFile, ModelFile, ProviderFile, RetryFile};
use super::{
    Backend, Candidate, Config, LedgerSettings, LogSettings, MetricsSettings, ModelKind, ModelRoute, OutagePolicy,
    Passthrough, Price, Problems, Provider, ProviderKind, QuotaSettings, Secret, ServerSettings, StoreSettings,
    TenantSettings, Tier, Timeouts, TlsSettings,
};
use crate::identity;
use sluice_policies::breaker::{BreakerConfig, RatioTrigger};
use sluice_policies::pacing::{PacerConfig, Rate};
use sluice_policies::quota::Limits;
use sluice_policies::retry::RetryPolicy;

/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Validates `file`; returns `None` (with `problems` filled) when it cannot be used.
pub fn build(file: ConfigFile, problems: &mut Problems) -> Option<Config> {
    let mut warnings = Vec::new();
    let timeouts = Timeouts {
        connect: duration(&file.timeouts.connect, "timeouts.connect", Duration::from_secs(5), problems),
        first_byte: duration(&file.timeouts.first_byte, "timeouts.first_byte", Duration::from_secs(30), problems),
        idle: duration(&file.timeouts.idle, "timeouts.idle", Duration::from_secs(120), problems),
        total: duration(&file.timeouts.total, "timeouts.total", Duration::from_secs(900), problems),
        downstream_write: duration(
            &file.timeouts.downstream_write,
            "timeouts.downstream_write",
            Duration::from_secs(60),
            problems,
        ),
    };
    let server = server_settings(&file, problems);
    let metrics = MetricsSettings {
        enabled: file.metrics.enabled.unwrap_or(true),
        bearer_token: file.metrics.bearer_token.clone().filter(|t| !t.is_empty()).map(Secret),
    };
    let log = LogSettings {
        level: file.log.level.clone().unwrap_or_else(|| "info".to_string()),
        access_log: file.log.access_log.unwrap_or(true),
    };

    let mut providers = HashMap::new();
    for (name, p) in &file.providers {
        if let Some(provider) = provider(name, p, &timeouts, problems, &mut warnings) {
            providers.insert(name.clone(), Arc::new(provider));
        }
    }

    let mut models = HashMap::new();
    for (name, m) in &file.models {
        if let Some(route) = model_route(name, m, &providers, &file.providers, problems) {
            models.insert(name.clone(), Arc::new(route));
        }
    }

    let mut tiers = HashMap::new();
    for (name, t) in &file.tiers {
        let path = format!("tiers.{name}");
        for (field, v) in [
            ("monthly_tokens", t.monthly_tokens),
            ("requests_per_minute", t.requests_per_minute),
            ("tokens_per_minute", t.tokens_per_minute),
        ] {
            if v == Some(0) {
                problems.push(format!("{path}.{field}"), "must be at least 1 (leave it out for unlimited)");
            }
        }
        if let Some(allowed) = &t.models {
            for (i, m) in allowed.iter().enumerate() {
                if !file.models.contains_key(m) {
                    problems
                        .push(format!("{path}.models[{i}]"), format!("unknown model `{m}`: define it under [models]"));
                }
            }
        }
        tiers.insert(
            name.clone(),
            Tier {
                limits: Limits {
                    monthly_tokens: t.monthly_tokens,
                    requests_per_minute: t.requests_per_minute,
                    tokens_per_minute: t.tokens_per_minute,
                },
                models: t.models.clone(),
            },
        );
    }

    let identity = identity::build(&file.auth, &file.tiers, problems);

    let mut passthrough = Vec::new();
    for (i, p) in file.passthrough.iter().enumerate() {
        let path = format!("passthrough[{i}]");
        if !p.path_prefix.starts_with("/v1/") || p.path_prefix.contains("..") {
            problems.push(format!("{path}.path_prefix"), "must start with `/v1/` and contain no `..`");
        }
        match providers.get(&p.provider) {
            Some(provider) if provider.kind == ProviderKind::OpenAi => {
                passthrough.push(Passthrough { path_prefix: p.path_prefix.clone(), provider: provider.clone() })
            }
            Some(_) => problems.push(format!("{path}.provider"), "pass-through needs an `openai` kind provider"),
            None if file.providers.contains_key(&p.provider) => {}
            None => problems.push(format!("{path}.provider"), format!("unknown provider `{}`", p.provider)),
        }
    }

    let store = store_settings(&file, problems);
    let quota = QuotaSettings {
        bytes_per_token: file.quota.bytes_per_token.unwrap_or(3.0),
        default_max_tokens: file.quota.default_max_tokens.unwrap_or(4096),
    };
    if !(quota.bytes_per_token > 0.5 && quota.bytes_per_token <= 16.0) {
        problems.push("quota.bytes_per_token", "must be between 0.5 and 16");
    }
    if quota.default_max_tokens == 0 {
        problems.push("quota.default_max_tokens", "must be at least 1");
    }
    let ledger = LedgerSettings {
        file: file.ledger.file.clone().unwrap_or_else(|| "sluice-ledger.jsonl".to_string()).into(),
        spool: file.ledger.spool.clone().unwrap_or_else(|| "sluice-ledger.spool".to_string()).into(),
        stream_key: file.ledger.stream_key.clone().unwrap_or_else(|| "sluice:{ledger}:records".to_string()),
        max_len: file.ledger.max_len.unwrap_or(1_000_000),
    };
    let mut prices = HashMap::new();
    for (model, p) in &file.prices {
        let path = format!("prices.\"{model}\"");
        for (field, v) in [("input", Some(p.input)), ("output", Some(p.output)), ("cached_input", p.cached_input)] {
            if v.is_some_and(|v| !(v >= 0.0 && v.is_finite())) {
                problems.push(format!("{path}.{field}"), "must be a non-negative number (USD per million tokens)");
            }
        }
        prices.insert(
            model.clone(),
            Price { input: p.input, output: p.output, cached_input: p.cached_input.unwrap_or(p.input) },
        );
    }
    let mut tenants = HashMap::new();
    for (name, t) in &file.tenants {
        if t.monthly_tokens == Some(0) {
            problems.push(format!("tenants.{name}.monthly_tokens"), "must be at least 1 (leave it out for unlimited)");
        }
        if t.monthly_cost_usd.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            problems.push(format!("tenants.{name}.monthly_cost_usd"), "must be a positive number of USD");
        }
        tenants.insert(
            name.clone(),
            TenantSettings {
                monthly_tokens: t.monthly_tokens,
                monthly_cost_usd: t.monthly_cost_usd,
                cache: t.cache.unwrap_or(true),
            },
        );
    }
    let mut overrides = HashMap::new();
    for (i, o) in file.overrides.iter().enumerate() {
        let base = file
            .auth
            .keys
            .iter()
            .find(|k| k.tenant == o.tenant)
            .and_then(|k| k.tier.as_ref())
            .and_then(|t| tiers.get(t))
            .map(|t| t.limits)
            .unwrap_or_default();
        let limits = Limits {
            monthly_tokens: o.monthly_tokens.or(base.monthly_tokens),
            requests_per_minute: o.requests_per_minute.or(base.requests_per_minute),
            tokens_per_minute: o.tokens_per_minute.or(base.tokens_per_minute),
        };
        if overrides.insert((o.tenant.clone(), o.user.clone()), limits).is_some() {
            problems.push(format!("overrides[{i}]"), "the same tenant and user are listed twice");
        }
    }
    let admin_key = match file.admin.key.as_deref() {
        None | Some("") => None,
        Some(k) if k.len() < 16 => {
            problems.push("admin.key", "must be at least 16 characters");
            None
        }
        Some(k) => Some(identity::hash_key(k)),
    };

    let models_listing = render_models(&file.models);
    let identity = identity?;
    if !problems.is_empty() {
        return None;
    }
    Some(Config {
        server,
        timeouts,
        metrics,
        log,
        providers,
        models,
        models_listing,
        identity,
        tiers,
        passthrough,
        store,
        quota,
        ledger,
        prices,
        tenants,
        overrides,
        admin_key,
        warnings,
    })
}

fn store_settings(file: &ConfigFile, problems: &mut Problems) -> StoreSettings {
    let s = &file.store;
    let backend = match s.backend.as_deref() {
        None | Some("memory") => Backend::Memory,
        Some("redis") => match s.redis_url.as_deref() {
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Backend::Redis { url: url.to_string() }
            }
            _ => {
                problems.push("store.redis_url", "the redis backend needs a redis:// or rediss:// URL");
                Backend::Memory
            }
        },
        Some(other) => {
            problems.push("store.backend", format!("unknown backend `{other}`: use \"memory\" or \"redis\""));
            Backend::Memory
        }
    };
    let policy =
        |value: &Option<String>, path: &str, default: OutagePolicy, problems: &mut Problems| match value.as_deref() {
            None => default,
            Some("fail_open") => OutagePolicy::FailOpen,
            Some("fail_closed") => OutagePolicy::FailClosed,
            Some(other) => {
                problems.push(path, format!("unknown policy `{other}`: use \"fail_open\" or \"fail_closed\""));
                default
            }
        };
    StoreSettings {
        backend,
        key_prefix: s.key_prefix.clone().unwrap_or_else(|| "sluice".to_string()),
        timeout: duration(&s.timeout, "store.timeout", Duration::from_millis(250), problems),
        quota_outage: policy(&s.quota_outage, "store.quota_outage", OutagePolicy::FailClosed, problems),
        rate_limit_outage: policy(&s.rate_limit_outage, "store.rate_limit_outage", OutagePolicy::FailOpen, problems),
    }
}

fn server_settings(file: &ConfigFile, problems: &mut Problems) -> ServerSettings {
    let s = &file.server;
    let listen = s.listen.clone().unwrap_or_else(|| vec!["127.0.0.1:8080".to_string()]);
    for (i, addr) in listen.iter().enumerate() {
        check_addr(addr, &format!("server.listen[{i}]"), problems);
    }
    let tls = s.tls.as_ref().map(|t| {
        for (i, addr) in t.listen.iter().enumerate() {
            check_addr(addr, &format!("server.tls.listen[{i}]"), problems);
        }
        check_tls_files(&t.cert_path, &t.key_path, problems);
        TlsSettings { listen: t.listen.clone(), cert_path: t.cert_path.clone(), key_path: t.key_path.clone() }
    });
    if let Some(addr) = &file.metrics.admin_listen {
        check_addr(addr, "metrics.admin_listen", problems);
    }
    let body_limit = s.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT);
    if body_limit < 1024 {
        problems.push("server.body_limit_bytes", "must be at least 1024 bytes");
    }
    let threads = match s.threads {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    ServerSettings {
        listen,
        threads,
        h2c: s.h2c.unwrap_or(true),
        body_limit,
        grace_period: duration(&s.grace_period, "server.grace_period", Duration::from_secs(0), problems),
        graceful_shutdown_timeout: duration(
            &s.graceful_shutdown_timeout,
            "server.graceful_shutdown_timeout",
            Duration::from_secs(300),
            problems,
        ),
        tls,
        admin_listen: file.metrics.admin_listen.clone(),
        upgrade_sock: s.upgrade_sock.clone().unwrap_or_else(|| "/tmp/sluice_upgrade.sock".to_string()),
    }
}

/// Pingora panics on unreadable TLS files at startup; catch that here with a TOML path instead.
fn check_tls_files(cert_path: &str, key_path: &str, problems: &mut Problems) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    match CertificateDer::pem_file_iter(cert_path) {
        Ok(certs) => {
            let certs: Result<Vec<_>, _> = certs.collect();
            if !certs.is_ok_and(|c| !c.is_empty()) {
                problems.push("server.tls.cert_path", format!("`{cert_path}` holds no PEM certificate"));
            }
        }
        Err(e) => problems.push("server.tls.cert_path", format!("cannot read `{cert_path}`: {e}")),
    }
    if let Err(e) = PrivateKeyDer::from_pem_file(key_path) {
        problems.push("server.tls.key_path", format!("`{key_path}` is not a readable PEM private key: {e}"));
    }
}

fn check_addr(addr: &str, path: &str, problems: &mut Problems) {
    if addr.parse::<std::net::SocketAddr>().is_err() {
        problems.push(path, format!("`{addr}` is not an IP:port address"));
    }
}

/// Parses a `"30s"`-style duration, or returns `default` when absent.
fn duration(value: &Option<String>, path: &str, default: Duration, problems: &mut Problems) -> Duration {
    match value {
        None => default,
        Some(text) => humantime::parse_duration(text).unwrap_or_else(|e| {
            problems.push(path, format!("`{text}` is not a duration ({e}); write e.g. \"30s\" or \"250ms\""));
            default
        }),
    }
}

fn provider(
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
    let client = match http_client(timeouts.connect, p.pool_max_idle_per_host.unwrap_or(256), p.ca_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("{path}.ca_file"), e);
            return None;
        }
    };
    let pacing = pacing(name, p, problems);
    Some(Provider {
        name: name.to_string(),
        kind: kind?,
        base_url,
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

type ClientKey = (Duration, usize, Option<String>);

/// Clients are shared across reloads while their settings are unchanged, so a reload keeps the
/// warm keep-alive pool.
static CLIENTS: Mutex<BTreeMap<ClientKey, reqwest::Client>> = Mutex::new(BTreeMap::new());

fn http_client(connect: Duration, pool: usize, ca_file: Option<&str>) -> Result<reqwest::Client, String> {
    let key = (connect, pool, ca_file.map(str::to_string));
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

fn model_route(
    name: &str,
    m: &ModelFile,
    providers: &HashMap<String, Arc<Provider>>,
    raw_providers: &BTreeMap<String, ProviderFile>,
    problems: &mut Problems,
) -> Option<ModelRoute> {
    let path = format!("models.\"{name}\"");
    let kind = match m.kind.as_deref() {
        None | Some("chat") => ModelKind::Chat,
        Some("embeddings") => ModelKind::Embeddings,
        Some(other) => {
            problems.push(format!("{path}.kind"), format!("unknown kind `{other}`: use \"chat\" or \"embeddings\""));
            ModelKind::Chat
        }
    };
    if m.candidates.is_empty() {
        problems.push(format!("{path}.candidates"), "needs at least one candidate");
    }
    if let (Some(window), Some(out)) = (m.context_window, m.max_output_tokens) {
        if out > window {
            problems.push(format!("{path}.max_output_tokens"), "is larger than context_window");
        }
    }
    let mut candidates = Vec::new();
    for (i, c) in m.candidates.iter().enumerate() {
        let cpath = format!("{path}.candidates[{i}]");
        if c.model.is_empty() {
            problems.push(format!("{cpath}.model"), "must not be empty");
        }
        let Some(provider) = providers.get(&c.provider) else {
            if !raw_providers.contains_key(&c.provider) {
                problems.push(
                    format!("{cpath}.provider"),
                    format!("unknown provider `{}`: define it under [providers]", c.provider),
                );
            }
            continue;
        };
        let protocol = match (provider.kind, c.api.as_deref()) {
            (ProviderKind::OpenAi, None | Some("openai")) => Protocol::OpenAi,
            (ProviderKind::Cloudflare, None | Some("native")) => Protocol::CloudflareNative,
            (ProviderKind::Cloudflare, Some("openai")) => Protocol::CloudflareOpenAi,
            (_, Some(other)) => {
                problems.push(format!("{cpath}.api"), format!("`{other}` is not valid here: openai providers take \"openai\", cloudflare ones \"native\" or \"openai\""));
                continue;
            }
        };
        candidates.push(Candidate {
            provider: provider.clone(),
            model: c.model.clone(),
            protocol,
            context_window: c.context_window.or(m.context_window),
            breaker_key: format!("{}/{}", provider.name, c.model),
        });
    }
    let retry = retry_policy(&path, m.retry.as_ref(), problems);
    let breaker = breaker_config(&path, m.breaker.as_ref(), problems);
    let max_attempts = m.max_attempts.unwrap_or(1 + retry.max_retries);
    if max_attempts == 0 {
        problems.push(format!("{path}.max_attempts"), "must be at least 1");
    }
    Some(ModelRoute {
        name: name.to_string(),
        kind,
        context_window: m.context_window,
        max_output_tokens: m.max_output_tokens,
        dimensions: m.dimensions,
        owned_by: m.owned_by.clone(),
        candidates,
        retry,
        breaker,
        max_attempts,
        first_byte_deadline: duration(
            &m.first_byte_deadline,
            &format!("{path}.first_byte_deadline"),
            Duration::from_secs(30),
            problems,
        ),
        allow_fallback: m.allow_fallback.unwrap_or(kind == ModelKind::Chat),
        cooldown_wait: duration(&m.cooldown_wait, &format!("{path}.cooldown_wait"), Duration::ZERO, problems),
    })
}

fn retry_policy(path: &str, r: Option<&RetryFile>, problems: &mut Problems) -> RetryPolicy {
    let d = RetryPolicy::default();
    let Some(r) = r else { return d };
    let path = format!("{path}.retry");
    RetryPolicy {
        max_retries: r.max_retries.unwrap_or(d.max_retries),
        initial: duration(&r.initial_backoff, &format!("{path}.initial_backoff"), d.initial, problems),
        max_delay: duration(&r.max_backoff, &format!("{path}.max_backoff"), d.max_delay, problems),
        retry_after_cap: duration(&r.retry_after_cap, &format!("{path}.retry_after_cap"), d.retry_after_cap, problems),
    }
}

fn breaker_config(path: &str, b: Option<&BreakerFile>, problems: &mut Problems) -> BreakerConfig {
    let d = BreakerConfig::default();
    let Some(b) = b else { return d };
    let path = format!("{path}.breaker");
    let ratio = b.failure_ratio.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&ratio) {
        problems.push(format!("{path}.failure_ratio"), "must be between 0 and 1 (0 switches the ratio trigger off)");
    }
    if b.min_samples == Some(0) {
        problems.push(format!("{path}.min_samples"), "must be at least 1");
    }
    let rd = RatioTrigger::default();
    BreakerConfig {
        consecutive_failures: match b.consecutive_failures {
            Some(0) => None,
            Some(n) => Some(n),
            None => d.consecutive_failures,
        },
        failure_ratio: (ratio > 0.0).then(|| RatioTrigger {
            ratio,
            min_samples: b.min_samples.unwrap_or(rd.min_samples),
            window: duration(&b.window, &format!("{path}.window"), rd.window, problems),
        }),
        cool_down: duration(&b.cool_down, &format!("{path}.cool_down"), d.cool_down, problems),
    }
}

fn render_models(models: &BTreeMap<String, ModelFile>) -> Bytes {
    let data: Vec<serde_json::Value> =
        models.iter().map(|(name, m)| model_object(name, m.owned_by.as_deref())).collect();
    Bytes::from(serde_json::json!({"object": "list", "data": data}).to_string())
}

/// The OpenAI `model` object for one public model.
pub fn model_object(name: &str, owned_by: Option<&str>) -> serde_json::Value {
    serde_json::json!({"id": name, "object": "model", "created": 1_700_000_000u64, "owned_by": owned_by.unwrap_or("sluice")})
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "sk-upstream".to_string())
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let text = r#"
            [server]
            listen = ["nope"]
            [timeouts]
            connect = "soon"
            [providers.a]
            kind = "azure"
            base_url = "ftp://x"
            [models."m"]
            candidates = [{ provider = "ghost", model = "x" }]
            [[auth.keys]]
            sha256 = "abc"
            tenant = "t"
        "#;
        let problems = load_str(text, &env).err().unwrap().to_string();
        for needle in [
            "server.listen[0]",
            "timeouts.connect",
            "providers.a.kind",
            "providers.a.base_url",
            "models.\"m\".candidates[0].provider",
            "auth.keys[0].sha256",
        ] {
            assert!(problems.contains(needle), "missing {needle} in:\n{problems}");
        }
    }

    #[test]
    fn unreadable_tls_files_are_reported() {
        let text = "[server.tls]\nlisten = [\"127.0.0.1:8443\"]\ncert_path = \"/nonexistent/cert.pem\"\nkey_path = \"/nonexistent/key.pem\"\n";
        let problems = load_str(text, &env).err().unwrap().to_string();
        assert!(problems.contains("server.tls.cert_path"), "{problems}");
        assert!(problems.contains("server.tls.key_path"), "{problems}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let problems = load_str("[server]\nlisten_addr = 1", &env).err().unwrap().to_string();
        assert!(problems.contains("server"), "{problems}");
        assert!(problems.contains("listen_addr"), "{problems}");
    }
}
