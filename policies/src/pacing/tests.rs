use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::task::yield_now;
use tokio::time::sleep;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn limited(max_concurrent: usize) -> PacerConfig {
    PacerConfig { max_concurrent: Some(max_concurrent), ..PacerConfig::default() }
}

async fn until_queued(pacer: &Pacer, n: usize) {
    while pacer.queued() < n {
        yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn unlimited_by_default() {
    let pacer = Pacer::new(PacerConfig::default());
    let start = Instant::now();
    let mut permits = Vec::new();
    for i in 0..500 {
        permits.push(pacer.acquire(&format!("t{}", i % 7), start + secs(1)).await.unwrap());
    }
    assert_eq!(Instant::now(), start);
    assert_eq!(pacer.in_flight(), 500);
    drop(permits);
    assert_eq!(pacer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_queues_then_completes() {
    let pacer = Pacer::new(limited(2));
    let start = Instant::now();
    let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (pacer, active, peak) = (pacer.clone(), Arc::clone(&active), Arc::clone(&peak));
            tokio::spawn(async move {
                let permit = pacer.acquire("t", start + secs(60)).await?;
                let now_active = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now_active, Ordering::SeqCst);
                sleep(secs(1)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                drop(permit);
                Ok::<_, PaceError>(Instant::now() - start)
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap().unwrap());
    }
    done.sort();
    assert_eq!(done, [secs(1), secs(1), secs(2), secs(2), secs(3)]);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!((pacer.in_flight(), pacer.queued()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn queue_overflow_fails_fast() {
    let pacer = Pacer::new(PacerConfig { max_queue: 2, ..limited(1) });
    let start = Instant::now();
    let held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.acquire("a", start + secs(60)).await.map(drop) })
        })
        .collect();
    until_queued(&pacer, 2).await;
    let refused = pacer.acquire("b", start + secs(60)).await.unwrap_err();
    assert_eq!(refused, PaceError::QueueFull { retry_after: secs(1) });
    assert_eq!(Instant::now(), start, "refused without waiting");
    drop(held);
    for w in waiters {
        w.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn zero_queue_refuses_at_the_limit() {
    let pacer = Pacer::new(PacerConfig { max_queue: 0, ..limited(1) });
    let start = Instant::now();
    let _held = pacer.acquire("a", start + secs(60)).await.unwrap();
    assert!(matches!(pacer.acquire("a", start + secs(60)).await, Err(PaceError::QueueFull { .. })));
}

#[tokio::test(start_paused = true)]
async fn wait_times_out_at_the_deadline_or_max_wait() {
    let pacer = Pacer::new(PacerConfig { max_wait: secs(5), ..limited(1) });
    let start = Instant::now();
    let _held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let err = pacer.acquire("a", start + secs(2)).await.unwrap_err();
    assert!(matches!(err, PaceError::WaitTimeout { .. }), "{err:?}");
    assert_eq!(Instant::now() - start, secs(2));
    assert_eq!(pacer.queued(), 0, "the timed-out waiter left the queue");
    let err = pacer.acquire("a", Instant::now() + secs(60)).await.unwrap_err();
    assert!(matches!(err, PaceError::WaitTimeout { .. }));
    assert_eq!(Instant::now() - start, secs(7), "max_wait caps a long deadline");
    let err = pacer.acquire("a", Instant::now()).await.unwrap_err();
    assert!(matches!(err, PaceError::WaitTimeout { .. }), "a spent deadline fails at once");
    assert_eq!(Instant::now() - start, secs(7));
}

#[tokio::test(start_paused = true)]
async fn tenants_are_served_round_robin() {
    let pacer = Pacer::new(limited(1));
    let start = Instant::now();
    let held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let spawn = |tenant: &'static str| {
        let (pacer, tx) = (pacer.clone(), tx.clone());
        tokio::spawn(async move {
            let permit = pacer.acquire(tenant, start + secs(60)).await.unwrap();
            tx.send(tenant).unwrap();
            drop(permit);
        })
    };
    for _ in 0..50 {
        spawn("a");
    }
    until_queued(&pacer, 50).await;
    spawn("b");
    until_queued(&pacer, 51).await;
    drop(held);
    let mut order = Vec::new();
    for _ in 0..51 {
        order.push(rx.recv().await.unwrap());
    }
    assert_eq!(order[..2], ["a", "b"], "b is served within the first 2 releases");
    assert_eq!(order.iter().filter(|t| **t == "a").count(), 50);
}

#[tokio::test(start_paused = true)]
async fn rate_pace_spaces_requests_evenly_after_the_burst() {
    // A burst of 2 refilled over 2 s: one request per second after the burst.
    let pacer = Pacer::new(PacerConfig { rate: Some(Rate { burst: 2, per: secs(2) }), ..PacerConfig::default() });
    let start = Instant::now();
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire(if i % 2 == 0 { "a" } else { "b" }, start + secs(60)).await.map(drop)?;
                Ok::<_, PaceError>(Instant::now() - start)
            })
        })
        .collect();
    let mut at = Vec::new();
    for t in tasks {
        at.push(t.await.unwrap().unwrap());
    }
    at.sort();
    assert_eq!(at, [secs(0), secs(0), secs(1), secs(2), secs(3)]);
    // After a quiet period the burst is available again.
    sleep(secs(10)).await;
    let now = Instant::now();
    for _ in 0..2 {
        drop(pacer.acquire("a", now + secs(60)).await.unwrap());
    }
    assert_eq!(Instant::now(), now);
}

#[tokio::test(start_paused = true)]
async fn a_pace_beyond_the_deadline_fails_at_once() {
    let pacer = Pacer::new(PacerConfig { rate: Some(Rate { burst: 1, per: secs(5) }), ..PacerConfig::default() });
    let start = Instant::now();
    drop(pacer.acquire("a", start + secs(60)).await.unwrap());
    let err = pacer.acquire("a", start + secs(2)).await.unwrap_err();
    assert_eq!(err, PaceError::WaitTimeout { retry_after: secs(5) });
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn pause_until_holds_new_requests_back() {
    let pacer = Pacer::new(PacerConfig::default());
    let start = Instant::now();
    let in_flight = pacer.acquire("a", start + secs(60)).await.unwrap();
    pacer.pause_until(start + secs(3));
    pacer.pause_until(start + secs(1)); // never shortens
    let err = pacer.acquire("a", start + secs(1)).await.unwrap_err();
    assert_eq!(err, PaceError::WaitTimeout { retry_after: secs(3) }, "cannot fit: fails fast");
    assert_eq!(Instant::now(), start);
    let waiter = {
        let pacer = pacer.clone();
        tokio::spawn(async move { pacer.acquire("b", start + secs(10)).await.map(|_| Instant::now() - start) })
    };
    until_queued(&pacer, 1).await;
    // Extending the pause while someone waits is noticed.
    pacer.pause_until(start + secs(4));
    assert_eq!(waiter.await.unwrap().unwrap(), secs(4));
    assert_eq!(pacer.in_flight(), 1, "the permit granted before the pause is still held");
    drop(in_flight);
    assert_eq!(pacer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue() {
    let pacer = Pacer::new(limited(1));
    let start = Instant::now();
    let held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let waiter = {
        let pacer = pacer.clone();
        tokio::spawn(async move { pacer.acquire("b", start + secs(60)).await.map(drop) })
    };
    until_queued(&pacer, 1).await;
    waiter.abort();
    assert!(waiter.await.unwrap_err().is_cancelled());
    assert_eq!(pacer.queued(), 0);
    drop(held);
    assert_eq!(pacer.in_flight(), 0);
    let _again = pacer.acquire("c", start + secs(60)).await.unwrap();
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn reconfigure_keeps_in_flight_and_serves_the_queue() {
    let pacer = Pacer::new(limited(1));
    let start = Instant::now();
    let _held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let waiter = {
        let pacer = pacer.clone();
        tokio::spawn(async move { pacer.acquire("b", start + secs(60)).await.map(|_| Instant::now() - start) })
    };
    until_queued(&pacer, 1).await;
    pacer.reconfigure(limited(2));
    assert_eq!(waiter.await.unwrap().unwrap(), Duration::ZERO);
    assert_eq!(pacer.in_flight(), 1, "the held permit is still counted; the waiter's was dropped");
}

#[tokio::test(start_paused = true)]
async fn waiters_queued_on_concurrency_notice_when_the_pace_closes() {
    // Concurrency 1 and a burst of 2 per 2 s. The waiters queue behind the concurrency limit while
    // the pace is still open (no timer); the first grant exhausts the burst, so they must learn to
    // wait for the pace instead of hanging until their deadline.
    let config = PacerConfig { rate: Some(Rate { burst: 2, per: secs(2) }), ..limited(1) };
    let pacer = Pacer::new(config);
    let start = Instant::now();
    let held = pacer.acquire("a", start + secs(60)).await.unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire(if i == 1 { "b" } else { "a" }, start + secs(60)).await.map(drop)?;
                Ok::<_, PaceError>(Instant::now() - start)
            })
        })
        .collect();
    until_queued(&pacer, 3).await;
    drop(held);
    let mut at = Vec::new();
    for t in tasks {
        at.push(t.await.unwrap().unwrap());
    }
    at.sort();
    assert_eq!(at, [secs(0), secs(1), secs(2)]);
}
