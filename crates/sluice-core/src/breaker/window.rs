//! The sliding window of a closed breaker's most recent outcomes.

use super::config::FailureRate;
use std::collections::VecDeque;

/// The last `size` outcomes of the current closed period, oldest first, with a running
/// count of the failures among them.
#[derive(Debug)]
pub(super) struct Window {
    /// True for a failure; never longer than `size`.
    outcomes: VecDeque<bool>,
    /// How many entries of `outcomes` are true.
    failures: usize,
    /// The most outcomes kept; zero when no rate condition is set (nothing is kept).
    size: usize,
}

impl Window {
    /// A window for `rate`, or one that keeps nothing if there is no rate condition.
    pub(super) fn new(rate: Option<FailureRate>) -> Self {
        let size = rate.map_or(0, |rate| rate.window);
        Window {
            outcomes: VecDeque::with_capacity(size),
            failures: 0,
            size,
        }
    }

    /// Adds one outcome, pushing the oldest out once the window is full.
    pub(super) fn push(&mut self, failed: bool) {
        if self.size == 0 {
            return;
        }
        if self.outcomes.len() == self.size && self.outcomes.pop_front() == Some(true) {
            self.failures -= 1;
        }
        self.outcomes.push_back(failed);
        if failed {
            self.failures += 1;
        }
    }

    /// Whether the window holds at least `min_calls` outcomes and the share of failures
    /// among them has reached the threshold.
    pub(super) fn trips(&self, rate: &FailureRate) -> bool {
        let calls = self.outcomes.len();
        // Precision: both sides are correctly rounded from exact values (the quotient
        // of two small integers, the threshold as written), so a rate exactly equal to
        // the threshold compares equal: 5 of 10 reaches 0.5, 3 of 10 reaches 0.3.
        // Both counts are at most `BreakerConfig::MAX_WINDOW`, exact as `f64`.
        let reached = self.failures as f64 / calls as f64 >= rate.threshold;
        calls >= rate.min_calls && calls > 0 && reached
    }

    /// Forgets every outcome: a new closed period starts afresh.
    pub(super) fn clear(&mut self) {
        self.outcomes.clear();
        self.failures = 0;
    }

    /// How many outcomes it holds.
    pub(super) fn calls(&self) -> usize {
        self.outcomes.len()
    }

    /// How many of them are failures.
    pub(super) fn failures(&self) -> usize {
        self.failures
    }
}
