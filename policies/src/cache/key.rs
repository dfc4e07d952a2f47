//! [`CacheKey`]: the exact-match key of a cacheable request — who may share it ([`Scope`]), which
//! route and upstream model answer it, which endpoint ([`Kind`]), and every request field that can
//! change the answer, canonicalised so field order, whitespace and number spelling don't matter.
//!
//! Owns what goes into a key and how it is hashed (SHA-256 over length-framed parts, so no two
//! different inputs can run into each other). It never decides whether a request is cacheable
//! ([`super::eligible`]) and never stores anything.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical;

/// Bumped when the key's inputs change, so entries written by an older Sluice are never read.
const KEY_DOMAIN: &[u8] = b"sluice-cache-key-v1";

/// Top-level request fields that cannot change the answer and so stay out of the key:
/// `user`, `metadata`, `store` and `service_tier` are bookkeeping; `stream` is encoded in the
/// [`Kind`]; of `stream_options` only `include_usage` shapes a stream (a final usage chunk), and
/// it is keyed on its own for [`Kind::ChatStream`]; `model` is the client's name for the route,
/// whose upstream model is keyed explicitly.
pub const EXCLUDED_FIELDS: &[&str] =
    &["user", "stream_options", "metadata", "store", "service_tier", "stream", "model"];

/// Who may share an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Only requests of this tenant (the default: tenants never see each other's answers).
    Tenant(&'a str),
    /// Every tenant of the route (a route configured `scope = "shared"`).
    Shared,
}

/// The endpoint and response shape an entry answers; entries of different kinds never mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A non-streamed chat completion (one JSON body).
    ChatJson,
    /// A streamed chat completion (a list of events).
    ChatStream,
    /// A whole embeddings response.
    Embeddings,
    /// One input of an embeddings request ([`embedding_input_key`]).
    EmbeddingInput,
}

impl Kind {
    fn tag(self) -> &'static [u8] {
        match self {
            Kind::ChatJson => b"chat-json",
            Kind::ChatStream => b"chat-stream",
            Kind::Embeddings => b"embeddings",
            Kind::EmbeddingInput => b"embedding-input",
        }
    }
}

/// A 32-byte SHA-256 digest naming one cache entry in every tier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of a whole request: `request` is its JSON body; the fields in [`EXCLUDED_FIELDS`]
    /// are left out, every other field (messages, tools, temperature, seed, n, …) is keyed.
    pub fn for_request(
        scope: Scope<'_>,
        route: &str,
        upstream_model: &str,
        kind: Kind,
        request: &Map<String, Value>,
    ) -> CacheKey {
        let mut h = KeyHasher::new(scope, route, upstream_model, kind);
        if kind == Kind::ChatStream {
            let usage_chunk =
                request.get("stream_options").and_then(|o| o.get("include_usage")) == Some(&Value::Bool(true));
            h.part(if usage_chunk { b"usage-chunk" } else { b"no-usage-chunk" });
        }
        let mut body = Vec::with_capacity(256);
        canonical::write_object(request, |k| !EXCLUDED_FIELDS.contains(&k), &mut |b: &[u8]| body.extend_from_slice(b));
        h.part(&body);
        h.finish()
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as used in Redis key names.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The key of one input of an embeddings request, so a batch can be served partly from the cache
/// and only its misses sent upstream. `input` is one element of the request's `input` (a string,
/// or an array of token ids); `dimensions` is the request's `dimensions`, if any. The
/// `encoding_format` is not keyed: entries hold `f32`s and the proxy encodes them per client.
pub fn embedding_input_key(
    scope: Scope<'_>,
    route: &str,
    upstream_model: &str,
    dimensions: Option<u64>,
    input: &Value,
) -> CacheKey {
    let mut h = KeyHasher::new(scope, route, upstream_model, Kind::EmbeddingInput);
    match dimensions {
        Some(d) => h.part(&d.to_le_bytes()),
        None => h.part(b""),
    }
    let mut body = Vec::with_capacity(64);
    canonical::write_value(input, &mut |b: &[u8]| body.extend_from_slice(b));
    h.part(&body);
    h.finish()
}

/// SHA-256 over length-prefixed parts: `("ab", "c")` and `("a", "bc")` hash differently.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn new(scope: Scope<'_>, route: &str, upstream_model: &str, kind: Kind) -> KeyHasher {
        let mut h = KeyHasher(Sha256::new());
        h.part(KEY_DOMAIN);
        match scope {
            Scope::Tenant(tenant) => {
                h.part(b"tenant");
                h.part(tenant.as_bytes());
            }
            Scope::Shared => h.part(b"shared"),
        }
        h.part(route.as_bytes());
        h.part(upstream_model.as_bytes());
        h.part(kind.tag());
        h
    }

    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn finish(self) -> CacheKey {
        CacheKey(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test bodies are objects"),
        }
    }

    fn parse(s: &str) -> Map<String, Value> {
        serde_json::from_str(s).unwrap()
    }

    fn key(scope: Scope<'_>, body: &Map<String, Value>) -> CacheKey {
        CacheKey::for_request(scope, "chat", "gpt-4o-mini", Kind::ChatJson, body)
    }

    const T: Scope<'static> = Scope::Tenant("acme");

    #[test]
    fn field_order_and_whitespace_do_not_change_the_key() {
        let a = parse(r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#);
        let b = parse(
            r#"{
                "messages": [ { "content": "hi", "role": "user" } ],
                "temperature": 0.0,
                "model": "m"
            }"#,
        );
        assert_eq!(key(T, &a), key(T, &b));
    }

    #[test]
    fn tenant_scope_separates_tenants_and_shared() {
        let body = obj(json!({"temperature": 0, "messages": []}));
        assert_ne!(key(Scope::Tenant("acme"), &body), key(Scope::Tenant("globex"), &body));
        assert_ne!(key(Scope::Tenant("acme"), &body), key(Scope::Shared, &body));
        assert_eq!(key(Scope::Shared, &body), key(Scope::Shared, &body));
    }

    #[test]
    fn output_changing_fields_change_the_key() {
        let base = json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}]});
        let k = key(T, &obj(base.clone()));
        let variants = [
            json!({"temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}),
            json!({"temperature": 0, "messages": [{"role": "user", "content": "hi!"}]}),
            json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}], "seed": 1}),
            json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
            json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}], "n": 2}),
            json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}], "tools": []}),
        ];
        for v in variants {
            assert_ne!(k, key(T, &obj(v.clone())), "{v}");
        }
    }

    #[test]
    fn bookkeeping_fields_do_not_change_the_key() {
        let base = json!({"temperature": 0, "messages": []});
        let mut noisy = base.clone();
        noisy["user"] = json!("u-123");
        noisy["metadata"] = json!({"trace": "x"});
        noisy["store"] = json!(true);
        noisy["service_tier"] = json!("auto");
        noisy["stream_options"] = json!({"include_usage": true});
        noisy["stream"] = json!(false);
        noisy["model"] = json!("alias-of-the-route");
        assert_eq!(key(T, &obj(base)), key(T, &obj(noisy)));
    }

    #[test]
    fn a_stream_asking_for_its_usage_chunk_is_another_entry() {
        let plain = obj(json!({"temperature": 0, "messages": []}));
        let mut usage = plain.clone();
        usage.insert("stream_options".into(), json!({"include_usage": true}));
        let mut no_usage = plain.clone();
        no_usage.insert("stream_options".into(), json!({"include_usage": false}));
        let k = |b: &Map<String, Value>, kind| CacheKey::for_request(T, "r", "m", kind, b);
        assert_ne!(k(&plain, Kind::ChatStream), k(&usage, Kind::ChatStream));
        assert_eq!(k(&plain, Kind::ChatStream), k(&no_usage, Kind::ChatStream));
        assert_eq!(k(&plain, Kind::ChatJson), k(&usage, Kind::ChatJson), "JSON answers carry usage anyway");
    }

    #[test]
    fn route_model_and_kind_separate_entries() {
        let body = obj(json!({"temperature": 0}));
        let k = CacheKey::for_request(T, "r", "m", Kind::ChatJson, &body);
        assert_ne!(k, CacheKey::for_request(T, "r2", "m", Kind::ChatJson, &body));
        assert_ne!(k, CacheKey::for_request(T, "r", "m2", Kind::ChatJson, &body));
        assert_ne!(k, CacheKey::for_request(T, "r", "m", Kind::ChatStream, &body));
        // Length framing: moving a byte between adjacent parts changes the key.
        assert_ne!(
            CacheKey::for_request(T, "ab", "c", Kind::ChatJson, &body),
            CacheKey::for_request(T, "a", "bc", Kind::ChatJson, &body)
        );
    }

    #[test]
    fn embedding_input_keys_depend_on_text_dimensions_and_scope() {
        let k = |scope, dims, input: Value| embedding_input_key(scope, "emb", "text-embedding-3-small", dims, &input);
        assert_eq!(k(T, None, json!("hello")), k(T, None, json!("hello")));
        assert_ne!(k(T, None, json!("hello")), k(T, None, json!("hello ")));
        assert_ne!(k(T, None, json!("hello")), k(T, Some(256), json!("hello")));
        assert_ne!(k(T, None, json!("hello")), k(Scope::Shared, None, json!("hello")));
        assert_ne!(k(T, None, json!([1, 2])), k(T, None, json!("[1,2]")));
        assert_eq!(k(T, None, json!("x")).to_hex().len(), 64);
    }
}
