//! Upstream pacing: per upstream account, a concurrency limit and a request-rate pace, with a
//! bounded, tenant-fair waiting queue in front of them.
//!
//! Owns when an attempt may be sent to an upstream account. A caller that finds the account at
//! its limit (or paused after a 429 with `retry-after`) waits in a queue bounded in length and in
//! wait time; waiters are served round-robin between tenants, so one tenant's burst cannot starve
//! the others; overflow and timeouts fail at once with a `retry_after` hint. The rate is a GCRA
//! ("a burst of N refilled evenly"). Unconfigured limits cost nothing: with the default config
//! every caller passes straight through.
//!
//! It never sends requests, never reads configuration files and never holds its lock across an
//! `.await`: waiters park on a oneshot channel and a [`Notify`], and whoever frees capacity (a
//! dropped [`Permit`], a waiter whose timer fired) hands it to the next waiter under a short
//! synchronous critical section. Time is `tokio::time::Instant`, so tests run on paused time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::{sleep_until, Instant};

/// A request-rate pace: a burst of `burst` requests, refilled evenly over `per` (one every
/// `per / burst`). Workers AI's default is `Rate { burst: 300, per: 60 s }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests that may go at once after a quiet period (0 is treated as 1).
    pub burst: u32,
    /// Time to refill the whole burst.
    pub per: Duration,
}

impl Rate {
    fn interval(&self) -> Duration {
        self.per / self.burst.max(1)
    }

    fn tolerance(&self) -> Duration {
        self.interval().saturating_mul(self.burst.max(1) - 1)
    }
}

/// Pacing parameters of one upstream account. The default has no limits, so nobody ever waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacerConfig {
    /// Attempts in flight at once (default `None`: unlimited).
    pub max_concurrent: Option<usize>,
    /// Request-rate pace (default `None`: unlimited).
    pub rate: Option<Rate>,
    /// Callers that may wait at once, all tenants together (default 1024); 0 disables waiting.
    pub max_queue: usize,
    /// Longest a caller waits, whatever its deadline (default 10 s).
    pub max_wait: Duration,
}

/// Default of [`PacerConfig::max_queue`].
pub const DEFAULT_MAX_QUEUE: usize = 1024;
/// Default of [`PacerConfig::max_wait`].
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(10);

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig { max_concurrent: None, rate: None, max_queue: DEFAULT_MAX_QUEUE, max_wait: DEFAULT_MAX_WAIT }
    }
}

/// Why [`Pacer::acquire`] refused; the proxy answers 503 with `retry-after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaceError {
    /// The queue was full: refused at once.
    #[error("the upstream account's queue is full; retry after {retry_after:?}")]
    QueueFull {
        /// Hint for the `retry-after` header.
        retry_after: Duration,
    },
    /// No slot came free before the deadline (or `max_wait`); refused at once when the pause or
    /// pace alone already reached past it.
    #[error("the upstream account had no capacity before the deadline; retry after {retry_after:?}")]
    WaitTimeout {
        /// Hint for the `retry-after` header.
        retry_after: Duration,
    },
}

impl PaceError {
    /// The `retry-after` hint of either variant.
    pub fn retry_after(&self) -> Duration {
        match *self {
            PaceError::QueueFull { retry_after } | PaceError::WaitTimeout { retry_after } => retry_after,
        }
    }
}

/// The right to send one attempt to the account; dropping it frees the concurrency slot and hands
/// it to the next waiter.
#[derive(Debug)]
#[must_use = "the concurrency slot is released as soon as the permit is dropped"]
pub struct Permit {
    shared: Option<Arc<Shared>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let wake = {
                let mut state = shared.lock();
                state.in_flight = state.in_flight.saturating_sub(1);
                state.pump(&shared, Instant::now())
            };
            if wake {
                shared.wake.notify_waiters();
            }
        }
    }
}

/// The pacer of one upstream account; clones share it.
#[derive(Clone, Debug)]
pub struct Pacer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes waiters to look again after a grant, a pause or a reconfiguration.
    wake: Notify,
}

#[derive(Debug)]
struct State {
    config: PacerConfig,
    in_flight: usize,
    /// GCRA theoretical arrival time of the next request.
    tat: Option<Instant>,
    paused_until: Option<Instant>,
    /// Round-robin ring of tenants with waiters; a tenant's own waiters are first come first served.
    tenants: VecDeque<TenantQueue>,
    queued: usize,
    next_id: u64,
}

#[derive(Debug)]
struct TenantQueue {
    tenant: String,
    waiters: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    tx: oneshot::Sender<Permit>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements that could panic; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// When the pause or the pace next allows a grant, if that is later than `now`.
    fn time_gate(&self, now: Instant) -> Option<Instant> {
        let paced = match (self.config.rate, self.tat) {
            (Some(rate), Some(tat)) => tat.checked_sub(rate.tolerance()),
            _ => None,
        };
        [self.paused_until, paced].into_iter().flatten().filter(|t| *t > now).max()
    }

    fn can_grant(&self, now: Instant) -> bool {
        self.config.max_concurrent.is_none_or(|max| self.in_flight < max) && self.time_gate(now).is_none()
    }

    fn take(&mut self, now: Instant) {
        self.in_flight += 1;
        if let Some(rate) = self.config.rate {
            self.tat = Some(self.tat.map_or(now, |tat| tat.max(now)) + rate.interval());
        }
    }

    fn retry_hint(&self, now: Instant) -> Duration {
        self.time_gate(now).map_or(Duration::ZERO, |t| t - now).max(Duration::from_secs(1))
    }

    /// Hands capacity to waiters, round-robin across tenants. Returns whether the remaining
    /// waiters must be woken: only when these grants closed the time gate (the pace's burst ran
    /// out), since a waiter that last saw it open set no timer. Concurrency alone never needs a
    /// wake-up: the next dropped permit pumps again.
    fn pump(&mut self, shared: &Arc<Shared>, now: Instant) -> bool {
        let mut granted = false;
        while self.queued > 0 && self.can_grant(now) {
            let Some(mut tenant) = self.tenants.pop_front() else { break };
            let Some(waiter) = tenant.waiters.pop_front() else { continue };
            self.queued -= 1;
            if !tenant.waiters.is_empty() {
                self.tenants.push_back(tenant);
            }
            let (in_flight, tat) = (self.in_flight, self.tat);
            self.take(now);
            match waiter.tx.send(Permit { shared: Some(Arc::clone(shared)) }) {
                Ok(()) => granted = true,
                Err(mut permit) => {
                    // The waiter is gone: undo the grant without running `Drop` (we hold the lock).
                    permit.shared = None;
                    (self.in_flight, self.tat) = (in_flight, tat);
                }
            }
        }
        granted && self.queued > 0 && self.time_gate(now).is_some()
    }

    fn remove(&mut self, id: u64) -> bool {
        for (i, tenant) in self.tenants.iter_mut().enumerate() {
            if let Some(pos) = tenant.waiters.iter().position(|w| w.id == id) {
                tenant.waiters.remove(pos);
                if tenant.waiters.is_empty() {
                    self.tenants.remove(i);
                }
                self.queued -= 1;
                return true;
            }
        }
        false
    }
}

/// How a caller entered [`Pacer::acquire`].
enum Entry {
    Granted(Permit),
    Refused(PaceError),
    Queued { id: u64, limit: Instant, rx: oneshot::Receiver<Permit> },
}

/// Takes a waiter out of the queue if its `acquire` future is dropped (client gone) or times out.
struct QueueGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().remove(self.id);
    }
}

impl Pacer {
    /// A pacer for one upstream account.
    pub fn new(config: PacerConfig) -> Self {
        let state = State {
            config,
            in_flight: 0,
            tat: None,
            paused_until: None,
            tenants: VecDeque::new(),
            queued: 0,
            next_id: 0,
        };
        Pacer { shared: Arc::new(Shared { state: Mutex::new(state), wake: Notify::new() }) }
    }

    /// Waits for the right to send one attempt, at most until `deadline` (and at most
    /// [`PacerConfig::max_wait`]). Fails at once when the queue is full or when the pause or pace
    /// alone already reaches past the deadline.
    ///
    /// Cancel-safe: dropping the future leaves the queue (and frees a slot granted meanwhile).
    pub async fn acquire(&self, tenant: &str, deadline: Instant) -> Result<Permit, PaceError> {
        let (entry, wake) = self.enter(tenant, deadline, Instant::now());
        if wake {
            self.shared.wake.notify_waiters();
        }
        let (id, limit, mut rx) = match entry {
            Entry::Granted(permit) => return Ok(permit),
            Entry::Refused(error) => return Err(error),
            Entry::Queued { id, limit, rx } => (id, limit, rx),
        };
        let guard = QueueGuard { shared: &self.shared, id };
        loop {
            let notified = self.shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (wake, gate) = {
                let mut state = self.shared.lock();
                let now = Instant::now();
                (state.pump(&self.shared, now), state.time_gate(now))
            };
            if wake {
                self.shared.wake.notify_waiters();
            }
            let until = gate.map_or(limit, |g| g.min(limit));
            tokio::select! {
                biased;
                granted = &mut rx => {
                    drop(guard);
                    return granted.map_err(|_| PaceError::WaitTimeout { retry_after: Duration::from_secs(1) });
                }
                () = &mut notified => {}
                () = sleep_until(until) => {
                    if Instant::now() >= limit {
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        let hint = {
            let mut state = self.shared.lock();
            state.remove(id).then(|| state.retry_hint(now))
        };
        drop(guard);
        match hint {
            Some(retry_after) => Err(PaceError::WaitTimeout { retry_after }),
            // Granted just as the wait ran out: the permit is in the channel.
            None => rx.try_recv().map_err(|_| PaceError::WaitTimeout { retry_after: Duration::from_secs(1) }),
        }
    }

    /// The synchronous part of `acquire`: pass at once, refuse at once, or join the queue. Also
    /// returns whether other waiters must be woken.
    fn enter(&self, tenant: &str, deadline: Instant, now: Instant) -> (Entry, bool) {
        let mut state = self.shared.lock();
        // Waiters whose turn came meanwhile go first (they are woken by their channel).
        let wake = state.pump(&self.shared, now);
        if state.queued == 0 && state.can_grant(now) {
            state.take(now);
            return (Entry::Granted(Permit { shared: Some(Arc::clone(&self.shared)) }), wake);
        }
        let limit = deadline.min(now + state.config.max_wait);
        if state.queued >= state.config.max_queue {
            return (Entry::Refused(PaceError::QueueFull { retry_after: state.retry_hint(now) }), wake);
        }
        if limit <= now || state.time_gate(now).is_some_and(|gate| gate > limit) {
            return (Entry::Refused(PaceError::WaitTimeout { retry_after: state.retry_hint(now) }), wake);
        }
        let id = state.next_id;
        state.next_id += 1;
        let (tx, rx) = oneshot::channel();
        match state.tenants.iter_mut().find(|q| q.tenant == tenant) {
            Some(queue) => queue.waiters.push_back(Waiter { id, tx }),
            None => {
                let waiters = VecDeque::from([Waiter { id, tx }]);
                state.tenants.push_back(TenantQueue { tenant: tenant.to_owned(), waiters });
            }
        }
        state.queued += 1;
        (Entry::Queued { id, limit, rx }, wake)
    }

    /// Holds back new grants until `until` (the upstream answered 429 with `retry-after`):
    /// callers wait rather than fail, within their deadline. Never shortens an existing pause.
    pub fn pause_until(&self, until: Instant) {
        {
            let mut state = self.shared.lock();
            state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        }
        self.shared.wake.notify_waiters();
    }

    /// Applies a reloaded config; attempts in flight, the pace's history and the queue are kept.
    pub fn reconfigure(&self, config: PacerConfig) {
        {
            let mut state = self.shared.lock();
            state.config = config;
            state.pump(&self.shared, Instant::now());
        }
        self.shared.wake.notify_waiters();
    }

    /// Attempts in flight (permits not yet dropped), for metrics.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight
    }

    /// Callers waiting, for metrics.
    pub fn queued(&self) -> usize {
        self.shared.lock().queued
    }
}

#[cfg(test)]
mod tests;
