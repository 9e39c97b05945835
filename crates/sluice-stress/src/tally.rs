//! Outcome counts as the harness saw them, to hold against the manager's counters.

use crate::ledger::Answer;
use sluice::Counts;
use std::fmt;

/// Submitted tasks and their outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Submitted (refused ones included).
    pub submitted: u64,
    /// Answered a value.
    pub succeeded: u64,
    /// Answered their own error.
    pub failed: u64,
    /// Answered a panic.
    pub panicked: u64,
    /// Answered cancelled.
    pub cancelled: u64,
    /// Answered timed out.
    pub timed_out: u64,
    /// Refused: an open breaker or shutdown.
    pub rejected: u64,
}

impl Tally {
    /// Counts one answered task.
    pub fn count(&mut self, answer: Answer) {
        self.submitted += 1;
        match answer {
            Answer::Ok => self.succeeded += 1,
            Answer::Failed => self.failed += 1,
            Answer::Panicked => self.panicked += 1,
            Answer::Cancelled => self.cancelled += 1,
            Answer::TimedOut => self.timed_out += 1,
            Answer::Rejected => self.rejected += 1,
            Answer::None | Answer::Wrong => {}
        }
    }

    /// The sum of two tallies.
    pub fn plus(self, other: Tally) -> Tally {
        Tally {
            submitted: self.submitted + other.submitted,
            succeeded: self.succeeded + other.succeeded,
            failed: self.failed + other.failed,
            panicked: self.panicked + other.panicked,
            cancelled: self.cancelled + other.cancelled,
            timed_out: self.timed_out + other.timed_out,
            rejected: self.rejected + other.rejected,
        }
    }

    /// The manager's counters since `base`, in the same shape.
    pub fn of_counts(now: &Counts, base: &Counts) -> Tally {
        Tally {
            submitted: now.submitted - base.submitted,
            succeeded: now.succeeded - base.succeeded,
            failed: now.failed - base.failed,
            panicked: now.panicked - base.panicked,
            cancelled: now.cancelled - base.cancelled,
            timed_out: now.timed_out - base.timed_out,
            rejected: now.rejected - base.rejected,
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submitted {}: ok {}, failed {}, panicked {}, cancelled {}, timed out {}, rejected {}",
            self.submitted,
            self.succeeded,
            self.failed,
            self.panicked,
            self.cancelled,
            self.timed_out,
            self.rejected
        )
    }
}
