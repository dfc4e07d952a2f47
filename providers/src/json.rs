//! JSON parsing on the hot path: [`from_slice`], `serde_json::from_slice` with one UTF-8 check
//! per document instead of one per string.
//!
//! Owns nothing but that speed-up; the results (values and errors) are serde_json's own.

use serde::Deserialize;

/// Deserializes `bytes` exactly as `serde_json::from_slice` does, faster for valid UTF-8.
///
/// `serde_json`'s byte-slice reader validates each string (keys included) as it goes; a stream
/// chunk or a chat body holds dozens of short strings, and those checks were the largest single
/// cost of relaying a stream in callgrind. Input that is valid UTF-8 is parsed by the `&str`
/// reader, which skips them (same parser, same result); anything else goes to the byte-slice
/// reader, so invalid input yields the same value or error as before (it may be valid JSON with
/// bad bytes in a string the target type ignores).
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::from_slice;

    #[test]
    fn same_results_as_serde_json() {
        let inputs: [&[u8]; 6] = [
            br#"{"a":"b","c":[1,2.5,null],"d":{"e":"\u00e9\n"}}"#,
            b"{\"a\":\"\xc3\xa9\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":1,}",
            b"",
            b"[1,2",
        ];
        for input in inputs {
            let ours = from_slice::<Value>(input).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(input).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(input));
        }
    }
}
