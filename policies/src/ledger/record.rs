//! The usage record — one per request, the unit billing consumes — and its JSON encoding.
//!
//! Owns the record's schema (documented field by field in `docs/ledger.md`) and the one place a
//! record becomes a JSON line. Never decides anything about the request and never does I/O.

use serde::{Deserialize, Serialize};

/// One record per request: what billing consumes. Built by the proxy when a request ends (success,
/// error, refusal or client abort) and handed to [`crate::ledger::Ledger::publish`]. The JSON form
/// of this struct is the wire schema of the ledger, documented in `docs/ledger.md`; adding a field
/// is compatible, renaming or removing one is a breaking change for billing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Sluice's id of the request (`x-request-id`); the ledger writes each id exactly once.
    pub request_id: String,
    /// Tenant the request was billed to.
    pub tenant: String,
    /// End user within the tenant.
    pub user: String,
    /// Plan tier that applied (`free`, `pro`, …).
    pub tier: String,
    /// `chat`, `embeddings`, `completions` or `responses`.
    pub endpoint: String,
    /// Model the client asked for.
    pub model_asked: String,
    /// Model that actually answered (after fallback or downgrade); `None` if no upstream answered.
    pub model_used: Option<String>,
    /// Provider that answered (`openai`, `workers-ai`, …); `None` if no upstream answered.
    pub provider: Option<String>,
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens, reasoning tokens included.
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (a subset of `prompt_tokens`).
    pub cached_tokens: u64,
    /// Reasoning tokens (a subset of `completion_tokens`).
    pub reasoning_tokens: u64,
    /// True when Sluice counted the tokens itself (tokenizer) because the upstream reported none.
    pub estimated: bool,
    /// Cost in US dollars, from the configured price table.
    pub cost_usd: f64,
    /// True when the answer came from Sluice's response cache (no upstream call).
    pub cache_hit: bool,
    /// True when the request was served by a cheaper model than asked (downgrade policy).
    pub downgraded: bool,
    /// What the route's downgrade rule decided, when it has one: `applied`, `holdback` (eligible
    /// but kept on the asked model for A/B comparison), `complex`, `structured`, `opted_out`,
    /// `never`. `None`: the route has no rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<String>,
    /// The classifier's complexity score (higher is more complex), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity_score: Option<f32>,
    /// Estimated USD saved against the asked model: by a downgrade (the asked route's first model
    /// priced on the same usage, minus `cost_usd`) or by a cache hit (the hit's would-be cost).
    #[serde(default)]
    pub saved_usd: f64,
    /// Prompt tokens of the conversation as the client sent it, when context trimming cut it
    /// (`prompt_tokens` is what was sent upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_before_trim: Option<u64>,
    /// How context trimming cut the conversation: `summarized`, or `truncated` (no summary ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim: Option<String>,
    /// Upstream attempts made (0 for a cache hit or a refusal).
    pub attempts: u32,
    /// HTTP status returned to the client.
    pub status: u16,
    /// True for a streamed (SSE) response.
    pub stream: bool,
    /// Why the response did not complete, e.g. `client_gone`; `None` when it completed.
    pub aborted: Option<String>,
    /// Wall time from request start to the last byte, in milliseconds.
    pub latency_ms: f64,
    /// When the request started, unix milliseconds.
    pub started_at_ms: u64,
    /// When the request finished, unix milliseconds.
    pub finished_at_ms: u64,
}

/// A record encoded once, ready for any sink: its id (the dedup key) and its JSON line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) request_id: String,
    pub(crate) json: String,
}

/// Just enough of a JSON line to find its request id again when replaying the spool.
#[derive(Deserialize)]
struct IdOnly {
    request_id: String,
}

impl Entry {
    /// Encodes a record. Non-finite floats become JSON `null` (serde_json's rule).
    pub(crate) fn encode(record: &UsageRecord) -> Result<Entry, serde_json::Error> {
        Ok(Entry { request_id: record.request_id.clone(), json: serde_json::to_string(record)? })
    }

    /// Reads a spooled line back, keeping the line byte for byte (it is what gets delivered).
    pub(crate) fn decode_line(line: &str) -> Result<Entry, serde_json::Error> {
        let id: IdOnly = serde_json::from_str(line)?;
        Ok(Entry { request_id: id.request_id, json: line.to_owned() })
    }
}
