//! Circuit breakers: stop sending attempts to an upstream (provider, model) that keeps failing,
//! and probe it with exactly one request after a cool-down.
//!
//! Owns the closed → open → half-open → closed state machine of each key and the [`Breakers`]
//! registry that holds one per key. Opens on N consecutive failures or on a failure ratio over a
//! rolling window with a minimum sample (each trigger optional). The configuration is passed to
//! every call rather than stored, so a config reload changes the parameters on the next call and
//! can never reset a breaker's state. It never reads a clock (callers pass `now`), never sleeps,
//! never logs: [`Breakers::record`] returns the [`Transition`] so the proxy logs and counts it.
//!
//! Each Sluice instance keeps its own breakers. That is deliberate: a breaker reacts to what
//! *this* instance observes (its network path, its connection pool), trips within a handful of
//! requests either way, and sharing state through Redis would put a round trip on every attempt
//! and make an outage of the store an outage of failover.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How an attempt counts for the breaker; build it with
/// [`Outcome::signal`](crate::outcome::Outcome::signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The upstream served the attempt.
    Success,
    /// 5xx, 408, 429, 401/403, timeout, connection error or a stream broken mid-way.
    Failure,
    /// The caller's own error (other 4xx) or a cancelled attempt: says nothing about the upstream.
    Neutral,
}

/// A breaker's state, for routing decisions and the metrics gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Attempts flow normally.
    Closed,
    /// Attempts are refused until the cool-down ends.
    Open,
    /// The cool-down ended: one probe attempt decides between closing and re-opening.
    HalfOpen,
}

/// What kind of admission an attempt got; hand it back to `record`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// The breaker is closed.
    Normal,
    /// The single half-open probe: its result closes or re-opens the breaker. The first probe
    /// after an open period marks the Open → HalfOpen transition.
    Probe,
}

/// Answer of [`Breakers::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Make the attempt, then `record` its outcome with this admission.
    Yes(Admitted),
    /// Skip this candidate; it may admit again after `retry_after` (the remaining cool-down, or
    /// how long the outstanding probe may still take).
    No {
        /// Time until this breaker may admit an attempt again.
        retry_after: Duration,
    },
}

/// A state change, returned by `record` so the proxy can log it and count it in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State before the recorded outcome.
    pub from: BreakerState,
    /// State after it.
    pub to: BreakerState,
}

/// The failure-ratio trigger: open when at least `ratio` of the attempts in the last `window`
/// failed, once there were at least `min_samples` of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioTrigger {
    /// Failure fraction in `0.0..=1.0` that opens the breaker (default 0.5).
    pub ratio: f64,
    /// Attempts needed in the window before the ratio counts (default 20).
    pub min_samples: u32,
    /// Length of the rolling window (default 30 s), kept as 10 buckets.
    pub window: Duration,
}

impl Default for RatioTrigger {
    fn default() -> Self {
        RatioTrigger { ratio: 0.5, min_samples: 20, window: Duration::from_secs(30) }
    }
}

/// Parameters of the breakers of one (provider, model). Passed to every call, so a reload that
/// changes them applies at once without touching state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Open after this many consecutive failures (default 5); `None` switches the trigger off.
    pub consecutive_failures: Option<u32>,
    /// Open on a failure ratio (default on, see [`RatioTrigger`]); `None` switches it off.
    pub failure_ratio: Option<RatioTrigger>,
    /// How long an open breaker refuses attempts before a probe (default 30 s). Also how long a
    /// probe may stay outstanding before another one is admitted.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: Some(5),
            failure_ratio: Some(RatioTrigger::default()),
            cool_down: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe_since` is when the outstanding probe was admitted (`None`: no probe out).
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    start: Instant,
    ok: u32,
    failed: u32,
}

/// One key's breaker. [`Breakers`] holds these; use this type directly only in single-owner code.
#[derive(Clone, Debug)]
pub struct Breaker {
    state: State,
    consecutive: u32,
    window: VecDeque<Bucket>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new()
    }
}

impl Breaker {
    /// A closed breaker with no history.
    pub fn new() -> Self {
        Breaker { state: State::Closed, consecutive: 0, window: VecDeque::new() }
    }

    /// The current state (an open breaker whose cool-down ended reports `Open` until the next
    /// `admit` turns it half-open).
    pub fn state(&self) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether an attempt may go to this upstream now. After the cool-down exactly one caller gets
    /// [`Admitted::Probe`]; the others are refused until the probe is recorded (or has been out
    /// for a whole cool-down, in which case it is presumed lost and a new probe is admitted).
    pub fn admit(&mut self, config: &BreakerConfig, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Yes(Admitted::Normal),
            State::Open { until } if now < until => Admit::No { retry_after: until - now },
            State::Open { .. } | State::HalfOpen { probe_since: None } => self.probe(now),
            State::HalfOpen { probe_since: Some(since) } => {
                let stale_at = since + config.cool_down;
                if now >= stale_at {
                    self.probe(now)
                } else {
                    Admit::No { retry_after: stale_at - now }
                }
            }
        }
    }

    /// Counts the outcome of an attempt admitted as `admitted`. Returns the state change, if any.
    ///
    /// Results of normal attempts that arrive while the breaker is open or half-open (they were
    /// admitted before it opened) are ignored; only the probe decides a half-open breaker, and a
    /// neutral probe just frees the probe slot.
    pub fn record(
        &mut self,
        config: &BreakerConfig,
        now: Instant,
        admitted: Admitted,
        signal: Signal,
    ) -> Option<Transition> {
        match (self.state, admitted) {
            (State::Closed, _) => self.record_closed(config, now, signal),
            (State::Open { .. }, _) | (State::HalfOpen { .. }, Admitted::Normal) => None,
            (State::HalfOpen { .. }, Admitted::Probe) => match signal {
                Signal::Success => Some(self.close()),
                Signal::Failure => Some(self.open(config, now)),
                Signal::Neutral => {
                    self.state = State::HalfOpen { probe_since: None };
                    None
                }
            },
        }
    }

    fn probe(&mut self, now: Instant) -> Admit {
        self.state = State::HalfOpen { probe_since: Some(now) };
        Admit::Yes(Admitted::Probe)
    }

    fn record_closed(&mut self, config: &BreakerConfig, now: Instant, signal: Signal) -> Option<Transition> {
        let failed = match signal {
            Signal::Neutral => return None,
            Signal::Success => false,
            Signal::Failure => true,
        };
        self.consecutive = if failed { self.consecutive.saturating_add(1) } else { 0 };
        if let Some(trigger) = &config.failure_ratio {
            self.count(trigger.window, now, failed);
        }
        if !failed {
            return None;
        }
        let by_streak = config.consecutive_failures.is_some_and(|n| self.consecutive >= n);
        let by_ratio = config.failure_ratio.as_ref().is_some_and(|t| self.ratio_exceeded(t));
        (by_streak || by_ratio).then(|| self.open(config, now))
    }

    fn count(&mut self, window: Duration, now: Instant, failed: bool) {
        let width = (window / 10).max(Duration::from_millis(1));
        while self.window.front().is_some_and(|b| now.saturating_duration_since(b.start) >= window) {
            self.window.pop_front();
        }
        if self.window.back().is_none_or(|b| now.saturating_duration_since(b.start) >= width) {
            self.window.push_back(Bucket { start: now, ok: 0, failed: 0 });
        }
        if let Some(bucket) = self.window.back_mut() {
            if failed {
                bucket.failed = bucket.failed.saturating_add(1);
            } else {
                bucket.ok = bucket.ok.saturating_add(1);
            }
        }
    }

    fn ratio_exceeded(&self, trigger: &RatioTrigger) -> bool {
        let (ok, failed) =
            self.window.iter().fold((0u64, 0u64), |(o, f), b| (o + u64::from(b.ok), f + u64::from(b.failed)));
        let total = ok + failed;
        total > 0 && total >= u64::from(trigger.min_samples) && failed as f64 >= trigger.ratio * total as f64
    }

    fn open(&mut self, config: &BreakerConfig, now: Instant) -> Transition {
        let from = self.state();
        self.state = State::Open { until: now + config.cool_down };
        self.reset_counts();
        Transition { from, to: BreakerState::Open }
    }

    fn close(&mut self) -> Transition {
        let from = self.state();
        self.state = State::Closed;
        self.reset_counts();
        Transition { from, to: BreakerState::Closed }
    }

    fn reset_counts(&mut self) {
        self.consecutive = 0;
        self.window.clear();
    }
}

/// All breakers of one process, keyed by a string the proxy builds from (provider, upstream
/// model). Shared by every request; each call holds a short, non-async critical section.
///
/// Keys appear on their first recorded outcome; [`retain`](Self::retain) drops keys a reload
/// removed. The registry holds no configuration: callers pass the current one.
#[derive(Debug, Default)]
pub struct Breakers {
    map: Mutex<HashMap<String, Breaker>>,
}

impl Breakers {
    /// An empty registry (every key starts closed).
    pub fn new() -> Self {
        Breakers::default()
    }

    /// [`Breaker::admit`] for `key`.
    pub fn admit(&self, key: &str, config: &BreakerConfig, now: Instant) -> Admit {
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(breaker) => breaker.admit(config, now),
            None => Admit::Yes(Admitted::Normal),
        }
    }

    /// [`Breaker::record`] for `key`; returns the transition for the proxy to log and count.
    pub fn record(
        &self,
        key: &str,
        config: &BreakerConfig,
        now: Instant,
        admitted: Admitted,
        signal: Signal,
    ) -> Option<Transition> {
        if signal == Signal::Neutral && admitted == Admitted::Normal {
            return None;
        }
        let mut map = self.lock();
        if let Some(breaker) = map.get_mut(key) {
            return breaker.record(config, now, admitted, signal);
        }
        let mut breaker = Breaker::new();
        let transition = breaker.record(config, now, admitted, signal);
        map.insert(key.to_owned(), breaker);
        transition
    }

    /// The state of `key` (closed if it was never recorded).
    pub fn state(&self, key: &str) -> BreakerState {
        self.lock().get(key).map_or(BreakerState::Closed, Breaker::state)
    }

    /// Every known key and its state, for the metrics gauge.
    pub fn states(&self) -> Vec<(String, BreakerState)> {
        self.lock().iter().map(|(k, b)| (k.clone(), b.state())).collect()
    }

    /// Keeps only the keys for which `keep` is true — for a reload that removed upstreams. The
    /// kept breakers keep their state.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Breaker>> {
        // A panic while holding this lock cannot leave a breaker half-updated in a harmful way.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
