//! [`StreamTranslator`]: one SSE response translated for the client as network chunks arrive,
//! whatever the upstream's protocol.
//!
//! Owns the SSE decoding loop and the progress every stream reports (usage, streamed text, events
//! forwarded, completion); the per-protocol rules live in [`crate::openai::stream`] and
//! [`crate::cloudflare::stream`]. Never does I/O and never holds back a complete event.

use bytes::Bytes;

use crate::cloudflare::stream::NativeStream;
use crate::error::UpstreamError;
use crate::openai::stream::PassThrough;
use crate::sse::{SseDecoder, SseEvent};
use crate::types::{Protocol, ResponseContext, Usage};

/// Largest incomplete event buffered before the stream is declared broken.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// What a stream has produced so far, shared by every protocol.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) usage: Option<Usage>,
    pub(crate) text: String,
    pub(crate) complete: bool,
    pub(crate) events: u64,
}

impl Progress {
    /// Hands one event to the client.
    pub(crate) fn emit(&mut self, out: &mut Vec<Bytes>, event: Bytes) {
        out.push(event);
        self.events += 1;
    }
}

#[derive(Debug)]
enum Rules {
    PassThrough(PassThrough),
    Native(NativeStream),
}

/// Streaming translation state for one response (SSE). Network chunks split events anywhere.
#[derive(Debug)]
pub struct StreamTranslator {
    decoder: SseDecoder,
    rules: Rules,
    progress: Progress,
}

impl StreamTranslator {
    /// Starts translating the stream of the request `ctx` was prepared for.
    pub fn new(ctx: &ResponseContext) -> Self {
        let rules = match ctx.protocol {
            Protocol::OpenAi | Protocol::CloudflareOpenAi => Rules::PassThrough(PassThrough::new(ctx)),
            Protocol::CloudflareNative => Rules::Native(NativeStream::new(ctx)),
        };
        StreamTranslator { decoder: SseDecoder::new(), rules, progress: Progress::default() }
    }

    /// Feeds one upstream network chunk; appends zero or more complete SSE events for the client
    /// to `out` (one `Bytes` per event).
    ///
    /// OpenAI-shaped upstreams: each event is forwarded unchanged (a zero-copy slice), except the
    /// usage-only chunk when the client did not ask `include_usage`. Workers AI native: each frame
    /// becomes `chat.completion.chunk` events, and `[DONE]` the final chunk, the usage chunk (if
    /// asked) and `data: [DONE]`.
    ///
    /// `Err` means the upstream reported an error mid-stream (a `data: {"error":…}` event on chat
    /// or completions streams) or sent something unreadable: events before it are already in
    /// `out`; write [`crate::stream_error_event`] and end the stream. Responses API `error`
    /// events are forwarded as they are (clients of that API expect them).
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Bytes>) -> Result<(), UpstreamError> {
        for event in self.decoder.push(chunk) {
            handle(&mut self.rules, &mut self.progress, event, out)?;
        }
        if self.decoder.buffered() > MAX_EVENT_BYTES {
            let protocol = match &self.rules {
                Rules::PassThrough(p) => p.protocol(),
                Rules::Native(_) => Protocol::CloudflareNative,
            };
            return Err(UpstreamError::bad_body(protocol, "an SSE event exceeded the size limit"));
        }
        Ok(())
    }

    /// Call when the upstream body ended: handles a last event that lacked its blank line. Check
    /// [`Self::is_complete`] afterwards: a stream that ends without `[DONE]` was interrupted.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) -> Result<(), UpstreamError> {
        match self.decoder.finish() {
            Some(event) => handle(&mut self.rules, &mut self.progress, event, out),
            None => Ok(()),
        }
    }

    /// Has the terminal event (`[DONE]`, or `response.completed` on the Responses API) been seen?
    pub fn is_complete(&self) -> bool {
        self.progress.complete
    }

    /// Usage reported by the upstream, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.progress.usage
    }

    /// Text of the completion streamed so far (content, reasoning and tool-call arguments), for
    /// token estimation when usage is missing.
    pub fn completion_text(&self) -> &str {
        &self.progress.text
    }

    /// Number of SSE events forwarded to the client so far.
    pub fn events_forwarded(&self) -> u64 {
        self.progress.events
    }
}

fn handle(
    rules: &mut Rules,
    progress: &mut Progress,
    event: SseEvent,
    out: &mut Vec<Bytes>,
) -> Result<(), UpstreamError> {
    if progress.complete {
        return Ok(());
    }
    match rules {
        Rules::PassThrough(rules) => rules.handle(progress, event, out),
        Rules::Native(rules) => rules.handle(progress, event, out),
    }
}

#[cfg(test)]
mod tests;
