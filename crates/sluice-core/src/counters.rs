//! Outcome accounting: every submitted task ends in exactly one counted outcome.
//!
//! Each counter is one atomic, so recording never blocks. The sums are exact: once all
//! work has ended, `submitted == ` the sum of the outcomes, under any interleaving (the
//! loom test `tests/loom_counters.rs` checks it). While work runs, a snapshot reads the
//! outcomes before `submitted`, so it never shows more outcomes than submissions.
//!
//! # Examples
//!
//! ```
//! use sluice_core::{Counters, Outcome};
//!
//! let counters = Counters::new();
//! counters.submitted();
//! counters.started();
//! counters.finished(Outcome::Succeeded);
//! let snap = counters.snapshot();
//! assert_eq!(snap.submitted, snap.outcomes_total());
//! assert_eq!(snap.in_flight, 0);
//! ```

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// How a task ended. Exactly one per submitted task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It ran and returned its value.
    Succeeded,
    /// It ran and returned its own error.
    Failed,
    /// It panicked; the panic was caught.
    Panicked,
    /// It was cancelled, before or while running.
    Cancelled,
    /// It ran past its deadline.
    TimedOut,
    /// It was refused without running (shutting down, a breaker open, a full queue).
    Rejected,
}

impl Outcome {
    /// Every outcome, in the order snapshots list them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::Panicked,
        Outcome::Cancelled,
        Outcome::TimedOut,
        Outcome::Rejected,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Lock-free outcome counters for one route (or one key, one name).
///
/// The submitting thread's counter and the workers' sit on cache lines of their own:
/// a burst of submissions would otherwise pull the line the workers count on away from
/// them once per task, and back (the same reason the histograms are sharded).
#[derive(Debug, Default)]
pub struct Counters {
    /// Counted by whoever submits.
    submit: SubmitSide,
    /// Counted by whoever runs and answers.
    run: RunSide,
}

/// The counter the submitting thread moves, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct SubmitSide {
    /// Tasks accepted for running.
    submitted: AtomicU64,
}

/// The counters the running side moves, on lines of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct RunSide {
    /// Tasks whose body began.
    started: AtomicU64,
    /// One counter per [`Outcome`], indexed by `Outcome::index`.
    outcomes: [AtomicU64; 6],
    /// Bodies running now.
    in_flight: AtomicU64,
    /// The most bodies seen running at once.
    high_water: AtomicU64,
    /// Bodies that ended after their task had been answered (timed out): their result
    /// was dropped, never delivered.
    abandoned: AtomicU64,
    /// Attempts that failed and were tried again.
    retries: AtomicU64,
}

/// A plain copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Tasks accepted for running.
    pub submitted: u64,
    /// Tasks whose body began.
    pub started: u64,
    /// Tasks that returned their value.
    pub succeeded: u64,
    /// Tasks that returned their own error.
    pub failed: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks cancelled before or while running.
    pub cancelled: u64,
    /// Tasks that ran past their deadline.
    pub timed_out: u64,
    /// Tasks refused without running.
    pub rejected: u64,
    /// Bodies running at the moment of the snapshot.
    pub in_flight: u64,
    /// The most bodies seen running at once.
    pub high_water: u64,
    /// Bodies that ended after their task timed out; their results were dropped.
    pub abandoned: u64,
    /// Attempts that failed and were tried again.
    pub retries: u64,
}

impl CountersSnapshot {
    /// The sum of all outcomes; equals `submitted` once all work has ended.
    pub fn outcomes_total(&self) -> u64 {
        self.succeeded
            + self.failed
            + self.panicked
            + self.cancelled
            + self.timed_out
            + self.rejected
    }

    /// Tasks submitted and not yet ended.
    pub fn pending(&self) -> u64 {
        self.submitted.saturating_sub(self.outcomes_total())
    }
}

impl Counters {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A task was accepted.
    pub fn submitted(&self) {
        self.submit.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// A task's body began (each attempt of a retried task is a body of its own).
    pub fn started(&self) {
        self.run.started.fetch_add(1, Ordering::Relaxed);
        let now = self.run.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        // Read first: the mark only rises, so a count at or under it changes nothing,
        // and the common case stays a load instead of a read-modify-write.
        if now > self.run.high_water.load(Ordering::Relaxed) {
            self.run.high_water.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// A task whose body had begun ended with `outcome`.
    pub fn finished(&self, outcome: Outcome) {
        self.run.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.ended(outcome);
    }

    /// A task ended with `outcome` without its body having begun (or after its body
    /// was accounted for separately).
    pub fn ended(&self, outcome: Outcome) {
        // Release pairs with the Acquire in `snapshot`: whoever sees this outcome also
        // sees the submission that preceded it.
        self.run.outcomes[outcome.index()].fetch_add(1, Ordering::Release);
    }

    /// A task whose body is still running was answered (timed out): its outcome counts
    /// now, and the body stays in flight until it really ends
    /// ([`abandoned`](Self::abandoned)).
    pub fn answered_early(&self, outcome: Outcome) {
        self.ended(outcome);
    }

    /// A body whose task was answered early has ended; its result is dropped.
    pub fn abandoned(&self) {
        self.run.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.run.abandoned.fetch_add(1, Ordering::Relaxed);
    }

    /// One attempt of a retried task ended, its answer passed to the retry policy
    /// rather than counted: the body leaves the in-flight count, the task's outcome
    /// is counted once, when its last attempt is answered.
    pub fn attempt_ended(&self) {
        self.run.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A failed attempt will be tried again.
    pub fn retried(&self) {
        self.run.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The count of one outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.run.outcomes[outcome.index()].load(Ordering::Acquire)
    }

    /// A copy of every counter. Outcomes are read before `submitted`, so a snapshot
    /// taken while work runs never shows more outcomes than submissions.
    pub fn snapshot(&self) -> CountersSnapshot {
        let [succeeded, failed, panicked, cancelled, timed_out, rejected] =
            Outcome::ALL.map(|outcome| self.count(outcome));
        let in_flight = self.run.in_flight.load(Ordering::Relaxed);
        let high_water = self.run.high_water.load(Ordering::Relaxed);
        let abandoned = self.run.abandoned.load(Ordering::Relaxed);
        let retries = self.run.retries.load(Ordering::Relaxed);
        let started = self.run.started.load(Ordering::Relaxed);
        let submitted = self.submit.submitted.load(Ordering::Relaxed);
        CountersSnapshot {
            submitted,
            started,
            succeeded,
            failed,
            panicked,
            cancelled,
            timed_out,
            rejected,
            in_flight,
            high_water,
            abandoned,
            retries,
        }
    }
}
