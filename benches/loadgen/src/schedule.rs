//! The open-loop schedule: when request number `i` is due, which requests fall in the warm-up,
//! where the run ends, and from which instant a request's latency is counted.
//!
//! Pure arithmetic on offsets from the run's start; it never sleeps or reads a clock, so the
//! coordinated-omission rules are unit-tested here rather than trusted to the driver.

use std::time::{Duration, Instant};

/// How early a send may start. tokio's timer rounds a deadline up to the next millisecond tick and
/// the poller's timeout up to the next millisecond, so a sleeper wakes up to about 2 ms after the
/// time asked for; a worker therefore sleeps until `due - TIMER_SLACK` and then sends at once. A
/// send that starts early is timed from when it was sent, a late one from when it was due (see
/// [`latency_start`]): the timer's granularity does not inflate latency, and a real stall does.
/// (With 1 ms the median send was about 0.5 ms late, which added that much to every p50.)
pub const TIMER_SLACK: Duration = Duration::from_millis(2);

/// A send this long after its due time counts as late (`late_sends`): with [`TIMER_SLACK`] the
/// worker is normally awake before the due time, so a late send means every connection was busy
/// or the generator's thread did not get the CPU.
pub const LATE: Duration = Duration::from_millis(1);

/// A fixed request rate: request `i` (counted from 0) is due `i / rate` seconds after the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    rate: f64,
}

/// The tickets (request numbers) of one open-loop run: `[0, first_measured)` are the warm-up,
/// `[first_measured, end)` are measured, and no ticket from `end` on is ever sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tickets {
    /// First ticket whose latency is recorded.
    pub first_measured: u64,
    /// One past the last ticket sent.
    pub end: u64,
}

impl Schedule {
    /// A schedule of `rate` requests per second; `None` unless `rate` is finite and positive.
    pub fn new(rate: f64) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then_some(Self { rate })
    }

    /// When ticket `i` is due, as an offset from the run's start.
    pub fn due(self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// The number of tickets due strictly before `offset`: the first ticket due at or after it.
    pub fn tickets_before(self, offset: Duration) -> u64 {
        // `ceil` so a ticket due exactly at `offset` is not counted as before it; the float
        // product is exact enough for any run a person would start (2^53 tickets).
        (offset.as_secs_f64() * self.rate).ceil() as u64
    }

    /// The tickets of a run with `warmup`, then at most `duration` and at most `requests` measured
    /// requests (either bound may be absent, not both: the caller supplies a default duration).
    pub fn tickets(self, warmup: Duration, duration: Option<Duration>, requests: Option<u64>) -> Tickets {
        let first_measured = self.tickets_before(warmup);
        let by_time = duration.map(|d| self.tickets_before(warmup + d));
        let by_count = requests.map(|n| first_measured.saturating_add(n));
        let end = match (by_time, by_count) {
            (Some(t), Some(c)) => t.min(c),
            (Some(t), None) => t,
            (None, Some(c)) => c,
            (None, None) => first_measured,
        };
        Tickets { first_measured, end }
    }
}

/// When a request's latency starts: the later of "due" and "sent" would hide a stall of the
/// generator (coordinated omission), so a late send counts from when it was due; a send started
/// early (within [`TIMER_SLACK`]) counts from when it really went out.
pub fn latency_start(due: Instant, sent: Instant) -> Instant {
    due.min(sent)
}

/// When to wake up for a request due at `due`.
pub fn wake_at(due: Instant) -> Instant {
    due.checked_sub(TIMER_SLACK).unwrap_or(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_rates_that_cannot_schedule() {
        assert!(Schedule::new(0.0).is_none());
        assert!(Schedule::new(-5.0).is_none());
        assert!(Schedule::new(f64::NAN).is_none());
        assert!(Schedule::new(f64::INFINITY).is_none());
        assert!(Schedule::new(0.5).is_some());
    }

    #[test]
    fn due_times_are_evenly_spaced_from_zero() {
        let s = Schedule::new(2000.0).unwrap();
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_micros(500));
        assert_eq!(s.due(2000), Duration::from_secs(1));
        assert_eq!(s.due(3), Duration::from_micros(1500));
        // A fractional rate: one request every 4 s.
        assert_eq!(Schedule::new(0.25).unwrap().due(3), Duration::from_secs(12));
    }

    #[test]
    fn a_ticket_due_exactly_at_the_boundary_belongs_to_the_later_window() {
        let s = Schedule::new(10.0).unwrap();
        // Tickets 0..10 are due at 0.0 .. 0.9 s; ticket 10 at exactly 1 s is not before 1 s.
        assert_eq!(s.tickets_before(Duration::from_secs(1)), 10);
        assert_eq!(s.tickets_before(Duration::from_millis(1001)), 11);
        assert_eq!(s.tickets_before(Duration::ZERO), 0);
    }

    #[test]
    fn warmup_duration_and_count_bound_the_tickets() {
        let s = Schedule::new(2000.0).unwrap();
        let w = Duration::from_secs(1);
        let d = Some(Duration::from_secs(3));
        assert_eq!(s.tickets(w, d, None), Tickets { first_measured: 2000, end: 8000 });
        assert_eq!(s.tickets(w, d, Some(10)), Tickets { first_measured: 2000, end: 2010 });
        assert_eq!(s.tickets(w, d, Some(1_000_000)), Tickets { first_measured: 2000, end: 8000 });
        assert_eq!(s.tickets(Duration::ZERO, None, Some(5)), Tickets { first_measured: 0, end: 5 });
        assert_eq!(s.tickets(Duration::ZERO, None, None), Tickets { first_measured: 0, end: 0 });
    }

    #[test]
    fn a_late_send_is_timed_from_when_it_was_due() {
        let due = Instant::now();
        let late = due + Duration::from_millis(40);
        assert_eq!(latency_start(due, late), due);
        let early = due.checked_sub(Duration::from_micros(300)).unwrap();
        assert_eq!(latency_start(due, early), early);
        assert_eq!(wake_at(due) + TIMER_SLACK, due);
    }
}
