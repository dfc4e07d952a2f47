//! [`TrimPolicy`]: a route's trimming parameters — the budget, how many recent turns stay whole,
//! how often the cut may move, the summary's size and the smallest span worth a summary.
//!
//! Owns the parameters and their defaults. It never reads config files (the proxy builds one per
//! route from its config) and never decides anything; [`plan`](super::plan) does.

use std::num::NonZeroU32;

/// Recent turns kept whole by default: enough for the model to follow the current thread.
pub const DEFAULT_KEEP_LAST_TURNS: NonZeroU32 = match NonZeroU32::new(4) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Default grid of cut points, in turns: the cut moves every 4 turns, so one summary serves up to
/// 4 consecutive requests of a growing conversation when the budget allows.
pub const DEFAULT_CUT_EVERY_TURNS: NonZeroU32 = match NonZeroU32::new(4) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Default longest summary (the summariser's `max_completion_tokens`), in tokens: about 220 words,
/// room for the facts, decisions and open questions of a long conversation as terse notes.
pub const DEFAULT_SUMMARY_MAX_TOKENS: u32 = 300;

/// Default smallest span worth a summariser call, in tokens: below it, the call costs more
/// (latency and cheap-model tokens) than dropping the span saves.
pub const DEFAULT_MIN_DROPPED_TOKENS: u64 = 1_000;

/// How a route trims conversations that outgrow its budget.
///
/// Build one with [`TrimPolicy::with_budget`] and override fields as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimPolicy {
    /// Prompt tokens above which a conversation is trimmed (tokens, as the route's
    /// [`TokenCounter`](super::TokenCounter) counts them). A soft target: the system prompts, the
    /// summary and the last turns are kept even when they alone exceed it.
    pub budget_tokens: u64,
    /// Turns at the end of the conversation always kept whole (turns; a turn starts at a `user`
    /// message). At least one, so the latest user message is never dropped.
    pub keep_last_turns: NonZeroU32,
    /// Spacing of the cut points, in turns counted from the first user message. With 1 the tail
    /// is exactly `keep_last_turns` turns and every new turn summarises a new prefix; with `k` the
    /// cut moves every `k` turns, so a summary is reused for up to `k` requests, at the price of up
    /// to `k - 1` extra whole turns — taken only while the result stays within the budget.
    pub cut_every_turns: NonZeroU32,
    /// Longest summary, in tokens: the summariser's `max_completion_tokens`, and what the plan
    /// counts for the summary message (plus its framing) before the summary exists.
    pub summary_max_tokens: u32,
    /// Smallest dropped span worth a summary, in tokens; smaller spans are kept.
    pub min_dropped_tokens: u64,
}

impl TrimPolicy {
    /// A policy trimming above `budget_tokens`, every other field at its default.
    pub fn with_budget(budget_tokens: u64) -> TrimPolicy {
        TrimPolicy {
            budget_tokens,
            keep_last_turns: DEFAULT_KEEP_LAST_TURNS,
            cut_every_turns: DEFAULT_CUT_EVERY_TURNS,
            summary_max_tokens: DEFAULT_SUMMARY_MAX_TOKENS,
            min_dropped_tokens: DEFAULT_MIN_DROPPED_TOKENS,
        }
    }
}
