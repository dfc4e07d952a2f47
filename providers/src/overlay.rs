//! A JSON object serialized with a few top-level keys replaced or removed, without cloning the
//! rest: how pass-through requests change `model` and `stream_options` and nothing else.
//!
//! Owns that serialization trick only; never decides which keys change.

use bytes::Bytes;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// `base` with `set` keys replaced (or appended when absent) and `remove` keys left out.
pub(crate) struct Overlay<'a> {
    /// The client's body, untouched.
    pub(crate) base: &'a Map<String, Value>,
    /// Keys to replace or add.
    pub(crate) set: &'a [(&'a str, Value)],
    /// Keys to drop.
    pub(crate) remove: &'a [&'a str],
}

impl Serialize for Overlay<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.base {
            if self.remove.contains(&key.as_str()) {
                continue;
            }
            match self.set.iter().find(|(k, _)| *k == key) {
                Some((_, replacement)) => map.serialize_entry(key, replacement)?,
                None => map.serialize_entry(key, value)?,
            }
        }
        for (key, value) in self.set {
            if !self.base.contains_key(*key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Overlay<'_> {
    /// Serializes to JSON bytes. Serializing a `Map<String, Value>` cannot fail.
    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_adds_removes_and_keeps_the_rest_verbatim() {
        let base = match json!({"model": "a", "messages": [{"role": "user", "content": "é\n"}], "x_future": {"k": [1.5, null]}, "user": "u"})
        {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let set = [("model", json!("b")), ("stream_options", json!({"include_usage": true}))];
        let bytes = Overlay { base: &base, set: &set, remove: &["user"] }.to_bytes();
        let back: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(
            back,
            json!({"model": "b", "messages": [{"role": "user", "content": "é\n"}], "x_future": {"k": [1.5, null]}, "stream_options": {"include_usage": true}})
        );
    }
}
