//! [`SseCounter`]: counts server-sent events in a response body that arrives in arbitrary chunks,
//! and notices the `data: [DONE]` terminator.
//!
//! It keeps only the first bytes of the current line (enough to recognise `data:` and `[DONE]`),
//! never the payloads, so counting a long stream allocates nothing. Lines end with `\n` or `\r\n`
//! (a lone `\r` line ending, which no OpenAI-compatible server sends, is not recognised).

/// The longest line prefix kept: `data: [DONE]` plus room for trailing spaces.
const PREFIX: usize = 16;

/// Incremental SSE event counter for one response.
#[derive(Debug, Default)]
pub struct SseCounter {
    /// First bytes of the line being read.
    prefix: [u8; PREFIX],
    /// Length of the line being read so far (may exceed `PREFIX`).
    line_len: usize,
    /// The event being read has at least one `data:` line.
    has_data: bool,
    /// The event being read is the `[DONE]` terminator.
    is_done: bool,
    /// Data events completed so far, not counting `[DONE]`.
    events: u64,
    /// The `data: [DONE]` line was seen.
    done: bool,
}

impl SseCounter {
    /// A counter for a new response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of the body; returns how many data events (not `[DONE]`) it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> u64 {
        let before = self.events;
        for &b in chunk {
            if b == b'\n' {
                self.end_line();
            } else {
                if self.line_len < PREFIX {
                    self.prefix[self.line_len] = b;
                }
                self.line_len += 1;
            }
        }
        self.events - before
    }

    /// Data events completed so far, not counting `[DONE]`.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the `data: [DONE]` terminator has arrived.
    pub fn done(&self) -> bool {
        self.done
    }

    fn end_line(&mut self) {
        let mut len = self.line_len;
        // A `\r` beyond the kept prefix does not matter: such a line is neither blank nor `[DONE]`.
        if (1..=PREFIX).contains(&len) && self.prefix[len - 1] == b'\r' {
            len -= 1;
        }
        self.line_len = 0;
        if len == 0 {
            // Blank line: dispatch the event, if it carried data.
            if self.has_data {
                if self.is_done {
                    self.done = true;
                } else {
                    self.events += 1;
                }
            }
            self.has_data = false;
            self.is_done = false;
            return;
        }
        let kept = &self.prefix[..len.min(PREFIX)];
        if let Some(value) = kept.strip_prefix(b"data:") {
            self.has_data = true;
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if len <= PREFIX && value.trim_ascii_end() == b"[DONE]" {
                self.is_done = true;
                // Count the terminator as soon as its line is complete, so a server that closes
                // right after it without the final blank line is not reported as cut off.
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
        : keep-alive comment\n\n\
        data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn counts_data_events_and_the_terminator_in_one_chunk() {
        let mut c = SseCounter::new();
        assert_eq!(c.feed(STREAM), 3);
        assert!(c.done());
    }

    #[test]
    fn every_split_point_gives_the_same_count() {
        for cut in 0..=STREAM.len() {
            let mut c = SseCounter::new();
            let n = c.feed(&STREAM[..cut]) + c.feed(&STREAM[cut..]);
            assert_eq!((n, c.events(), c.done()), (3, 3, true), "split at byte {cut}");
        }
    }

    #[test]
    fn byte_by_byte_with_crlf_line_endings() {
        let crlf: Vec<u8> = String::from_utf8_lossy(STREAM).replace('\n', "\r\n").into_bytes();
        let mut c = SseCounter::new();
        let n: u64 = crlf.iter().map(|b| c.feed(std::slice::from_ref(b))).sum();
        assert_eq!((n, c.done()), (3, true));
    }

    #[test]
    fn an_event_is_counted_only_when_its_blank_line_arrives() {
        let mut c = SseCounter::new();
        assert_eq!(c.feed(b"data: {\"a\":1}\n"), 0);
        assert_eq!(c.feed(b"\n"), 1);
        assert_eq!(c.feed(b"event: ping\n\n"), 0, "an event without data is not dispatched");
    }

    #[test]
    fn a_stream_cut_before_done_is_not_done() {
        let mut c = SseCounter::new();
        c.feed(b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\n");
        assert!(!c.done());
        // A payload that merely contains the word is not the terminator.
        c.feed(b"data: {\"content\":\"[DONE]\"}\n\n");
        assert!(!c.done());
        assert_eq!(c.events(), 3);
        c.feed(b"data:[DONE]\n");
        assert!(c.done(), "the terminator counts once its line is complete");
    }
}
