//! Canonical JSON: one byte sequence per JSON value, whatever the key order, whitespace or number
//! spelling (`0`, `0.0` and `0e0` are one number) the client sent — the input the cache key hashes.
//!
//! Owns only that serialisation. It never hashes, and never decides which fields belong in a key
//! ([`super::key`] does).

use serde_json::{Map, Value};

/// Largest magnitude below which every integral `f64` is an exact integer (2^53).
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Writes `value` canonically to `out`: object keys sorted (by their UTF-8 bytes) at every depth,
/// no whitespace, strings escaped one way, integral floats written as integers.
pub(crate) fn write_value(value: &Value, out: &mut impl FnMut(&[u8])) {
    match value {
        Value::Null => out(b"null"),
        Value::Bool(true) => out(b"true"),
        Value::Bool(false) => out(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                write_value(item, out);
            }
            out(b"]");
        }
        Value::Object(map) => write_object(map, |_| true, out),
    }
}

/// Writes the object's members that `keep` accepts, canonically (see [`write_value`]).
pub(crate) fn write_object(map: &Map<String, Value>, keep: impl Fn(&str) -> bool, out: &mut impl FnMut(&[u8])) {
    let mut members: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| keep(k)).collect();
    members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out(b"{");
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out(b",");
        }
        write_str(k, out);
        out(b":");
        write_value(v, out);
    }
    out(b"}");
}

fn write_number(n: &serde_json::Number, out: &mut impl FnMut(&[u8])) {
    if let Some(u) = n.as_u64() {
        out(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        out(i.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() < EXACT_INT_LIMIT {
            // Exact: |f| < 2^53 and integral, so the cast neither truncates nor saturates.
            #[allow(clippy::cast_possible_truncation)]
            let i = f as i64;
            out(i.to_string().as_bytes());
        } else {
            // `{:?}` is the shortest spelling that round-trips, so one f64 has one spelling.
            out(format!("{f:?}").as_bytes());
        }
    }
}

fn write_str(s: &str, out: &mut impl FnMut(&[u8])) {
    out(b"\"");
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out(&s.as_bytes()[start..i]);
        match escape {
            Some(e) => out(e),
            None => out(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out(&s.as_bytes()[start..]);
    out(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        let mut buf = Vec::new();
        write_value(v, &mut |b: &[u8]| buf.extend_from_slice(b));
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn keys_are_sorted_at_every_depth_and_whitespace_is_gone() {
        let a: Value = serde_json::from_str(r#"{ "b": 1, "a": { "z": [ {"y":1, "x":2} ], "c": null } }"#).unwrap();
        assert_eq!(canon(&a), r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn one_number_has_one_spelling() {
        for s in ["0", "0.0", "-0.0", "0e0"] {
            assert_eq!(canon(&serde_json::from_str(s).unwrap()), "0", "{s}");
        }
        assert_eq!(canon(&serde_json::from_str("1e2").unwrap()), "100");
        assert_eq!(canon(&json!(0.7)), "0.7");
        assert_eq!(canon(&json!(-3)), "-3");
        assert_ne!(canon(&json!(0.1)), canon(&json!(0.10000001)));
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_controls_once() {
        assert_eq!(canon(&json!("a\"b\\c\nd\u{1}é")), "\"a\\\"b\\\\c\\u000ad\\u0001é\"");
        // Distinct strings stay distinct after escaping.
        assert_ne!(canon(&json!(["a", "b"])), canon(&json!(["a\",\"b"])));
    }
}
