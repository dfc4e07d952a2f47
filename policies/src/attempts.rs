//! The per-request attempt budget across a failover chain.
//!
//! Owns which candidate the next attempt goes to: one budget covers retries and fallbacks
//! together, and a candidate is only retried while one attempt stays reserved for each later
//! candidate that is still eligible ("3 attempts with 1 fallback → primary, primary, fallback"), so
//! fallbacks never multiply attempts. It never decides *whether* an outcome is retryable (that is
//! [`crate::retry`]) nor whether a candidate's breaker is open (the proxy asks
//! [`crate::breaker`] and reports a refusal with [`AttemptPlan::skip_current`]); it never sleeps.

use std::time::Duration;

use crate::retry::RetryDecision;

/// The next thing the proxy should do for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait `after`, then make an attempt against candidate number `candidate`.
    Try {
        /// Index into the route's candidate list.
        candidate: usize,
        /// Attempt number on this candidate (0 = first), to pass to
        /// [`RetryPolicy::decide`](crate::retry::RetryPolicy::decide).
        attempt: u32,
        /// Delay before the attempt (zero for a first attempt on a candidate).
        after: Duration,
    },
    /// Stop: the budget is spent, no candidate is left, or the last decision gave up. The proxy
    /// answers with the last upstream outcome (or 503 if no attempt could be made).
    Done,
}

/// The attempt plan of one request, driven by the proxy: [`start`](Self::start), then after each
/// attempt [`next`](Self::next) with the retry decision, until [`Step::Done`].
#[derive(Clone, Debug)]
pub struct AttemptPlan {
    budget: u32,
    used: u32,
    skipped: Vec<bool>,
    /// Candidate of the step handed out last, and its attempt number; `None` before `start` and
    /// after `Done`.
    current: Option<(usize, u32)>,
    first_tried: Option<usize>,
    done: bool,
}

impl AttemptPlan {
    /// A plan for `candidates` candidates sharing `budget` attempts in total (typically
    /// `1 + max_retries` of the route). A budget smaller than the chain simply stops early.
    pub fn new(budget: u32, candidates: usize) -> Self {
        AttemptPlan { budget, used: 0, skipped: vec![false; candidates], current: None, first_tried: None, done: false }
    }

    /// Marks `candidate` as ineligible (its breaker is open, its context window or output limit
    /// cannot hold the request) so it gets no attempt and no reserved attempt. Call it before
    /// [`start`](Self::start) for what is known up front; out-of-range indices are ignored.
    pub fn skip(&mut self, candidate: usize) {
        if let Some(s) = self.skipped.get_mut(candidate) {
            *s = true;
        }
    }

    /// The first step: the first eligible candidate, or [`Step::Done`] if there is none (or the
    /// plan already started).
    pub fn start(&mut self) -> Step {
        if self.current.is_some() || self.done {
            return Step::Done;
        }
        self.move_on(0)
    }

    /// The step after an attempt that ended in `last` (as decided by the retry policy for the
    /// current candidate). A `Retry` is only honoured while an attempt remains for every later
    /// eligible candidate; otherwise it becomes a move to the next candidate.
    pub fn next(&mut self, last: RetryDecision) -> Step {
        let Some((candidate, attempt)) = self.current.filter(|_| !self.done) else {
            return Step::Done;
        };
        match last {
            RetryDecision::GiveUp => self.finish(),
            RetryDecision::Retry { after } => {
                let reserved = self.eligible_after(candidate);
                if self.remaining() > reserved {
                    self.used += 1;
                    let attempt = attempt.saturating_add(1);
                    self.current = Some((candidate, attempt));
                    Step::Try { candidate, attempt, after }
                } else {
                    self.move_on(candidate + 1)
                }
            }
            RetryDecision::NextCandidate => self.move_on(candidate + 1),
        }
    }

    /// The step just handed out could not be attempted (the candidate's breaker refused it): the
    /// attempt is refunded, the candidate is skipped for the rest of the request, and the next
    /// eligible candidate is tried.
    pub fn skip_current(&mut self) -> Step {
        let Some((candidate, _)) = self.current.filter(|_| !self.done) else {
            return Step::Done;
        };
        self.used = self.used.saturating_sub(1);
        self.skip(candidate);
        if self.first_tried == Some(candidate) && self.used == 0 {
            self.first_tried = None;
        }
        self.move_on(candidate + 1)
    }

    /// Attempts handed out so far (for the response header that reports attempts).
    pub fn attempts(&self) -> u32 {
        self.used
    }

    /// Whether the current (or last) candidate is not the first one attempted, i.e. a fallback
    /// is serving the request (for the response header and the usage record).
    pub fn fell_back(&self) -> bool {
        matches!((self.first_tried, self.current), (Some(first), Some((now, _))) if first != now)
    }

    fn remaining(&self) -> u32 {
        self.budget.saturating_sub(self.used)
    }

    fn eligible_after(&self, candidate: usize) -> u32 {
        let later = self.skipped.iter().skip(candidate + 1).filter(|s| !**s).count();
        u32::try_from(later).unwrap_or(u32::MAX)
    }

    fn move_on(&mut self, from: usize) -> Step {
        if self.remaining() == 0 {
            return self.finish();
        }
        let Some(candidate) = (from..self.skipped.len()).find(|&i| !self.skipped[i]) else {
            return self.finish();
        };
        self.used += 1;
        self.current = Some((candidate, 0));
        self.first_tried.get_or_insert(candidate);
        Step::Try { candidate, attempt: 0, after: Duration::ZERO }
    }

    fn finish(&mut self) -> Step {
        self.done = true;
        Step::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: RetryDecision = RetryDecision::Retry { after: Duration::from_secs(1) };

    /// Drives a plan where every attempt asks for a retry; returns the candidates attempted.
    fn run(mut plan: AttemptPlan) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut step = plan.start();
        while let Step::Try { candidate, .. } = step {
            seen.push(candidate);
            step = plan.next(RETRY);
        }
        seen
    }

    #[test]
    fn three_attempts_one_fallback() {
        assert_eq!(run(AttemptPlan::new(3, 2)), [0, 0, 1]);
    }

    #[test]
    fn four_attempts_three_candidates_tries_each() {
        assert_eq!(run(AttemptPlan::new(4, 3)), [0, 0, 1, 2]);
    }

    #[test]
    fn single_candidate_uses_the_whole_budget() {
        assert_eq!(run(AttemptPlan::new(4, 1)), [0, 0, 0, 0]);
    }

    #[test]
    fn small_budget_stops_early() {
        assert_eq!(run(AttemptPlan::new(2, 3)), [0, 1]);
        assert_eq!(run(AttemptPlan::new(0, 3)), Vec::<usize>::new());
        assert_eq!(run(AttemptPlan::new(3, 0)), Vec::<usize>::new());
    }

    #[test]
    fn skipped_candidates_get_no_reserved_attempt() {
        let mut plan = AttemptPlan::new(3, 3);
        plan.skip(1);
        assert_eq!(run(plan), [0, 0, 2]);
        let mut plan = AttemptPlan::new(3, 2);
        plan.skip(0);
        assert_eq!(run(plan), [1, 1, 1]);
    }

    #[test]
    fn attempt_numbers_and_delays() {
        let mut plan = AttemptPlan::new(3, 2);
        assert_eq!(plan.start(), Step::Try { candidate: 0, attempt: 0, after: Duration::ZERO });
        assert_eq!(plan.next(RETRY), Step::Try { candidate: 0, attempt: 1, after: Duration::from_secs(1) });
        assert!(!plan.fell_back());
        assert_eq!(plan.next(RETRY), Step::Try { candidate: 1, attempt: 0, after: Duration::ZERO });
        assert!(plan.fell_back());
        assert_eq!(plan.attempts(), 3);
        assert_eq!(plan.next(RETRY), Step::Done);
        assert_eq!(plan.next(RETRY), Step::Done);
    }

    #[test]
    fn next_candidate_and_give_up() {
        let mut plan = AttemptPlan::new(4, 3);
        assert!(matches!(plan.start(), Step::Try { candidate: 0, .. }));
        assert!(matches!(plan.next(RetryDecision::NextCandidate), Step::Try { candidate: 1, .. }));
        // With the fallback reached early, the unused budget allows a retry of candidate 1.
        assert!(matches!(plan.next(RETRY), Step::Try { candidate: 1, attempt: 1, .. }));
        assert_eq!(plan.next(RetryDecision::GiveUp), Step::Done);
        assert_eq!(plan.attempts(), 3);
    }

    #[test]
    fn breaker_refusal_refunds_the_attempt() {
        let mut plan = AttemptPlan::new(3, 3);
        assert!(matches!(plan.start(), Step::Try { candidate: 0, .. }));
        assert!(matches!(plan.skip_current(), Step::Try { candidate: 1, attempt: 0, .. }));
        assert_eq!(plan.attempts(), 1);
        assert!(!plan.fell_back(), "the first candidate actually attempted is the reference");
        // Two attempts left, one later candidate: a retry of 1 fits, then 2.
        assert!(matches!(plan.next(RETRY), Step::Try { candidate: 1, attempt: 1, .. }));
        assert!(matches!(plan.next(RETRY), Step::Try { candidate: 2, .. }));
        assert!(plan.fell_back());
        assert_eq!(plan.next(RETRY), Step::Done);
        assert_eq!(plan.attempts(), 3);
    }

    #[test]
    fn every_candidate_refused() {
        let mut plan = AttemptPlan::new(3, 2);
        assert!(matches!(plan.start(), Step::Try { candidate: 0, .. }));
        assert!(matches!(plan.skip_current(), Step::Try { candidate: 1, .. }));
        assert_eq!(plan.skip_current(), Step::Done);
        assert_eq!(plan.attempts(), 0);
        assert_eq!(plan.start(), Step::Done);
    }
}
