//! [`apply`]: the messages sent upstream under a [`Trim`] plan.
//!
//! Owns the rewrite: the system and developer messages before the cut (verbatim, in order), then
//! the summary as one `system` message, then the tail exactly as the client sent it. It never
//! decides the cut ([`plan`](super::plan)) and never makes the summary (the proxy asks the
//! summariser).
//!
//! The summary is a `system` message because it is context the client did not write as any
//! turn: as a `user` message it would sit next to the tail's first user message (two user turns
//! in a row, which some chat templates reject) and read as the user speaking; as an `assistant`
//! message the model would take it for its own words. It follows the system prompts, so every
//! instruction still comes first.

use serde_json::{json, Value};

use super::message::Role;
use super::plan::Trim;
use super::TrimError;

/// Opens the summary message, so the model knows the text stands for earlier turns.
pub const SUMMARY_PREFIX: &str = "Summary of the earlier conversation:\n";

/// The message carrying `summary` upstream.
pub(crate) fn summary_message(summary: &str) -> Value {
    json!({"role": "system", "content": format!("{SUMMARY_PREFIX}{summary}")})
}

/// Rewrites `messages` (the very array `trim` was planned on) for the upstream. With
/// `Some(summary)` the dropped span is replaced by one summary message; with `None` (truncate-now
/// mode, or a blank summary) the span is simply dropped.
///
/// Takes the messages by value so the tail is moved, never copied.
///
/// # Errors
/// [`TrimError::PlanMismatch`] if `messages` is not the array the plan was made for (its length
/// differs): the caller planned on another request.
pub fn apply(messages: Vec<Value>, trim: &Trim, summary: Option<&str>) -> Result<Vec<Value>, TrimError> {
    if messages.len() != trim.message_count() {
        return Err(TrimError::PlanMismatch { planned: trim.message_count(), actual: messages.len() });
    }
    let tail_start = trim.tail_start();
    let mut out = Vec::with_capacity(messages.len() + 1 - trim.dropped_count());
    let mut rest = messages.into_iter();
    out.extend(rest.by_ref().take(tail_start).filter(|m| Role::of(m) == Role::System));
    if let Some(summary) = summary.filter(|s| !s.trim().is_empty()) {
        out.push(summary_message(summary));
    }
    out.extend(rest);
    Ok(out)
}
