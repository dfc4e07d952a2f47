//! Validation: raw [`ConfigFile`] → runtime [`Config`], collecting every problem with its TOML path.
//!
//! Never panics and never stops at the first problem: operators fix a file in one pass.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::file::ConfigFile;
use super::routes::{model_route, render_models};
use super::upstreams::provider;
use super::{
    Backend, CacheSettings, Config, DowngradeSettings, LedgerSettings, LogSettings, MetricsSettings, OutagePolicy,
    Passthrough, Price, Problems, ProviderKind, QuotaSettings, Secret, ServerSettings, StoreSettings, TenantSettings,
    Tier, Timeouts, TlsSettings,
};
use crate::identity;
use sluice_policies::quota::Limits;

/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default read buffer per client connection: a typical request's headers and body in one read,
/// an eighth of Pingora's 64 KiB default, which every open connection holds for its lifetime.
pub const DEFAULT_READ_BUFFER: usize = 8 * 1024;

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
        if let Some(route) = model_route(name, m, &providers, &file, problems) {
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
                cache_hits_use_quota: t.cache_hits_use_quota.unwrap_or(false),
                downgrade: t.downgrade.unwrap_or(true),
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
                downgrade: t.downgrade.unwrap_or(true),
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

    let cache = cache_settings(&file, &store, problems);
    let downgrade = DowngradeSettings {
        weights: file.downgrade.weights.clone().unwrap_or_default(),
        threshold: file.downgrade.threshold.unwrap_or(sluice_policies::downgrade::DEFAULT_THRESHOLD),
    };
    if !downgrade.threshold.is_finite() {
        problems.push("downgrade.threshold", "must be a finite number");
    }
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
        cache,
        downgrade,
        warnings,
    })
}

/// Largest in-process cache accepted (moka weighs entries in `u32`s, and a cache bigger than
/// this box's memory is a typo).
const MAX_CACHE_MEMORY_BYTES: u64 = 64 << 30;

fn cache_settings(file: &ConfigFile, store: &StoreSettings, problems: &mut Problems) -> CacheSettings {
    let c = &file.cache;
    let memory_bytes = c.memory_bytes.unwrap_or(256 << 20);
    if memory_bytes > MAX_CACHE_MEMORY_BYTES {
        problems.push("cache.memory_bytes", "must be at most 64 GiB");
    }
    let max_entry_bytes = c.max_entry_bytes.unwrap_or(1 << 20);
    if max_entry_bytes == 0 || max_entry_bytes > 64 << 20 {
        problems.push("cache.max_entry_bytes", "must be between 1 byte and 64 MiB");
    }
    let redis_url = match c.redis.as_deref() {
        None | Some("auto") => match &store.backend {
            Backend::Redis { url } => Some(url.clone()),
            Backend::Memory => None,
        },
        Some("off") => None,
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => Some(url.to_string()),
        Some(_) => {
            problems.push("cache.redis", "use \"auto\", \"off\" or a redis:// or rediss:// URL");
            None
        }
    };
    CacheSettings {
        enabled: c.enabled.unwrap_or(true),
        memory_bytes,
        max_entry_bytes,
        redis_url,
        redis_timeout: duration(&c.redis_timeout, "cache.redis_timeout", Duration::from_millis(50), problems),
    }
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
    let read_buffer = s.read_buffer_bytes.unwrap_or(DEFAULT_READ_BUFFER);
    if !(1024..=1 << 20).contains(&read_buffer) {
        problems.push("server.read_buffer_bytes", "must be between 1024 and 1048576 bytes");
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
        read_buffer,
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
pub(super) fn duration(value: &Option<String>, path: &str, default: Duration, problems: &mut Problems) -> Duration {
    match value {
        None => default,
        Some(text) => match humantime::parse_duration(text) {
            // The request path adds these to `Instant::now()`, which panics past what it can hold.
            Ok(d) if d > MAX_DURATION => {
                problems.push(path, format!("`{text}` is too long: at most 365 days"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                problems.push(path, format!("`{text}` is not a duration ({e}); write e.g. \"30s\" or \"250ms\""));
                default
            }
        },
    }
}

/// Longest duration any setting accepts: far beyond any sensible timeout, far below overflow.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

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
