//! `POST /v1/chat/completions` (and Workers AI's `/ai/v1/chat/completions`): the `chat.completion`
//! object and the `chat.completion.chunk` stream, with text or tool-call answers and `n` choices.
//!
//! Streams follow OpenAI's framing: a first chunk with the assistant role, one chunk per token-ish
//! piece, a `delta: {}` chunk with the finish reason, then — only with `stream_options.include_usage`
//! — a `choices: []` usage chunk (every other chunk then carries `"usage": null`), then `[DONE]`.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::{error, finish_reason, Usage};
use crate::answer::{self, Answer, ToolCall};
use crate::context::Ctx;
use crate::reply::Reply;
use crate::sse;
use crate::tokens;

const FINGERPRINT: &str = "fp_mock";

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<FullToolCall<'a>>>,
}

#[derive(Serialize)]
struct FullToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without `include_usage`; `null` on ordinary chunks with it; the totals on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// What every choice answers (choices are identical: the mock is deterministic).
enum Outcome {
    Text(Answer),
    Tool(ToolCall),
}

/// Answers a chat completion request.
pub(crate) fn handle(ctx: &Ctx<'_>) -> Reply {
    let Some(model) = ctx.str_field("model") else {
        return error::invalid_request("you must provide a model parameter", Some("model"));
    };
    let Some(messages) = ctx.body.get("messages").and_then(Value::as_array) else {
        return error::invalid_request("'messages' is a required property", Some("messages"));
    };
    let prompt = answer::last_user_text(messages);
    let prompt_tokens = tokens::chat_prompt(messages, ctx.body.get("tools"));
    let outcome = match answer::tool_call(ctx.body, ctx.fault, &prompt) {
        Some(call) => Outcome::Tool(call),
        None => Outcome::Text(answer::text(&prompt, ctx.fault, ctx.max_tokens())),
    };
    let n = ctx.n();
    let per_choice = match &outcome {
        Outcome::Text(a) => a.tokens,
        Outcome::Tool(c) => c.tokens(),
    };
    let usage = Usage::new(prompt_tokens, per_choice.saturating_mul(n));
    let id = ctx.id("chatcmpl-");
    let call_ids: Vec<String> = match &outcome {
        Outcome::Tool(_) => (0..n).map(|_| ctx.id("call_")).collect(),
        Outcome::Text(_) => Vec::new(),
    };
    let head = Head { id: &id, created: ctx.created, model };
    if ctx.stream() {
        let usage_mode = match (ctx.include_usage(), ctx.fault.withhold_usage) {
            (false, _) => UsageMode::Absent,
            (true, true) => UsageMode::NullOnly,
            (true, false) => UsageMode::Final(usage),
        };
        Reply::Sse { events: stream(&head, &outcome, n, &call_ids, usage_mode) }
    } else {
        let usage = (!ctx.fault.withhold_usage).then_some(usage);
        complete(&head, &outcome, n, &call_ids, usage)
    }
}

struct Head<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

/// How usage appears in a stream.
enum UsageMode {
    /// No `include_usage`: no usage field anywhere.
    Absent,
    /// `include_usage` but the fault withholds usage: `null` everywhere, no usage chunk.
    NullOnly,
    /// `include_usage`: `null` on every chunk, then a `choices: []` chunk with these totals.
    Final(Usage),
}

fn complete(head: &Head<'_>, outcome: &Outcome, n: u32, call_ids: &[String], usage: Option<Usage>) -> Reply {
    let text = match outcome {
        Outcome::Text(a) => Some(a.text()),
        Outcome::Tool(_) => None,
    };
    let arguments = match outcome {
        Outcome::Tool(call) => call.arguments_text(),
        Outcome::Text(_) => String::new(),
    };
    let choices = (0..n)
        .map(|index| match outcome {
            Outcome::Text(a) => Choice {
                index,
                message: Message { role: "assistant", content: text.as_deref(), refusal: None, tool_calls: None },
                logprobs: None,
                finish_reason: finish_reason(a.truncated),
            },
            Outcome::Tool(call) => {
                let id = call_ids.get(index as usize).map_or("call_0", String::as_str);
                let function = Function { name: &call.name, arguments: &arguments };
                let tool_calls = Some(vec![FullToolCall { id, kind: "function", function }]);
                Choice {
                    index,
                    message: Message { role: "assistant", content: None, refusal: None, tool_calls },
                    logprobs: None,
                    finish_reason: "tool_calls",
                }
            }
        })
        .collect();
    let completion = Completion {
        id: head.id,
        object: "chat.completion",
        created: head.created,
        model: head.model,
        system_fingerprint: FINGERPRINT,
        choices,
        usage,
    };
    Reply::ok(&completion)
}

fn stream(head: &Head<'_>, outcome: &Outcome, n: u32, call_ids: &[String], usage: UsageMode) -> Vec<Bytes> {
    let usage_field = match usage {
        UsageMode::Absent => None,
        UsageMode::NullOnly | UsageMode::Final(_) => Some(None),
    };
    let chunk = |index: u32, delta: Delta<'_>, finish: Option<&'static str>| {
        sse::data(&Chunk {
            id: head.id,
            object: "chat.completion.chunk",
            created: head.created,
            model: head.model,
            system_fingerprint: FINGERPRINT,
            choices: vec![ChunkChoice { index, delta, logprobs: None, finish_reason: finish }],
            usage: usage_field,
        })
    };
    let mut events = Vec::new();
    match outcome {
        Outcome::Text(answer) => {
            for i in 0..n {
                events.push(chunk(
                    i,
                    Delta { role: Some("assistant"), content: Some(Some("")), ..Delta::default() },
                    None,
                ));
            }
            for piece in &answer.pieces {
                for i in 0..n {
                    events.push(chunk(i, Delta { content: Some(Some(piece)), ..Delta::default() }, None));
                }
            }
            for i in 0..n {
                events.push(chunk(i, Delta::default(), Some(finish_reason(answer.truncated))));
            }
        }
        Outcome::Tool(call) => {
            for i in 0..n {
                let id = call_ids.get(i as usize).map(String::as_str);
                let first = ToolCallDelta {
                    index: 0,
                    id,
                    kind: Some("function"),
                    function: FunctionDelta { name: Some(&call.name), arguments: "" },
                };
                let delta = Delta { role: Some("assistant"), content: Some(None), tool_calls: Some(vec![first]) };
                events.push(chunk(i, delta, None));
            }
            for piece in call.argument_pieces() {
                for i in 0..n {
                    let part = ToolCallDelta {
                        index: 0,
                        id: None,
                        kind: None,
                        function: FunctionDelta { name: None, arguments: &piece },
                    };
                    events.push(chunk(i, Delta { tool_calls: Some(vec![part]), ..Delta::default() }, None));
                }
            }
            for i in 0..n {
                events.push(chunk(i, Delta::default(), Some("tool_calls")));
            }
        }
    }
    if let UsageMode::Final(usage) = usage {
        events.push(sse::data(&Chunk {
            id: head.id,
            object: "chat.completion.chunk",
            created: head.created,
            model: head.model,
            system_fingerprint: FINGERPRINT,
            choices: Vec::new(),
            usage: Some(Some(usage)),
        }));
    }
    events.push(sse::done());
    events
}
