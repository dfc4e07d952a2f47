//! The weights of the complexity classifier: how much each signal moves the score.
//!
//! Owns [`ClassifierWeights`] and its defaults, tuned on the `tune` split of the evaluation
//! corpus (`policies/tests/fixtures/complexity.jsonl`) and never on the `heldout` split. It never
//! scores anything itself; [`assess`](super::assess) reads these numbers.

use serde::Deserialize;

/// Per-signal weights of the complexity score, loaded from config (every field optional).
///
/// A positive weight pushes a request towards *complex* (keep the expensive model), a negative one
/// towards *simple*. Counted signals contribute `weight × min(count, cap)`. The defaults are
/// deliberately conservative: downgrading a complex request costs far more than keeping a simple
/// one on the big model: one strong cue alone outweighs any simple cue, and the default threshold
/// of `0` keeps every request without a simple cue on the big model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierWeights {
    /// Greeting, thanks or acknowledgement in a short message with no task cue (score points).
    pub greeting: f32,
    /// Look-up cue: "what is", "who wrote", "how do you say" (once; ignored beside a strong cue).
    pub lookup: f32,
    /// Local transformation cue: translate, rephrase, fix the grammar (once; ignored beside a
    /// strong cue).
    pub transform: f32,
    /// Local operation on a part of a long paste: "first sentence", "one line", "count the words"
    /// (long messages only).
    pub local_op: f32,
    /// A long paste followed by one short look-up question ("What date did they agree on?").
    pub lookup_question: f32,
    /// Code to write, debug, review or refactor: "write a function", "refactor", "deadlock".
    pub code_task: f32,
    /// Code in the message: a fenced block or several code-looking lines (once).
    pub code_text: f32,
    /// A stack trace, compiler error or crash marker (once).
    pub stack_trace: f32,
    /// Math beyond arithmetic: prove, integral, eigenvalues, probability, or equation symbols.
    pub math: f32,
    /// Analysis, judgement or multi-step reasoning: analyse, trade-off, should we, estimate.
    pub reasoning: f32,
    /// Weak explanation cue: explain, why, how does, difference between.
    pub explain: f32,
    /// Design, architecture, migration or planning cue.
    pub design: f32,
    /// Legal cue: contract, landlord, employer, lawsuit, GDPR.
    pub legal: f32,
    /// Medical cue: dose, symptoms, pregnant, drug names, interactions.
    pub medical: f32,
    /// Logic puzzle or riddle cue.
    pub puzzle: f32,
    /// Creative writing cue (poem, story, cover letter); weak alone, strong with constraints.
    pub creative: f32,
    /// Extra per constraint when the message asks for creative writing (constraints make it hard).
    pub creative_constrained: f32,
    /// Hard constraint cue: must, at least, exactly, without, never, numbered requirement (each).
    pub constraint: f32,
    /// Constraints counted before they start to add to the score.
    pub constraint_free: u16,
    /// Each number beyond `quantities_free` in a short message (word problems, budgets).
    pub quantity: f32,
    /// Numbers in a message before they start to add to the score.
    pub quantities_free: u16,
    /// A short "A or B for C?" choice question: a recommendation, i.e. a trade-off.
    pub choice: f32,
    /// A message longer than `long_text_bytes`: a whole-document task unless a local cue says not.
    pub long_text: f32,
    /// Bytes of the last user message from which it counts as long (bytes).
    pub long_text_bytes: usize,
    /// Each earlier user/assistant turn (context only: small on purpose).
    pub depth_per_turn: f32,
    /// Cap on the depth contribution (score points).
    pub depth_cap: f32,
    /// System prompt longer than `long_system_bytes` (context only).
    pub long_system: f32,
    /// Bytes of system prompt from which it counts as long (bytes).
    pub long_system_bytes: usize,
    /// The request declares tools or functions.
    pub tools: f32,
    /// The request asks for a strict JSON schema (`response_format.type = "json_schema"`).
    pub json_schema: f32,
    /// The last user message carries an image, audio or file part.
    pub attachments: f32,
    /// Maximum count of one lexical cue kind that adds to the score.
    pub cue_cap: u16,
}

impl Default for ClassifierWeights {
    fn default() -> Self {
        Self {
            greeting: -1.5,
            lookup: -0.4,
            transform: -0.5,
            local_op: -1.2,
            lookup_question: -1.5,
            code_task: 1.0,
            code_text: 0.6,
            stack_trace: 1.2,
            math: 1.0,
            reasoning: 1.0,
            explain: 0.4,
            design: 1.0,
            legal: 1.0,
            medical: 1.0,
            puzzle: 1.0,
            creative: 0.3,
            creative_constrained: 0.4,
            constraint: 0.35,
            constraint_free: 0,
            quantity: 0.45,
            quantities_free: 2,
            choice: 1.0,
            long_text: 1.0,
            long_text_bytes: 500,
            depth_per_turn: 0.0,
            depth_cap: 0.0,
            long_system: 0.0,
            long_system_bytes: 4000,
            tools: 2.0,
            json_schema: 2.0,
            attachments: 0.5,
            cue_cap: 3,
        }
    }
}
