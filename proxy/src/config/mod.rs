//! Configuration: the typed, validated snapshot every request reads, and how it is loaded.
//!
//! `config.toml` is parsed into the raw [`file::ConfigFile`], `${ENV}` references are expanded
//! ([`env`]), and [`build`] validates everything at once into an immutable [`Config`]. A running
//! gateway holds the current snapshot in [`live::LiveConfig`] and swaps it atomically on reload; each
//! request keeps the `Arc<Config>` it started with, so a reload never changes a request mid-flight.

pub mod build;
pub mod embeddings;
pub mod env;
pub mod file;
pub mod live;
pub mod routes;
mod upstreams;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_providers::{Endpoint, Protocol};

use crate::identity::Identity;

pub use build::build;

/// One validated, immutable configuration snapshot.
#[derive(Debug)]
pub struct Config {
    /// Listener and process settings (restart-only, except `body_limit`).
    pub server: ServerSettings,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// `/metrics` settings.
    pub metrics: MetricsSettings,
    /// Logging settings.
    pub log: LogSettings,
    /// Upstream accounts by name.
    pub providers: HashMap<String, Arc<Provider>>,
    /// Public model name → route.
    pub models: HashMap<String, Arc<ModelRoute>>,
    /// Pre-rendered `GET /v1/models` body.
    pub models_listing: Bytes,
    /// Gateway keys and JWT verification.
    pub identity: Identity,
    /// Plan tiers by name.
    pub tiers: HashMap<String, Tier>,
    /// Extra forwarded `/v1/…` prefixes.
    pub passthrough: Vec<Passthrough>,
    /// Quota and rate-limit state store (restart-only) and outage policies.
    pub store: StoreSettings,
    /// Quota estimation.
    pub quota: QuotaSettings,
    /// Usage ledger (restart-only).
    pub ledger: LedgerSettings,
    /// Prices by upstream model id.
    pub prices: HashMap<String, Price>,
    /// Per-tenant caps.
    pub tenants: HashMap<String, TenantSettings>,
    /// Per-(tenant, user) limit overrides.
    pub overrides: HashMap<(String, String), sluice_policies::quota::Limits>,
    /// SHA-256 of the admin key; the admin API is off when `None`.
    pub admin_key: Option<[u8; 32]>,
    /// Response-cache settings of the whole process.
    pub cache: CacheSettings,
    /// The complexity classifier's weights and default threshold.
    pub downgrade: DowngradeSettings,
    /// Non-fatal remarks found while validating (e.g. a literal secret).
    pub warnings: Vec<String>,
}

impl Config {
    /// The limits for one end user: a per-user override, else the tier's (unknown tier: none).
    pub fn limits_for(&self, tenant: &str, user: &str, tier: &str) -> sluice_policies::quota::Limits {
        if !self.overrides.is_empty() {
            if let Some(l) = self.overrides.get(&(tenant.to_string(), user.to_string())) {
                return *l;
            }
        }
        self.tiers.get(tier).map(|t| t.limits).unwrap_or_default()
    }

    /// Cost in USD of `usage` on `upstream_model` (0 when the price table has no entry).
    pub fn cost_usd(&self, upstream_model: &str, usage: &sluice_providers::Usage) -> f64 {
        let Some(p) = self.prices.get(upstream_model) else { return 0.0 };
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let fresh = usage.prompt_tokens - cached;
        (fresh as f64 * p.input + cached as f64 * p.cached_input + usage.completion_tokens as f64 * p.output)
            / 1_000_000.0
    }
}

/// `[cache]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// Master switch.
    pub enabled: bool,
    /// In-process tier capacity in bytes (restart-only).
    pub memory_bytes: u64,
    /// Largest answer stored in either tier.
    pub max_entry_bytes: usize,
    /// Redis URL of the shared tier (restart-only); `None` = memory only.
    pub redis_url: Option<String>,
    /// Bound on each Redis cache call (restart-only).
    pub redis_timeout: Duration,
}

/// `[downgrade]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DowngradeSettings {
    /// Classifier weights.
    pub weights: sluice_policies::downgrade::ClassifierWeights,
    /// Default complexity threshold.
    pub threshold: f32,
}

/// When a downgrade rule sends requests to its cheaper route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradeMode {
    /// Simple requests (by the classifier) go to the cheaper route.
    Auto,
    /// Every request goes to the cheaper route.
    Always,
    /// The rule is switched off.
    Never,
}

/// `[models.NAME.downgrade]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DowngradeRule {
    /// The cheaper route's name.
    pub to: String,
    /// When it applies.
    pub mode: DowngradeMode,
    /// Complexity threshold (`None`: the global one).
    pub threshold: Option<f32>,
    /// Tiers it applies to (`None`: all).
    pub tiers: Option<Vec<String>>,
    /// Share of would-be downgrades kept on the asked route (A/B holdback).
    pub holdback: f64,
    /// Also downgrade requests with tools or a strict JSON schema.
    pub structured: bool,
}

/// Who may share a route's cache entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// Each tenant has its own entries (the default).
    Tenant,
    /// All tenants share the route's entries (for public, non-personal content).
    Shared,
}

/// `[models.NAME.cache]` validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteCache {
    /// Cache this route at all.
    pub enabled: bool,
    /// Entry lifetime.
    pub ttl: Duration,
    /// Entry sharing.
    pub scope: CacheScope,
    /// Also cache sampled answers.
    pub sampled: bool,
    /// Also cache `n` > 1.
    pub multiple_choices: bool,
}

/// Which store backend holds quota and rate-limit state.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// In-process memory: one instance, nothing to install.
    Memory,
    /// Redis, shared by several instances.
    Redis {
        /// Connection URL.
        url: String,
    },
}

/// What a policy does while the store is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutagePolicy {
    /// Let the request through (logged loudly, counted in metrics).
    FailOpen,
    /// Refuse with 503 (logged loudly, counted in metrics).
    FailClosed,
}

/// `[store]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// Backend.
    pub backend: Backend,
    /// Redis key prefix.
    pub key_prefix: String,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Quota behaviour during an outage.
    pub quota_outage: OutagePolicy,
    /// Rate-limit behaviour during an outage.
    pub rate_limit_outage: OutagePolicy,
}

/// `[quota]` validated.
#[derive(Debug, Clone, Copy)]
pub struct QuotaSettings {
    /// Request bytes per token for the prompt estimate.
    pub bytes_per_token: f64,
    /// Output reserved when a request sets no `max_tokens`.
    pub default_max_tokens: u64,
}

/// `[ledger]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSettings {
    /// Single-instance ledger file.
    pub file: std::path::PathBuf,
    /// Spool file.
    pub spool: std::path::PathBuf,
    /// Redis Stream key.
    pub stream_key: String,
    /// Approximate stream length bound.
    pub max_len: u64,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Prompt tokens.
    pub input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Cached prompt tokens.
    pub cached_input: f64,
}

/// `[tenants.NAME]` validated.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TenantSettings {
    /// Monthly token cap.
    pub monthly_tokens: Option<u64>,
    /// Monthly USD cap.
    pub monthly_cost_usd: Option<f64>,
    /// Response caching allowed (default true).
    pub cache: bool,
    /// Downgrade rules apply (default true).
    pub downgrade: bool,
}

/// Settings that only a restart (or zero-downtime upgrade) can change, plus the body limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Plain listen addresses.
    pub listen: Vec<String>,
    /// Worker threads.
    pub threads: usize,
    /// Accept h2c.
    pub h2c: bool,
    /// Largest request body, bytes (applies to new requests on reload).
    pub body_limit: usize,
    /// Read buffer per downstream plain-TCP connection, bytes.
    pub read_buffer: usize,
    /// Pingora grace period before draining.
    pub grace_period: Duration,
    /// Longest drain of in-flight requests.
    pub graceful_shutdown_timeout: Duration,
    /// TLS termination.
    pub tls: Option<TlsSettings>,
    /// Separate address for `/metrics` and health.
    pub admin_listen: Option<String>,
    /// Upgrade hand-over socket.
    pub upgrade_sock: String,
}

/// TLS listener settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// Addresses.
    pub listen: Vec<String>,
    /// Certificate chain path.
    pub cert_path: String,
    /// Key path.
    pub key_path: String,
}

/// Upstream timeouts; see `[timeouts]` in `config.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connect (TCP + TLS).
    pub connect: Duration,
    /// Request sent → response headers.
    pub first_byte: Duration,
    /// Between body chunks.
    pub idle: Duration,
    /// Whole request.
    pub total: Duration,
    /// One downstream write.
    pub downstream_write: Duration,
}

/// `/metrics` settings.
#[derive(Debug)]
pub struct MetricsSettings {
    /// Served on the main listener.
    pub enabled: bool,
    /// Required bearer token.
    pub bearer_token: Option<Secret>,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Filter directive.
    pub level: String,
    /// One JSON line per request.
    pub access_log: bool,
}

/// A secret string: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which API family a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI or any OpenAI-compatible server.
    OpenAi,
    /// Cloudflare Workers AI.
    Cloudflare,
}

/// One upstream account.
#[derive(Debug)]
pub struct Provider {
    /// Name from config (metrics label, logs).
    pub name: String,
    /// API family.
    pub kind: ProviderKind,
    /// Base URL without trailing slash.
    pub base_url: String,
    /// `base_url` + each fixed upstream path (see [`UPSTREAM_PATHS`]), parsed once at load: the
    /// request path then skips a URL parse (with IDNA host processing) per upstream call.
    pub urls: Vec<(&'static str, reqwest::Url)>,
    /// `Authorization` header value, marked sensitive.
    pub authorization: Vec<http::HeaderValue>,
    /// Round-robin position over `authorization`.
    pub next_key: std::sync::atomic::AtomicUsize,
    /// Pooled HTTP client for this upstream.
    pub client: reqwest::Client,
    /// Concurrency and pace limits; `None` = unlimited (no queueing).
    pub pacing: Option<sluice_policies::pacing::PacerConfig>,
}

/// The upstream paths that do not depend on the request: OpenAI's endpoints, and Workers AI's
/// OpenAI-compatible ones (under `/ai`). Workers AI's native `/run/{model}` paths are parsed per
/// call.
pub const UPSTREAM_PATHS: [&str; 6] =
    ["/chat/completions", "/embeddings", "/completions", "/responses", "/v1/chat/completions", "/v1/embeddings"];

impl Provider {
    /// The pre-parsed URL of `path` on this provider, for the fixed paths; `None` for the others
    /// (the caller hands `base_url` + `path` to reqwest, which parses it).
    pub fn url(&self, path: &str) -> Option<reqwest::Url> {
        self.urls.iter().find(|(p, _)| *p == path).map(|(_, url)| url.clone())
    }

    /// The credential for the next request: several keys of one provider share the load
    /// round-robin.
    pub fn authorization(&self) -> Option<&http::HeaderValue> {
        match self.authorization.len() {
            0 => None,
            1 => self.authorization.first(),
            n => {
                let i = self.next_key.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
                self.authorization.get(i)
            }
        }
    }
}

/// What a model route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Chat completions, completions, responses.
    Chat,
    /// Embeddings.
    Embeddings,
}

impl ModelKind {
    /// Whether this kind of model can serve `endpoint`.
    pub fn serves(self, endpoint: Endpoint) -> bool {
        match self {
            ModelKind::Chat => !matches!(endpoint, Endpoint::Embeddings),
            ModelKind::Embeddings => matches!(endpoint, Endpoint::Embeddings),
        }
    }
}

/// A public model and its ordered upstream candidates.
#[derive(Debug)]
pub struct ModelRoute {
    /// Public name clients send.
    pub name: String,
    /// Chat or embeddings.
    pub kind: ModelKind,
    /// Context window, tokens.
    pub context_window: Option<u64>,
    /// Output limit, tokens.
    pub max_output_tokens: Option<u64>,
    /// Fixed embedding size.
    pub dimensions: Option<u64>,
    /// `owned_by` in `/v1/models`.
    pub owned_by: Option<String>,
    /// Candidates in order of preference.
    pub candidates: Vec<Candidate>,
    /// Retry policy per candidate.
    pub retry: sluice_policies::retry::RetryPolicy,
    /// Breaker settings for each candidate.
    pub breaker: sluice_policies::breaker::BreakerConfig,
    /// Attempts per request across retries and fallbacks.
    pub max_attempts: u32,
    /// Deadline to the first byte across all attempts.
    pub first_byte_deadline: Duration,
    /// Whether candidates after the first may serve.
    pub allow_fallback: bool,
    /// How long a request may wait for a cooling-down candidate to reopen (0: answer 503 at once).
    pub cooldown_wait: Duration,
    /// Embeddings: most inputs per upstream call; larger requests are split into parallel calls.
    pub max_batch_inputs: usize,
    /// Embeddings: micro-batching of concurrent requests' inputs (a zero `window` switches it off).
    pub batch: sluice_policies::batch::BatchLimits,
    /// Response caching.
    pub cache: RouteCache,
    /// Complexity-based downgrade to a cheaper route.
    pub downgrade: Option<DowngradeRule>,
    /// Context trimming of long conversations.
    pub trim: Option<TrimRule>,
}

/// `[models.NAME.trim]` validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TrimRule {
    /// Budget, turns kept, cut grid, summary size.
    pub policy: sluice_policies::trim::TrimPolicy,
    /// Wait for a missing summary (bounded), or truncate now and summarise in the background.
    pub wait: bool,
    /// How long a request waits for its summary.
    pub wait_timeout: Duration,
    /// The route that writes summaries.
    pub summary_route: String,
    /// The summariser's system prompt.
    pub summary_prompt: String,
}

/// One `(provider, upstream model)` candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The upstream account.
    pub provider: Arc<Provider>,
    /// Upstream model id.
    pub model: String,
    /// Wire protocol used for this candidate.
    pub protocol: Protocol,
    /// Context window in tokens, when known.
    pub context_window: Option<u64>,
    /// Embeddings: the vector size this upstream is asked for (OpenAI's `dimensions`), if any.
    pub dimensions: Option<u64>,
    /// Breaker key: `provider/model`.
    pub breaker_key: String,
}

/// A plan tier (enforced by the quota and rate-limit policies).
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Monthly tokens, requests/min and tokens/min per end user; `None` = unlimited.
    pub limits: sluice_policies::quota::Limits,
    /// Allowed models; `None` = all.
    pub models: Option<Vec<String>>,
    /// Cache hits count against the monthly token quota.
    pub cache_hits_use_quota: bool,
    /// Downgrade rules apply to this tier.
    pub downgrade: bool,
}

/// A forwarded `/v1/…` prefix.
#[derive(Debug)]
pub struct Passthrough {
    /// Path prefix.
    pub path_prefix: String,
    /// Target provider.
    pub provider: Arc<Provider>,
}

/// Every problem found in a config file, each with its TOML path.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Problems(pub Vec<(String, String)>);

impl Problems {
    /// Records one problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push((path.into(), message.into()));
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (path, message)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if path.is_empty() {
                write!(f, "{message}")?;
            } else {
                write!(f, "{path}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Reads, expands and validates a config file using the process environment.
pub fn load_file(path: &Path) -> Result<Config, Problems> {
    #[allow(clippy::disallowed_methods)] // startup and reload only, never on the request path
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut p = Problems::default();
        p.push("", format!("cannot read {}: {e}", path.display()));
        p
    })?;
    load_str(&text, &|name| std::env::var(name).ok())
}

/// Parses, expands and validates config text; `lookup` resolves `${ENV}` references.
pub fn load_str(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, Problems> {
    let mut problems = Problems::default();
    let mut value: toml::Value = toml::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.push("", format!("not valid TOML: {e}"));
        p
    })?;
    env::interpolate(&mut value, "", lookup, &mut problems);
    let file: file::ConfigFile = match serde_path_to_error::deserialize(value) {
        Ok(file) => file,
        Err(e) => {
            problems.push(e.path().to_string(), e.inner().to_string());
            return Err(problems);
        }
    };
    let config = build(file, &mut problems);
    if problems.is_empty() {
        config.ok_or(problems)
    } else {
        Err(problems)
    }
}
