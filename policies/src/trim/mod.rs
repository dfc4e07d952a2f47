//! Context trimming: when a conversation outgrows a route's token budget, keep the system
//! prompts and the last turns whole and replace the older turns with a summary made by the
//! route's cheap model.
//!
//! This module owns the pure decisions: [`plan`] (whether to trim and where to cut, counted with
//! a [`TokenCounter`] under a [`TrimPolicy`]), [`summary_request`] (the summariser's request,
//! which sees every dropped message), [`prefix_key`] (the store key of a summary, so each prefix
//! is summarised once per tenant) and [`apply`] (the messages sent upstream). It never calls a
//! model, never touches the store, never reads headers or config, and never waits: the proxy does
//! all the I/O.
//!
//! The proxy's order on a chat request of a trimming route (unless the client opted out):
//! [`plan`] → on [`TrimPlan::Trim`], [`prefix_key`] of [`Trim::dropped`] → summary in the store?
//! [`apply`] with it. Otherwise send [`summary_request`] to the cheap model (charged to the
//! conversation's tenant and user, marked as a summary in the ledger) and store the answer under
//! the key; in *wait* mode [`apply`] with the answer if it comes in time, in *truncate* mode
//! [`apply`] with `None` at once. The ledger records [`Trim::tokens_before`] and the tokens
//! actually sent.
//!
//! Guarantees, whatever the input: the latest user message and everything after it are sent
//! unchanged; every system and developer message is sent verbatim; a tool or function call is
//! never separated from its results; the output is never larger than the input plus one summary.

mod apply;
mod count;
mod key;
mod message;
mod pairs;
mod plan;
mod policy;
mod request;
mod transcript;

#[cfg(test)]
mod tests;

pub use apply::{apply, SUMMARY_PREFIX};
pub use count::{ApproxCounter, TokenCounter};
pub use key::{prefix_key, PrefixKey};
pub use plan::{plan, KeepReason, Trim, TrimPlan};
pub use policy::{
    TrimPolicy, DEFAULT_CUT_EVERY_TURNS, DEFAULT_KEEP_LAST_TURNS, DEFAULT_MIN_DROPPED_TOKENS,
    DEFAULT_SUMMARY_MAX_TOKENS,
};
pub use request::{summary_request, Summariser, DEFAULT_SUMMARY_PROMPT};

/// Why a trim could not be applied.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrimError {
    /// The plan was made for another message array (a bug in the caller): forward the request
    /// untrimmed.
    #[error("trim plan made for {planned} messages applied to {actual}")]
    PlanMismatch {
        /// Messages the plan was made for.
        planned: usize,
        /// Messages it was applied to.
        actual: usize,
    },
}
