//! Embedding vectors as OpenAI's `encoding_format: "base64"` carries them: the little-endian f32
//! bytes, standard base64 with padding.
//!
//! Owns the byte layout only; never decides when a vector is encoded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Encodes floats as base64 of their little-endian f32 bytes (values are narrowed to f32, as
/// OpenAI's own vectors are f32).
pub fn encode_f32_le<I: IntoIterator<Item = f32>>(values: I) -> String {
    let values = values.into_iter();
    let mut bytes = Vec::with_capacity(values.size_hint().0 * 4);
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

/// Decodes a base64 embedding back into floats; `None` if it is not valid base64 of whole f32s.
pub fn decode_f32_le(encoded: &str) -> Option<Vec<f32>> {
    let bytes = STANDARD.decode(encoded).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bytes() {
        assert_eq!(encode_f32_le([1.0f32]), "AACAPw==");
        assert_eq!(encode_f32_le([1.0f32, 2.0]), "AACAPwAAAEA=");
        assert_eq!(encode_f32_le([3.0f32, 4.0]), "AABAQAAAgEA=");
        assert_eq!(encode_f32_le(std::iter::empty()), "");
    }

    #[test]
    fn round_trips() {
        let values = [0.013f32, -0.042, 1e-8, f32::MAX];
        assert_eq!(decode_f32_le(&encode_f32_le(values)), Some(values.to_vec()));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode_f32_le("not base64!"), None);
        assert_eq!(decode_f32_le("AAAA"), None); // 3 bytes
    }
}
