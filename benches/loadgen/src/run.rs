//! The two drivers: closed loop (each connection sends its next request as soon as the last one
//! ended) and open loop (requests are due on a fixed schedule, whatever the server's speed).
//!
//! Owns when each request is sent, which ones are measured (not in the warm-up) and when the run
//! stops: at the deadline or request count in the closed loop, after the last scheduled ticket in
//! the open loop. Every exchange is bounded by `--timeout` (in the open loop counted from when it
//! was due, and a request still unsent a timeout after that is a timeout), so a run always ends
//! within one timeout of its measured window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::client::{Client, Exchange, Target};
use crate::schedule::{latency_start, wake_at, Schedule, Tickets, LATE};
use crate::stats::{Failure, Stats};

/// Pause after a failed connect in the closed loop, so a dead server is not hammered in a spin.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// How much load to offer and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Connections: the closed loop's concurrency, the open loop's most requests in flight.
    pub connections: usize,
    /// Open loop at this schedule; `None` for the closed loop.
    pub schedule: Option<Schedule>,
    /// Not measured, before the measured part.
    pub warmup: Duration,
    /// Measured part's length; with `requests`, whichever ends first.
    pub duration: Option<Duration>,
    /// Most measured requests.
    pub requests: Option<u64>,
}

/// Why a run could not produce figures.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A worker task panicked or was cancelled.
    #[error("a load worker stopped abnormally: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// Two workers' histograms could not be added (they share bounds, so this is a bug).
    #[error("merging the workers' histograms: {0}")]
    Merge(#[from] hdrhistogram::AdditionError),
}

/// The merged figures and the measured window (first measured start to last measured end).
#[derive(Debug)]
pub struct Outcome {
    /// All workers' figures.
    pub stats: Stats,
    /// The window throughput is computed over.
    pub window: Duration,
}

/// Runs `plan` against `target`; `empty` is a fresh [`Stats`] each worker starts from.
pub async fn run(target: Arc<Target>, plan: Plan, empty: &Stats) -> Result<Outcome, RunError> {
    let t0 = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    let measure_start = match plan.schedule {
        None => {
            let measure_start = t0 + plan.warmup;
            let closed = Closed {
                measure_start,
                deadline: plan.duration.map(|d| measure_start + d),
                limit: plan.requests,
                measured: Arc::new(AtomicU64::new(0)),
                next,
            };
            for _ in 0..plan.connections {
                tasks.spawn(closed.clone().worker(Arc::clone(&target), empty.clone()));
            }
            measure_start
        }
        Some(schedule) => {
            let tickets = schedule.tickets(plan.warmup, plan.duration, plan.requests);
            let open = Open { t0, schedule, tickets, next };
            for _ in 0..plan.connections {
                tasks.spawn(open.clone().worker(Arc::clone(&target), empty.clone()));
            }
            t0 + schedule.due(tickets.first_measured)
        }
    };
    let mut stats = empty.clone();
    while let Some(done) = tasks.join_next().await {
        stats.merge(&done?)?;
    }
    let window = stats.last_end.map_or(Duration::ZERO, |end| end.saturating_duration_since(measure_start));
    Ok(Outcome { stats, window })
}

fn record(stats: &mut Stats, start: Instant, x: &Exchange<'_>) {
    match x.outcome {
        Ok(()) => {
            stats.success(start, x.end);
            stats.stream(start, x.first_event, x.gaps_us, x.events);
        }
        Err(f) => stats.failure(f, x.end),
    }
}

/// Shared state of the closed-loop workers.
#[derive(Clone)]
struct Closed {
    measure_start: Instant,
    deadline: Option<Instant>,
    limit: Option<u64>,
    /// Measured requests started so far (for `limit`).
    measured: Arc<AtomicU64>,
    /// Requests started so far (picks the body).
    next: Arc<AtomicU64>,
}

impl Closed {
    async fn worker(self, target: Arc<Target>, mut stats: Stats) -> Stats {
        let mut client = Client::new(Arc::clone(&target));
        loop {
            let start = Instant::now();
            if self.deadline.is_some_and(|d| start >= d) {
                break;
            }
            let measured = start >= self.measure_start;
            if measured && self.limit.is_some_and(|n| self.measured.fetch_add(1, Ordering::Relaxed) >= n) {
                break;
            }
            let body = target.body(self.next.fetch_add(1, Ordering::Relaxed));
            let x = client.exchange(body, start + target.timeout).await;
            let connect_failed = x.outcome == Err(Failure::Connect);
            if measured {
                record(&mut stats, start, &x);
            }
            if connect_failed {
                tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
            }
        }
        stats
    }
}

/// Shared state of the open-loop workers: each takes the next ticket, waits until it is due, sends.
#[derive(Clone)]
struct Open {
    t0: Instant,
    schedule: Schedule,
    tickets: Tickets,
    /// Next ticket to take.
    next: Arc<AtomicU64>,
}

impl Open {
    async fn worker(self, target: Arc<Target>, mut stats: Stats) -> Stats {
        let mut client = Client::new(Arc::clone(&target));
        loop {
            let ticket = self.next.fetch_add(1, Ordering::Relaxed);
            if ticket >= self.tickets.end {
                break;
            }
            let measured = ticket >= self.tickets.first_measured;
            let due = self.t0 + self.schedule.due(ticket);
            let wake = wake_at(due);
            let now = Instant::now();
            if wake > now {
                tokio::time::sleep_until(wake.into()).await;
            } else if now >= due + target.timeout {
                // Every connection stayed busy for a whole timeout past this request's due time:
                // it can only be a timeout, so count it as one without sending it. This also
                // drains the backlog behind a stalled server, so the run ends on schedule.
                if measured {
                    stats.failure(Failure::Timeout, now);
                }
                continue;
            }
            let sent = Instant::now();
            let start = latency_start(due, sent);
            let x = client.exchange(target.body(ticket), start + target.timeout).await;
            if measured {
                if sent > due + LATE {
                    stats.late_sends += 1;
                }
                record(&mut stats, start, &x);
            }
        }
        stats
    }
}
