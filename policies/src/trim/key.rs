//! [`PrefixKey`]: the name a summary is stored under — one per tenant, summariser and dropped
//! prefix.
//!
//! Owns what goes into the key and how it is hashed: SHA-256 over a format tag, the tenant, the
//! summariser's model, prompt and length, then the transcript of the dropped messages — exactly
//! what the summariser reads, so two prefixes share a summary only when the summariser would see
//! the same input. It never stores or fetches a summary (the proxy does, in the store).

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::request::Summariser;
use super::transcript;

/// Bumped whenever the transcript's rendering or the summary request's shape changes, so summaries
/// made from an older input are never reused.
const FORMAT: &[u8] = b"sluice-trim-summary-v1";

/// A 32-byte SHA-256 digest naming one summary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixKey([u8; 32]);

impl PrefixKey {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as used in store key names.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for PrefixKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrefixKey({})", self.to_hex())
    }
}

impl fmt::Display for PrefixKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The key of the summary of `dropped` (the plan's [`Trim::dropped`](super::Trim::dropped)
/// messages) made by `summariser` for `tenant`. Summaries are never shared across tenants: each
/// is charged to the tenant whose conversation it summarises.
///
/// Stable across turns: the same prefix gives the same key whatever follows it, and the plan's
/// cut grid keeps the prefix the same for several consecutive turns. Message fields the
/// summariser never sees (attachment payloads, key order, unknown fields) do not change it.
pub fn prefix_key<'m>(
    tenant: &str,
    summariser: &Summariser<'_>,
    dropped: impl IntoIterator<Item = &'m Value>,
) -> PrefixKey {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(FORMAT);
    part(tenant.as_bytes());
    part(summariser.model.as_bytes());
    part(summariser.prompt.as_bytes());
    part(&summariser.max_tokens.to_le_bytes());
    // The transcript goes last, unframed: everything before it is length-prefixed, so no two
    // inputs can run into each other.
    transcript::render(dropped, &mut |piece: &str| h.update(piece.as_bytes()));
    PrefixKey(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: Summariser<'static> = Summariser { model: "gpt-4o-mini", prompt: "Summarise.", max_tokens: 300 };

    fn key(tenant: &str, s: &Summariser<'_>, dropped: &[Value]) -> PrefixKey {
        prefix_key(tenant, s, dropped)
    }

    #[test]
    fn every_input_of_the_summary_changes_the_key() {
        let dropped = [json!({"role": "user", "content": "I'm Ada."}), json!({"role": "assistant", "content": "Hi."})];
        let base = key("acme", &S, &dropped);
        assert_eq!(base, key("acme", &S, &dropped));
        assert_ne!(base, key("globex", &S, &dropped));
        assert_ne!(base, key("acme", &Summariser { model: "llama-3.1-8b", ..S }, &dropped));
        assert_ne!(base, key("acme", &Summariser { prompt: "Summarise!", ..S }, &dropped));
        assert_ne!(base, key("acme", &Summariser { max_tokens: 301, ..S }, &dropped));
        assert_ne!(base, key("acme", &S, &dropped[..1]));
        let edited = [json!({"role": "user", "content": "I'm Eve."}), dropped[1].clone()];
        assert_ne!(base, key("acme", &S, &edited));
    }

    #[test]
    fn fields_the_summariser_never_sees_do_not_change_the_key() {
        let a = [
            json!({"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "https://a/1.png"}}]}),
        ];
        let b = [
            json!({"content": [{"text": "see", "type": "text"}, {"type": "image_url", "image_url": {"url": "https://a/2.png", "detail": "high"}}], "role": "user", "x": 1}),
        ];
        assert_eq!(key("acme", &S, &a), key("acme", &S, &b));
    }

    #[test]
    fn framing_keeps_tenant_and_model_apart() {
        let d = [json!({"role": "user", "content": "x"})];
        let a = key("ab", &Summariser { model: "c", ..S }, &d);
        let b = key("a", &Summariser { model: "bc", ..S }, &d);
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 64);
        assert_eq!(format!("{a}"), a.to_hex());
    }
}
