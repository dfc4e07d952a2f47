//! [`SingleFlight`]: concurrent identical cache misses make one upstream call. The first request
//! for a key leads (calls upstream); the others follow — they wait for the leader's final value
//! (non-stream), or replay the events the leader has published so far and then follow it live
//! (stream).
//!
//! Owns the table of flights in progress and the hand-over of the leader's answer. An entry lives
//! exactly as long as its leader: completing or dropping the [`LeaderGuard`] removes it, so an
//! abandoned flight holds no memory beyond followers still reading it. A leader's failure is never
//! cached: its followers get [`LeaderFailed`] and proceed on their own, and the next request for
//! the key leads a new flight. It never stores values in the cache (the leader [`super::Cache::put`]s
//! before completing) and never bounds how long a follower waits (the proxy wraps the wait in its
//! own timeout). Locks are std mutexes held for a few instructions, never across an `.await`.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;

use super::{CacheKey, CachedValue};

/// The leader of a flight failed (upstream error, a stream cut before its terminal event, or the
/// leader's request was cancelled): the follower must call upstream itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the single-flight leader failed")]
pub struct LeaderFailed;

type Flights = Arc<Mutex<HashMap<CacheKey, Arc<Flight>>>>;

/// Flights in progress, by key. One per process, shared by every request.
#[derive(Default)]
pub struct SingleFlight {
    flights: Flights,
    follower_joins: AtomicU64,
}

/// What [`SingleFlight::join`] made of a request.
pub enum Role {
    /// First for this key: call upstream, then complete (or drop) the guard.
    Leader(LeaderGuard),
    /// A flight for this key is in progress: take its answer instead of calling upstream.
    Follower(FollowerHandle),
}

impl SingleFlight {
    /// An empty table.
    pub fn new() -> SingleFlight {
        SingleFlight::default()
    }

    /// Joins the flight for `key`, leading it if there is none. Never waits.
    ///
    /// A request that becomes leader just after another flight for the key completed should look
    /// in the cache once more before calling upstream (that flight's answer is there by now).
    pub fn join(&self, key: &CacheKey) -> Role {
        let mut flights = lock(&self.flights);
        if let Some(flight) = flights.get(key) {
            let flight = Arc::clone(flight);
            drop(flights);
            self.follower_joins.fetch_add(1, Ordering::Relaxed);
            return Role::Follower(FollowerHandle { flight, cursor: 0 });
        }
        let flight = Arc::new(Flight::default());
        flights.insert(*key, Arc::clone(&flight));
        drop(flights);
        Role::Leader(LeaderGuard { key: *key, flight, flights: Arc::clone(&self.flights), finished: false })
    }

    /// Flights in progress now.
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }

    /// Requests that followed a leader instead of calling upstream, since start (a metric).
    pub fn follower_joins(&self) -> u64 {
        self.follower_joins.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Flight {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Stream events published so far, in order.
    events: Vec<Bytes>,
    outcome: Option<Outcome>,
}

enum Outcome {
    Complete(CachedValue),
    Failed,
}

impl Flight {
    /// Waits until `ready` finds something in the state; re-checks after every change.
    async fn wait_for<T>(&self, mut ready: impl FnMut(&State) -> Option<T>) -> T {
        loop {
            // Registered before the check, so a change between the check and the await still wakes us.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let found = {
                let state = lock(&self.state);
                ready(&state)
            };
            if let Some(found) = found {
                return found;
            }
            changed.await;
        }
    }
}

/// The leader's side of a flight. Publish stream events with [`LeaderGuard::event`] as they go
/// downstream, then [`LeaderGuard::complete`] with the finished answer; dropping the guard without
/// completing it (an error, a cut stream, a cancelled request) fails the flight.
pub struct LeaderGuard {
    key: CacheKey,
    flight: Arc<Flight>,
    flights: Flights,
    finished: bool,
}

impl LeaderGuard {
    /// Publishes one stream event to the followers (who also get every earlier one).
    pub fn event(&self, event: Bytes) {
        lock(&self.flight.state).events.push(event);
        self.flight.changed.notify_waiters();
    }

    /// Whether any request is following this flight now. A leader whose own client left keeps
    /// reading the upstream answer while followers wait for it.
    pub fn has_followers(&self) -> bool {
        // One reference is the guard's, one the table's (until the flight ends); the rest are
        // followers' handles.
        Arc::strong_count(&self.flight) > 2
    }

    /// Ends the flight with its answer. For a stream, `value` is the [`CachedValue::Stream`] whose
    /// events start with the ones published (followers continue from where they are in it).
    pub fn complete(mut self, value: CachedValue) {
        self.finish(Outcome::Complete(value));
    }

    /// Ends the flight as failed (the same as dropping the guard; reads better at a call site).
    pub fn fail(mut self) {
        self.finish(Outcome::Failed);
    }

    fn finish(&mut self, outcome: Outcome) {
        self.finished = true;
        {
            let mut flights = lock(&self.flights);
            if flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                flights.remove(&self.key);
            }
        }
        lock(&self.flight.state).outcome = Some(outcome);
        self.flight.changed.notify_waiters();
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(Outcome::Failed);
        }
    }
}

/// A follower's side of a flight: either [`FollowerHandle::value`] (non-stream) or
/// [`FollowerHandle::next_event`] until it returns `Ok(None)` (stream).
pub struct FollowerHandle {
    flight: Arc<Flight>,
    cursor: usize,
}

impl FollowerHandle {
    /// Waits for the leader's final answer.
    pub async fn value(self) -> Result<CachedValue, LeaderFailed> {
        self.flight
            .wait_for(|state| match &state.outcome {
                Some(Outcome::Complete(value)) => Some(Ok(value.clone())),
                Some(Outcome::Failed) => Some(Err(LeaderFailed)),
                None => None,
            })
            .await
    }

    /// The next stream event: every event from the first (whenever this follower joined), then
    /// each new one as the leader publishes it; `Ok(None)` once the leader completed and all are
    /// read. `Err(LeaderFailed)` if the leader failed (possibly after some events were read).
    pub async fn next_event(&mut self) -> Result<Option<Bytes>, LeaderFailed> {
        let cursor = self.cursor;
        let next = self
            .flight
            .wait_for(|state| {
                let events = match &state.outcome {
                    Some(Outcome::Complete(CachedValue::Stream { events, .. })) => events,
                    _ => &state.events,
                };
                if let Some(event) = events.get(cursor) {
                    return Some(Ok(Some(event.clone())));
                }
                match state.outcome {
                    Some(Outcome::Complete(_)) => Some(Ok(None)),
                    Some(Outcome::Failed) => Some(Err(LeaderFailed)),
                    None => None,
                }
            })
            .await;
        if let Ok(Some(_)) = next {
            self.cursor += 1;
        }
        next
    }
}

/// Poisoning cannot leave these maps half-updated (every critical section is one insert, remove
/// or push), so a poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
