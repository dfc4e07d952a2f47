//! What one worker measured ([`Stats`]: latency, TTFT and inter-event histograms in microseconds,
//! error counts), how workers' figures are merged, and how the result is printed: one table row
//! for people, one JSON line for scripts.
//!
//! Owns the numbers and their formatting; never sends a request or reads a clock.

use std::time::{Duration, Instant};

use hdrhistogram::{AdditionError, CreationError, Histogram};
use serde_json::{json, Value};

/// Largest recordable value: one hour in microseconds (larger values are clamped).
const MAX_MICROS: u64 = 3_600_000_000;

/// Why a request did not count as a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with a status outside 2xx.
    Status,
    /// The TCP connection or the HTTP/1.1 handshake failed.
    Connect,
    /// Sending the request or reading the answer failed (e.g. the server closed the connection).
    Io,
    /// The whole exchange took longer than `--timeout`.
    Timeout,
    /// A `--stream` answer ended without `data: [DONE]`.
    Stream,
}

/// Error counts by [`Failure`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    /// Non-2xx answers.
    pub status: u64,
    /// Connection failures.
    pub connect: u64,
    /// Send or receive failures.
    pub io: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Streams without `data: [DONE]`.
    pub stream: u64,
}

impl Errors {
    /// All errors together.
    pub fn total(&self) -> u64 {
        self.status + self.connect + self.io + self.timeout + self.stream
    }

    fn count(&mut self, f: Failure) {
        match f {
            Failure::Status => self.status += 1,
            Failure::Connect => self.connect += 1,
            Failure::Io => self.io += 1,
            Failure::Timeout => self.timeout += 1,
            Failure::Stream => self.stream += 1,
        }
    }

    fn add(&mut self, o: &Errors) {
        self.status += o.status;
        self.connect += o.connect;
        self.io += o.io;
        self.timeout += o.timeout;
        self.stream += o.stream;
    }
}

/// One worker's measurements (and, after [`Stats::merge`], the whole run's). Only measured
/// requests (after the warm-up) are recorded; latencies are of successful requests only.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latency from the request's start (see `schedule::latency_start`) to its last body byte.
    pub latency: Histogram<u64>,
    /// Time to the first complete SSE data event, from the same start.
    pub ttft: Histogram<u64>,
    /// Gaps between successive chunks that completed SSE events (0 for events in the same chunk).
    pub gaps: Histogram<u64>,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests by reason.
    pub errors: Errors,
    /// SSE data events in successful streams.
    pub events: u64,
    /// Open loop: measured requests sent more than `schedule::LATE` after they were due.
    pub late_sends: u64,
    /// When the last measured request ended.
    pub last_end: Option<Instant>,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Result<Self, CreationError> {
        let h = || Histogram::new_with_bounds(1, MAX_MICROS, 3);
        Ok(Self {
            latency: h()?,
            ttft: h()?,
            gaps: h()?,
            ok: 0,
            errors: Errors::default(),
            events: 0,
            late_sends: 0,
            last_end: None,
        })
    }

    /// Records a successful request that started at `start` and ended at `end`.
    pub fn success(&mut self, start: Instant, end: Instant) {
        self.ok += 1;
        self.latency.saturating_record(micros(end.saturating_duration_since(start)));
        self.ended(end);
    }

    /// Records a successful stream's first event (relative to `start`), its gaps and event count.
    pub fn stream(&mut self, start: Instant, first_event: Option<Instant>, gaps_us: &[u64], events: u64) {
        if let Some(first) = first_event {
            self.ttft.saturating_record(micros(first.saturating_duration_since(start)));
        }
        for &g in gaps_us {
            self.gaps.saturating_record(g);
        }
        self.events += events;
    }

    /// Records a failed request that ended at `end`.
    pub fn failure(&mut self, failure: Failure, end: Instant) {
        self.errors.count(failure);
        self.ended(end);
    }

    fn ended(&mut self, end: Instant) {
        self.last_end = Some(self.last_end.map_or(end, |e| e.max(end)));
    }

    /// Adds another worker's figures to these.
    pub fn merge(&mut self, o: &Stats) -> Result<(), AdditionError> {
        self.latency.add(&o.latency)?;
        self.ttft.add(&o.ttft)?;
        self.gaps.add(&o.gaps)?;
        self.ok += o.ok;
        self.errors.add(&o.errors);
        self.events += o.events;
        self.late_sends += o.late_sends;
        if let Some(end) = o.last_end {
            self.ended(end);
        }
        Ok(())
    }
}

/// Microseconds in `d`, clamped to the histogram's range.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS).min(MAX_MICROS)
}

/// The value at `q` (0..=100) of `h`, in microseconds; `None` when `h` is empty.
pub fn percentile(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_percentile(q))
}

/// Microseconds as milliseconds for the table: about four significant digits, `-` when absent.
pub fn fmt_ms(us: Option<u64>) -> String {
    let Some(us) = us else { return "-".to_owned() };
    let ms = us as f64 / 1000.0;
    match ms {
        m if m < 10.0 => format!("{m:.3}"),
        m if m < 100.0 => format!("{m:.2}"),
        m if m < 1000.0 => format!("{m:.1}"),
        m => format!("{m:.0}"),
    }
}

/// How the load was offered, for the `load` column and the JSON.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Closed loop: this many connections, each sending its next request when the last one ended.
    Closed {
        /// Connections.
        connections: usize,
    },
    /// Open loop: this many requests per second over at most this many connections.
    Open {
        /// Target requests per second.
        rate: f64,
        /// Connections (the most requests in flight).
        connections: usize,
    },
}

impl Load {
    /// `c=32` or `r=2000`.
    pub fn column(&self) -> String {
        match self {
            Load::Closed { connections } => format!("c={connections}"),
            Load::Open { rate, .. } => format!("r={rate}"),
        }
    }
}

/// A finished run, ready to print.
#[derive(Debug)]
pub struct Report<'a> {
    /// Free text naming the system and scenario (`--label`).
    pub label: &'a str,
    /// How the load was offered.
    pub load: Load,
    /// Whether answers were SSE streams (adds the TTFT and gap columns).
    pub stream: bool,
    /// Measured window: from the first measured start to the last measured end.
    pub window: Duration,
    /// The merged figures.
    pub stats: &'a Stats,
}

/// Column names of [`Report::row`], in order.
pub fn header(stream: bool) -> String {
    let mut s = format!(
        "{:<28} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "label", "load", "req/s", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "errors"
    );
    if stream {
        s.push_str(&format!(" {:>9} {:>9} {:>8} {:>8}", "ttft_p50", "ttft_p99", "gap_p50", "gap_p99"));
    }
    s
}

impl Report<'_> {
    /// Successful requests per second over the measured window.
    pub fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.stats.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// One table row under [`header`].
    pub fn row(&self) -> String {
        let l = &self.stats.latency;
        let mut s = format!(
            "{:<28} {:>8} {:>9.0} {:>8} {:>8} {:>8} {:>8} {:>7}",
            self.label,
            self.load.column(),
            self.rps(),
            fmt_ms(percentile(l, 50.0)),
            fmt_ms(percentile(l, 90.0)),
            fmt_ms(percentile(l, 99.0)),
            fmt_ms(percentile(l, 99.9)),
            self.stats.errors.total()
        );
        if self.stream {
            let (t, g) = (&self.stats.ttft, &self.stats.gaps);
            s.push_str(&format!(
                " {:>9} {:>9} {:>8} {:>8}",
                fmt_ms(percentile(t, 50.0)),
                fmt_ms(percentile(t, 99.0)),
                fmt_ms(percentile(g, 50.0)),
                fmt_ms(percentile(g, 99.0))
            ));
        }
        s
    }

    /// The same figures as one JSON object (milliseconds as numbers, `null` when absent).
    pub fn json(&self) -> Value {
        let ms = |h: &Histogram<u64>, q: f64| percentile(h, q).map(|us| us as f64 / 1000.0);
        let st = self.stats;
        let e = st.errors;
        let (mode, connections, rate) = match self.load {
            Load::Closed { connections } => ("closed", connections, None),
            Load::Open { rate, connections } => ("open", connections, Some(rate)),
        };
        let stream = self.stream.then(|| {
            let per_response = if st.ok > 0 { st.events as f64 / st.ok as f64 } else { 0.0 };
            json!({
                "ttft_ms": { "p50": ms(&st.ttft, 50.0), "p99": ms(&st.ttft, 99.0) },
                "gap_ms": { "p50": ms(&st.gaps, 50.0), "p99": ms(&st.gaps, 99.0) },
                "events_per_response": per_response,
            })
        });
        json!({
            "label": self.label,
            "mode": mode,
            "connections": connections,
            "rate": rate,
            "window_s": self.window.as_secs_f64(),
            "ok": st.ok,
            "errors": e.total(),
            "error_kinds": {
                "status": e.status, "connect": e.connect, "io": e.io, "timeout": e.timeout, "stream": e.stream,
            },
            "late_sends": st.late_sends,
            "rps": self.rps(),
            "latency_ms": {
                "p50": ms(&st.latency, 50.0),
                "p90": ms(&st.latency, 90.0),
                "p99": ms(&st.latency, 99.0),
                "p99_9": ms(&st.latency, 99.9),
                "max": percentile(&st.latency, 100.0).map(|us| us as f64 / 1000.0),
            },
            "stream": stream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_about_four_significant_digits() {
        assert_eq!(fmt_ms(None), "-");
        assert_eq!(fmt_ms(Some(0)), "0.000");
        assert_eq!(fmt_ms(Some(1_234)), "1.234");
        assert_eq!(fmt_ms(Some(9_999)), "9.999");
        assert_eq!(fmt_ms(Some(12_345)), "12.35");
        assert_eq!(fmt_ms(Some(123_456)), "123.5");
        assert_eq!(fmt_ms(Some(30_000_000)), "30000");
    }

    #[test]
    fn percentiles_come_from_successes_only_and_merge_across_workers() {
        let t0 = Instant::now();
        let mut a = Stats::new().unwrap();
        let mut b = Stats::new().unwrap();
        for ms in 1..=50 {
            a.success(t0, t0 + Duration::from_millis(ms));
        }
        for ms in 51..=100 {
            b.success(t0, t0 + Duration::from_millis(ms));
        }
        b.failure(Failure::Timeout, t0 + Duration::from_secs(30));
        a.merge(&b).unwrap();
        assert_eq!(a.ok, 100);
        assert_eq!(a.errors.total(), 1);
        assert_eq!(a.last_end, Some(t0 + Duration::from_secs(30)));
        // Three significant digits: each percentile is within 0.1 % of the exact 50 ms and 99 ms.
        let ms = |q| percentile(&a.latency, q).unwrap() as f64 / 1000.0;
        assert!((ms(50.0) - 50.0).abs() <= 0.05, "p50 {}", ms(50.0));
        assert!((ms(99.0) - 99.0).abs() <= 0.1, "p99 {}", ms(99.0));
        assert_eq!(percentile(&a.ttft, 50.0), None);
    }

    #[test]
    fn rps_counts_successes_over_the_window_and_the_row_lines_up() {
        let t0 = Instant::now();
        let mut s = Stats::new().unwrap();
        for _ in 0..500 {
            s.success(t0, t0 + Duration::from_micros(800));
        }
        s.failure(Failure::Status, t0);
        let r = Report {
            label: "mock json",
            load: Load::Closed { connections: 32 },
            stream: false,
            window: Duration::from_millis(250),
            stats: &s,
        };
        assert_eq!(r.rps(), 2000.0);
        assert_eq!(r.row().len(), header(false).len());
        assert!(r.row().contains(" c=32 "), "{}", r.row());
        let j = r.json();
        assert_eq!(j["errors"], 1);
        assert_eq!(j["error_kinds"]["status"], 1);
        assert_eq!(j["latency_ms"]["p50"], 0.8);
        assert!(j["stream"].is_null());
    }
}
