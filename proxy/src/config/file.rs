//! The raw shape of `config.toml`, exactly as written by the operator.
//!
//! These `…File` types only describe the TOML; they do no checking beyond types and unknown keys.
//! [`super::validate`] turns them into the runtime [`super::Config`], reporting every problem with its
//! TOML path. Durations are strings such as `"30s"` or `"250ms"`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Listening, threads, body limit. Restart-only except `body_limit_bytes`.
    #[serde(default)]
    pub server: ServerFile,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsFile,
    /// Prometheus endpoint settings.
    #[serde(default)]
    pub metrics: MetricsFile,
    /// Logging settings.
    #[serde(default)]
    pub log: LogFile,
    /// Upstream accounts by name.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    /// Public model name → route.
    #[serde(default)]
    pub models: BTreeMap<String, ModelFile>,
    /// Gateway keys and JWT settings.
    #[serde(default)]
    pub auth: AuthFile,
    /// Plan tiers by name (limits are enforced by the quota issue's policies).
    #[serde(default)]
    pub tiers: BTreeMap<String, TierFile>,
    /// Extra `/v1/…` paths forwarded unchanged to a provider.
    #[serde(default)]
    pub passthrough: Vec<PassthroughFile>,
    /// Where quota and rate-limit state lives.
    #[serde(default)]
    pub store: StoreFile,
    /// Quota estimation settings.
    #[serde(default)]
    pub quota: QuotaFile,
    /// The usage ledger.
    #[serde(default)]
    pub ledger: LedgerFile,
    /// Prices per upstream model id, USD per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceFile>,
    /// Per-tenant settings (own monthly caps).
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantFile>,
    /// Per-user limit overrides.
    #[serde(default)]
    pub overrides: Vec<OverrideFile>,
    /// The admin API.
    #[serde(default)]
    pub admin: AdminFile,
    /// The response cache (process-wide settings; per-route ones are under `[models.NAME.cache]`).
    #[serde(default)]
    pub cache: CacheFile,
    /// The complexity classifier (rules are per route, under `[models.NAME.downgrade]`).
    #[serde(default)]
    pub downgrade: DowngradeFile,
}

/// `[downgrade]`: the classifier every route's downgrade rule uses.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowngradeFile {
    /// Score from which a request keeps its model (default 0: only requests with positive evidence
    /// of being simple are downgraded; rules may set their own).
    pub threshold: Option<f32>,
    /// Per-signal weights (every one optional; defaults tuned on the evaluation corpus).
    pub weights: Option<sluice_policies::downgrade::ClassifierWeights>,
}

/// `[models.NAME.downgrade]`: send simple requests for this route to a cheaper route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDowngradeFile {
    /// The cheaper route (a model name under `[models]`) that serves simple requests.
    pub to: String,
    /// `auto` (default: the classifier decides), `always` or `never`.
    pub mode: Option<String>,
    /// This rule's complexity threshold (default: `[downgrade] threshold`).
    pub threshold: Option<f32>,
    /// Plan tiers the rule applies to (default: all).
    pub tiers: Option<Vec<String>>,
    /// Share of would-be downgrades kept on this route for A/B comparison (0–1, default 0).
    pub holdback: Option<f64>,
    /// Also downgrade requests with tools or a strict JSON schema (default false).
    pub structured: Option<bool>,
}

/// `[cache]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Master switch (default true). Off: no request reads or fills the cache.
    pub enabled: Option<bool>,
    /// Capacity of the in-process tier in bytes of cached answers (default 256 MiB). Restart-only.
    pub memory_bytes: Option<u64>,
    /// Largest answer stored, in bytes (default 1 MiB); larger ones are served but not kept.
    pub max_entry_bytes: Option<usize>,
    /// Shared Redis tier: `auto` (default: on when `[store] backend = "redis"`, same server),
    /// `off`, or a Redis URL of its own. Restart-only.
    pub redis: Option<String>,
    /// Bound on each Redis cache call; a slower Redis is a miss (default "50ms"). Restart-only.
    pub redis_timeout: Option<String>,
}

/// `[models.NAME.cache]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCacheFile {
    /// Cache this route's answers (default true; only deterministic requests unless `sampled`).
    pub enabled: Option<bool>,
    /// How long an answer is kept (default "1h" for chat, "24h" for embeddings).
    pub ttl: Option<String>,
    /// `tenant` (default: entries are never shared between tenants) or `shared`.
    pub scope: Option<String>,
    /// Also cache sampled answers (temperature above 0 and no `seed`); default false.
    pub sampled: Option<bool>,
    /// Also cache requests for several choices (`n` > 1); default false.
    pub multiple_choices: Option<bool>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// `memory` (default, one instance) or `redis` (state shared by several instances). Restart-only.
    pub backend: Option<String>,
    /// Redis URL, e.g. `redis://127.0.0.1:6379/`. Restart-only.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key. Restart-only.
    pub key_prefix: Option<String>,
    /// Bound on every Redis call. Restart-only.
    pub timeout: Option<String>,
    /// While the store is unreachable, quotas `fail_closed` (503; default) or `fail_open`.
    pub quota_outage: Option<String>,
    /// While the store is unreachable, rate limits `fail_open` (default) or `fail_closed`.
    pub rate_limit_outage: Option<String>,
}

/// `[quota]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaFile {
    /// Prompt estimate: request bytes per token (default 3.0: an upper bound for most text).
    pub bytes_per_token: Option<f64>,
    /// Output tokens reserved when a request sets no `max_tokens` (default 4096), cut down to what
    /// remains of the quota after the prompt.
    pub default_max_tokens: Option<u64>,
}

/// `[ledger]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    /// Single-instance ledger file (JSON lines), used when the store backend is `memory`. Restart-only.
    pub file: Option<String>,
    /// Spool for records Redis could not take yet. Restart-only.
    pub spool: Option<String>,
    /// Redis Stream key. Restart-only.
    pub stream_key: Option<String>,
    /// Approximate maximum stream length. Restart-only.
    pub max_len: Option<u64>,
}

/// `[prices."upstream-model"]`: USD per million tokens.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// Prompt tokens.
    pub input: f64,
    /// Completion tokens (reasoning included).
    pub output: f64,
    /// Cached prompt tokens (default: `input`).
    pub cached_input: Option<f64>,
}

/// `[tenants.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// Monthly token cap for all of this tenant's users together.
    pub monthly_tokens: Option<u64>,
    /// Monthly spend cap in USD (from the price table); refusals once reached.
    pub monthly_cost_usd: Option<f64>,
    /// Opt this tenant out of response caching.
    pub cache: Option<bool>,
    /// Opt this tenant out of model downgrades (default true: rules apply).
    pub downgrade: Option<bool>,
}

/// `[[overrides]]`: limits for one (tenant, user), replacing the tier's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideFile {
    /// Tenant.
    pub tenant: String,
    /// End user.
    pub user: String,
    /// Monthly tokens (absent: the tier's).
    pub monthly_tokens: Option<u64>,
    /// Requests per minute (absent: the tier's).
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute (absent: the tier's).
    pub tokens_per_minute: Option<u64>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// Admin key (an `${ENV_VAR}` reference); the admin API is off without one.
    pub key: Option<String>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Plain-HTTP listen addresses (HTTP/1.1 and h2c). Restart-only.
    pub listen: Option<Vec<String>>,
    /// Worker threads; 0 or absent = all cores. Restart-only.
    pub threads: Option<usize>,
    /// Accept HTTP/2 over plain TCP (prior knowledge). Restart-only.
    pub h2c: Option<bool>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: Option<usize>,
    /// Read buffer of each plain-TCP client connection, in bytes (default 8192). It lives as long
    /// as the connection: Pingora's default of 64 KiB made 10,000 open streams cost 640 MB.
    /// Restart-only.
    pub read_buffer_bytes: Option<usize>,
    /// After SIGQUIT (upgrade hand-over), how long in-flight requests may still run. Restart-only.
    pub grace_period: Option<String>,
    /// Longest SIGTERM drain: in-flight requests and streams finish, then the ledger is flushed. Restart-only.
    pub graceful_shutdown_timeout: Option<String>,
    /// TLS termination. Restart-only.
    pub tls: Option<TlsFile>,
    /// Unix socket used for Pingora's zero-downtime upgrade hand-over. Restart-only.
    pub upgrade_sock: Option<String>,
}

/// `[server.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// TLS listen addresses.
    pub listen: Vec<String>,
    /// PEM certificate chain path.
    pub cert_path: String,
    /// PEM private key path.
    pub key_path: String,
}

/// `[timeouts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFile {
    /// TCP + TLS connect to an upstream.
    pub connect: Option<String>,
    /// From sending the request to the upstream's response headers.
    pub first_byte: Option<String>,
    /// Longest silence between two chunks of an upstream body.
    pub idle: Option<String>,
    /// Upper bound for a whole request, streams included.
    pub total: Option<String>,
    /// Longest time a slow client may take to accept one write.
    pub downstream_write: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// Serve `/metrics` on the main listener (default true).
    pub enabled: Option<bool>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Separate plain-HTTP address for `/metrics`, `/healthz`, `/readyz`. Restart-only.
    pub admin_listen: Option<String>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// `error`, `warn`, `info`, `debug` or `trace`, or an env-filter directive. Restart-only.
    pub level: Option<String>,
    /// Log one JSON line per request (default true).
    pub access_log: Option<bool>,
}

/// `[providers.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    /// `openai` (any OpenAI-compatible server) or `cloudflare` (Workers AI).
    pub kind: String,
    /// Base URL: `https://api.openai.com/v1`, or
    /// `https://api.cloudflare.com/client/v4/accounts/ACCOUNT/ai` for Workers AI.
    pub base_url: String,
    /// The upstream credential (`${ENV_VAR}` reference).
    pub api_key: Option<String>,
    /// More credentials of the same provider; all keys share the load round-robin.
    pub api_keys: Option<Vec<String>>,
    /// Extra PEM CA bundle trusted for this upstream, besides the OS store.
    pub ca_file: Option<String>,
    /// Idle keep-alive connections kept per host.
    pub pool_max_idle_per_host: Option<usize>,
    /// Speak HTTP/2 without negotiation (h2c) to a plain `http://` upstream that supports it
    /// (vLLM behind a sidecar, the bundled mock): every request shares a few connections instead
    /// of holding one each. TLS upstreams negotiate HTTP/2 by ALPN without this.
    pub http2_prior_knowledge: Option<bool>,
    /// Requests in flight to this account at once (default: unlimited).
    pub max_concurrency: Option<usize>,
    /// Requests per minute to this account: a burst of N refilled evenly (default: unlimited;
    /// Workers AI allows 300 by default).
    pub requests_per_minute: Option<u32>,
    /// Requests that may wait for this account when it is at its limit (default 1024).
    pub queue_length: Option<usize>,
    /// Longest wait in that queue (default "10s"); overflow and timeouts answer 503 + retry-after.
    pub queue_timeout: Option<String>,
}

/// `[models.NAME]`: a public model and where it is served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// `chat` (chat completions, completions, responses) or `embeddings`.
    pub kind: Option<String>,
    /// Context window in tokens (prompt + output).
    pub context_window: Option<u64>,
    /// Largest output in tokens.
    pub max_output_tokens: Option<u64>,
    /// Embedding vector size, when fixed by the model.
    pub dimensions: Option<u64>,
    /// `owned_by` shown in `/v1/models`.
    pub owned_by: Option<String>,
    /// Ordered candidates: the first healthy one serves; later ones are fallbacks.
    pub candidates: Vec<CandidateFile>,
    /// Retries of one candidate before moving to the next.
    pub retry: Option<RetryFile>,
    /// Circuit breaker for each (provider, upstream model) of this route.
    pub breaker: Option<BreakerFile>,
    /// Attempts per request across retries and fallbacks (default 1 + retry.max_retries).
    pub max_attempts: Option<u32>,
    /// Deadline from request start to the answer's first byte, across all attempts (default "30s").
    pub first_byte_deadline: Option<String>,
    /// Whether candidates after the first may serve (default: true for chat, false for
    /// embeddings, since vectors from different models don't mix).
    pub allow_fallback: Option<bool>,
    /// When every candidate is cooling down, how long a request may wait for the first to reopen
    /// (default "0s": answer 503 at once with retry-after = the remaining cool-down).
    pub cooldown_wait: Option<String>,
    /// Embeddings: most inputs per upstream call; larger requests are split into parallel calls
    /// (default: the smallest limit of the candidates' providers, 100 on Workers AI, 2048 on OpenAI).
    pub max_batch_inputs: Option<usize>,
    /// Embeddings: concurrent requests' inputs arriving within this window are merged into one
    /// upstream call (default "0s": off).
    pub batch_window: Option<String>,
    /// Embeddings: a merged batch is sent as soon as it holds this many inputs (default 100).
    pub batch_max_inputs: Option<usize>,
    /// Response caching for this route.
    pub cache: Option<ModelCacheFile>,
    /// Complexity-based downgrade to a cheaper route.
    pub downgrade: Option<ModelDowngradeFile>,
    /// Context trimming of long conversations.
    pub trim: Option<ModelTrimFile>,
}

/// `[models.NAME.trim]`: keep long conversations within a token budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTrimFile {
    /// Prompt tokens from which a conversation is trimmed (tiktoken count).
    pub budget_tokens: u64,
    /// Turns (a user message and what follows) always kept whole at the end (default 4).
    pub keep_last_turns: Option<u32>,
    /// Cut points move in steps of this many turns, so one summary serves several turns (default 4).
    pub cut_every_turns: Option<u32>,
    /// Older turns shorter than this (tokens) are not worth a summary (default 1000).
    pub min_dropped_tokens: Option<u64>,
    /// `wait` (default: summarise now, bounded by `wait_timeout`) or `truncate` (drop the older
    /// turns now and summarise in the background for the next turn).
    pub mode: Option<String>,
    /// The route (a chat model under `[models]`) that writes summaries (default: the downgrade
    /// target, else this route).
    pub summary_model: Option<String>,
    /// The summariser's system prompt (default: a prompt that keeps names, numbers and decisions).
    pub summary_prompt: Option<String>,
    /// Longest summary, tokens (default 300).
    pub summary_max_tokens: Option<u32>,
    /// In `wait` mode, how long a request waits for its summary before truncating (default "10s").
    pub wait_timeout: Option<String>,
}

/// `[models.NAME.retry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    /// Retries after the first attempt on one candidate (default 3).
    pub max_retries: Option<u32>,
    /// First nominal backoff (default "1s"); doubles each retry; equal jitter halves at most.
    pub initial_backoff: Option<String>,
    /// Largest nominal backoff (default "8s").
    pub max_backoff: Option<String>,
    /// Longest upstream Retry-After honoured (default "10s").
    pub retry_after_cap: Option<String>,
}

/// `[models.NAME.breaker]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Open after this many consecutive failed attempts (default 5; 0 = off).
    pub consecutive_failures: Option<u32>,
    /// Open when the failure ratio over `window` reaches this (default 0.5; 0 = off).
    pub failure_ratio: Option<f64>,
    /// Fewest attempts in the window before the ratio counts (default 20).
    pub min_samples: Option<u32>,
    /// Rolling window for the ratio (default "30s").
    pub window: Option<String>,
    /// How long an open breaker refuses before one probe is let through (default "30s").
    pub cool_down: Option<String>,
}

/// One `(provider, upstream model)` candidate of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateFile {
    /// Provider name from `[providers]`.
    pub provider: String,
    /// Upstream model id, e.g. `gpt-4o` or `@cf/meta/llama-3.1-8b-instruct`.
    pub model: String,
    /// Workers AI only: `native` (`/ai/run/{model}`, default) or `openai` (`/ai/v1`).
    pub api: Option<String>,
    /// This candidate's context window in tokens (default: the route's).
    pub context_window: Option<u64>,
    /// Embeddings, OpenAI-kind candidates: ask this upstream for vectors of this size (OpenAI's
    /// `dimensions`), so a fallback's vectors have the route's `dimensions`.
    pub dimensions: Option<u64>,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Gateway API keys.
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    /// Optional JWT mode.
    pub jwt: Option<JwtFile>,
}

/// `[[auth.keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Lower-case hex SHA-256 of the key (`sluice hash-key KEY` prints it).
    pub sha256: Option<String>,
    /// The key itself, only as an `${ENV_VAR}` reference; hashed at load and never kept.
    pub key: Option<String>,
    /// Tenant this key belongs to.
    pub tenant: String,
    /// Default plan tier for this tenant's users.
    pub tier: Option<String>,
    /// A label for logs (never the key itself).
    pub name: Option<String>,
}

/// `[auth.jwt]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtFile {
    /// `HS256` or `RS256`.
    pub algorithm: String,
    /// HS256 shared secret (≥ 32 bytes), as `${ENV_VAR}`.
    pub secret: Option<String>,
    /// RS256 public key, PEM text.
    pub public_key_pem: Option<String>,
    /// RS256 public key, PEM file path.
    pub public_key_file: Option<String>,
    /// Claim naming the plan tier (default `plan`).
    pub plan_claim: Option<String>,
    /// Claim naming the tenant (default: `tenant`; absent claim → `default_tenant`).
    pub tenant_claim: Option<String>,
    /// Tenant for tokens without a tenant claim.
    pub default_tenant: Option<String>,
    /// Tier for tokens without a plan claim.
    pub default_tier: Option<String>,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    pub audience: Option<String>,
}

/// `[tiers.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierFile {
    /// Monthly token quota per end user; absent = unlimited.
    pub monthly_tokens: Option<u64>,
    /// Requests per minute per end user.
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute per end user.
    pub tokens_per_minute: Option<u64>,
    /// Models this tier may use; absent = all.
    pub models: Option<Vec<String>>,
    /// Whether answers served from the response cache count against the monthly token quota
    /// (default false: a hit costs nothing upstream, so it costs the user nothing).
    pub cache_hits_use_quota: Option<bool>,
    /// Whether downgrade rules apply to this tier's requests (default true).
    pub downgrade: Option<bool>,
}

/// `[[passthrough]]`: a `/v1/…` prefix forwarded unchanged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassthroughFile {
    /// Path prefix, e.g. `/v1/moderations`.
    pub path_prefix: String,
    /// Provider name (must be an `openai` kind).
    pub provider: String,
}
