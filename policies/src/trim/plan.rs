//! [`plan`]: whether a conversation is trimmed, and where it is cut.
//!
//! Owns the choice of the cut. It reads the messages and counts them; it never changes them
//! ([`apply`](super::apply) does), never builds the summariser's request, and never knows whether
//! a summary exists yet.
//!
//! The rules, in order:
//! - Within the budget, or without any user message, the conversation is kept as it is.
//! - The kept tail starts at a `user` message (a turn boundary) and holds at least the last
//!   `keep_last_turns` turns, so the latest user message and everything after it always stay.
//! - The cut never falls between a call (assistant `tool_calls` / `function_call`) and the
//!   results answering it; when the wanted cut would, it moves to the closest earlier turn
//!   boundary that does not.
//! - Every `system`/`developer` message before the cut is kept verbatim, wherever it stands; every
//!   other message before the cut is dropped (and summarised). They form one contiguous span from
//!   the first non-system message to the cut.
//! - Cuts sit on a grid of `cut_every_turns` turns counted from the first user message, so the
//!   same prefix (and so the same summary) serves several consecutive requests of a growing
//!   conversation. When the grid cut would leave the request over the budget, the cut keeps
//!   exactly `keep_last_turns` turns instead: the budget wins over reuse.
//! - A span smaller than `min_dropped_tokens`, or one whose summary would cost as much as it
//!   saves, is not worth a summariser call: the conversation is kept.
//! - If the kept part alone exceeds the budget it is kept anyway, and the plan says so.

use std::ops::Range;

use serde_json::Value;

use super::apply::summary_message;
use super::count::TokenCounter;
use super::message::Role;
use super::pairs::safe_cuts;
use super::policy::TrimPolicy;

/// The decision for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrimPlan {
    /// Forward the messages unchanged.
    Keep {
        /// Why nothing is trimmed.
        reason: KeepReason,
        /// Prompt tokens of the conversation, as counted.
        tokens: u64,
    },
    /// Replace an older span with a summary (or drop it, when no summary is ready).
    Trim(Trim),
}

impl TrimPlan {
    /// Prompt tokens of the conversation as the client sent it (for the ledger's "before").
    pub fn tokens_before(&self) -> u64 {
        match self {
            TrimPlan::Keep { tokens, .. } => *tokens,
            TrimPlan::Trim(trim) => trim.tokens_before,
        }
    }
}

/// Why a conversation is forwarded untrimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// It fits the budget.
    WithinBudget,
    /// It has no `user` message, so there is no turn to keep whole and no safe cut.
    NoUserMessage,
    /// Over the budget, but everything before the last turns is system prompts (or no cut keeps
    /// call/result pairs together).
    NothingToDrop,
    /// Over the budget, but the droppable span is below `min_dropped_tokens` or its summary would
    /// cost as much as it saves.
    NotWorthIt,
}

/// Where a conversation is cut, and what that does to its size.
///
/// Only meaningful for the messages it was planned on: [`apply`](super::apply) refuses others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trim {
    message_count: usize,
    span: Range<usize>,
    dropped_messages: usize,
    /// Prompt tokens as the client sent them (the ledger's "before").
    pub tokens_before: u64,
    /// Tokens of the dropped messages: what the summariser reads (before its prompt).
    pub tokens_dropped: u64,
    /// Prompt tokens sent upstream with a summary, counting the summary at its maximum length.
    pub tokens_after_summary: u64,
    /// Prompt tokens sent upstream when the span is dropped without a summary.
    pub tokens_after_truncation: u64,
    /// Even trimmed (with a summary), the request exceeds the budget: the system prompts and the
    /// last turns alone are too large, and are sent anyway.
    pub over_budget: bool,
}

impl Trim {
    /// The replaced span: from the first non-system message to the start of the tail. System and
    /// developer messages inside it are kept; every other message in it is dropped.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Index of the first message of the kept tail (always a `user` message).
    pub fn tail_start(&self) -> usize {
        self.span.end
    }

    /// Length of the message array the plan was made for.
    pub(crate) fn message_count(&self) -> usize {
        self.message_count
    }

    /// How many messages are dropped (and summarised).
    pub fn dropped_count(&self) -> usize {
        self.dropped_messages
    }

    /// The dropped messages, oldest first: the input of [`summary_request`](super::summary_request)
    /// and [`prefix_key`](super::prefix_key).
    pub fn dropped<'m>(&self, messages: &'m [Value]) -> impl Iterator<Item = &'m Value> + Clone + 'm {
        let span = messages.get(self.span.clone()).unwrap_or(&[]);
        span.iter().filter(|m| Role::of(m) != Role::System)
    }
}

/// Decides whether and where to trim `messages` (the request's `messages` array) under `policy`,
/// counting with `counter`. Runs in time linear in the number of messages plus one count per
/// message.
pub fn plan(messages: &[Value], policy: &TrimPolicy, counter: &impl TokenCounter) -> TrimPlan {
    let counts: Vec<u64> = messages.iter().map(|m| counter.message_tokens(m)).collect();
    let before = counts.iter().fold(0u64, |sum, &t| sum.saturating_add(t));
    let keep = |reason| TrimPlan::Keep { reason, tokens: before };
    if before <= policy.budget_tokens {
        return keep(KeepReason::WithinBudget);
    }
    let users: Vec<usize> = (0..messages.len()).filter(|&i| Role::of(&messages[i]) == Role::User).collect();
    let Some(last_turn) = users.len().checked_sub(1) else {
        return keep(KeepReason::NoUserMessage);
    };
    let safe = safe_cuts(messages);
    // The latest turn boundary at or before turn `turn` that splits no call from its results.
    let safe_cut = |turn: usize| users[..=turn.min(last_turn)].iter().rev().copied().find(|&c| safe[c]);
    let exact_turn = users.len().saturating_sub(policy.keep_last_turns.get() as usize);
    let grid_turn = exact_turn - exact_turn % policy.cut_every_turns.get() as usize;
    let Some(exact) = safe_cut(exact_turn) else {
        return keep(KeepReason::NothingToDrop);
    };

    let summary_tokens =
        u64::from(policy.summary_max_tokens).saturating_add(counter.message_tokens(&summary_message("")));
    let cut_at = |c: usize| {
        let (mut dropped_messages, mut tokens_dropped) = (0, 0u64);
        for (message, &tokens) in messages[..c].iter().zip(&counts) {
            if Role::of(message) != Role::System {
                dropped_messages += 1;
                tokens_dropped = tokens_dropped.saturating_add(tokens);
            }
        }
        let span_start = messages[..c].iter().position(|m| Role::of(m) != Role::System).unwrap_or(c);
        let after_truncation = before.saturating_sub(tokens_dropped);
        let after_summary = after_truncation.saturating_add(summary_tokens);
        Trim {
            message_count: messages.len(),
            span: span_start..c,
            dropped_messages,
            tokens_before: before,
            tokens_dropped,
            tokens_after_summary: after_summary,
            tokens_after_truncation: after_truncation,
            over_budget: after_summary > policy.budget_tokens,
        }
    };
    let worth = |t: &Trim| t.tokens_dropped >= policy.min_dropped_tokens && t.tokens_after_summary < before;

    let chosen = match safe_cut(grid_turn).filter(|&g| g != exact).map(cut_at) {
        Some(grid) if worth(&grid) && !grid.over_budget => grid,
        _ => cut_at(exact),
    };
    if chosen.dropped_messages == 0 {
        keep(KeepReason::NothingToDrop)
    } else if !worth(&chosen) {
        keep(KeepReason::NotWorthIt)
    } else {
        TrimPlan::Trim(chosen)
    }
}
