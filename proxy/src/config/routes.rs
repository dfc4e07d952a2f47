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
use super::file::{BreakerFile, ModelFile, ProviderFile, RetryFile};
use super::{Candidate, ModelKind, ModelRoute, Problems, Provider, ProviderKind};

pub(super) fn model_route(
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
    let max_attempts = m.max_attempts.unwrap_or(retry.max_retries.saturating_add(1));
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

pub(super) fn render_models(models: &BTreeMap<String, ModelFile>) -> Bytes {
    let data: Vec<serde_json::Value> =
        models.iter().map(|(name, m)| model_object(name, m.owned_by.as_deref())).collect();
    Bytes::from(serde_json::json!({"object": "list", "data": data}).to_string())
}

/// The OpenAI `model` object for one public model.
pub fn model_object(name: &str, owned_by: Option<&str>) -> serde_json::Value {
    serde_json::json!({"id": name, "object": "model", "created": 1_700_000_000u64, "owned_by": owned_by.unwrap_or("sluice")})
}
