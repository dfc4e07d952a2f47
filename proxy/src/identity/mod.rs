//! Who is calling: gateway API keys and (optionally) JWTs from the app's auth service.
//!
//! Keys are stored only as SHA-256 hashes and confirmed with a constant-time comparison. The
//! resulting [`Caller`] names the tenant and plan tier; [`end_user`] picks the end user the
//! policies count against. Never logs or returns the presented credential.

mod jwt;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::file::{AuthFile, TierFile};
use crate::config::Problems;

pub use jwt::JwtVerifier;

/// The tier used when a key or token names none.
pub const DEFAULT_TIER: &str = "default";

/// All ways a request may authenticate (one immutable table per config snapshot).
#[derive(Debug, Default)]
pub struct Identity {
    keys: HashMap<[u8; 32], ApiKey>,
    jwt: Option<JwtVerifier>,
    tenants: std::collections::HashSet<Arc<str>>,
}

/// One gateway key as configured.
#[derive(Debug, Clone)]
struct ApiKey {
    hash: [u8; 32],
    tenant: Arc<str>,
    tier: Arc<str>,
    name: Option<Arc<str>>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Tenant (the app that owns the key).
    pub tenant: Arc<str>,
    /// Plan tier.
    pub tier: Arc<str>,
    /// Signed end user (a JWT's `sub`), which then wins over body and header.
    pub subject: Option<String>,
    /// Key label for logs.
    pub key_name: Option<Arc<str>>,
}

/// Why authentication failed; all become 401 in OpenAI shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("Missing API key: send your Sluice key as `Authorization: Bearer <key>`.")]
    Missing,
    /// Not a key this gateway knows.
    #[error("Incorrect API key provided. Check the Sluice key your app is configured with.")]
    UnknownKey,
    /// A JWT that failed verification.
    #[error("Invalid token: {0}")]
    InvalidToken(String),
}

impl Identity {
    /// Whether a tenant is named by a configured key (a bounded metrics label).
    pub fn knows_tenant(&self, tenant: &str) -> bool {
        self.tenants.contains(tenant)
    }

    /// The only tenant, when exactly one is configured.
    pub fn single_tenant(&self) -> Option<String> {
        (self.tenants.len() == 1).then(|| self.tenants.iter().next().map(|t| t.to_string())).flatten()
    }

    /// Authenticates the raw `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
        let token =
            authorization.and_then(|v| std::str::from_utf8(v).ok()).and_then(bearer).ok_or(AuthError::Missing)?;
        if let Some(jwt) = &self.jwt {
            if looks_like_jwt(token) {
                return jwt.verify(token);
            }
        }
        let hash = hash_key(token);
        match self.keys.get(&hash) {
            // The map lookup can only leak timing about the SHA-256 digest, which reveals nothing
            // usable about the key; the explicit constant-time check keeps the comparison honest.
            Some(key) if bool::from(key.hash.ct_eq(&hash)) => Ok(Caller {
                tenant: key.tenant.clone(),
                tier: key.tier.clone(),
                subject: None,
                key_name: key.name.clone(),
            }),
            _ => Err(AuthError::UnknownKey),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, per RFC 7235).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// SHA-256 of a gateway key, as stored in config.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Longest accepted end-user id (longer ids are refused, not truncated).
pub const MAX_USER_LEN: usize = 256;

/// The end user policies count against: a signed JWT subject, else the body's `user`, else the
/// `x-sluice-user` header, else the tenant itself.
pub fn end_user(caller: &Caller, body_user: Option<&str>, header_user: Option<&str>) -> String {
    caller
        .subject
        .as_deref()
        .or(body_user.filter(|u| !u.is_empty()))
        .or(header_user.filter(|u| !u.is_empty()))
        .unwrap_or(&caller.tenant)
        .to_string()
}

/// Builds the identity table from `[auth]`, reporting problems with their paths.
pub fn build(auth: &AuthFile, tiers: &BTreeMap<String, TierFile>, problems: &mut Problems) -> Option<Identity> {
    let mut keys = HashMap::new();
    let before = problems.0.len();
    for (i, k) in auth.keys.iter().enumerate() {
        let path = format!("auth.keys[{i}]");
        let mut hash = [0u8; 32];
        match (&k.sha256, &k.key) {
            (Some(hex_hash), None) => {
                if hex::decode_to_slice(hex_hash.trim(), &mut hash).is_err() {
                    problems.push(format!("{path}.sha256"), "must be 64 hex digits (run `sluice hash-key <key>`)");
                    continue;
                }
            }
            (None, Some(key)) if key.len() >= 16 => hash = hash_key(key),
            (None, Some(_)) => {
                problems.push(format!("{path}.key"), "gateway keys must be at least 16 characters");
                continue;
            }
            _ => {
                problems.push(path, "set exactly one of `sha256` or `key`");
                continue;
            }
        }
        if k.tenant.is_empty() {
            problems.push(format!("{path}.tenant"), "must not be empty");
        }
        let tier = k.tier.clone().unwrap_or_else(|| DEFAULT_TIER.to_string());
        check_tier(&tier, tiers, &format!("{path}.tier"), problems);
        let key = ApiKey {
            hash,
            tenant: k.tenant.as_str().into(),
            tier: tier.into(),
            name: k.name.as_deref().map(Into::into),
        };
        if keys.insert(hash, key).is_some() {
            problems.push(format!("{path}.sha256"), "the same key is listed twice");
        }
    }
    let jwt = auth.jwt.as_ref().and_then(|j| {
        if let Some(t) = &j.default_tier {
            check_tier(t, tiers, "auth.jwt.default_tier", problems);
        }
        JwtVerifier::from_config(j, problems)
    });
    let tenants = keys.values().map(|k| k.tenant.clone()).collect();
    (problems.0.len() == before).then_some(Identity { keys, jwt, tenants })
}

fn check_tier(tier: &str, tiers: &BTreeMap<String, TierFile>, path: &str, problems: &mut Problems) {
    if !tiers.is_empty() && !tiers.contains_key(tier) {
        problems.push(path, format!("unknown tier `{tier}`: define it under [tiers]"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::KeyFile;

    fn identity() -> Identity {
        let auth = AuthFile {
            keys: vec![KeyFile {
                sha256: Some(hex::encode(hash_key("sk-good"))),
                key: None,
                tenant: "acme".into(),
                tier: Some("pro".into()),
                name: None,
            }],
            jwt: None,
        };
        let mut tiers = BTreeMap::new();
        tiers.insert("pro".to_string(), TierFile::default());
        build(&auth, &tiers, &mut Problems::default()).unwrap()
    }

    #[test]
    fn accepts_known_keys_only() {
        let id = identity();
        let caller = id.authenticate(Some(b"Bearer sk-good")).unwrap();
        assert_eq!((&*caller.tenant, &*caller.tier), ("acme", "pro"));
        assert_eq!(id.authenticate(Some(b"bearer  sk-good ")).map(|c| c.tenant).ok().as_deref(), Some("acme"));
        assert_eq!(id.authenticate(Some(b"Bearer sk-bad")).err(), Some(AuthError::UnknownKey));
        assert_eq!(id.authenticate(None).err(), Some(AuthError::Missing));
        assert_eq!(id.authenticate(Some(b"Basic abc")).err(), Some(AuthError::Missing));
    }

    #[test]
    fn end_user_prefers_signed_subject_then_body_then_header() {
        let mut caller = identity().authenticate(Some(b"Bearer sk-good")).unwrap();
        assert_eq!(end_user(&caller, Some("u1"), Some("u2")), "u1");
        assert_eq!(end_user(&caller, None, Some("u2")), "u2");
        assert_eq!(end_user(&caller, Some(""), None), "acme");
        caller.subject = Some("signed".into());
        assert_eq!(end_user(&caller, Some("u1"), Some("u2")), "signed");
    }

    #[test]
    fn rejects_bad_hashes_and_unknown_tiers() {
        let auth = AuthFile {
            keys: vec![KeyFile {
                sha256: Some("zz".into()),
                key: None,
                tenant: "t".into(),
                tier: Some("gold".into()),
                name: None,
            }],
            jwt: None,
        };
        let mut tiers = BTreeMap::new();
        tiers.insert("pro".to_string(), TierFile::default());
        let mut problems = Problems::default();
        assert!(build(&auth, &tiers, &mut problems).is_none());
        assert!(problems.to_string().contains("auth.keys[0].sha256"));
    }
}
