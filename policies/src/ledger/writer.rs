//! The background writer: batches queued records, delivers them, falls back to the spool, and
//! replays the spool once the ledger is reachable again.
//!
//! Owns the delivery state machine:
//! - *up*: each batch (everything published within `flush_interval`, at most [`MAX_BATCH`]) goes
//!   to the sink as one pipeline / one write; if the spool holds records they are replayed in
//!   chunks, interleaved with new batches.
//! - *down* (the last call failed): batches go straight to the spool (fsynced), and every
//!   `retry_interval` one spool chunk is sent as a probe; the first success means *up* again.
//!
//! Records the sink refused one by one (e.g. Redis OOM) go back to the spool. Records that could
//! not even be spooled (the disk failed too) are held in memory and retried. Never runs on the
//! request path: `publish` only enqueues.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::config::LedgerConfig;
use super::record::{Entry, UsageRecord};
use super::sink::{Outcome, Sink, SinkError};
use super::spool::{Replay, Spool};
use super::stats::{now_ms, Counters};

/// Most records in one batch pipeline.
pub(crate) const MAX_BATCH: usize = 512;
/// Most spooled records replayed in one pipeline.
const REPLAY_CHUNK: usize = 512;
/// While down, a "still down" error is logged every this many failed probes.
const LOG_EVERY_PROBES: u32 = 20;

/// What the request path sends to the writer.
pub(crate) enum Msg {
    /// A record to deliver (boxed: keeps the queue's slots small).
    Record(Box<UsageRecord>),
    /// Answer once every earlier record is delivered or spooled.
    Flush(oneshot::Sender<()>),
    /// Deliver or spool everything, then stop; spool directly once `deadline` is near.
    Close { deadline: Instant, done: oneshot::Sender<()> },
}

/// What the writer does besides delivering records.
enum Control {
    Flush(oneshot::Sender<()>),
    Close {
        deadline: Instant,
        done: oneshot::Sender<()>,
    },
    /// Every `Ledger` handle was dropped.
    Disconnected,
}

impl Control {
    /// Separates a received message into a record or a control.
    fn split(msg: Option<Msg>) -> Result<Box<UsageRecord>, Control> {
        match msg {
            Some(Msg::Record(r)) => Ok(r),
            Some(Msg::Flush(ack)) => Err(Control::Flush(ack)),
            Some(Msg::Close { deadline, done }) => Err(Control::Close { deadline, done }),
            None => Err(Control::Disconnected),
        }
    }
}

/// How often a batch window looks for new records (bounds flush/close latency too).
const BATCH_TICK: Duration = Duration::from_millis(5);

/// The writer task's state.
pub(crate) struct Writer {
    rx: mpsc::Receiver<Msg>,
    sink: Sink,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    flush_interval: Duration,
    retry_interval: Duration,
    redis_timeout: Duration,
    /// Whether the last delivery attempt succeeded; while false, batches go to the spool.
    up: bool,
    failed_probes: u32,
    probes_since_log: u32,
    replay: Option<Replay>,
    /// Read from the replay but not yet delivered (kept across a failed attempt).
    replay_chunk: Option<(Vec<Entry>, u64)>,
    /// Neither delivered nor spooled (the disk failed too): retried from memory.
    held: Vec<Entry>,
    /// Set after a spool I/O error: catch-up waits until then.
    replay_paused_until: Option<Instant>,
}

/// Runs blocking file I/O on the blocking pool; `None` only if that task panicked or the runtime
/// is shutting down.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    tokio::task::spawn_blocking(f).await.ok()
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Writer {
    pub(crate) fn new(
        rx: mpsc::Receiver<Msg>,
        sink: Sink,
        spool: Arc<Spool>,
        counters: Arc<Counters>,
        config: &LedgerConfig,
    ) -> Writer {
        counters.redis_up.store(sink.is_redis(), Ordering::Relaxed);
        Writer {
            rx,
            sink,
            spool,
            counters,
            flush_interval: config.flush_interval,
            retry_interval: config.retry_interval,
            redis_timeout: config.redis_timeout,
            up: true,
            failed_probes: 0,
            probes_since_log: 0,
            replay: None,
            replay_chunk: None,
            held: Vec::new(),
            replay_paused_until: None,
        }
    }

    /// The task body: runs until `close` or until every `Ledger` handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut retry = tokio::time::interval(self.retry_interval);
        retry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let catch_up = self.up && !self.replay_paused() && self.has_backlog();
            let control = tokio::select! {
                msg = self.rx.recv() => match Control::split(msg) {
                    Ok(first) => self.batch(first).await,
                    Err(control) => Some(control),
                },
                () = std::future::ready(()), if catch_up => {
                    self.replay_step().await;
                    None
                }
                _ = retry.tick() => {
                    if !self.up {
                        self.probe().await;
                    }
                    None
                }
            };
            match control {
                None => {}
                Some(Control::Flush(ack)) => {
                    let _ = ack.send(());
                }
                Some(Control::Close { deadline, done }) => {
                    self.shutdown(deadline).await;
                    let _ = done.send(());
                    return;
                }
                Some(Control::Disconnected) => {
                    // Every handle is gone: no one can call close, so shut down on our own.
                    self.shutdown(Instant::now() + 2 * self.redis_timeout).await;
                    return;
                }
            }
        }
    }

    /// Collects a batch for up to `flush_interval` and delivers it. Returns the control message
    /// (flush, close, or the channel closing) that cut the window short, to be handled after.
    async fn batch(&mut self, first: Box<UsageRecord>) -> Option<Control> {
        self.counters.batch_since_ms.store(now_ms(), Ordering::Relaxed);
        let deadline = Instant::now() + self.flush_interval;
        let mut records = vec![*first];
        let mut control = None;
        // Collect by polling every BATCH_TICK rather than awaiting each record: under load an
        // idle receiver woken per record costs a cross-thread context switch per request.
        'window: while records.len() < MAX_BATCH {
            loop {
                let msg = match self.rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                };
                match Control::split(msg) {
                    Ok(r) => records.push(*r),
                    Err(c) => {
                        control = Some(c);
                        break 'window;
                    }
                }
                if records.len() >= MAX_BATCH {
                    break 'window;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(BATCH_TICK.min(deadline - now)).await;
        }
        self.deliver_records(records, true).await;
        control
    }

    fn has_backlog(&self) -> bool {
        self.replay.is_some()
            || self.replay_chunk.is_some()
            || !self.held.is_empty()
            || self.counters.spool_bytes.load(Ordering::Relaxed) > 0
    }

    /// Delivers (or, when down or `use_sink` is false, spools) a batch of records.
    async fn deliver_records(&mut self, records: Vec<UsageRecord>, use_sink: bool) {
        let n = count(records.len());
        let mut entries = Vec::with_capacity(records.len());
        for record in &records {
            match Entry::encode(record) {
                Ok(e) => entries.push(e),
                // Cannot happen for this type (no maps, no custom Serialize); the log keeps it.
                Err(e) => {
                    tracing::error!(record = ?record, error = %e, "ledger record cannot be encoded")
                }
            }
        }
        if use_sink && self.up {
            let result = self.sink.deliver(&entries).await;
            self.settle(entries, result).await;
        } else {
            self.spool_or_hold(entries).await;
        }
        Counters::sub(&self.counters.queued, n);
        self.counters.batch_since_ms.store(0, Ordering::Relaxed);
    }

    /// Accounts for a delivery attempt: counts outcomes, marks the sink up or down, and spools
    /// whatever was not written. Returns how many records are now in the ledger.
    async fn settle(&mut self, entries: Vec<Entry>, result: Result<Vec<Outcome>, SinkError>) -> usize {
        match result {
            Ok(outcomes) => {
                let failed = self.tally(&entries, &outcomes);
                if failed.is_empty() {
                    self.mark_up();
                } else {
                    self.mark_down(&format!("the ledger refused {} records", failed.len()));
                }
                let done = entries.len() - failed.len();
                self.spool_or_hold(failed).await;
                done
            }
            Err(e) => {
                self.mark_down(&e.to_string());
                self.spool_or_hold(entries).await;
                0
            }
        }
    }

    /// Counts outcomes; returns the records the sink refused.
    fn tally(&self, entries: &[Entry], outcomes: &[Outcome]) -> Vec<Entry> {
        let mut failed = Vec::new();
        for (entry, outcome) in entries.iter().zip(outcomes) {
            match outcome {
                Outcome::Written => Counters::add(&self.counters.delivered, 1),
                Outcome::Duplicate => Counters::add(&self.counters.duplicates_skipped, 1),
                Outcome::Failed => failed.push(entry.clone()),
            }
        }
        failed
    }

    async fn spool_or_hold(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        let spool = self.spool.clone();
        let copy = entries.clone();
        match blocking(move || spool.append(&copy)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::error!(error = %e, records = entries.len(), "ledger: cannot write the spool either; holding records in memory and retrying");
                self.held.extend(entries);
            }
            None => self.held.extend(entries),
        }
    }

    fn mark_down(&mut self, why: &str) {
        if self.up {
            tracing::error!(error = why, spool = %self.spool.path().display(), "ledger unavailable: spooling usage records locally and retrying every {:?}", self.retry_interval);
        }
        self.up = false;
        self.counters.redis_up.store(false, Ordering::Relaxed);
    }

    fn mark_up(&mut self) {
        if !self.up {
            tracing::warn!(failed_probes = self.failed_probes, "ledger reachable again: replaying the spool");
        }
        self.up = true;
        self.failed_probes = 0;
        self.counters.redis_up.store(self.sink.is_redis(), Ordering::Relaxed);
    }

    /// While down: try one step of catch-up; with nothing to send, assume up (the next batch
    /// is the probe).
    async fn probe(&mut self) {
        if self.has_backlog() {
            self.replay_step().await;
            if !self.up {
                self.failed_probes += 1;
                self.probes_since_log += 1;
                if self.probes_since_log >= LOG_EVERY_PROBES {
                    self.probes_since_log = 0;
                    let stats = self.counters.snapshot();
                    tracing::error!(
                        failed_probes = self.failed_probes,
                        spool_bytes = stats.spool_bytes,
                        lag_ms = stats.oldest_undelivered_ms,
                        "ledger still unavailable; records are safe in the spool"
                    );
                }
            }
        } else {
            self.mark_up();
        }
    }

    /// One step of catch-up: held records first, then the next spool chunk.
    async fn replay_step(&mut self) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let result = self.sink.deliver(&held).await;
            self.settle(held, result).await;
            return;
        }
        let Some((chunk, bytes)) = self.next_replay_chunk().await else {
            return;
        };
        if chunk.is_empty() {
            Counters::sub(&self.counters.spool_bytes, bytes);
            return;
        }
        match self.sink.deliver(&chunk).await {
            Ok(outcomes) => {
                // Refused records go to the fresh spool before `.replaying` can be deleted, and
                // before the chunk leaves `spool_bytes` (which so never reads 0 too early).
                let done = self.settle(chunk, Ok(outcomes)).await;
                Counters::sub(&self.counters.spool_bytes, bytes);
                Counters::add(&self.counters.replayed, count(done));
            }
            Err(e) => {
                self.mark_down(&e.to_string());
                self.replay_chunk = Some((chunk, bytes));
            }
        }
    }

    /// After a spool I/O error: no catch-up before the next retry tick (no busy loop on a broken
    /// disk). Probes while down are already paced by the tick.
    fn pause_replay(&mut self) {
        self.replay_paused_until = Some(Instant::now() + self.retry_interval);
    }

    fn replay_paused(&self) -> bool {
        self.replay_paused_until.is_some_and(|t| Instant::now() < t)
    }

    /// The chunk to send next: the one kept from a failed attempt, or the next one from the
    /// spool (starting or finishing a replay as needed). `None` when there is nothing to send.
    async fn next_replay_chunk(&mut self) -> Option<(Vec<Entry>, u64)> {
        if let Some(kept) = self.replay_chunk.take() {
            return Some(kept);
        }
        let spool = self.spool.clone();
        let replay = match self.replay.take() {
            Some(r) => r,
            None => match blocking(move || spool.start_replay()).await {
                Some(Ok(Some(r))) => r,
                Some(Ok(None)) | None => return None,
                Some(Err(e)) => {
                    tracing::error!(error = %e, spool = %self.spool.path().display(), "ledger: cannot open the spool for replay");
                    self.pause_replay();
                    return None;
                }
            },
        };
        let spool = self.spool.clone();
        let read = blocking(move || {
            let mut replay = replay;
            let chunk = spool.next_chunk(&mut replay, REPLAY_CHUNK);
            (replay, chunk)
        })
        .await;
        match read {
            Some((replay, Ok((_, 0)))) => {
                let spool = self.spool.clone();
                if let Some(Err(e)) = blocking(move || spool.finish_replay(replay)).await {
                    tracing::error!(error = %e, "ledger: cannot remove the replayed spool file");
                    self.pause_replay();
                }
                None
            }
            Some((replay, Ok(chunk))) => {
                self.replay = Some(replay);
                Some(chunk)
            }
            Some((_, Err(e))) => {
                // Reopened from the start next time; the dedup keys absorb the repeats.
                tracing::error!(error = %e, "ledger: cannot read the spool");
                self.pause_replay();
                None
            }
            None => {
                self.pause_replay();
                None
            }
        }
    }

    /// Final delivery: drains the queue, delivers while there is time (spools otherwise), catches
    /// up on the spool while time remains, and leaves everything else in the spool.
    async fn shutdown(&mut self, deadline: Instant) {
        self.rx.close();
        let mut records = Vec::new();
        let mut acks = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Record(r) => records.push(*r),
                Msg::Flush(ack) | Msg::Close { done: ack, .. } => acks.push(ack),
            }
        }
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let batch: Vec<UsageRecord> = records.by_ref().take(MAX_BATCH).collect();
            let in_time = Instant::now() + self.redis_timeout < deadline;
            self.deliver_records(batch, in_time).await;
        }
        while self.up && !self.replay_paused() && self.has_backlog() && Instant::now() + self.redis_timeout < deadline {
            self.replay_step().await;
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.spool_or_hold(held).await;
            for entry in &self.held {
                tracing::error!(record = %entry.json, "ledger: record could be neither delivered nor spooled at shutdown");
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}
