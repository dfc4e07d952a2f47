//! [`CachedValue`]: what a cache entry holds — a finished JSON body, a finished stream with its
//! original chunk boundaries, or one embedding vector — and its compact binary encoding for Redis.
//!
//! Owns the value's shape, its weight in bytes and its wire encoding. It never looks inside the
//! bytes (no JSON or SSE parsing): the proxy produced them and the proxy replays them.

use bytes::{BufMut, Bytes, BytesMut};

use super::CacheError;

/// Encoding version byte; a reader that sees another version treats the entry as a miss.
const VERSION: u8 = 2;
const TAG_JSON: u8 = 1;
const TAG_STREAM: u8 = 2;
const TAG_EMBEDDING: u8 = 3;
/// Bookkeeping charged per stream event on top of its bytes (the `Bytes` handle and the length).
const EVENT_OVERHEAD: usize = 8;

/// Tokens the original answer used: a hit replays them into the usage ledger (at zero upstream
/// cost) and, when the plan tier says so, into the user's quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt (input) tokens.
    pub prompt: u32,
    /// Completion (output) tokens.
    pub completion: u32,
}

/// One cached answer, exactly as the proxy will replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CachedValue {
    /// A complete non-streamed response body.
    Json {
        /// The body bytes.
        body: Bytes,
        /// Usage of the original answer.
        tokens: Tokens,
    },
    /// A complete stream (stored only after its terminal event), one item per event as it was
    /// sent downstream, so a replay keeps the original chunk boundaries.
    Stream {
        /// The events in order.
        events: Vec<Bytes>,
        /// Usage of the original answer.
        tokens: Tokens,
    },
    /// One embedding vector as little-endian `f32`s, independent of the client's
    /// `encoding_format` (the proxy encodes it as floats or base64 on the way out).
    Embedding {
        /// `4 × dimensions` bytes.
        vector_f32_le: Bytes,
        /// This input's share of the original request's prompt tokens.
        tokens: Tokens,
    },
}

impl CachedValue {
    /// Bytes this value holds (plus a little per stream event): the weight the memory tier's
    /// capacity is measured in and what the Redis tier's size cap is compared with.
    pub fn weight(&self) -> usize {
        match self {
            CachedValue::Json { body, .. } => body.len(),
            CachedValue::Stream { events, .. } => events.iter().map(|e| e.len() + EVENT_OVERHEAD).sum(),
            CachedValue::Embedding { vector_f32_le, .. } => vector_f32_le.len(),
        }
    }

    /// Usage of the original answer.
    pub fn tokens(&self) -> Tokens {
        match self {
            CachedValue::Json { tokens, .. }
            | CachedValue::Stream { tokens, .. }
            | CachedValue::Embedding { tokens, .. } => *tokens,
        }
    }

    /// The binary form stored in Redis: version, tag, the two token counts (`u32` each), then the
    /// payload (a stream as a `u32` count followed by `u32`-length-prefixed events); little-endian.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.weight() + 16);
        out.put_u8(VERSION);
        let tag = match self {
            CachedValue::Json { .. } => TAG_JSON,
            CachedValue::Stream { .. } => TAG_STREAM,
            CachedValue::Embedding { .. } => TAG_EMBEDDING,
        };
        out.put_u8(tag);
        let tokens = self.tokens();
        out.put_u32_le(tokens.prompt);
        out.put_u32_le(tokens.completion);
        match self {
            CachedValue::Json { body, .. } => out.put_slice(body),
            CachedValue::Stream { events, .. } => {
                out.put_u32_le(saturating_u32(events.len()));
                for event in events {
                    out.put_u32_le(saturating_u32(event.len()));
                    out.put_slice(event);
                }
            }
            CachedValue::Embedding { vector_f32_le, .. } => out.put_slice(vector_f32_le),
        }
        out.freeze()
    }

    /// Reverses [`CachedValue::encode`]; anything malformed is [`CacheError::Corrupt`].
    pub(crate) fn decode(raw: Bytes) -> Result<CachedValue, CacheError> {
        let (&version, _) = raw.split_first().ok_or(CacheError::Corrupt("empty value"))?;
        if version != VERSION {
            return Err(CacheError::Corrupt("unknown encoding version"));
        }
        let tag = *raw.get(1).ok_or(CacheError::Corrupt("missing tag"))?;
        let mut payload = raw.slice(2..);
        let tokens = Tokens { prompt: take_u32(&mut payload)?, completion: take_u32(&mut payload)? };
        match tag {
            TAG_JSON => Ok(CachedValue::Json { body: payload, tokens }),
            TAG_EMBEDDING => Ok(CachedValue::Embedding { vector_f32_le: payload, tokens }),
            TAG_STREAM => decode_events(payload).map(|events| CachedValue::Stream { events, tokens }),
            _ => Err(CacheError::Corrupt("unknown value tag")),
        }
    }
}

fn decode_events(mut rest: Bytes) -> Result<Vec<Bytes>, CacheError> {
    let count = take_len(&mut rest)?;
    // Each event needs at least its 4-byte length: bounds the allocation by the input's size.
    if count.saturating_mul(4) > rest.len() {
        return Err(CacheError::Corrupt("event count exceeds value size"));
    }
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        let len = take_len(&mut rest)?;
        if len > rest.len() {
            return Err(CacheError::Corrupt("event longer than value"));
        }
        events.push(rest.split_to(len));
    }
    if !rest.is_empty() {
        return Err(CacheError::Corrupt("trailing bytes after events"));
    }
    Ok(events)
}

fn take_u32(rest: &mut Bytes) -> Result<u32, CacheError> {
    let head: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or(CacheError::Corrupt("truncated value"))?;
    *rest = rest.slice(4..);
    Ok(u32::from_le_bytes(head))
}

fn take_len(rest: &mut Bytes) -> Result<usize, CacheError> {
    usize::try_from(take_u32(rest)?).map_err(|_| CacheError::Corrupt("length does not fit"))
}

/// Lengths above 4 GiB cannot be cached (the Redis tier's size cap is far below), so saturating
/// only ever affects values that are refused anyway.
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: CachedValue) {
        assert_eq!(CachedValue::decode(v.encode()).unwrap(), v);
    }

    #[test]
    fn every_variant_round_trips() {
        let t = Tokens { prompt: 12, completion: 345 };
        round_trip(CachedValue::Json { body: Bytes::from_static(b"{\"a\":1}"), tokens: t });
        round_trip(CachedValue::Json { body: Bytes::new(), tokens: Tokens::default() });
        round_trip(CachedValue::Stream { events: vec![], tokens: t });
        round_trip(CachedValue::Stream {
            events: vec![Bytes::from_static(b"data: {}\n\n"), Bytes::new(), Bytes::from_static(b"data: [DONE]\n\n")],
            tokens: t,
        });
        round_trip(CachedValue::Embedding {
            vector_f32_le: Bytes::from(1.5f32.to_le_bytes().to_vec()),
            tokens: Tokens { prompt: 7, completion: 0 },
        });
    }

    #[test]
    fn malformed_values_are_corrupt_not_panics() {
        let good = CachedValue::Stream { events: vec![Bytes::from_static(b"abc")], tokens: Tokens::default() }.encode();
        for cut in 0..good.len() {
            assert!(CachedValue::decode(good.slice(..cut)).is_err(), "cut at {cut}");
        }
        assert!(CachedValue::decode(Bytes::from_static(&[9, 1, 0, 0, 0, 0, 0, 0, 0, 0])).is_err());
        assert!(CachedValue::decode(Bytes::from_static(&[2, 7, 0, 0, 0, 0, 0, 0, 0, 0])).is_err());
        assert!(CachedValue::decode(Bytes::from_static(&[2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255])).is_err());
        // A value written by version 1 (no token counts) is a miss, not a misread.
        assert!(CachedValue::decode(Bytes::from_static(&[1, 1, b'{', b'}'])).is_err());
    }
}
