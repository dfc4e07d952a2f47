//! The ledger's counters: what it has delivered, spooled and replayed, and how far behind it is.
//!
//! Owns the atomics shared by the request path, the writer task and the spool, and the snapshot
//! type the proxy exports as metrics. Never decides anything: it only counts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A snapshot of the ledger's health, for metrics and the admin endpoint. Counters are totals
/// since start; `queued`, `spool_bytes`, `redis_up` and `oldest_undelivered_ms` are current values.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct LedgerStats {
    /// Records accepted by `publish` (total).
    pub published: u64,
    /// Records in memory right now, published but not yet delivered nor spooled.
    pub queued: u64,
    /// Records newly written to the ledger — the Redis stream, or the file in single-instance
    /// mode — directly or by replay (total).
    pub delivered: u64,
    /// Records written to the spool because the ledger was unavailable or the queue was full
    /// (total).
    pub spooled: u64,
    /// Spooled records sent again to the ledger (total; includes those found already written).
    pub replayed: u64,
    /// Records the dedup key showed were already in the stream, so were not written again (total).
    pub duplicates_skipped: u64,
    /// Current size of the spool files, in bytes (0 once everything has been replayed).
    pub spool_bytes: u64,
    /// Whether the last Redis call succeeded (true at start until a call fails; always false in
    /// single-instance mode).
    pub redis_up: bool,
    /// Age of the oldest record not yet in the ledger (in memory or in the spool), in
    /// milliseconds; 0 when nothing is pending. The delivery target is < 5,000.
    pub oldest_undelivered_ms: u64,
}

/// The live counters behind [`LedgerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) duplicates_skipped: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
    pub(crate) redis_up: AtomicBool,
    /// Unix ms since when the spool has held undelivered records; 0 when empty.
    pub(crate) spool_since_ms: AtomicU64,
    /// Unix ms since when the writer has held its current batch; 0 when it holds none.
    pub(crate) batch_since_ms: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        // Saturating: a racing reader must never see a huge wrapped value.
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
    }

    pub(crate) fn snapshot(&self) -> LedgerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = now_ms();
        let oldest = [get(&self.spool_since_ms), get(&self.batch_since_ms)].into_iter().filter(|&t| t > 0).min();
        LedgerStats {
            published: get(&self.published),
            queued: get(&self.queued),
            delivered: get(&self.delivered),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            duplicates_skipped: get(&self.duplicates_skipped),
            spool_bytes: get(&self.spool_bytes),
            redis_up: self.redis_up.load(Ordering::Relaxed),
            oldest_undelivered_ms: oldest.map_or(0, |t| now.saturating_sub(t)),
        }
    }
}

/// Unix time in milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
