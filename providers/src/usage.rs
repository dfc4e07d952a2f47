//! Usage on the wire: reading it from OpenAI, Responses and Workers AI bodies, and writing it in
//! OpenAI's chat and embeddings shapes.
//!
//! Owns the usage field shapes only; never decides whether a count is trusted or estimated.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::types::Usage;

/// A `usage` object as any upstream sends it. Responses API names (`input_tokens`, …) are aliases.
/// Lenient: a count of the wrong type (`12.0`, a string, an object) reads as absent instead of
/// failing the whole body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsageWire {
    #[serde(default, alias = "input_tokens", deserialize_with = "count")]
    prompt_tokens: Option<u64>,
    #[serde(default, alias = "output_tokens", deserialize_with = "count")]
    completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    total_tokens: Option<u64>,
    #[serde(default, alias = "input_tokens_details", deserialize_with = "details")]
    prompt_tokens_details: Option<DetailsWire>,
    #[serde(default, alias = "output_tokens_details", deserialize_with = "details")]
    completion_tokens_details: Option<DetailsWire>,
}

#[derive(Debug, Default, Deserialize)]
struct DetailsWire {
    #[serde(default, deserialize_with = "count")]
    cached_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    reasoning_tokens: Option<u64>,
}

/// A token count that tolerates floats and junk.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => None,
    })
}

/// A details object that tolerates junk.
fn details<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DetailsWire>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.and_then(|v| DetailsWire::deserialize(v).ok()))
}

impl UsageWire {
    /// Reads a usage JSON value; `None` if it is null or not an object.
    pub(crate) fn from_value(value: &Value) -> Option<Usage> {
        if !value.is_object() {
            return None;
        }
        UsageWire::deserialize(value).ok().map(Usage::from)
    }
}

impl From<UsageWire> for Usage {
    fn from(wire: UsageWire) -> Self {
        let prompt_tokens = wire.prompt_tokens.unwrap_or(0);
        let completion_tokens = wire.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: wire.total_tokens.unwrap_or(prompt_tokens.saturating_add(completion_tokens)),
            cached_tokens: wire.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0),
            reasoning_tokens: wire.completion_tokens_details.and_then(|d| d.reasoning_tokens).unwrap_or(0),
        }
    }
}

/// Just the top-level `usage` of a body, as its raw text; every other field is skipped without
/// allocating.
#[derive(Deserialize)]
struct UsageOnly<'a> {
    #[serde(default, borrow)]
    usage: Option<&'a RawValue>,
}

/// Reads the top-level `usage` of a JSON body: `Err(())` when the body is not a JSON object,
/// `Ok(None)` when usage is absent, null or unreadable.
pub(crate) fn try_usage_of(body: &[u8]) -> Result<Option<Usage>, ()> {
    // serde's derived struct visitor also takes a JSON array (`[]` reads as "no usage").
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(());
    }
    let wire = crate::json::from_slice::<UsageOnly<'_>>(body).map_err(|_| ())?;
    Ok(wire.usage.and_then(usage_of_raw))
}

/// Reads a usage object straight from its text, without building a `Value` tree (a map per
/// object, every key hashed and allocated: most of the cost of reading usage, per callgrind).
/// What the typed parse refuses (a duplicate key, a nested shape it cannot take) is read through
/// a `Value` as before, so the result is always [`UsageWire::from_value`]'s.
fn usage_of_raw(raw: &RawValue) -> Option<Usage> {
    let text = raw.get();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<UsageWire>(text) {
        Ok(wire) => Some(Usage::from(wire)),
        Err(_) => serde_json::from_str::<Value>(text).ok().as_ref().and_then(UsageWire::from_value),
    }
}

/// Reads the top-level `usage` of a JSON body; `None` when absent, null or unreadable.
#[cfg(test)]
pub(crate) fn usage_of(body: &[u8]) -> Option<Usage> {
    try_usage_of(body).ok().flatten()
}

/// Builds a usage from prompt and completion counts.
pub(crate) fn usage_from(prompt_tokens: u64, completion_tokens: u64) -> Usage {
    let total_tokens = prompt_tokens.saturating_add(completion_tokens);
    Usage { prompt_tokens, completion_tokens, total_tokens, ..Usage::default() }
}

/// Chat usage in OpenAI's exact shape, details included.
#[derive(Debug, Serialize)]
pub(crate) struct ChatUsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CachedOut,
    completion_tokens_details: ReasoningOut,
}

#[derive(Debug, Serialize)]
struct CachedOut {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct ReasoningOut {
    reasoning_tokens: u64,
}

impl From<Usage> for ChatUsageOut {
    fn from(u: Usage) -> Self {
        ChatUsageOut {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            prompt_tokens_details: CachedOut { cached_tokens: u.cached_tokens },
            completion_tokens_details: ReasoningOut { reasoning_tokens: u.reasoning_tokens },
        }
    }
}

/// Embeddings usage in OpenAI's exact shape.
#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingUsageOut {
    pub(crate) prompt_tokens: u64,
    pub(crate) total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chat_usage_with_details() {
        let body = br#"{"id":"x","choices":[{"a":[1,2,{"b":null}]}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        let usage = usage_of(body);
        assert_eq!(
            usage,
            Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 2,
                total_tokens: 11,
                cached_tokens: 4,
                reasoning_tokens: 1
            })
        );
    }

    #[test]
    fn reads_responses_usage_names() {
        let body = br#"{"usage":{"input_tokens":5,"output_tokens":7,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":3}}}"#;
        assert_eq!(
            usage_of(body),
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 7,
                total_tokens: 12,
                cached_tokens: 2,
                reasoning_tokens: 3
            })
        );
    }

    #[test]
    fn lenient_counts() {
        let body = br#"{"usage":{"prompt_tokens":9.0,"completion_tokens":"2","total_tokens":11,"prompt_tokens_details":null,"completion_tokens_details":5}}"#;
        assert_eq!(
            usage_of(body),
            Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 0,
                total_tokens: 11,
                cached_tokens: 0,
                reasoning_tokens: 0
            })
        );
        assert_eq!(try_usage_of(br#"{"usage":"x"}"#), Ok(None));
        assert_eq!(try_usage_of(b"[1"), Err(()));
    }

    #[test]
    fn raw_usage_reads_as_the_value_path_does() {
        let cases = [
            r#"{"prompt_tokens":15,"completion_tokens":12,"total_tokens":27,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}}"#,
            r#"{"input_tokens":5,"output_tokens":7,"input_tokens_details":{"cached_tokens":1}}"#,
            r#"{"prompt_tokens":12.0,"completion_tokens":"x","total_tokens":-1,"prompt_tokens_details":"junk"}"#,
            r#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            r#"{"prompt_tokens":1,"input_tokens":2}"#,
            r#"{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":4}}"#,
            r#"{"completion_tokens_details":[1,2],"extra":{"a":[null]}}"#,
            r#"{}"#,
            r#"[]"#,
            r#""usage""#,
            r#"7"#,
        ];
        for text in cases {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(usage_of_raw(&raw), UsageWire::from_value(&value), "{text}");
        }
    }

    #[test]
    fn missing_null_or_garbage_usage_is_none() {
        assert_eq!(usage_of(br#"{"id":"x"}"#), None);
        assert_eq!(usage_of(br#"{"usage":null}"#), None);
        assert_eq!(usage_of(b"not json"), None);
    }

    #[test]
    fn writes_openai_chat_usage_shape() {
        let out = serde_json::to_string(&ChatUsageOut::from(usage_from(9, 2))).unwrap_or_default();
        assert_eq!(
            out,
            r#"{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#
        );
    }
}
