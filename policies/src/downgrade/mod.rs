//! Complexity-based model downgrade: decide whether a chat request is *simple* enough for a
//! cheaper model.
//!
//! A request is *simple* when a competent small model would answer it as well as a frontier
//! model, judged by the last user message in context: a well-known or looked-up answer, a local
//! transformation of a short span, no real task (greetings, thanks), routine content, or a local
//! operation on a long paste ("translate the first sentence"). It is *complex* when a good answer
//! needs multi-step reasoning or synthesis: non-trivial code, multi-step math or proofs, analysis
//! of a whole document, design and trade-offs, planning under constraints, legal or medical
//! nuance, creative writing under hard constraints — however short the wording.
//!
//! This module owns the classifier only: [`ChatView`] (what it reads, borrowed from the request
//! body), [`assess`] (cheap, explainable signals summed into a score and compared with a
//! threshold) and [`ClassifierWeights`] (the config). It never rewrites a request, never picks a
//! model and never reads config files: downgrade rules in the proxy do that with its
//! [`Assessment`]. It is deterministic and allocation-free for a typical request; the lexicon is
//! compiled once on first use.
//!
//! The evaluation corpus is `policies/tests/fixtures/complexity.jsonl`; the weights were tuned on
//! its `tune` split only, and `policies/tests/complexity_eval.rs` reports both splits.

mod assess;
mod lexicon;
mod shape;
mod view;
mod weights;

pub use assess::{assess, Assessment, Signal, SignalKind, DEFAULT_THRESHOLD};
pub use view::ChatView;
pub use weights::ClassifierWeights;
