use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;

use super::*;
use crate::cache::{Kind, Scope, Tokens};

fn key(i: u64) -> CacheKey {
    let body = json!({ "temperature": 0, "i": i });
    CacheKey::for_request(Scope::Shared, "r", "m", Kind::ChatStream, body.as_object().unwrap())
}

fn ev(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

async fn drain(mut f: FollowerHandle) -> Result<Vec<Bytes>, (Vec<Bytes>, LeaderFailed)> {
    let mut got = Vec::new();
    loop {
        match f.next_event().await {
            Ok(Some(e)) => got.push(e),
            Ok(None) => return Ok(got),
            Err(e) => return Err((got, e)),
        }
    }
}

fn follower(role: Role) -> FollowerHandle {
    match role {
        Role::Follower(f) => f,
        Role::Leader(_) => panic!("expected a follower"),
    }
}

fn leader(role: Role) -> LeaderGuard {
    match role {
        Role::Leader(l) => l,
        Role::Follower(_) => panic!("expected a leader"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_joiners_make_one_leader_and_identical_answers() {
    let sf = Arc::new(SingleFlight::new());
    let all_joined = Arc::new(Barrier::new(100));
    let leaders = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (sf, all_joined, leaders) = (Arc::clone(&sf), Arc::clone(&all_joined), Arc::clone(&leaders));
            tokio::spawn(async move {
                let role = sf.join(&key(1));
                all_joined.wait().await;
                match role {
                    Role::Leader(guard) => {
                        leaders.fetch_add(1, Ordering::SeqCst);
                        let value = CachedValue::Json { body: ev("{\"answer\":42}"), tokens: Tokens::default() };
                        guard.complete(value.clone());
                        value
                    }
                    Role::Follower(f) => f.value().await.unwrap(),
                }
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), CachedValue::Json { body: ev("{\"answer\":42}"), tokens: Tokens::default() });
    }
    assert_eq!(leaders.load(Ordering::SeqCst), 1);
    assert_eq!(sf.follower_joins(), 99);
    assert_eq!(sf.in_flight(), 0, "a completed flight leaves nothing behind");
}

#[tokio::test]
async fn stream_followers_replay_from_the_start_then_follow_live() {
    let sf = SingleFlight::new();
    let guard = leader(sf.join(&key(1)));
    let early = follower(sf.join(&key(1)));
    guard.event(ev("a"));
    guard.event(ev("b"));
    let late = follower(sf.join(&key(1)));
    let (early, late) = (tokio::spawn(drain(early)), tokio::spawn(drain(late)));
    tokio::task::yield_now().await;
    guard.event(ev("c"));
    guard.complete(CachedValue::Stream { events: vec![ev("a"), ev("b"), ev("c")], tokens: Tokens::default() });
    let want = vec![ev("a"), ev("b"), ev("c")];
    assert_eq!(early.await.unwrap().unwrap(), want);
    assert_eq!(late.await.unwrap().unwrap(), want);
}

#[tokio::test]
async fn many_stream_followers_get_every_event_in_order() {
    let sf = Arc::new(SingleFlight::new());
    let guard = leader(sf.join(&key(1)));
    let mut readers = Vec::new();
    let mut want = Vec::new();
    for i in 0..50u8 {
        // Followers join all along the stream.
        readers.push(tokio::spawn(drain(follower(sf.join(&key(1))))));
        let e = Bytes::from(vec![i]);
        guard.event(e.clone());
        want.push(e);
        tokio::task::yield_now().await;
    }
    guard.complete(CachedValue::Stream { events: want.clone(), tokens: Tokens::default() });
    for r in readers {
        assert_eq!(r.await.unwrap().unwrap(), want);
    }
}

#[tokio::test]
async fn a_completed_stream_reaches_followers_that_saw_no_events() {
    let sf = SingleFlight::new();
    let guard = leader(sf.join(&key(1)));
    let f = follower(sf.join(&key(1)));
    guard.complete(CachedValue::Stream { events: vec![ev("x"), ev("y")], tokens: Tokens::default() });
    assert_eq!(drain(f).await.unwrap(), vec![ev("x"), ev("y")]);
}

#[tokio::test]
async fn leader_failure_releases_followers_and_the_next_join_leads() {
    let sf = SingleFlight::new();
    let guard = leader(sf.join(&key(1)));
    let waiting = tokio::spawn(follower(sf.join(&key(1))).value());
    let streaming = follower(sf.join(&key(1)));
    guard.event(ev("partial"));
    tokio::task::yield_now().await;
    drop(guard); // e.g. the upstream stream was cut before its terminal event
    assert_eq!(waiting.await.unwrap(), Err(LeaderFailed));
    assert_eq!(drain(streaming).await, Err((vec![ev("partial")], LeaderFailed)));
    assert_eq!(sf.in_flight(), 0);

    let next = leader(sf.join(&key(1)));
    let f = follower(sf.join(&key(1)));
    next.fail();
    assert_eq!(f.value().await, Err(LeaderFailed));
}

#[tokio::test(start_paused = true)]
async fn followers_wait_for_the_leader_and_keys_are_independent() {
    let sf = SingleFlight::new();
    let one = leader(sf.join(&key(1)));
    let two = leader(sf.join(&key(2)));
    assert_eq!(sf.in_flight(), 2);
    let f = follower(sf.join(&key(1)));
    let mut waiting = tokio::spawn(f.value());
    assert!(tokio::time::timeout(Duration::from_secs(5), &mut waiting).await.is_err(), "no answer before complete");
    drop(two);
    one.complete(CachedValue::Json { body: ev("1"), tokens: Tokens::default() });
    assert_eq!(waiting.await.unwrap(), Ok(CachedValue::Json { body: ev("1"), tokens: Tokens::default() }));
    assert_eq!(sf.in_flight(), 0);
}

#[test]
fn a_leader_knows_whether_anyone_follows() {
    let sf = SingleFlight::new();
    let guard = leader(sf.join(&key(1)));
    assert!(!guard.has_followers());
    let handle = follower(sf.join(&key(1)));
    assert!(guard.has_followers());
    drop(handle);
    assert!(!guard.has_followers(), "a follower that left no longer counts");
}
