//! Complexity-based model downgrade on the request path: a route's rule sends simple chat
//! requests to a cheaper route (e.g. `gpt-4o` → `gpt-4o-mini` or a Workers AI Llama).
//!
//! Owns the rule's decision for one request — the opt-outs (the `x-sluice-downgrade: off` header,
//! the rule's tiers, tier and tenant switches), the mode, the classifier's verdict
//! (`sluice_policies::downgrade`), the structured-request guard and the A/B holdback — and its
//! labels for headers, the ledger and metrics. It never rewrites the body: the cheaper route's
//! candidates name the upstream model, so the response's `model` and `x-sluice-model` say which
//! model answered.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};
use sluice_policies::downgrade::{assess, ChatView, SignalKind};

use crate::config::{Config, DowngradeMode, ModelRoute};
use crate::error::GatewayError;

/// The request header that opts one request out (`off`) or back to the rule (`auto`).
pub const REQUEST_HEADER: &str = "x-sluice-downgrade";

/// What a route's rule decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to the cheaper route.
    Applied,
    /// Simple, but kept on the asked route as part of the A/B holdback.
    Holdback,
    /// The classifier judged it complex.
    Complex,
    /// Tools or a strict JSON schema, and the rule does not cover those.
    Structured,
    /// The request, its tier or its tenant opted out.
    OptedOut,
    /// The rule is switched off (`mode = "never"`).
    Never,
}

impl Outcome {
    /// Label for the ledger, headers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Holdback => "holdback",
            Outcome::Complex => "complex",
            Outcome::Structured => "structured",
            Outcome::OptedOut => "opted_out",
            Outcome::Never => "never",
        }
    }
}

/// One request's downgrade decision.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What was decided.
    pub outcome: Outcome,
    /// The classifier's score, when it ran.
    pub score: Option<f32>,
    /// The signals that moved the score most (for the `x-sluice-downgrade-reason` header).
    pub reason: String,
    /// The route that serves the request when the outcome is [`Outcome::Applied`].
    pub to: Option<Arc<ModelRoute>>,
}

/// Applies `route`'s downgrade rule (if any) to a validated chat request.
pub fn decide(
    config: &Config,
    route: &ModelRoute,
    tier: &str,
    tenant: &str,
    headers: &HeaderMap,
    request: &Map<String, Value>,
    request_id: &str,
) -> Result<Option<Verdict>, GatewayError> {
    let opted_out = crate::opt_out::opted_out(headers, REQUEST_HEADER, "keep the model asked")?;
    let Some(rule) = &route.downgrade else { return Ok(None) };
    let verdict = |outcome, score, reason: String| Verdict { outcome, score, reason, to: None };
    if rule.mode == DowngradeMode::Never {
        return Ok(Some(verdict(Outcome::Never, None, String::new())));
    }
    let tier_allows = config.tiers.get(tier).is_none_or(|t| t.downgrade)
        && rule.tiers.as_ref().is_none_or(|tiers| tiers.iter().any(|t| t == tier));
    let tenant_allows = config.tenants.get(tenant).is_none_or(|t| t.downgrade);
    if opted_out || !tier_allows || !tenant_allows {
        return Ok(Some(verdict(Outcome::OptedOut, None, String::new())));
    }
    let Some(target) = config.models.get(&rule.to) else {
        // Validated at load; a reload that removed it is caught there too.
        return Ok(None);
    };
    let (outcome, score, reason) = match rule.mode {
        DowngradeMode::Always => (Outcome::Applied, None, "always".to_string()),
        DowngradeMode::Never | DowngradeMode::Auto => {
            let view = ChatView::from_request(request);
            let threshold = rule.threshold.unwrap_or(config.downgrade.threshold);
            let a = assess(&view, &config.downgrade.weights, threshold);
            let reason = top_signals(&a.reasons);
            let outcome = if a.structured && !rule.structured {
                Outcome::Structured
            } else if a.complex {
                Outcome::Complex
            } else if in_holdback(request_id, rule.holdback) {
                Outcome::Holdback
            } else {
                Outcome::Applied
            };
            (outcome, Some(a.score), reason)
        }
    };
    let to = (outcome == Outcome::Applied).then(|| target.clone());
    Ok(Some(Verdict { outcome, score, reason, to }))
}

/// Whether this request falls in the holdback share: a stable hash of its id, so a retried
/// request id lands on the same side.
fn in_holdback(request_id: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request_id.hash(&mut h);
    (h.finish() as f64 / u64::MAX as f64) < share
}

/// The (up to three) signals that moved the score most, e.g. `greeting,lookup`.
fn top_signals(reasons: &[sluice_policies::downgrade::Signal]) -> String {
    let mut sorted: Vec<_> = reasons.iter().filter(|s| s.contribution != 0.0).collect();
    sorted.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    let names: Vec<&str> = sorted.iter().take(3).map(|s| signal_name(s.kind)).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}

fn signal_name(kind: SignalKind) -> &'static str {
    match kind {
        SignalKind::Greeting => "greeting",
        SignalKind::Lookup => "lookup",
        SignalKind::Transform => "transform",
        SignalKind::LocalOp => "local_op",
        SignalKind::LookupQuestion => "lookup_question",
        SignalKind::CodeTask => "code_task",
        SignalKind::CodeText => "code_text",
        SignalKind::StackTrace => "stack_trace",
        SignalKind::Math => "math",
        SignalKind::Reasoning => "reasoning",
        SignalKind::Explain => "explain",
        SignalKind::Design => "design",
        SignalKind::Legal => "legal",
        SignalKind::Medical => "medical",
        SignalKind::Puzzle => "puzzle",
        SignalKind::Creative => "creative",
        SignalKind::Constraints => "constraints",
        SignalKind::Quantities => "quantities",
        SignalKind::Choice => "choice",
        SignalKind::LongText => "long_text",
        SignalKind::Depth => "depth",
        SignalKind::LongSystem => "long_system",
        SignalKind::Tools => "tools",
        SignalKind::JsonSchema => "json_schema",
        SignalKind::Attachments => "attachments",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdback_share_is_respected_roughly_and_stable() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("req_{i:08x}")).collect();
        let held = ids.iter().filter(|id| in_holdback(id, 0.05)).count();
        assert!((350..650).contains(&held), "{held} of 10000 held back at 5 %");
        assert!(ids.iter().all(|id| !in_holdback(id, 0.0)));
        assert!(ids.iter().all(|id| in_holdback(id, 1.0)));
        assert_eq!(in_holdback("req_x", 0.5), in_holdback("req_x", 0.5));
    }
}
