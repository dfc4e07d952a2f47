//! `POST /v1/responses`: a minimal but valid Responses API object (one assistant message with one
//! `output_text` part, or one `function_call` item), and its event stream when `stream` is true.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::error;
use crate::answer::{self, Answer, ToolCall};
use crate::context::Ctx;
use crate::reply::Reply;
use crate::sse;
use crate::tokens;

#[derive(Serialize, Clone)]
struct Response<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<()>,
    incomplete_details: Option<Value>,
    model: &'a str,
    output: Vec<Box<RawValue>>,
    usage: Option<Usage>,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    input_tokens: u32,
    input_tokens_details: CachedTokens,
    output_tokens: u32,
    output_tokens_details: ReasoningTokens,
    total_tokens: u32,
}

#[derive(Serialize, Clone, Copy)]
struct CachedTokens {
    cached_tokens: u32,
}

#[derive(Serialize, Clone, Copy)]
struct ReasoningTokens {
    reasoning_tokens: u32,
}

/// A stream event: `type` and `sequence_number` first, then the event's own fields.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u32,
    #[serde(flatten)]
    fields: Value,
}

/// `input` (a string or a list of message items) plus `instructions`, as chat messages.
fn messages(body: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        out.push(json!({"role": "system", "content": instructions}));
    }
    match body.get("input") {
        Some(Value::String(s)) => out.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => out.extend(items.iter().filter(|i| i.get("role").is_some()).cloned()),
        _ => {}
    }
    out
}

/// Answers a Responses API request.
pub(crate) fn handle(ctx: &Ctx<'_>) -> Reply {
    let Some(model) = ctx.str_field("model") else {
        return error::invalid_request("you must provide a model parameter", Some("model"));
    };
    if ctx.body.get("input").is_none() {
        return error::invalid_request("'input' is a required property", Some("input"));
    }
    let messages = messages(ctx.body);
    let prompt = answer::last_user_text(&messages);
    let input_tokens = tokens::chat_prompt(&messages, ctx.body.get("tools"));
    let id = ctx.id("resp_");
    let item_id = ctx.id("msg_");
    let (item, output_tokens, truncated, text) = match answer::tool_call(ctx.body, ctx.fault, &prompt) {
        Some(call) => {
            let call_id = ctx.id("call_");
            (function_call(&item_id, &call_id, &call), call.tokens(), false, None)
        }
        None => {
            let a = answer::text(&prompt, ctx.fault, ctx.max_tokens());
            (message(&item_id, &a.text(), "completed"), a.tokens, a.truncated, Some(a))
        }
    };
    let usage = (!ctx.fault.withhold_usage).then_some(Usage {
        input_tokens,
        input_tokens_details: CachedTokens { cached_tokens: 0 },
        output_tokens,
        output_tokens_details: ReasoningTokens { reasoning_tokens: 0 },
        total_tokens: input_tokens.saturating_add(output_tokens),
    });
    let response = Response {
        id: &id,
        object: "response",
        created_at: ctx.created,
        status: if truncated { "incomplete" } else { "completed" },
        error: None,
        incomplete_details: truncated.then(|| json!({"reason": "max_output_tokens"})),
        model,
        output: vec![item],
        usage,
    };
    if !ctx.stream() {
        return Reply::ok(&response);
    }
    Reply::Sse { events: stream(&response, &item_id, text.as_ref()) }
}

#[derive(Serialize)]
struct MessageItem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    status: &'a str,
    role: &'static str,
    content: Vec<TextPart<'a>>,
}

#[derive(Serialize)]
struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct FunctionCallItem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    call_id: &'a str,
    name: &'a str,
    arguments: String,
    status: &'static str,
}

/// An output `message` item; `in_progress` items have no content yet.
fn message(id: &str, text: &str, status: &str) -> Box<RawValue> {
    let content =
        if status == "completed" { vec![TextPart { kind: "output_text", text, annotations: [] }] } else { Vec::new() };
    to_raw(&MessageItem { kind: "message", id, status, role: "assistant", content })
}

fn function_call(id: &str, call_id: &str, call: &ToolCall) -> Box<RawValue> {
    let item = FunctionCallItem {
        kind: "function_call",
        id,
        call_id,
        name: &call.name,
        arguments: call.arguments_text(),
        status: "completed",
    };
    to_raw(&item)
}

/// An item as verbatim JSON, so its field order survives inside [`Response`].
fn to_raw<T: Serialize>(item: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(item).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// created, in_progress, the item and its text deltas, done events, completed.
fn stream(response: &Response<'_>, item_id: &str, text: Option<&Answer>) -> Vec<Bytes> {
    let mut seq = 0u32;
    let mut events = Vec::new();
    let mut push = |kind: &str, fields: Value| {
        events.push(sse::named(kind, &Event { kind, sequence_number: seq, fields }));
        seq += 1;
    };
    let mut pending = response.clone();
    pending.status = "in_progress";
    pending.output = Vec::new();
    pending.usage = None;
    pending.incomplete_details = None;
    push("response.created", json!({"response": pending}));
    push("response.in_progress", json!({"response": pending}));
    let item = response.output.first().cloned().unwrap_or_else(|| RawValue::NULL.to_owned());
    match text {
        Some(answer) => {
            let full = answer.text();
            push("response.output_item.added", json!({"output_index": 0, "item": message(item_id, "", "in_progress")}));
            let part = json!({"type": "output_text", "text": "", "annotations": []});
            let ids = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
            let with = |extra: Value| {
                let mut v = ids.clone();
                if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
                    map.extend(more);
                }
                v
            };
            push("response.content_part.added", with(json!({"part": part})));
            for piece in &answer.pieces {
                push("response.output_text.delta", with(json!({"delta": piece, "logprobs": []})));
            }
            push("response.output_text.done", with(json!({"text": full, "logprobs": []})));
            let done_part = json!({"type": "output_text", "text": full, "annotations": []});
            push("response.content_part.done", with(json!({"part": done_part})));
        }
        None => push("response.output_item.added", json!({"output_index": 0, "item": item})),
    }
    push("response.output_item.done", json!({"output_index": 0, "item": item}));
    let last = if response.status == "completed" { "response.completed" } else { "response.incomplete" };
    push(last, json!({"response": response}));
    events
}
