use super::*;

/// Items are strings, outputs their lengths, the shared part a label, errors strings.
type TestBatcher = Batcher<&'static str, String, usize, &'static str, String>;
type TestBatch = Batch<String, usize, &'static str, String>;

const LIMITS: BatchLimits = BatchLimits { window: Duration::from_millis(2), max_items: 5 };

fn items(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| (*s).to_string()).collect()
}

/// Runs a batch the way the proxy does: one output per item, in order.
fn run(batch: TestBatch) {
    let outputs = batch.items().iter().map(String::len).collect();
    batch.finish(Ok((outputs, "model-a")));
}

#[tokio::test]
async fn requests_within_the_window_share_one_batch_and_get_their_own_outputs() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let first = b.submit("k", items(&["a", "bb"]), t0, LIMITS);
    let second = b.submit("k", items(&["ccc"]), t0 + Duration::from_millis(1), LIMITS);
    assert!(first.flush.is_none() && second.flush.is_none(), "neither window nor size closed it yet");
    assert_eq!(first.due, second.due, "the same batch");
    assert_eq!(first.due.at, t0 + LIMITS.window, "the window runs from the first request");

    let batch = b.take_due(&second.due).unwrap();
    assert!(b.take_due(&first.due).is_none(), "only one member runs it");
    assert_eq!(batch.items(), items(&["a", "bb", "ccc"]).as_slice());
    assert_eq!(batch.members(), 2);
    run(batch);
    let mine = first.waiter.await.unwrap();
    assert_eq!(mine.outputs, vec![1, 2]);
    assert_eq!((mine.shared, mine.members, mine.batch_items), ("model-a", 2, 3));
    assert_eq!(second.waiter.await.unwrap().outputs, vec![3]);
    assert_eq!(b.open_batches(), 0);
}

#[tokio::test]
async fn different_keys_never_share_a_batch() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let x = b.submit("route-a", items(&["a"]), t0, LIMITS);
    let y = b.submit("route-b", items(&["b"]), t0, LIMITS);
    assert_ne!(x.due, y.due);
    assert_eq!(b.open_batches(), 2);
    run(b.take_due(&x.due).unwrap());
    assert_eq!(x.waiter.await.unwrap().members, 1);
    assert_eq!(b.open_batches(), 1, "route-b's batch is still open");
}

#[tokio::test]
async fn a_full_batch_is_handed_to_the_request_that_filled_it() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let first = b.submit("k", items(&["a", "b", "c"]), t0, LIMITS);
    let second = b.submit("k", items(&["d", "e"]), t0, LIMITS);
    let batch = second.flush.expect("five items close the batch at once");
    assert_eq!(batch.items().len(), 5);
    assert!(b.take_due(&first.due).is_none(), "closed by size: nothing left to take at the due time");
    run(batch);
    assert_eq!(first.waiter.await.unwrap().outputs, vec![1, 1, 1]);
    assert_eq!(second.waiter.await.unwrap().outputs, vec![1, 1]);
}

#[tokio::test]
async fn a_request_that_does_not_fit_closes_the_open_batch_and_opens_the_next() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let first = b.submit("k", items(&["a", "b", "c"]), t0, LIMITS);
    let later = t0 + Duration::from_millis(1);
    let second = b.submit("k", items(&["dd", "ee", "ff"]), later, LIMITS);
    let closed = second.flush.expect("3 + 3 > 5: the open batch is closed");
    assert_eq!(closed.items(), items(&["a", "b", "c"]).as_slice());
    assert_eq!(second.due.at, later + LIMITS.window, "the second request opened a new batch");
    run(closed);
    assert_eq!(first.waiter.await.unwrap().outputs, vec![1, 1, 1]);
    run(b.take_due(&second.due).unwrap());
    assert_eq!(second.waiter.await.unwrap().outputs, vec![2, 2, 2]);
}

#[tokio::test]
async fn a_large_request_goes_alone_and_leaves_the_open_batch_alone() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let small = b.submit("k", items(&["a"]), t0, LIMITS);
    let large = b.submit("k", items(&["b"; 7]), t0, LIMITS);
    let alone = large.flush.expect("a request of max_items or more is its own batch");
    assert_eq!((alone.members(), alone.items().len()), (1, 7));
    assert!(b.take_due(&large.due).is_none());
    run(alone);
    assert_eq!(large.waiter.await.unwrap().outputs, vec![1; 7]);
    run(b.take_due(&small.due).unwrap());
    assert_eq!(small.waiter.await.unwrap().members, 1);
}

#[tokio::test]
async fn a_failure_reaches_every_member() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let joined: Vec<_> = (0..3).map(|_| b.submit("k", items(&["x"]), t0, LIMITS)).collect();
    let batch = b.take_due(&joined[0].due).unwrap();
    batch.finish(Err("upstream 500".to_string()));
    for j in joined {
        assert_eq!(j.waiter.await.unwrap_err(), Failure::Failed("upstream 500".to_string()));
    }
}

#[tokio::test]
async fn a_dropped_batch_or_a_wrong_count_abandons_its_members() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let a = b.submit("k", items(&["x", "y"]), t0, LIMITS);
    drop(b.take_due(&a.due).unwrap());
    assert_eq!(a.waiter.await.unwrap_err(), Failure::Abandoned);

    let c = b.submit("k", items(&["x", "y"]), t0, LIMITS);
    b.take_due(&c.due).unwrap().finish(Ok((vec![1], "model-a")));
    assert_eq!(c.waiter.await.unwrap_err(), Failure::Abandoned, "one output for two items is nobody's");
}

#[tokio::test]
async fn a_member_that_left_does_not_disturb_the_others() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let gone = b.submit("k", items(&["aaaa"]), t0, LIMITS);
    let stays = b.submit("k", items(&["bb"]), t0, LIMITS);
    drop(gone.waiter);
    run(b.take_due(&stays.due).unwrap());
    let mine = stays.waiter.await.unwrap();
    assert_eq!(mine.outputs, vec![2], "its own output, not the departed member's");
    assert_eq!(mine.members, 2);
}

#[tokio::test]
async fn a_batch_nobody_took_in_time_is_run_by_the_next_request_or_dropped() {
    let b = TestBatcher::new();
    let t0 = Instant::now();
    let late = t0 + Duration::from_millis(10);

    // Its member is still waiting (it has not reached its timer yet): the next request runs it.
    let waiting = b.submit("k", items(&["a"]), t0, LIMITS);
    let next = b.submit("k", items(&["bb"]), late, LIMITS);
    let stale = next.flush.expect("the stale batch is handed on");
    assert_eq!(stale.items(), items(&["a"]).as_slice());
    assert_eq!(next.due.at, late + LIMITS.window, "the new request is in a fresh batch");
    run(stale);
    assert_eq!(waiting.waiter.await.unwrap().outputs, vec![1]);

    // Every member left: it is dropped, nobody runs it.
    let left = b.submit("j", items(&["a"]), t0, LIMITS);
    drop(left.waiter);
    let next = b.submit("j", items(&["bb"]), late, LIMITS);
    assert!(next.flush.is_none());
    assert_eq!(next.due.at, late + LIMITS.window);
    run(b.take_due(&next.due).unwrap());
    assert_eq!(next.waiter.await.unwrap().members, 1);
}

#[tokio::test]
async fn many_single_item_requests_make_few_batches() {
    let b = TestBatcher::new();
    let limits = BatchLimits { window: Duration::from_millis(300), max_items: 100 };
    let t0 = Instant::now();
    let mut runs = 0;
    let mut joined = Vec::new();
    for i in 0..250u64 {
        let j = b.submit("k", vec![format!("text-{i}")], t0 + Duration::from_micros(i), limits);
        if let Some(batch) = j.flush.as_ref() {
            assert_eq!(batch.items().len(), 100);
        }
        joined.push(j);
    }
    for j in &mut joined {
        if let Some(batch) = j.flush.take() {
            runs += 1;
            run(batch);
        }
    }
    if let Some(batch) = b.take_due(&joined[249].due) {
        runs += 1;
        run(batch);
    }
    assert_eq!(runs, 3, "100 + 100 + 50");
    for (i, j) in joined.into_iter().enumerate() {
        assert_eq!(j.waiter.await.unwrap().outputs, vec![format!("text-{i}").len()]);
    }
}
