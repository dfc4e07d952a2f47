use super::*;

const KEY: &str = "openai/gpt-4o";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn streak_only(n: u32) -> BreakerConfig {
    BreakerConfig { consecutive_failures: Some(n), failure_ratio: None, cool_down: secs(10) }
}

fn fail(b: &Breakers, c: &BreakerConfig, now: Instant) -> Option<Transition> {
    b.record(KEY, c, now, Admitted::Normal, Signal::Failure)
}

const OPENED: Option<Transition> = Some(Transition { from: BreakerState::Closed, to: BreakerState::Open });

#[test]
fn opens_after_n_consecutive_failures() {
    let (b, c, t0) = (Breakers::new(), streak_only(3), Instant::now());
    assert_eq!(fail(&b, &c, t0), None);
    assert_eq!(fail(&b, &c, t0), None);
    assert_eq!(b.record(KEY, &c, t0, Admitted::Normal, Signal::Success), None, "a success breaks the streak");
    assert_eq!(fail(&b, &c, t0), None);
    assert_eq!(fail(&b, &c, t0), None);
    assert_eq!(b.admit(KEY, &c, t0), Admit::Yes(Admitted::Normal));
    assert_eq!(fail(&b, &c, t0), OPENED);
    assert_eq!(b.state(KEY), BreakerState::Open);
    assert_eq!(b.admit(KEY, &c, t0 + secs(4)), Admit::No { retry_after: secs(6) });
    assert_eq!(fail(&b, &c, t0 + secs(4)), None, "late results while open change nothing");
    assert_eq!(b.admit(KEY, &c, t0 + secs(9)), Admit::No { retry_after: secs(1) }, "cool-down not extended");
}

#[test]
fn neutral_outcomes_are_ignored() {
    let (b, c, t0) = (Breakers::new(), streak_only(2), Instant::now());
    assert_eq!(fail(&b, &c, t0), None);
    for _ in 0..10 {
        assert_eq!(b.record(KEY, &c, t0, Admitted::Normal, Signal::Neutral), None);
    }
    assert_eq!(fail(&b, &c, t0), OPENED, "neutral outcomes neither count nor break the streak");
}

#[test]
fn switched_off_triggers_never_open() {
    let c = BreakerConfig { consecutive_failures: None, failure_ratio: None, cool_down: secs(10) };
    let (b, t0) = (Breakers::new(), Instant::now());
    for _ in 0..1000 {
        assert_eq!(fail(&b, &c, t0), None);
    }
    assert_eq!(b.admit(KEY, &c, t0), Admit::Yes(Admitted::Normal));
}

#[test]
fn ratio_trigger_needs_the_minimum_sample() {
    let trigger = RatioTrigger { ratio: 0.5, min_samples: 10, window: secs(10) };
    let c = BreakerConfig { consecutive_failures: None, failure_ratio: Some(trigger), cool_down: secs(5) };
    let (b, t0) = (Breakers::new(), Instant::now());
    // Alternate: 50 % failures, but only 9 samples → stays closed.
    for i in 0..9 {
        let signal = if i % 2 == 0 { Signal::Failure } else { Signal::Success };
        assert_eq!(b.record(KEY, &c, t0, Admitted::Normal, signal), None, "sample {i}");
    }
    // 10th sample: 5 failures of 10 (ratio 0.5) → opens.
    assert_eq!(b.record(KEY, &c, t0, Admitted::Normal, Signal::Success), None);
    assert_eq!(fail(&b, &c, t0), OPENED);
}

#[test]
fn ratio_window_forgets_old_samples() {
    let trigger = RatioTrigger { ratio: 0.5, min_samples: 4, window: secs(10) };
    let c = BreakerConfig { consecutive_failures: None, failure_ratio: Some(trigger), cool_down: secs(5) };
    let (b, t0) = (Breakers::new(), Instant::now());
    for _ in 0..3 {
        assert_eq!(fail(&b, &c, t0), None);
    }
    // 11 s later those three failures have left the window: 1 failure + 2 successes, then 1 more.
    let t1 = t0 + secs(11);
    assert_eq!(fail(&b, &c, t1), None);
    assert_eq!(b.record(KEY, &c, t1, Admitted::Normal, Signal::Success), None);
    assert_eq!(b.record(KEY, &c, t1, Admitted::Normal, Signal::Success), None);
    assert_eq!(b.record(KEY, &c, t1, Admitted::Normal, Signal::Success), None, "1 of 4 failed");
    assert_eq!(fail(&b, &c, t1), None, "2 of 5 failed");
    assert_eq!(fail(&b, &c, t1), OPENED, "3 of 6 failed");
}

#[test]
fn half_open_admits_exactly_one_probe_under_concurrency() {
    let (b, c, t0) = (Breakers::new(), streak_only(1), Instant::now());
    assert_eq!(fail(&b, &c, t0), OPENED);
    let after = t0 + secs(10);
    let answers: Vec<Admit> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16).map(|_| s.spawn(|| b.admit(KEY, &c, after))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let probes = answers.iter().filter(|a| **a == Admit::Yes(Admitted::Probe)).count();
    assert_eq!(probes, 1, "{answers:?}");
    assert!(answers.iter().all(|a| matches!(a, Admit::Yes(Admitted::Probe) | Admit::No { .. })));
    assert_eq!(b.state(KEY), BreakerState::HalfOpen);
    assert_eq!(b.admit(KEY, &c, after + secs(3)), Admit::No { retry_after: secs(7) });
}

#[test]
fn probe_success_closes() {
    let (b, c, t0) = (Breakers::new(), streak_only(1), Instant::now());
    fail(&b, &c, t0);
    let t1 = t0 + secs(10);
    assert_eq!(b.admit(KEY, &c, t1), Admit::Yes(Admitted::Probe));
    assert_eq!(b.record(KEY, &c, t1, Admitted::Normal, Signal::Success), None, "only the probe decides");
    let closed = Transition { from: BreakerState::HalfOpen, to: BreakerState::Closed };
    assert_eq!(b.record(KEY, &c, t1, Admitted::Probe, Signal::Success), Some(closed));
    assert_eq!(b.admit(KEY, &c, t1), Admit::Yes(Admitted::Normal));
}

#[test]
fn probe_failure_reopens_with_a_new_cool_down() {
    let (b, c, t0) = (Breakers::new(), streak_only(1), Instant::now());
    fail(&b, &c, t0);
    let t1 = t0 + secs(12);
    assert_eq!(b.admit(KEY, &c, t1), Admit::Yes(Admitted::Probe));
    let reopened = Transition { from: BreakerState::HalfOpen, to: BreakerState::Open };
    assert_eq!(b.record(KEY, &c, t1 + secs(1), Admitted::Probe, Signal::Failure), Some(reopened));
    assert_eq!(b.admit(KEY, &c, t1 + secs(2)), Admit::No { retry_after: secs(9) });
    assert_eq!(b.admit(KEY, &c, t1 + secs(11)), Admit::Yes(Admitted::Probe));
}

#[test]
fn neutral_probe_frees_the_slot_and_lost_probes_expire() {
    let (b, c, t0) = (Breakers::new(), streak_only(1), Instant::now());
    fail(&b, &c, t0);
    let t1 = t0 + secs(10);
    assert_eq!(b.admit(KEY, &c, t1), Admit::Yes(Admitted::Probe));
    assert_eq!(b.record(KEY, &c, t1, Admitted::Probe, Signal::Neutral), None);
    assert_eq!(b.admit(KEY, &c, t1), Admit::Yes(Admitted::Probe), "the slot is free again");
    // This probe is never recorded (its caller vanished): after a cool-down another is let through.
    assert!(matches!(b.admit(KEY, &c, t1 + secs(9)), Admit::No { .. }));
    assert_eq!(b.admit(KEY, &c, t1 + secs(10)), Admit::Yes(Admitted::Probe));
}

#[test]
fn config_swap_keeps_state() {
    let (b, t0) = (Breakers::new(), Instant::now());
    let old = streak_only(5);
    for _ in 0..3 {
        assert_eq!(fail(&b, &old, t0), None);
    }
    // Reload: threshold lowered to 4 and cool-down doubled. The three failures still count.
    let new = BreakerConfig { cool_down: secs(20), ..streak_only(4) };
    assert_eq!(fail(&b, &new, t0), OPENED);
    assert_eq!(b.admit(KEY, &new, t0 + secs(15)), Admit::No { retry_after: secs(5) });
    // An open breaker stays open across another reload; the cool-down it started with stands.
    assert_eq!(b.admit(KEY, &old, t0 + secs(15)), Admit::No { retry_after: secs(5) });
    assert_eq!(b.states(), vec![(KEY.to_owned(), BreakerState::Open)]);
}

#[test]
fn keys_are_independent_and_retain_drops_removed_ones() {
    let (b, c, t0) = (Breakers::new(), streak_only(1), Instant::now());
    assert_eq!(fail(&b, &c, t0), OPENED);
    assert_eq!(b.admit("workers-ai/llama", &c, t0), Admit::Yes(Admitted::Normal));
    b.record("workers-ai/llama", &c, t0, Admitted::Normal, Signal::Success);
    let mut states = b.states();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        states,
        vec![(KEY.to_owned(), BreakerState::Open), ("workers-ai/llama".to_owned(), BreakerState::Closed)]
    );
    b.retain(|k| k != KEY);
    assert_eq!(b.state(KEY), BreakerState::Closed);
    assert_eq!(b.states().len(), 1);
}
