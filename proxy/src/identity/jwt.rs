//! JWT mode: bearer tokens signed by the app's auth service (HS256 or RS256).
//!
//! The algorithm is pinned by config, so `alg: none` and HS/RS confusion are refused by
//! construction. Weak HS256 secrets (< 32 bytes) are refused at load time.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Caller, DEFAULT_TIER};
use crate::config::file::JwtFile;
use crate::config::Problems;

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_HS256_SECRET: usize = 32;

/// A configured JWT verifier.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    plan_claim: String,
    tenant_claim: String,
    default_tenant: Arc<str>,
    default_tier: Arc<str>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds a verifier from `[auth.jwt]`, reporting problems under `auth.jwt`.
    pub fn from_config(j: &JwtFile, problems: &mut Problems) -> Option<JwtVerifier> {
        let (algorithm, key) = match j.algorithm.as_str() {
            "HS256" => {
                let secret = j.secret.as_deref().unwrap_or_default();
                if secret.len() < MIN_HS256_SECRET {
                    problems
                        .push("auth.jwt.secret", format!("HS256 needs a secret of at least {MIN_HS256_SECRET} bytes"));
                    return None;
                }
                (Algorithm::HS256, DecodingKey::from_secret(secret.as_bytes()))
            }
            "RS256" => {
                let pem = match (&j.public_key_pem, &j.public_key_file) {
                    (Some(pem), _) => pem.clone().into_bytes(),
                    #[allow(clippy::disallowed_methods)] // config load, not the request path
                    (None, Some(path)) => match std::fs::read(path) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            problems.push("auth.jwt.public_key_file", format!("cannot read `{path}`: {e}"));
                            return None;
                        }
                    },
                    (None, None) => {
                        problems.push("auth.jwt", "RS256 needs public_key_pem or public_key_file");
                        return None;
                    }
                };
                match DecodingKey::from_rsa_pem(&pem) {
                    Ok(key) => (Algorithm::RS256, key),
                    Err(e) => {
                        problems.push("auth.jwt.public_key_pem", format!("not an RSA public key in PEM: {e}"));
                        return None;
                    }
                }
            }
            other => {
                problems.push("auth.jwt.algorithm", format!("`{other}` is not supported: use \"HS256\" or \"RS256\""));
                return None;
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        if let Some(iss) = &j.issuer {
            validation.set_issuer(&[iss]);
        }
        match &j.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Some(JwtVerifier {
            key,
            validation,
            plan_claim: j.plan_claim.clone().unwrap_or_else(|| "plan".to_string()),
            tenant_claim: j.tenant_claim.clone().unwrap_or_else(|| "tenant".to_string()),
            default_tenant: j.default_tenant.as_deref().unwrap_or("default").into(),
            default_tier: j.default_tier.as_deref().unwrap_or(DEFAULT_TIER).into(),
        })
    }

    /// Verifies signature, algorithm, expiry (and issuer/audience when configured).
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::InvalidToken("the token has no `sub` claim".to_string()))?;
        let claim = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        Ok(Caller {
            tenant: claim(&self.tenant_claim).map(Into::into).unwrap_or_else(|| self.default_tenant.clone()),
            tier: claim(&self.plan_claim).map(Into::into).unwrap_or_else(|| self.default_tier.clone()),
            subject: Some(subject.to_string()),
            key_name: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier() -> JwtVerifier {
        let file = JwtFile {
            algorithm: "HS256".into(),
            secret: Some(SECRET.into()),
            public_key_pem: None,
            public_key_file: None,
            plan_claim: None,
            tenant_claim: None,
            default_tenant: Some("app".into()),
            default_tier: None,
            issuer: None,
            audience: None,
        };
        JwtVerifier::from_config(&file, &mut Problems::default()).unwrap()
    }

    fn exp() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600
    }

    #[test]
    fn accepts_signed_tokens_and_reads_claims() {
        let token = encode(
            &Header::default(),
            &json!({"sub": "u-1", "plan": "pro", "exp": exp()}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let caller = verifier().verify(&token).unwrap();
        assert_eq!(caller.subject.as_deref(), Some("u-1"));
        assert_eq!(&*caller.tier, "pro");
        assert_eq!(&*caller.tenant, "app");
    }

    #[test]
    fn refuses_wrong_key_expired_and_alg_none() {
        let v = verifier();
        let wrong = encode(
            &Header::default(),
            &json!({"sub": "u", "exp": exp()}),
            &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
        )
        .unwrap();
        assert!(v.verify(&wrong).is_err());
        let expired =
            encode(&Header::default(), &json!({"sub": "u", "exp": 1000}), &EncodingKey::from_secret(SECRET.as_bytes()))
                .unwrap();
        assert!(v.verify(&expired).is_err());
        // alg=none: header {"alg":"none","typ":"JWT"}, no signature.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(v.verify(none).is_err());
    }

    const RS_PRIVATE: &str = include_str!("testdata/rs256-test-private.pem");
    const RS_PUBLIC: &str = include_str!("testdata/rs256-test-public.pem");

    fn rs_verifier() -> JwtVerifier {
        let file = JwtFile {
            algorithm: "RS256".into(),
            secret: None,
            public_key_pem: Some(RS_PUBLIC.into()),
            public_key_file: None,
            plan_claim: Some("tier".into()),
            tenant_claim: None,
            default_tenant: None,
            default_tier: None,
            issuer: Some("https://auth.example".into()),
            audience: Some("sluice".into()),
        };
        JwtVerifier::from_config(&file, &mut Problems::default()).unwrap()
    }

    #[test]
    fn rs256_tokens_are_verified_with_issuer_and_audience() {
        let key = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
        let header = Header::new(Algorithm::RS256);
        let claims = json!({"sub": "bob", "tier": "enterprise", "tenant": "t1", "iss": "https://auth.example", "aud": "sluice", "exp": exp()});
        let caller = rs_verifier().verify(&encode(&header, &claims, &key).unwrap()).unwrap();
        assert_eq!((caller.subject.as_deref(), &*caller.tier, &*caller.tenant), (Some("bob"), "enterprise", "t1"));
        let wrong_aud = json!({"sub": "bob", "iss": "https://auth.example", "aud": "other", "exp": exp()});
        assert!(rs_verifier().verify(&encode(&header, &wrong_aud, &key).unwrap()).is_err());
    }

    #[test]
    fn hs_rs_algorithm_confusion_is_refused() {
        // An HS256 token signed with the RSA *public* key as the HMAC secret must not pass an
        // RS256 verifier (the classic key-confusion attack).
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "mallory", "iss": "https://auth.example", "aud": "sluice", "exp": exp()}),
            &EncodingKey::from_secret(RS_PUBLIC.as_bytes()),
        )
        .unwrap();
        assert!(rs_verifier().verify(&forged).is_err());
        // And an RS256 token does not pass an HS256 verifier.
        let key = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
        let rs = encode(&Header::new(Algorithm::RS256), &json!({"sub": "x", "exp": exp()}), &key).unwrap();
        assert!(verifier().verify(&rs).is_err());
    }

    #[test]
    fn refuses_weak_secrets() {
        let file = JwtFile {
            algorithm: "HS256".into(),
            secret: Some("short".into()),
            public_key_pem: None,
            public_key_file: None,
            plan_claim: None,
            tenant_claim: None,
            default_tenant: None,
            default_tier: None,
            issuer: None,
            audience: None,
        };
        let mut problems = Problems::default();
        assert!(JwtVerifier::from_config(&file, &mut problems).is_none());
        assert!(problems.to_string().contains("auth.jwt.secret"));
    }
}
