//! Deterministic embedding vectors: a unit vector derived from a hash of the input, so the same input
//! always embeds the same way and different inputs differ. Knows nothing of wire formats beyond the
//! base64 encoding OpenAI uses (little-endian `f32` bytes).

use base64::Engine as _;

/// A unit vector of `dims` components for `input`, as the model's full-size vector shortened to
/// `dims` and renormalised (how OpenAI's `dimensions` parameter behaves).
pub(crate) fn embed(input: &[u8], full_dims: usize, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(input);
    let mut v: Vec<f32> = (0..full_dims.max(dims))
        .map(|_| {
            state = splitmix64(state);
            // Top 24 bits → [-1, 1).
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect();
    v.truncate(dims);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Standard base64 of the little-endian `f32` bytes (OpenAI `encoding_format: "base64"`).
pub(crate) fn to_base64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_deterministic() {
        let a = embed(b"hello", 1536, 1536);
        assert_eq!(a.len(), 1536);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(a, embed(b"hello", 1536, 1536));
        assert_ne!(a, embed(b"hellp", 1536, 1536));
        let short = embed(b"hello", 1536, 256);
        assert_eq!(short.len(), 256);
        assert!(short[0].signum() == a[0].signum());
    }

    #[test]
    fn base64_is_le_f32() {
        assert_eq!(to_base64(&[1.0, 2.0]), "AACAPwAAAEA=");
    }
}
