//! Workers AI native text-generation streams (`data: {"response":"piece"}` … `data: [DONE]`)
//! re-framed as OpenAI `chat.completion.chunk` events.
//!
//! Owns the chunk sequence: a role chunk first, one content chunk per non-empty piece, tool-call
//! chunks, then at `[DONE]` the final chunk with `finish_reason`, the usage chunk when the client
//! asked `include_usage`, and `data: [DONE]`. Never forwards Workers AI frames as they are.

use bytes::Bytes;
use serde_json::Value;

use super::response::{finish_reason, response_text};
use super::tool_calls::{self, arguments_string};
use crate::chunk::{self, ChunkHeader, Delta, FunctionDelta, ToolCallDelta};
use crate::error::{translate_error, UpstreamError};
use crate::estimate::estimate_tokens;
use crate::sse::SseEvent;
use crate::stream::Progress;
use crate::types::{Protocol, ResponseContext};
use crate::usage::{usage_from, UsageWire};

/// Re-framing state for one native stream.
#[derive(Debug)]
pub(crate) struct NativeStream {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    max_tokens: Option<u64>,
    prompt_tokens_estimate: u64,
    role_sent: bool,
    next_tool_index: u64,
    saw_tool_calls: bool,
    upstream_finish: Option<String>,
}

impl NativeStream {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        NativeStream {
            id: ctx.response_id.clone(),
            created: ctx.created,
            model: ctx.upstream_model.clone(),
            include_usage: ctx.include_usage,
            max_tokens: ctx.max_output_tokens,
            prompt_tokens_estimate: ctx.prompt_tokens_estimate,
            role_sent: false,
            next_tool_index: 0,
            saw_tool_calls: false,
            upstream_finish: None,
        }
    }

    fn header(&self) -> ChunkHeader<'_> {
        ChunkHeader { id: &self.id, created: self.created, model: &self.model, include_usage: self.include_usage }
    }

    /// Handles one upstream frame.
    pub(crate) fn handle(
        &mut self,
        progress: &mut Progress,
        event: SseEvent,
        out: &mut Vec<Bytes>,
    ) -> Result<(), UpstreamError> {
        let Some(data) = event.data.as_deref() else {
            return Ok(());
        }; // comments
        if event.is_done() {
            self.finish(progress, out);
            return Ok(());
        }
        let frame: Value = serde_json::from_slice(data)
            .map_err(|_| UpstreamError::bad_body(Protocol::CloudflareNative, "a stream frame is not JSON"))?;
        let failed = frame.get("error").is_some_and(|e| !e.is_null())
            || frame.get("success") == Some(&Value::Bool(false))
            || frame.get("errors").and_then(Value::as_array).is_some_and(|e| !e.is_empty());
        if failed {
            return Err(translate_error(Protocol::CloudflareNative, 200, data));
        }
        if let Some(usage) = frame.get("usage").and_then(UsageWire::from_value) {
            progress.usage = Some(usage);
        }
        let calls = match frame.get("choices").and_then(|c| c.get(0)) {
            // Newer models stream OpenAI-shaped chunks inside the native API.
            Some(choice) => {
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    self.upstream_finish = Some(reason.to_owned());
                }
                let delta = choice.get("delta");
                let content = delta.and_then(|d| d.get("content")).and_then(Value::as_str);
                self.content(progress, out, content.unwrap_or(""));
                self.partial_calls(delta.and_then(|d| d.get("tool_calls")))
            }
            None => {
                let content = response_text(frame.get("response"));
                self.content(progress, out, content.as_deref().unwrap_or(""));
                self.full_calls(frame.get("tool_calls"))
            }
        };
        if !calls.is_empty() {
            self.saw_tool_calls = true;
            for call in &calls {
                if let Some(args) = &call.function.arguments {
                    progress.text.push_str(args);
                }
            }
            self.ensure_role(progress, out);
            let delta = Delta { tool_calls: &calls, ..Delta::default() };
            progress.emit(out, chunk::delta_event(self.header(), delta, None));
        }
        Ok(())
    }

    fn ensure_role(&mut self, progress: &mut Progress, out: &mut Vec<Bytes>) {
        if !self.role_sent {
            self.role_sent = true;
            let delta = Delta { role: Some("assistant"), content: Some(""), ..Delta::default() };
            progress.emit(out, chunk::delta_event(self.header(), delta, None));
        }
    }

    fn content(&mut self, progress: &mut Progress, out: &mut Vec<Bytes>, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.ensure_role(progress, out);
        progress.text.push_str(piece);
        let delta = Delta { content: Some(piece), ..Delta::default() };
        progress.emit(out, chunk::delta_event(self.header(), delta, None));
    }

    /// Native frames carry whole calls: each becomes one delta with id, name and all arguments.
    fn full_calls(&mut self, items: Option<&Value>) -> Vec<ToolCallDelta> {
        let seed = tool_calls::id_seed(&self.id).to_owned();
        let mut calls = Vec::new();
        for item in items.and_then(Value::as_array).into_iter().flatten() {
            if let Some(call) = tool_calls::normalize(item, &seed, self.next_tool_index) {
                calls.push(ToolCallDelta {
                    index: self.next_tool_index,
                    id: Some(call.id),
                    kind: Some("function"),
                    function: FunctionDelta { name: Some(call.name), arguments: Some(call.arguments) },
                });
                self.next_tool_index = self.next_tool_index.saturating_add(1);
            }
        }
        calls
    }

    /// OpenAI-shaped frames carry partial calls: keep their index, fill in a missing id.
    fn partial_calls(&mut self, items: Option<&Value>) -> Vec<ToolCallDelta> {
        let mut calls = Vec::new();
        for item in items.and_then(Value::as_array).into_iter().flatten() {
            let index = item.get("index").and_then(Value::as_u64).unwrap_or(self.next_tool_index);
            self.next_tool_index = self.next_tool_index.max(index.saturating_add(1));
            let function = item.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_owned);
            let id = match item.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Some(id.to_owned()),
                _ if name.is_some() => Some(tool_calls::call_id(tool_calls::id_seed(&self.id), index)),
                _ => None,
            };
            let arguments =
                function.and_then(|f| f.get("arguments")).filter(|a| !a.is_null()).map(|a| arguments_string(Some(a)));
            calls.push(ToolCallDelta {
                index,
                kind: id.as_ref().map(|_| "function"),
                id,
                function: FunctionDelta { name, arguments },
            });
        }
        calls
    }

    /// `[DONE]`: final chunk, usage chunk if asked, and the end marker.
    fn finish(&mut self, progress: &mut Progress, out: &mut Vec<Bytes>) {
        self.ensure_role(progress, out);
        let reason =
            finish_reason(self.saw_tool_calls, self.upstream_finish.as_deref(), progress.usage, self.max_tokens);
        progress.emit(out, chunk::delta_event(self.header(), Delta::default(), Some(reason)));
        if self.include_usage {
            let usage = progress
                .usage
                .unwrap_or_else(|| usage_from(self.prompt_tokens_estimate, estimate_tokens(&progress.text)));
            progress.emit(out, chunk::usage_event(self.header(), usage));
        }
        progress.emit(out, Bytes::from_static(chunk::DONE_EVENT));
        progress.complete = true;
    }
}
