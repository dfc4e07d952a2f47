//! Pass-through of OpenAI-shaped SSE streams (OpenAI, Workers AI `/ai/v1`): every event is
//! forwarded as the exact bytes received, while usage and streamed text are read on the side.
//!
//! Owns the one rewrite pass-through allows: dropping the usage-only chunk the gateway asked for
//! when the client did not (strict clients index `choices[0]`), and adding an estimated one when
//! a Workers AI model sends none but the client asked. Never re-serializes a forwarded event.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::chunk::{self, ChunkHeader};
use crate::error::{translate_error, UpstreamError};
use crate::estimate::estimate_tokens;
use crate::sse::SseEvent;
use crate::stream::Progress;
use crate::types::{Endpoint, Protocol, ResponseContext};
use crate::usage::{usage_from, UsageWire};

/// A chat or completions chunk, borrowed from the event where no unescaping is needed.
#[derive(Deserialize)]
struct ChunkWire<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceWire<'a>>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChoiceWire<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaWire<'a>>,
    /// Legacy completions stream text here.
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct DeltaWire<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCallWire<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallWire<'a> {
    #[serde(default, borrow)]
    function: Option<FunctionWire<'a>>,
}

#[derive(Deserialize)]
struct FunctionWire<'a> {
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// A Responses API event.
#[derive(Deserialize)]
struct ResponsesEventWire<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default)]
    response: Option<ResponsesBodyWire>,
}

#[derive(Deserialize)]
struct ResponsesBodyWire {
    #[serde(default)]
    usage: Option<Value>,
}

/// Header of the upstream's chunks, remembered to build a usage chunk in the same voice.
#[derive(Debug)]
struct Seen {
    id: String,
    model: String,
    created: u64,
}

/// Pass-through rules for one stream.
#[derive(Debug)]
pub(crate) struct PassThrough {
    protocol: Protocol,
    endpoint: Endpoint,
    include_usage: bool,
    prompt_tokens_estimate: u64,
    /// Only kept when a usage chunk may have to be made up (Workers AI compat chat).
    seen: Option<Seen>,
    fallback: Seen,
}

impl PassThrough {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        PassThrough {
            protocol: ctx.protocol,
            endpoint: ctx.endpoint,
            include_usage: ctx.include_usage,
            prompt_tokens_estimate: ctx.prompt_tokens_estimate,
            seen: None,
            fallback: Seen { id: ctx.response_id.clone(), model: ctx.upstream_model.clone(), created: ctx.created },
        }
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Handles one upstream event.
    pub(crate) fn handle(
        &mut self,
        progress: &mut Progress,
        event: SseEvent,
        out: &mut Vec<Bytes>,
    ) -> Result<(), UpstreamError> {
        let Some(data) = event.data.as_deref() else {
            progress.emit(out, event.raw); // a comment, e.g. keep-alive
            return Ok(());
        };
        if event.is_done() {
            self.add_missing_usage(progress, out);
            progress.complete = true;
            progress.emit(out, event.raw);
            return Ok(());
        }
        if self.endpoint == Endpoint::Responses {
            self.responses_event(progress, data);
            progress.emit(out, event.raw);
            return Ok(());
        }
        let Ok(chunk) = crate::json::from_slice::<ChunkWire<'_>>(data) else {
            progress.emit(out, event.raw); // not ours to judge: forward
            return Ok(());
        };
        if chunk.error.as_ref().is_some_and(|e| !e.is_null()) {
            return Err(translate_error(self.protocol, 200, data));
        }
        if let Some(usage) = chunk.usage.as_ref().and_then(UsageWire::from_value) {
            progress.usage = Some(usage);
        }
        for choice in chunk.choices.iter().flatten() {
            record_text(progress, choice);
        }
        if self.wants_made_up_usage() && self.seen.is_none() {
            if let Some(id) = &chunk.id {
                self.seen = Some(Seen {
                    id: id.clone().into_owned(),
                    model: chunk.model.as_deref().unwrap_or(&self.fallback.model).to_owned(),
                    created: chunk.created.unwrap_or(self.fallback.created),
                });
            }
        }
        let usage_only =
            chunk.choices.as_ref().is_some_and(Vec::is_empty) && chunk.usage.as_ref().is_some_and(|u| !u.is_null());
        if usage_only && !self.include_usage {
            return Ok(()); // the gateway asked for it; the client did not
        }
        progress.emit(out, event.raw);
        Ok(())
    }

    fn responses_event(&mut self, progress: &mut Progress, data: &[u8]) {
        let Ok(event) = crate::json::from_slice::<ResponsesEventWire<'_>>(data) else {
            return;
        };
        match event.kind.as_deref() {
            Some(
                "response.output_text.delta"
                | "response.function_call_arguments.delta"
                | "response.reasoning_text.delta",
            ) => {
                if let Some(delta) = event.delta {
                    progress.text.push_str(&delta);
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                if let Some(usage) = event.response.and_then(|r| r.usage).as_ref().and_then(UsageWire::from_value) {
                    progress.usage = Some(usage);
                }
                progress.complete = true;
            }
            _ => {}
        }
    }

    /// Workers AI compat chat streams may lack usage even when asked; the client asked for it.
    fn wants_made_up_usage(&self) -> bool {
        self.protocol == Protocol::CloudflareOpenAi && self.endpoint == Endpoint::ChatCompletions && self.include_usage
    }

    fn add_missing_usage(&self, progress: &mut Progress, out: &mut Vec<Bytes>) {
        if !self.wants_made_up_usage() || progress.usage.is_some() {
            return;
        }
        let seen = self.seen.as_ref().unwrap_or(&self.fallback);
        let header = ChunkHeader { id: &seen.id, created: seen.created, model: &seen.model, include_usage: true };
        let usage = usage_from(self.prompt_tokens_estimate, estimate_tokens(&progress.text));
        progress.emit(out, chunk::usage_event(header, usage));
    }
}

fn record_text(progress: &mut Progress, choice: &ChoiceWire<'_>) {
    if let Some(text) = &choice.text {
        progress.text.push_str(text);
    }
    let Some(delta) = &choice.delta else { return };
    for text in [&delta.content, &delta.reasoning_content].into_iter().flatten() {
        progress.text.push_str(text);
    }
    for call in delta.tool_calls.iter().flatten() {
        if let Some(args) = call.function.as_ref().and_then(|f| f.arguments.as_deref()) {
            progress.text.push_str(args);
        }
    }
}
