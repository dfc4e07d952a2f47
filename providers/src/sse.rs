//! Incremental Server-Sent Events decoder: turns network chunks split at any byte into complete
//! events, keeping each event's raw bytes so pass-through can forward them without copying.
//!
//! Owns SSE framing only (`\n` and `\r\n` line endings, multi-line `data:`, `event:`, `:` comments);
//! never interprets the JSON inside `data`. A lone `\r` line ending (allowed by the SSE spec, sent by
//! no LLM provider) is not supported.
//!
//! Every byte of a stream passes through here, so line ends and colons are found with `memchr`
//! (word-at-a-time) rather than byte-by-byte loops: profiled, those loops were ~10 % of the
//! instructions of a relayed stream.

use bytes::{BufMut, Bytes, BytesMut};

/// One complete SSE event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The whole event block as received, its terminating blank line included: forward this
    /// unchanged when passing the stream through.
    pub raw: Bytes,
    /// The `event:` field, if any (the Responses API names its events).
    pub event: Option<Bytes>,
    /// The `data:` lines joined with `\n` (a zero-copy slice when there is one line); `None` for an
    /// event without data, e.g. a `: keep-alive` comment.
    pub data: Option<Bytes>,
}

impl SseEvent {
    /// True when the event's data is exactly `[DONE]`, OpenAI's end-of-stream marker.
    pub fn is_done(&self) -> bool {
        self.data.as_deref() == Some(b"[DONE]")
    }
}

/// Decoder state for one stream: bytes received but not yet part of a complete event.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    /// Bytes of `buf` already searched for an event end without finding one.
    scanned: usize,
}

impl SseDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one network chunk and returns the events it completes, in order. Events left
    /// incomplete stay buffered for the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Events<'_> {
        self.buf.extend_from_slice(chunk);
        Events { decoder: self }
    }

    /// Takes the next complete event out of the buffer, if one is there.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.find_end()?;
            self.scanned = 0;
            let raw = self.buf.split_to(end).freeze();
            if let Some(event) = parse_event(raw) {
                return Some(event);
            }
        }
    }

    /// Ends the stream: returns the buffered partial event, if it holds any field (some upstreams
    /// omit the blank line after the last event).
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.scanned = 0;
        let mut raw = self.buf.split().freeze();
        if raw.is_empty() {
            return None;
        }
        if !raw.ends_with(b"\n") {
            let mut owned = BytesMut::with_capacity(raw.len() + 2);
            owned.put_slice(&raw);
            owned.put_slice(b"\n\n");
            raw = owned.freeze();
        } else if !raw.ends_with(b"\n\n") && !raw.ends_with(b"\n\r\n") {
            let mut owned = BytesMut::with_capacity(raw.len() + 1);
            owned.put_slice(&raw);
            owned.put_slice(b"\n");
            raw = owned.freeze();
        }
        parse_event(raw)
    }

    /// Number of bytes buffered in an incomplete event (for size limits).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Finds the end (exclusive) of the first event: a line ending followed by an empty line.
    fn find_end(&mut self) -> Option<usize> {
        let buf = &self.buf[..];
        let mut i = self.scanned;
        while let Some(offset) = buf.get(i..).and_then(|rest| memchr::memchr(b'\n', rest)) {
            let nl = i + offset;
            match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => return Some(nl + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // The byte deciding whether this line ends the event has not arrived yet.
                    self.scanned = nl;
                    return None;
                }
                _ => i = nl + 1,
            }
        }
        self.scanned = buf.len();
        None
    }
}

/// Iterator over the events completed by one [`SseDecoder::push`].
#[derive(Debug)]
pub struct Events<'a> {
    decoder: &'a mut SseDecoder,
}

impl Iterator for Events<'_> {
    type Item = SseEvent;

    fn next(&mut self) -> Option<SseEvent> {
        self.decoder.next_event()
    }
}

/// Parses the fields of one event block; `None` for a block of blank lines only.
fn parse_event(raw: Bytes) -> Option<SseEvent> {
    let mut event = None;
    let mut data: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut any_field = false;
    let mut start = 0;
    while start < raw.len() {
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |p| start + p);
        let mut line_end = end;
        if line_end > start && raw[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        let line = &raw[start..line_end];
        if !line.is_empty() {
            any_field = true;
            if line[0] != b':' {
                let colon = memchr::memchr(b':', line).unwrap_or(line.len());
                let mut value_start = start + colon + 1;
                if raw.get(value_start) == Some(&b' ') && value_start < line_end {
                    value_start += 1;
                }
                let value = raw.slice(value_start.min(line_end)..line_end);
                match &line[..colon] {
                    b"data" => match (&mut joined, &data) {
                        (Some(buf), _) => {
                            buf.put_u8(b'\n');
                            buf.put_slice(&value);
                        }
                        (None, Some(first)) => {
                            let mut buf = BytesMut::with_capacity(first.len() + value.len() + 1);
                            buf.put_slice(first);
                            buf.put_u8(b'\n');
                            buf.put_slice(&value);
                            joined = Some(buf);
                        }
                        (None, None) => data = Some(value),
                    },
                    b"event" => event = Some(value),
                    _ => {}
                }
            }
        }
        start = end + 1;
    }
    if let Some(buf) = joined {
        data = Some(buf.freeze());
    }
    any_field.then_some(SseEvent { raw, event, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(decoder: &mut SseDecoder, chunk: &[u8]) -> Vec<SseEvent> {
        decoder.push(chunk).collect()
    }

    fn datas(events: &[SseEvent]) -> Vec<String> {
        events.iter().map(|e| String::from_utf8_lossy(e.data.as_deref().unwrap_or(b"<none>")).into_owned()).collect()
    }

    const STREAM: &[u8] = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: keep-alive\n\nevent: response.done\ndata: x\ndata: y\n\ndata: [DONE]\n\n";

    #[test]
    fn decodes_whole_stream_in_one_chunk() {
        let mut d = SseDecoder::new();
        let events = collect(&mut d, STREAM);
        assert_eq!(datas(&events), ["{\"a\":1}", "{\"b\":2}", "<none>", "x\ny", "[DONE]"]);
        assert_eq!(&events[0].raw[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&events[1].raw[..], b"data: {\"b\":2}\r\n\r\n");
        assert_eq!(events[3].event.as_deref(), Some(&b"response.done"[..]));
        assert!(events[4].is_done());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn same_events_when_split_at_every_byte_position() {
        let whole = collect(&mut SseDecoder::new(), STREAM);
        for split in 0..=STREAM.len() {
            let mut d = SseDecoder::new();
            let mut events = collect(&mut d, &STREAM[..split]);
            events.extend(collect(&mut d, &STREAM[split..]));
            assert_eq!(events, whole, "split at {split}");
        }
    }

    #[test]
    fn same_events_when_fed_one_byte_at_a_time() {
        let whole = collect(&mut SseDecoder::new(), STREAM);
        let mut d = SseDecoder::new();
        let events: Vec<_> = STREAM.iter().flat_map(|b| collect(&mut d, std::slice::from_ref(b))).collect();
        assert_eq!(events, whole);
    }

    #[test]
    fn data_without_space_and_empty_data() {
        let events = collect(&mut SseDecoder::new(), b"data:x\n\ndata\n\ndata: \n\n");
        assert_eq!(datas(&events), ["x", "", ""]);
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let events = collect(&mut SseDecoder::new(), b"\n\n\r\n\r\ndata: a\n\n");
        assert_eq!(datas(&events), ["a"]);
    }

    #[test]
    fn finish_returns_unterminated_last_event() {
        let mut d = SseDecoder::new();
        assert!(collect(&mut d, b"data: a\n\ndata: [DONE]").len() == 1);
        let last = d.finish();
        assert_eq!(last.as_ref().map(SseEvent::is_done), Some(true));
        assert_eq!(last.map(|e| e.raw), Some(Bytes::from_static(b"data: [DONE]\n\n")));
        assert_eq!(d.finish(), None);
        collect(&mut d, b"data: b\n");
        assert_eq!(d.finish().map(|e| e.raw), Some(Bytes::from_static(b"data: b\n\n")));
    }

    #[test]
    fn single_data_line_is_a_slice_of_raw() {
        let events = collect(&mut SseDecoder::new(), b"data: hello\n\n");
        let data = events[0].data.clone().unwrap_or_default();
        let raw = &events[0].raw;
        assert_eq!(data.as_ptr(), raw[6..].as_ptr());
    }
}
