//! Micro-batching: small requests for the same upstream arriving within a short window are merged
//! into one batch, sent as one upstream call, and each request gets its own share of the answer.
//!
//! Owns which requests share a batch and the hand-back of results. A request [`Batcher::submit`]s
//! its items under a key (requests with different keys never share a batch) and gets a [`Waiter`]
//! for its own outputs plus the [`Due`] time of its batch. A batch closes when its window has
//! passed — then whichever of its members calls [`Batcher::take_due`] first gets the [`Batch`]
//! and runs it — or as soon as it holds `max_items` items, in which case the [`Batch`] is handed
//! to the submitter that filled it. The runner sends the merged items upstream and
//! [`Batch::finish`]es it: each waiter gets exactly its own outputs, in its own order, or a clone
//! of the error. A batch dropped without finishing (its runner was cancelled) tells every waiter
//! [`Failure::Abandoned`], so they can call upstream themselves instead of waiting forever.
//!
//! It never calls anything itself, never sleeps and never holds its lock across an `.await`:
//! time is an argument (`now`), and the caller waits for [`Due::at`] with its own timer.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

#[cfg(test)]
mod tests;

/// When a batch closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// How long a batch stays open for more requests after its first one.
    pub window: Duration,
    /// A batch closes as soon as it holds this many items (at least 1). A request with this many
    /// items or more is a batch of its own, closed at once.
    pub max_items: usize,
}

/// What a waiter receives when its batch succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery<O, S> {
    /// This waiter's outputs: one per item it submitted, in its order.
    pub outputs: Vec<O>,
    /// What the whole batch shares (e.g. which upstream model answered).
    pub shared: S,
    /// Requests merged into the batch (1: it went alone).
    pub members: usize,
    /// Items in the whole batch.
    pub batch_items: usize,
}

/// Why a waiter got no outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure<E> {
    /// The batch's upstream call failed; every member gets the same error.
    Failed(E),
    /// The batch was dropped without an answer (its runner was cancelled, or it returned the
    /// wrong number of outputs): call upstream yourself.
    Abandoned,
}

type Answer<O, S, E> = Result<Delivery<O, S>, Failure<E>>;

/// A member's item count and the channel its answer goes to.
type Member<O, S, E> = (usize, oneshot::Sender<Answer<O, S, E>>);

/// Open batches by key. One per process, shared by every request.
pub struct Batcher<K, I, O, S, E> {
    open: Mutex<HashMap<K, Batch<I, O, S, E>>>,
    next_id: AtomicU64,
}

/// The items of one or more requests, to be sent upstream together, and the requests waiting
/// for their share.
pub struct Batch<I, O, S, E> {
    id: u64,
    at: Instant,
    items: Vec<I>,
    /// Each member's item count (its items are consecutive, in submission order) and channel.
    members: Vec<Member<O, S, E>>,
}

/// Identifies the batch a request joined and when it closes by time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due<K> {
    key: K,
    id: u64,
    /// When the batch's window ends: then call [`Batcher::take_due`].
    pub at: Instant,
}

/// A request's place in a batch: resolves to its own outputs once the batch is finished.
#[must_use = "a waiter that is dropped gives up its share of the batch"]
pub struct Waiter<O, S, E>(oneshot::Receiver<Answer<O, S, E>>);

/// What [`Batcher::submit`] made of a request.
#[must_use = "a closed batch must be run, or its members wait for nothing"]
pub struct Joined<K, I, O, S, E> {
    /// Resolves to this request's outputs.
    pub waiter: Waiter<O, S, E>,
    /// The batch this request is in, and when it closes by time.
    pub due: Due<K>,
    /// A batch closed by this submission (this request's own, or the open one it could not fit
    /// into): the caller runs it now.
    pub flush: Option<Batch<I, O, S, E>>,
}

impl<K: Hash + Eq + Clone, I, O, S: Clone, E: Clone> Batcher<K, I, O, S, E> {
    /// No open batches.
    pub fn new() -> Self {
        Batcher { open: Mutex::new(HashMap::new()), next_id: AtomicU64::new(0) }
    }

    /// Adds a request's `items` to the open batch for `key`, opening one (closing at
    /// `now + window`) if there is none. Never waits.
    ///
    /// - `items.len() >= max_items`: the items are a batch of their own, returned in `flush`; the
    ///   open batch for `key` is left alone.
    /// - The open batch cannot take the items without going over `max_items`: it is closed and
    ///   returned in `flush`, and the items open a new batch.
    /// - The items bring the open batch to exactly `max_items`: it is closed and returned in
    ///   `flush`.
    /// - An open batch whose window passed without any member taking it (every member left) is
    ///   dropped, or returned in `flush` if a member is still waiting.
    pub fn submit(&self, key: K, items: Vec<I>, now: Instant, limits: BatchLimits) -> Joined<K, I, O, S, E> {
        let max = limits.max_items.max(1);
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter(rx);
        if items.len() >= max {
            let batch = self.new_batch(now, items, tx);
            let due = Due { key, id: batch.id, at: now };
            return Joined { waiter, due, flush: Some(batch) };
        }
        let mut open = lock(&self.open);
        let mut flush = None;
        if let Some(current) = open.get(&key) {
            let stale = now >= current.at;
            if stale || current.items.len() + items.len() > max {
                flush = open.remove(&key).filter(|b| !stale || !b.abandoned());
            }
        }
        let batch = match open.remove(&key) {
            Some(mut batch) => {
                batch.members.push((items.len(), tx));
                batch.items.extend(items);
                batch
            }
            None => self.new_batch(now + limits.window, items, tx),
        };
        let due = Due { key: key.clone(), id: batch.id, at: batch.at };
        if batch.items.len() >= max {
            // `flush` is still empty: a batch that just took an overflow starts below `max`.
            flush = Some(batch);
        } else {
            open.insert(key, batch);
        }
        Joined { waiter, due, flush }
    }

    /// The batch `due` names, if it is still open: the caller runs it. `None` once it was closed
    /// (by size, or another member took it first).
    pub fn take_due(&self, due: &Due<K>) -> Option<Batch<I, O, S, E>> {
        let mut open = lock(&self.open);
        if open.get(&due.key).is_some_and(|b| b.id == due.id) {
            return open.remove(&due.key);
        }
        None
    }

    /// Batches open now.
    pub fn open_batches(&self) -> usize {
        lock(&self.open).len()
    }

    fn new_batch(&self, at: Instant, items: Vec<I>, tx: oneshot::Sender<Answer<O, S, E>>) -> Batch<I, O, S, E> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Batch { id, at, members: vec![(items.len(), tx)], items }
    }
}

impl<K: Hash + Eq + Clone, I, O, S: Clone, E: Clone> Default for Batcher<K, I, O, S, E> {
    fn default() -> Self {
        Batcher::new()
    }
}

impl<I, O, S: Clone, E: Clone> Batch<I, O, S, E> {
    /// Every member's items, in submission order: what to send upstream.
    pub fn items(&self) -> &[I] {
        &self.items
    }

    /// Requests merged into this batch.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Whether every member has gone (dropped its [`Waiter`]).
    pub fn abandoned(&self) -> bool {
        self.members.iter().all(|(_, tx)| tx.is_closed())
    }

    /// Hands the result to every member: `Ok` carries one output per item, in [`Batch::items`]
    /// order, and each member gets its own consecutive share; `Err` is cloned to every member.
    /// Outputs of the wrong count abandon the batch (nobody gets someone else's vectors).
    pub fn finish(self, result: Result<(Vec<O>, S), E>) {
        let (members, batch_items) = (self.members.len(), self.items.len());
        match result {
            Ok((outputs, _)) if outputs.len() != batch_items => {}
            Ok((outputs, shared)) => {
                let mut outputs = outputs.into_iter();
                for (n, tx) in self.members {
                    let mine: Vec<O> = outputs.by_ref().take(n).collect();
                    // A member that left has dropped its waiter: nothing to do.
                    let _ = tx.send(Ok(Delivery { outputs: mine, shared: shared.clone(), members, batch_items }));
                }
            }
            Err(e) => {
                for (_, tx) in self.members {
                    let _ = tx.send(Err(Failure::Failed(e.clone())));
                }
            }
        }
    }
}

impl<O, S, E> Future for Waiter<O, S, E> {
    type Output = Answer<O, S, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A dropped sender means the batch was dropped unfinished.
        Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap_or(Err(Failure::Abandoned)))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a thread panicked while holding it; the map is still valid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
