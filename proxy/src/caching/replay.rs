//! Fresh identity for a replayed answer: every completion a client receives gets its own `id` and
//! `created`, as from the provider, even when its content comes from the cache or from a
//! concurrent identical request.
//!
//! Works on the bytes as they were sent the first time, so everything else (content, usage,
//! whitespace, chunk boundaries) is replayed byte for byte. Raw-byte replacement is safe here:
//! inside a JSON string a quote is always escaped, so `"created":` and the quoted original id can
//! only match the JSON key and value they stand for.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

/// Rewrites the original completion's `id` and `created` in a body or in stream events.
#[derive(Debug)]
pub struct Fresh {
    /// The original id, quoted (`"chatcmpl-…"`), once known.
    old_id: Option<Vec<u8>>,
    /// The replacement, quoted.
    new_id: Vec<u8>,
    created: Vec<u8>,
}

#[derive(Deserialize)]
struct Head {
    id: Option<String>,
}

impl Fresh {
    /// A fresh id with the provider's prefix (`chatcmpl-`) and the current time.
    pub fn new() -> Fresh {
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut id = uuid::Uuid::encode_buffer();
        let id = uuid::Uuid::new_v4().simple().encode_lower(&mut id);
        Fresh {
            old_id: None,
            new_id: format!("\"chatcmpl-{id}\"").into_bytes(),
            created: created.to_string().into_bytes(),
        }
    }

    /// Rewrites a whole JSON body (its top-level `id` is the one replaced).
    pub fn body(&mut self, body: &Bytes) -> Bytes {
        self.learn(body);
        self.rewrite(body)
    }

    /// Rewrites one SSE event; the first `data:` event carrying an `id` names the one replaced
    /// in it and in every later event.
    pub fn event(&mut self, event: &Bytes) -> Bytes {
        if self.old_id.is_none() {
            if let Some(data) = event.strip_prefix(b"data: ").or_else(|| event.strip_prefix(b"data:")) {
                self.learn(data);
            }
        }
        self.rewrite(event)
    }

    fn learn(&mut self, json: &[u8]) {
        if self.old_id.is_some() {
            return;
        }
        let json = json.trim_ascii();
        if let Ok(Head { id: Some(id) }) = serde_json::from_slice::<Head>(json) {
            if !id.is_empty() {
                // Serialising gives exactly the quoted, escaped form the original bytes contain.
                self.old_id = serde_json::to_vec(&id).ok();
            }
        }
    }

    fn rewrite(&self, src: &Bytes) -> Bytes {
        let id_at = self.old_id.as_deref().and_then(|old| find(src, old).map(|i| (i, old.len())));
        let created_at = created_digits(src);
        if id_at.is_none() && created_at.is_none() {
            return src.clone();
        }
        let mut out = BytesMut::with_capacity(src.len() + 16);
        let mut rest: &[u8] = src;
        let mut offset = 0;
        // At most one id and one `created` per JSON object; replace in order of position.
        let mut edits: Vec<(usize, usize, &[u8])> = Vec::with_capacity(2);
        if let Some((at, len)) = id_at {
            edits.push((at, len, &self.new_id));
        }
        if let Some((at, len)) = created_at {
            edits.push((at, len, &self.created));
        }
        edits.sort_by_key(|e| e.0);
        for (at, len, with) in edits {
            let Some(local) = at.checked_sub(offset) else { continue };
            out.extend_from_slice(&rest[..local]);
            out.extend_from_slice(with);
            rest = &rest[local + len..];
            offset = at + len;
        }
        out.extend_from_slice(rest);
        // Tool-call ids and the like never equal the completion id; a second occurrence of the
        // completion id (rare: the id echoed in content would be escaped anyway) is left as is.
        out.freeze()
    }
}

impl Default for Fresh {
    fn default() -> Self {
        Fresh::new()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Position and length of the digits of the first `"created":<digits>` (spaces allowed).
fn created_digits(src: &[u8]) -> Option<(usize, usize)> {
    const KEY: &[u8] = b"\"created\":";
    let key = find(src, KEY)?;
    let mut start = key + KEY.len();
    while src.get(start).is_some_and(|b| *b == b' ') {
        start += 1;
    }
    let len = src[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    (len > 0).then_some((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn a_body_gets_a_fresh_id_and_created_and_nothing_else_changes() {
        let body = Bytes::from_static(
            b"{\n  \"id\": \"chatcmpl-abc\",\n  \"object\": \"chat.completion\",\n  \"created\": 1700000000,\n  \"choices\": [{\"message\": {\"content\": \"say \\\"created\\\": 1 and chatcmpl-abc\"}}]\n}",
        );
        let mut fresh = Fresh::new();
        let out = fresh.body(&body);
        let (a, b): (serde_json::Value, serde_json::Value) =
            (serde_json::from_slice(&body).unwrap(), serde_json::from_slice(&out).unwrap());
        assert_ne!(a["id"], b["id"]);
        assert!(b["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_ne!(b["created"], 1_700_000_000);
        assert_eq!(a["choices"], b["choices"], "content is replayed as it was");
        // `chatcmpl-abc` became `chatcmpl-` + 32 hex digits; `created` kept its 10 digits.
        assert_eq!(s(&body).len() + 29, s(&out).len(), "only the two values changed: {}", s(&out));
    }

    #[test]
    fn stream_events_share_one_fresh_id_and_tool_call_ids_are_kept() {
        let events = [
            Bytes::from_static(b"data: {\"id\":\"chatcmpl-1\",\"created\":5,\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"),
            Bytes::from_static(b"data: {\"id\":\"chatcmpl-1\",\"created\":5,\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"call_1\"}]}}]}\n\n"),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ];
        let mut fresh = Fresh::new();
        let out: Vec<String> = events.iter().map(|e| s(&fresh.event(e))).collect();
        let id = |e: &str| {
            let v: serde_json::Value = serde_json::from_str(e.trim().strip_prefix("data: ").unwrap()).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["created"].as_u64().unwrap())
        };
        let (id0, created0) = id(&out[0]);
        assert_ne!(id0, "chatcmpl-1");
        assert_ne!(created0, 5);
        assert_eq!(id(&out[1]), (id0, created0));
        assert!(out[1].contains("\"id\":\"call_1\""));
        assert_eq!(out[2], "data: [DONE]\n\n");
        // Two replays never share an id.
        assert_ne!(s(&Fresh::new().event(&events[0])), out[0]);
    }

    #[test]
    fn bytes_without_id_or_created_are_returned_as_they_are() {
        let mut fresh = Fresh::new();
        let e = Bytes::from_static(b": keep-alive\n\n");
        assert_eq!(fresh.event(&e), e);
        assert_eq!(fresh.body(&Bytes::from_static(b"not json")), Bytes::from_static(b"not json"));
    }
}
