//! `POST /v1/completions`: the legacy `text_completion` object and its stream. Only the first prompt
//! of a prompt array is answered (with `n` choices); usage counts every prompt.

use serde::Serialize;
use serde_json::Value;

use super::{error, finish_reason};
use crate::answer;
use crate::context::Ctx;
use crate::reply::Reply;
use crate::sse;
use crate::tokens;

#[derive(Serialize, Clone, Copy)]
struct LegacyUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<LegacyUsage>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    choices: Vec<Choice<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<LegacyUsage>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// The first prompt's text and the token count of all prompts.
fn prompts(prompt: &Value) -> (String, u32) {
    match prompt {
        Value::String(s) => (s.clone(), tokens::count(s)),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            (String::new(), u32::try_from(items.len()).unwrap_or(u32::MAX))
        }
        Value::Array(items) => {
            let first = items.first().map(|p| prompts(p).0).unwrap_or_default();
            let total = items.iter().map(|p| prompts(p).1).fold(0u32, u32::saturating_add);
            (first, total)
        }
        _ => (String::new(), 0),
    }
}

/// Answers a legacy completion request.
pub(crate) fn handle(ctx: &Ctx<'_>) -> Reply {
    let Some(model) = ctx.str_field("model") else {
        return error::invalid_request("you must provide a model parameter", Some("model"));
    };
    let Some(prompt) = ctx.body.get("prompt") else {
        return error::invalid_request("'prompt' is a required property", Some("prompt"));
    };
    let (text, prompt_tokens) = prompts(prompt);
    let answer = answer::text(&text, ctx.fault, ctx.max_tokens());
    let n = ctx.n();
    let completion_tokens = answer.tokens.saturating_mul(n);
    let usage =
        LegacyUsage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens.saturating_add(completion_tokens) };
    let id = ctx.id("cmpl-");
    let finish = finish_reason(answer.truncated);
    if !ctx.stream() {
        let full = answer.text();
        let choices =
            (0..n).map(|index| Choice { text: &full, index, logprobs: None, finish_reason: Some(finish) }).collect();
        let usage = (!ctx.fault.withhold_usage).then_some(usage);
        let body = Completion { id: &id, object: "text_completion", created: ctx.created, model, choices, usage };
        return Reply::ok(&body);
    }
    let usage_field = ctx.include_usage().then_some(None);
    let chunk = |choices: Vec<Choice<'_>>, usage: Option<Option<LegacyUsage>>| {
        sse::data(&Chunk { id: &id, object: "text_completion", created: ctx.created, choices, model, usage })
    };
    let mut events = Vec::new();
    for piece in &answer.pieces {
        for index in 0..n {
            let choice = Choice { text: piece, index, logprobs: None, finish_reason: None };
            events.push(chunk(vec![choice], usage_field));
        }
    }
    for index in 0..n {
        events.push(chunk(vec![Choice { text: "", index, logprobs: None, finish_reason: Some(finish) }], usage_field));
    }
    if ctx.include_usage() && !ctx.fault.withhold_usage {
        events.push(chunk(Vec::new(), Some(Some(usage))));
    }
    events.push(sse::done());
    Reply::Sse { events }
}
