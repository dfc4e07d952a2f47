//! Native text generation, `POST …/ai/run/{model}`: `{messages | prompt}` in, the v4 envelope with
//! `result.response` (or `result.tool_calls`) and `result.usage` out. With `stream: true` there is no
//! envelope: `data: {"response": "<piece>", "p": "<padding>"}` frames, a last `{"response": "",
//! "usage": …}` frame (unless usage is withheld), then `data: [DONE]`. A streamed tool call is one
//! frame `{"response": "", "tool_calls": [...], "p": …}`. The answer cap defaults to 256 tokens, as
//! on the real service.

use serde::Serialize;
use serde_json::Value;

use super::envelope;
use crate::answer;
use crate::context::Ctx;
use crate::reply::Reply;
use crate::sse;
use crate::tokens;

/// Workers AI's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 256;

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    name: &'a str,
    arguments: &'a Value,
}

#[derive(Serialize)]
struct Result<'a> {
    response: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Frame<'a> {
    response: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

/// Deterministic padding of varying length, like the service's `p` field.
fn padding(i: usize) -> &'static str {
    const PAD: &str = "abcdefghijklmnopqrstuvwxyz0123";
    PAD.get(..(i * 7) % 29 + 1).unwrap_or("a")
}

/// Answers a text-generation run.
pub(crate) fn handle(ctx: &Ctx<'_>, _model: &str) -> Reply {
    let (prompt, prompt_tokens) = match (ctx.body.get("messages").and_then(Value::as_array), ctx.str_field("prompt")) {
        (Some(messages), _) => (answer::last_user_text(messages), tokens::chat_prompt(messages, ctx.body.get("tools"))),
        (None, Some(prompt)) => (prompt.to_owned(), tokens::count(prompt)),
        (None, None) => return envelope::invalid_data("must have required property 'prompt' or 'messages'"),
    };
    let call = answer::tool_call(ctx.body, ctx.fault, &prompt);
    let text = match call {
        Some(_) => None,
        None => Some(answer::text(&prompt, ctx.fault, Some(ctx.max_tokens().unwrap_or(DEFAULT_MAX_TOKENS)))),
    };
    let completion_tokens = match (&call, &text) {
        (Some(c), _) => c.tokens(),
        (None, Some(a)) => a.tokens,
        (None, None) => 0,
    };
    let usage = (!ctx.fault.withhold_usage).then_some(Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
    });
    let tool_calls = call.as_ref().map(|c| vec![ToolCall { name: &c.name, arguments: &c.arguments }]);
    if !ctx.stream() {
        let full = text.as_ref().map(answer::Answer::text);
        return envelope::ok(Result { response: full.as_deref(), tool_calls, usage });
    }
    let mut events = Vec::new();
    match &text {
        Some(a) => {
            for (i, piece) in a.pieces.iter().enumerate() {
                events.push(sse::data(&Frame { response: piece, tool_calls: None, p: Some(padding(i)), usage: None }));
            }
        }
        None => events.push(sse::data(&Frame { response: "", tool_calls, p: Some(padding(0)), usage: None })),
    }
    if let Some(usage) = usage {
        events.push(sse::data(&Frame { response: "", tool_calls: None, p: None, usage: Some(usage) }));
    }
    events.push(sse::done());
    Reply::Sse { events }
}
