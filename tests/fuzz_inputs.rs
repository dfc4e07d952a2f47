//! Property-based fuzzing of small input-facing pieces of the gateway: the `Authorization` header
//! (gateway keys and JWTs) and the `x-ratelimit-reset-*` header values. See `docs/fuzzing.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use proptest::prelude::*;
use proptest::sample::select;
use sluice::accounting::headers::go_duration;
use sluice::config::file::{AuthFile, JwtFile, KeyFile};
use sluice::config::Problems;
use sluice::identity::{self, AuthError, Identity};

/// `n` cases per property, unless `PROPTEST_CASES` asks for a longer session.
fn cases(n: u32) -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig { cases: n, ..config }
    }
}

const KEY: &str = "sk-fuzz-gateway-key-0001";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// One gateway key (tenant `acme`) and HS256 JWTs signed with `SECRET`.
fn identity() -> Identity {
    let auth = AuthFile {
        keys: vec![KeyFile {
            sha256: Some(hex::encode(identity::hash_key(KEY))),
            key: None,
            tenant: "acme".into(),
            tier: None,
            name: Some("fuzz".into()),
        }],
        jwt: Some(JwtFile {
            algorithm: "HS256".into(),
            secret: Some(SECRET.into()),
            public_key_pem: None,
            public_key_file: None,
            plan_claim: None,
            tenant_claim: None,
            default_tenant: Some("jwt-app".into()),
            default_tier: None,
            issuer: None,
            audience: None,
        }),
    };
    let mut problems = Problems::default();
    identity::build(&auth, &BTreeMap::new(), &mut problems).unwrap_or_else(|| panic!("{problems}"))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Header values: arbitrary bytes, bearer-shaped values, and JWT-shaped tokens.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(KEY.to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
        // JWT-shaped (three base64url parts, `eyJ` prefix): takes the JWT path.
        ("[A-Za-z0-9_-]{0,40}", "[A-Za-z0-9_-]{0,40}", "[A-Za-z0-9_=-]{0,40}")
            .prop_map(|(a, b, c)| format!("eyJ{a}.{b}.{c}")),
    ];
    let scheme = select(vec!["Bearer ", "bearer  ", "BEARER\t", " Bearer ", "Basic ", "Bearer", ""]);
    prop_oneof![
        (scheme, token, select(vec!["", " ", "\t", "\r\n"])).prop_map(|(s, t, e)| format!("{s}{t}{e}").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn claims() -> impl Strategy<Value = serde_json::Value> {
    let sub = prop_oneof![
        Just(serde_json::Value::Null),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
    ];
    let exp = prop_oneof![
        Just(serde_json::json!(now() + 600)),
        Just(serde_json::json!(1000)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1.5e300)),
        Just(serde_json::json!("soon")),
    ];
    let claim = prop_oneof![
        Just(serde_json::Value::Null),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": [1]})),
    ];
    (sub, exp, claim.clone(), claim).prop_map(
        |(sub, exp, plan, tenant)| serde_json::json!({"sub": sub, "exp": exp, "plan": plan, "tenant": tenant}),
    )
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn authenticate_never_panics(header in prop::option::of(authorization())) {
        let id = identity();
        match id.authenticate(header.as_deref()) {
            Ok(caller) => {
                // Only the configured key authenticates: the JWT secret is unknown to the fuzzer.
                let text = std::str::from_utf8(header.as_deref().unwrap_or_default()).unwrap();
                prop_assert_eq!(text.trim().split_once(' ').map(|(_, t)| t.trim()), Some(KEY));
                prop_assert_eq!(&*caller.tenant, "acme");
            }
            Err(AuthError::InvalidToken(why)) => prop_assert!(!why.is_empty()),
            Err(_) => {}
        }
    }

    #[test]
    fn signed_tokens_with_arbitrary_claims_never_panic(claims in claims()) {
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        let header = format!("Bearer {token}");
        let result = identity().authenticate(Some(header.as_bytes()));
        let fresh = claims["exp"].as_u64().is_some_and(|exp| exp > now());
        let sub = claims["sub"].as_str().filter(|s| !s.is_empty());
        match result {
            Ok(caller) => {
                prop_assert!(fresh, "accepted {claims}");
                prop_assert_eq!(caller.subject.as_deref(), sub);
                prop_assert!(!caller.tenant.is_empty() && !caller.tier.is_empty());
            }
            Err(e) => prop_assert!(!fresh || sub.is_none(), "refused {claims}: {e}"),
        }
    }
}

/// Parses Go's `time.Duration` text back to milliseconds (`12ms`, `1.5s`, `6m0s`, `1h0m0s`).
fn parse_go(text: &str) -> Option<(u128, u128, f64)> {
    if let Some(ms) = text.strip_suffix("ms") {
        return Some((0, 0, ms.parse::<f64>().ok()? / 1000.0));
    }
    let rest = text.strip_suffix('s')?;
    let (hours, rest) = match rest.split_once('h') {
        Some((h, r)) => (h.parse().ok()?, r),
        None => (0, rest),
    };
    let (minutes, secs) = match rest.split_once('m') {
        Some((m, s)) => (m.parse().ok()?, s),
        None => (0, rest),
    };
    Some((hours, minutes, secs.parse().ok()?))
}

proptest! {
    #![proptest_config(cases(2048))]

    #[test]
    fn go_duration_is_well_formed(
        d in prop_oneof![
            (0u64..10_000_000).prop_map(Duration::from_millis),
            (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            select(vec![Duration::MAX, Duration::ZERO, Duration::from_nanos(999_999), Duration::from_micros(119_999_600)]),
        ],
    ) {
        let text = go_duration(d);
        let (h, m, s) = parse_go(&text).unwrap_or_else(|| panic!("{d:?} → {text:?}"));
        prop_assert!(m < 60 && (0.0..60.0).contains(&s), "{d:?} → {text:?}");
        prop_assert!(h > 0 || m > 0 || text.ends_with("ms") || s >= 1.0, "{d:?} → {text:?}");
        // Exact to the millisecond while an f64 holds that many (about 285 years of them).
        if d.as_secs() < 1 << 32 {
            let ms = ((h * 3600 + m * 60) as f64 + s) * 1000.0;
            prop_assert!((ms - d.as_millis() as f64).abs() < 1.0, "{d:?} → {text:?}");
        }
    }
}

/// 119.9996 s used to print as `1m60s`.
#[test]
fn go_duration_never_prints_sixty_seconds() {
    assert_eq!(go_duration(Duration::from_micros(119_999_600)), "1m59.999s");
    assert_eq!(go_duration(Duration::from_micros(3_599_999_900)), "59m59.999s");
}
