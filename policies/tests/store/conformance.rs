//! The `Store` contract, checked on `MemoryStore` and `RedisStore` alike: each property is a
//! generic async fn; the macro at the bottom makes a test of it per backend.

use std::time::Duration;

use sluice_policies::quota::{next_month_start, Limits};
use sluice_policies::store::{Admission, RateKind, Refusal, StoreError};

use super::support::{granted, monthly, now_secs, Env, Who, BOB};

const TTL: Duration = Duration::from_millis(400);

async fn grants_within_quota(env: Env) {
    let s = &env.store;
    let a = s.admit(&BOB.req("r1", monthly(1000), 100, Some(200))).await.unwrap();
    let Admission::Granted { reservation, rate, quota_remaining } = a else { panic!("{a:?}") };
    assert_eq!(reservation.tokens, 300);
    assert_eq!(reservation.tenant_tokens, 0);
    assert_eq!(
        (reservation.id.as_str(), reservation.tenant.as_str(), reservation.user.as_str()),
        ("r1", "acme", "bob")
    );
    assert_eq!(reservation.tier, "free");
    assert_eq!(reservation.month, sluice_policies::quota::month_of(now_secs()));
    assert_eq!(quota_remaining, Some(700));
    assert_eq!((rate.requests, rate.tokens), (None, None));
    let u = s.usage("acme", "bob").await.unwrap();
    assert_eq!((u.used, u.reserved, u.tier.as_str(), u.month.as_str()), (0, 300, "free", reservation.month.as_str()));
    // Unlimited quota: prompt + default output, nothing remaining to report.
    let a = s.admit(&BOB.req("r2", Limits::default(), 10, None)).await.unwrap();
    assert!(
        matches!(a, Admission::Granted { ref reservation, quota_remaining: None, .. } if reservation.tokens == 510),
        "{a:?}"
    );
}

async fn refuses_with_reset_time(env: Env) {
    let s = &env.store;
    let refused = s.admit(&BOB.req("r1", monthly(100), 50, Some(60))).await.unwrap();
    let resets_at = next_month_start(now_secs());
    assert_eq!(refused, Admission::Refused(Refusal::QuotaExhausted { limit: 100, used: 0, reserved: 0, resets_at }));
    // Without max_output the default output is cut down to what remains after the prompt.
    let r = granted(s.admit(&BOB.req("r2", monthly(100), 50, None)).await.unwrap());
    assert_eq!(r.tokens, 100);
    let refused = s.admit(&BOB.req("r3", monthly(100), 1, None)).await.unwrap();
    assert_eq!(refused, Admission::Refused(Refusal::QuotaExhausted { limit: 100, used: 0, reserved: 100, resets_at }));
    assert_eq!(s.usage("acme", "bob").await.unwrap().resets_at, resets_at);
}

async fn settles_and_releases_exactly_once(env: Env) {
    let s = &env.store;
    let r1 = granted(s.admit(&BOB.req("r1", monthly(1000), 100, Some(100))).await.unwrap());
    let first = s.settle(&r1, 120).await.unwrap();
    assert!(first.applied);
    assert_eq!(first.used, 120);
    let again = s.settle(&r1, 120).await.unwrap();
    assert!(!again.applied);
    assert_eq!(again.used, 120);
    assert!(!s.release(&r1).await.unwrap().applied);
    let r2 = granted(s.admit(&BOB.req("r2", monthly(1000), 100, Some(100))).await.unwrap());
    let released = s.release(&r2).await.unwrap();
    assert!(released.applied);
    assert_eq!(released.used, 120);
    assert!(!s.release(&r2).await.unwrap().applied);
    assert!(!s.settle(&r2, 50).await.unwrap().applied, "a released reservation cannot be settled");
    let u = s.usage("acme", "bob").await.unwrap();
    assert_eq!((u.used, u.reserved), (120, 0));
}

async fn reserved_tokens_count_against_availability(env: Env) {
    let s = &env.store;
    let a = granted(s.admit(&BOB.req("a", monthly(1000), 100, Some(400))).await.unwrap());
    granted(s.admit(&BOB.req("b", monthly(1000), 100, Some(400))).await.unwrap());
    let refused = s.admit(&BOB.req("c", monthly(1000), 1, Some(0))).await.unwrap();
    assert!(
        matches!(refused, Admission::Refused(Refusal::QuotaExhausted { used: 0, reserved: 1000, .. })),
        "{refused:?}"
    );
    s.settle(&a, 100).await.unwrap();
    let d = granted(s.admit(&BOB.req("d", monthly(1000), 100, Some(300))).await.unwrap());
    assert_eq!(d.tokens, 400);
    let refused = s.admit(&BOB.req("e", monthly(1000), 1, Some(0))).await.unwrap();
    assert!(
        matches!(refused, Admission::Refused(Refusal::QuotaExhausted { used: 100, reserved: 900, .. })),
        "{refused:?}"
    );
}

async fn requests_per_minute_is_a_burst_then_even_refill(env: Env) {
    let s = &env.store;
    let limits = Limits { monthly_tokens: Some(100_000), requests_per_minute: Some(6), tokens_per_minute: None };
    for i in 0..6u64 {
        let a = s.admit(&BOB.req(&format!("r{i}"), limits, 10, Some(10))).await.unwrap();
        let Admission::Granted { rate, .. } = a else { panic!("request {i}: {a:?}") };
        let b = rate.requests.unwrap();
        assert_eq!((b.limit, b.remaining), (6, 5 - i));
        assert!(
            b.reset <= Duration::from_secs(60)
                && b.reset >= Duration::from_secs(10 * (i + 1)) - Duration::from_millis(500),
            "{b:?}"
        );
    }
    let a = s.admit(&BOB.req("r6", limits, 10, Some(10))).await.unwrap();
    let Admission::Refused(Refusal::RateLimited { kind, limit, retry_after, rate }) = a else { panic!("{a:?}") };
    assert_eq!((kind, limit), (RateKind::Requests, 6));
    // One request comes back every 60/6 = 10 s.
    assert!(retry_after > Duration::from_secs(9) && retry_after <= Duration::from_secs(10), "{retry_after:?}");
    assert_eq!(rate.requests.unwrap().remaining, 0);
    let u = s.usage("acme", "bob").await.unwrap();
    assert_eq!(u.reserved, 6 * 20, "a refused request reserves nothing");
    // Another user has a bucket of their own.
    let alice = Who { user: "alice", ..BOB };
    assert!(matches!(s.admit(&alice.req("a0", limits, 10, Some(10))).await.unwrap(), Admission::Granted { .. }));
}

async fn tokens_per_minute_charges_the_reservation(env: Env) {
    let s = &env.store;
    let limits = Limits { tokens_per_minute: Some(1000), ..Limits::default() };
    let a = s.admit(&BOB.req("r1", limits, 100, Some(500))).await.unwrap();
    let Admission::Granted { rate, .. } = a else { panic!("{a:?}") };
    let b = rate.tokens.unwrap();
    assert_eq!((b.limit, b.remaining), (1000, 400));
    let a = s.admit(&BOB.req("r2", limits, 100, Some(500))).await.unwrap();
    let Admission::Refused(Refusal::RateLimited { kind, limit, retry_after, .. }) = a else { panic!("{a:?}") };
    assert_eq!((kind, limit), (RateKind::Tokens, 1000));
    // 200 tokens short, one token back every 60 ms.
    assert!(retry_after > Duration::from_millis(11_500) && retry_after <= Duration::from_secs(12), "{retry_after:?}");
    // Without max_output the default output is cut to the bucket's capacity, not refused.
    let carol = Who { user: "carol", ..BOB };
    let mut req = carol.req("c1", limits, 100, None);
    req.default_output = 4000;
    assert_eq!(granted(s.admit(&req).await.unwrap()).tokens, 1000);
}

async fn too_large_for_a_per_minute_limit(env: Env) {
    let s = &env.store;
    let tpm = Limits { tokens_per_minute: Some(100), ..Limits::default() };
    let a = s.admit(&BOB.req("r1", tpm, 50, Some(60))).await.unwrap();
    assert_eq!(a, Admission::Refused(Refusal::TooLarge { kind: RateKind::Tokens, limit: 100, requested: 110 }));
    let a = s.admit(&BOB.req("r2", tpm, 150, None)).await.unwrap();
    assert_eq!(a, Admission::Refused(Refusal::TooLarge { kind: RateKind::Tokens, limit: 100, requested: 150 }));
    let none = Limits { requests_per_minute: Some(0), ..Limits::default() };
    let a = s.admit(&BOB.req("r3", none, 1, Some(1))).await.unwrap();
    assert_eq!(a, Admission::Refused(Refusal::TooLarge { kind: RateKind::Requests, limit: 0, requested: 1 }));
    assert_eq!(s.usage("acme", "bob").await.unwrap().reserved, 0);
}

async fn usage_reports_agree(env: Env) {
    let s = &env.store;
    let users = [
        (Who { tenant: "acme", user: "u1", tier: "free" }, 100),
        (Who { tenant: "acme", user: "u2", tier: "free" }, 600),
        (Who { tenant: "acme", user: "u3", tier: "free" }, 850),
        (Who { tenant: "beta", user: "u4", tier: "free" }, 1200),
        (Who { tenant: "beta", user: "u5", tier: "pro" }, 5000),
        (Who { tenant: "acme", user: "u6:{x}", tier: "pro" }, 300),
    ];
    for (i, (who, used)) in users.iter().enumerate() {
        let r = granted(s.admit(&who.req(&format!("r{i}"), Limits::default(), 10, Some(10))).await.unwrap());
        assert!(s.settle(&r, *used).await.unwrap().applied);
    }
    // One still in flight: reserved, not used.
    granted(s.admit(&users[1].0.req("inflight", Limits::default(), 10, Some(30))).await.unwrap());
    let names =
        |v: Vec<sluice_policies::store::UsageSnapshot>| v.into_iter().map(|u| (u.user, u.used)).collect::<Vec<_>>();
    let top = s.top_users(None, None, 3).await.unwrap();
    assert_eq!(top[0].tenant, "beta");
    assert_eq!(top[0].tier, "pro");
    assert_eq!(names(top), [("u5".into(), 5000), ("u4".into(), 1200), ("u3".into(), 850)]);
    assert_eq!(names(s.top_users(Some("pro"), None, 10).await.unwrap()), [("u5".into(), 5000), ("u6:{x}".into(), 300)]);
    assert_eq!(names(s.top_users(None, Some("acme"), 2).await.unwrap()), [("u3".into(), 850), ("u2".into(), 600)]);
    assert_eq!(names(s.top_users(Some("pro"), Some("acme"), 10).await.unwrap()), [("u6:{x}".into(), 300)]);
    let u2 = s.top_users(Some("free"), Some("acme"), 10).await.unwrap().into_iter().find(|u| u.user == "u2").unwrap();
    assert_eq!((u2.used, u2.reserved, u2.resets_at), (600, 40, next_month_start(now_secs())));
    assert!(s.top_users(None, None, 0).await.unwrap().is_empty());
    assert!(s.top_users(Some("enterprise"), None, 5).await.unwrap().is_empty());
    assert_eq!(s.band_counts("free", 1000).await.unwrap(), [1, 1, 1, 1]);
    assert_eq!(s.band_counts("pro", 1000).await.unwrap(), [1, 0, 0, 1]);
    assert_eq!(s.band_counts("pro", 600).await.unwrap(), [0, 1, 0, 1], "300 is exactly 50 %");
    assert_eq!(s.band_counts("free", 0).await.unwrap(), [0, 0, 0, 4]);
    assert_eq!(s.tenant_usage("acme").await.unwrap(), 100 + 600 + 850 + 300);
    assert_eq!(s.tenant_usage("beta").await.unwrap(), 6200);
    assert_eq!(s.tenant_usage("nobody").await.unwrap(), 0);
    let nobody = s.usage("acme", "nobody").await.unwrap();
    assert_eq!((nobody.used, nobody.reserved, nobody.tier.as_str()), (0, 0, ""));
}

async fn tenant_cap_binds_all_its_users(env: Env) {
    let s = &env.store;
    let capped = |who: Who, id: &'static str, prompt, max| {
        let mut r = who.req(id, Limits { requests_per_minute: Some(1), ..Limits::default() }, prompt, max);
        r.tenant_monthly_tokens = Some(1000);
        r
    };
    let alice = Who { user: "alice", ..BOB };
    let r1 = granted(s.admit(&capped(BOB, "r1", 100, Some(500))).await.unwrap());
    assert_eq!((r1.tokens, r1.tenant_tokens), (600, 600));
    let refused = s.admit(&capped(alice, "r2", 100, Some(500))).await.unwrap();
    let resets_at = next_month_start(now_secs());
    assert_eq!(refused, Admission::Refused(Refusal::TenantQuotaExhausted { limit: 1000, used: 0, resets_at }));
    // Nothing of alice's refused admit stuck: no reservation, and her 1/min request is still free.
    assert_eq!(s.usage("acme", "alice").await.unwrap().reserved, 0);
    let r3 = granted(s.admit(&capped(alice, "r3", 100, None)).await.unwrap());
    assert_eq!((r3.tokens, r3.tenant_tokens), (600, 400), "default output cut to what the tenant has left");
    s.settle(&r1, 550).await.unwrap();
    s.settle(&r3, 300).await.unwrap();
    assert_eq!(s.tenant_usage("acme").await.unwrap(), 850);
    // Other tenants are not affected.
    let other = Who { tenant: "beta", ..BOB };
    assert!(matches!(s.admit(&capped(other, "r4", 100, Some(500))).await.unwrap(), Admission::Granted { .. }));
}

async fn expired_reservations_are_swept_back(env: Env) {
    let s = &env.store;
    let lost = granted(s.admit(&BOB.req("lost", monthly(1000), 100, Some(700))).await.unwrap());
    assert!(matches!(s.admit(&BOB.req("r1", monthly(1000), 100, Some(700))).await.unwrap(), Admission::Refused(_)));
    env.advance(env.ttl + Duration::from_millis(50)).await;
    let r2 = granted(s.admit(&BOB.req("r2", monthly(1000), 100, Some(700))).await.unwrap());
    assert_eq!(s.usage("acme", "bob").await.unwrap().reserved, 800, "the lost reservation was given back");
    // A late settle of the swept reservation still counts its usage, once.
    let late = s.settle(&lost, 50).await.unwrap();
    assert_eq!((late.applied, late.used), (true, 50));
    assert!(!s.settle(&lost, 50).await.unwrap().applied);
    s.settle(&r2, 10).await.unwrap();
    let u = s.usage("acme", "bob").await.unwrap();
    assert_eq!((u.used, u.reserved), (60, 0));
}

async fn a_reservation_id_is_held_once(env: Env) {
    let s = &env.store;
    granted(s.admit(&BOB.req("same", monthly(1000), 1, Some(1))).await.unwrap());
    let err = s.admit(&BOB.req("same", monthly(1000), 1, Some(1))).await.unwrap_err();
    assert!(matches!(err, StoreError::Protocol(_)), "{err:?}");
    assert_eq!(s.usage("acme", "bob").await.unwrap().reserved, 2);
}

macro_rules! conformance {
    ($($property:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $property() {
                super::$property(super::super::support::memory(super::TTL)).await;
            })*
        }
        mod redis {
            $(#[tokio::test]
            async fn $property() {
                super::$property(super::super::support::redis(super::TTL).await).await;
            })*
        }
    };
}

conformance!(
    grants_within_quota,
    refuses_with_reset_time,
    settles_and_releases_exactly_once,
    reserved_tokens_count_against_availability,
    requests_per_minute_is_a_burst_then_even_refill,
    tokens_per_minute_charges_the_reservation,
    too_large_for_a_per_minute_limit,
    usage_reports_agree,
    tenant_cap_binds_all_its_users,
    expired_reservations_are_swept_back,
    a_reservation_id_is_held_once,
);
