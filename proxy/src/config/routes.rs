//! Validation of `[models."NAME"]`: kind, candidates, retry, breaker and failover settings, and
//! the pre-rendered `/v1/models` listing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_policies::breaker::{BreakerConfig, RatioTrigger};
use sluice_policies::retry::RetryPolicy;
use sluice_providers::Protocol;

use super::build::duration;
use super::file::{BreakerFile, ModelCacheFile, ModelDowngradeFile, ModelFile, RetryFile};
use super::{
    CacheScope, Candidate, DowngradeMode, DowngradeRule, ModelKind, ModelRoute, Problems, Provider, ProviderKind,
    RouteCache,
};

pub(super) fn model_route(
    name: &str,
    m: &ModelFile,
    providers: &HashMap<String, Arc<Provider>>,
    file: &super::file::ConfigFile,
    problems: &mut Problems,
) -> Option<ModelRoute> {
    let (raw_providers, models, tiers) = (&file.providers, &file.models, &file.tiers);
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
            dimensions: super::embeddings::candidate_dimensions(&cpath, kind, m, c, protocol, problems),
            breaker_key: format!("{}/{}", provider.name, c.model),
        });
    }
    let retry = retry_policy(&path, m.retry.as_ref(), problems);
    let breaker = breaker_config(&path, m.breaker.as_ref(), problems);
    let max_attempts = m.max_attempts.unwrap_or(retry.max_retries.saturating_add(1));
    if max_attempts == 0 {
        problems.push(format!("{path}.max_attempts"), "must be at least 1");
    }
    let (max_batch_inputs, batch) = super::embeddings::batching(&path, kind, m, &candidates, problems);
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
        max_batch_inputs,
        batch,
        cache: route_cache(&path, kind, m.cache.as_ref(), problems),
        downgrade: m.downgrade.as_ref().map(|d| downgrade_rule(&path, name, kind, d, models, tiers, problems)),
        trim: m.trim.as_ref().map(|t| trim_rule(&path, name, m, t, models, problems)),
    })
}

fn trim_rule(
    path: &str,
    name: &str,
    m: &ModelFile,
    t: &super::file::ModelTrimFile,
    models: &BTreeMap<String, ModelFile>,
    problems: &mut Problems,
) -> super::TrimRule {
    use sluice_policies::trim::{TrimPolicy, DEFAULT_SUMMARY_PROMPT};
    use std::num::NonZeroU32;
    let path = format!("{path}.trim");
    if m.kind.as_deref().is_some_and(|k| k != "chat") {
        problems.push(&path, "trimming applies to chat routes only");
    }
    if t.budget_tokens < 100 {
        problems.push(format!("{path}.budget_tokens"), "must be at least 100 tokens");
    }
    let mut policy = TrimPolicy::with_budget(t.budget_tokens);
    let turns = |v: Option<u32>, field: &str, d: NonZeroU32, problems: &mut Problems| match v {
        None => d,
        Some(n) => NonZeroU32::new(n).unwrap_or_else(|| {
            problems.push(format!("{path}.{field}"), "must be at least 1");
            d
        }),
    };
    policy.keep_last_turns = turns(t.keep_last_turns, "keep_last_turns", policy.keep_last_turns, problems);
    policy.cut_every_turns = turns(t.cut_every_turns, "cut_every_turns", policy.cut_every_turns, problems);
    if let Some(n) = t.min_dropped_tokens {
        policy.min_dropped_tokens = n;
    }
    if let Some(n) = t.summary_max_tokens {
        if n == 0 {
            problems.push(format!("{path}.summary_max_tokens"), "must be at least 1");
        }
        policy.summary_max_tokens = n;
    }
    let wait = match t.mode.as_deref() {
        None | Some("wait") => true,
        Some("truncate") => false,
        Some(other) => {
            problems.push(format!("{path}.mode"), format!("unknown mode `{other}`: use \"wait\" or \"truncate\""));
            true
        }
    };
    let summary_route = t
        .summary_model
        .clone()
        .or_else(|| m.downgrade.as_ref().map(|d| d.to.clone()))
        .unwrap_or_else(|| name.to_string());
    match models.get(&summary_route) {
        None => problems.push(
            format!("{path}.summary_model"),
            format!("unknown model `{summary_route}`: define it under [models]"),
        ),
        Some(r) if r.kind.as_deref().is_some_and(|k| k != "chat") => {
            problems.push(format!("{path}.summary_model"), format!("`{summary_route}` is not a chat route"))
        }
        Some(_) => {}
    }
    super::TrimRule {
        policy,
        wait,
        wait_timeout: duration(&t.wait_timeout, &format!("{path}.wait_timeout"), Duration::from_secs(10), problems),
        summary_route,
        summary_prompt: t.summary_prompt.clone().unwrap_or_else(|| DEFAULT_SUMMARY_PROMPT.to_string()),
    }
}

fn downgrade_rule(
    path: &str,
    name: &str,
    kind: ModelKind,
    d: &ModelDowngradeFile,
    models: &BTreeMap<String, ModelFile>,
    tiers: &BTreeMap<String, super::file::TierFile>,
    problems: &mut Problems,
) -> DowngradeRule {
    let path = format!("{path}.downgrade");
    if kind != ModelKind::Chat {
        problems.push(&path, "downgrade rules apply to chat routes only");
    }
    match models.get(&d.to) {
        None => problems.push(format!("{path}.to"), format!("unknown model `{}`: define it under [models]", d.to)),
        Some(_) if d.to == name => problems.push(format!("{path}.to"), "must name another route"),
        Some(target) if target.kind.as_deref().is_some_and(|k| k != "chat") => {
            problems.push(format!("{path}.to"), format!("`{}` is not a chat route", d.to))
        }
        Some(target) if target.downgrade.is_some() => problems.push(
            format!("{path}.to"),
            format!("`{}` has a downgrade rule of its own; chains are not followed, point at the final route", d.to),
        ),
        Some(_) => {}
    }
    let mode = match d.mode.as_deref() {
        None | Some("auto") => DowngradeMode::Auto,
        Some("always") => DowngradeMode::Always,
        Some("never") => DowngradeMode::Never,
        Some(other) => {
            problems
                .push(format!("{path}.mode"), format!("unknown mode `{other}`: use \"auto\", \"always\" or \"never\""));
            DowngradeMode::Auto
        }
    };
    if d.threshold.is_some_and(|t| !t.is_finite()) {
        problems.push(format!("{path}.threshold"), "must be a finite number");
    }
    let holdback = d.holdback.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&holdback) {
        problems.push(format!("{path}.holdback"), "must be a share between 0 and 1 (e.g. 0.05)");
    }
    for (i, t) in d.tiers.iter().flatten().enumerate() {
        if !tiers.contains_key(t) {
            problems.push(format!("{path}.tiers[{i}]"), format!("unknown tier `{t}`: define it under [tiers]"));
        }
    }
    DowngradeRule {
        to: d.to.clone(),
        mode,
        threshold: d.threshold,
        tiers: d.tiers.clone(),
        holdback,
        structured: d.structured.unwrap_or(false),
    }
}

fn route_cache(path: &str, kind: ModelKind, c: Option<&ModelCacheFile>, problems: &mut Problems) -> RouteCache {
    let default_ttl = match kind {
        ModelKind::Chat => sluice_policies::cache::DEFAULT_CHAT_TTL,
        ModelKind::Embeddings => sluice_policies::cache::DEFAULT_EMBEDDINGS_TTL,
    };
    let empty = ModelCacheFile::default();
    let c = c.unwrap_or(&empty);
    let path = format!("{path}.cache");
    let ttl = duration(&c.ttl, &format!("{path}.ttl"), default_ttl, problems);
    if ttl.is_zero() || ttl > sluice_policies::cache::MAX_TTL {
        problems.push(
            format!("{path}.ttl"),
            "must be between 1ms and 365 days (use enabled = false to switch caching off)",
        );
    }
    let scope = match c.scope.as_deref() {
        None | Some("tenant") => CacheScope::Tenant,
        Some("shared") => CacheScope::Shared,
        Some(other) => {
            problems.push(format!("{path}.scope"), format!("unknown scope `{other}`: use \"tenant\" or \"shared\""));
            CacheScope::Tenant
        }
    };
    RouteCache {
        enabled: c.enabled.unwrap_or(true),
        ttl,
        scope,
        sampled: c.sampled.unwrap_or(false),
        multiple_choices: c.multiple_choices.unwrap_or(false),
    }
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

pub(super) fn render_models(models: &BTreeMap<String, ModelFile>) -> Bytes {
    let data: Vec<serde_json::Value> =
        models.iter().map(|(name, m)| model_object(name, m.owned_by.as_deref())).collect();
    Bytes::from(serde_json::json!({"object": "list", "data": data}).to_string())
}

/// The OpenAI `model` object for one public model.
pub fn model_object(name: &str, owned_by: Option<&str>) -> serde_json::Value {
    serde_json::json!({"id": name, "object": "model", "created": 1_700_000_000u64, "owned_by": owned_by.unwrap_or("sluice")})
}
