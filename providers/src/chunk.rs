//! Writing `chat.completion.chunk` SSE events for streams Sluice builds itself (Workers AI native
//! streams, and the usage chunk some Workers AI compat streams lack).
//!
//! Owns the exact chunk JSON (`usage: null` on every chunk only when the client asked
//! `include_usage`); never reads upstream frames.

use bytes::Bytes;
use serde::Serialize;

use crate::types::Usage;
use crate::usage::ChatUsageOut;

/// The fields every chunk of one stream repeats.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkHeader<'a> {
    pub(crate) id: &'a str,
    pub(crate) created: u64,
    pub(crate) model: &'a str,
    /// Whether the client asked `include_usage` (adds `"usage": null` to content chunks).
    pub(crate) include_usage: bool,
}

/// One tool-call delta as OpenAI streams it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ToolCallDelta {
    pub(crate) index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<&'static str>,
    pub(crate) function: FunctionDelta,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) arguments: Option<String>,
}

/// A chunk's `delta`.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) tool_calls: &'a [ToolCallDelta],
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [Choice<'a>],
    /// Absent without `include_usage`; `null` on content chunks and the usage on the last one with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<ChatUsageOut>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

fn event(chunk: &Chunk<'_>) -> Bytes {
    let mut buf = Vec::with_capacity(192);
    buf.extend_from_slice(b"data: ");
    // Serializing these plain structs into a Vec cannot fail.
    serde_json::to_writer(&mut buf, chunk).unwrap_or_default();
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// A content/role/tool-call chunk, or the final one when `finish_reason` is set.
pub(crate) fn delta_event(header: ChunkHeader<'_>, delta: Delta<'_>, finish_reason: Option<&str>) -> Bytes {
    let choices = [Choice { index: 0, delta, logprobs: None, finish_reason }];
    event(&Chunk {
        id: header.id,
        object: "chat.completion.chunk",
        created: header.created,
        model: header.model,
        choices: &choices,
        usage: header.include_usage.then_some(None),
    })
}

/// The usage chunk sent just before `[DONE]` when the client asked `include_usage`.
pub(crate) fn usage_event(header: ChunkHeader<'_>, usage: Usage) -> Bytes {
    event(&Chunk {
        id: header.id,
        object: "chat.completion.chunk",
        created: header.created,
        model: header.model,
        choices: &[],
        usage: Some(Some(ChatUsageOut::from(usage))),
    })
}

/// The end-of-stream marker.
pub(crate) const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";
