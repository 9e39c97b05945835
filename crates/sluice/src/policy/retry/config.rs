//! [`Retry`]: how many attempts, how long between them, how long in all, and the budget
//! that keeps a failing dependency from a retry storm.

use sluice_core::{Backoff, BudgetConfig, BudgetConfigError, Jitter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;

/// A retry policy for [`TaskBuilder::retry`](crate::TaskBuilder::retry).
///
/// The defaults: 3 attempts in all; exponential backoff from 100 ms, doubling up to
/// 10 s, with full jitter; no limit on the total time; and a retry budget per task
/// name that lets retries add at most 20% to the name's calls of the last 10 seconds
/// (plus 10 retries per window, so rarely called names can still retry).
///
/// The budget is on by default and may refuse a retry the policy asks for — that is
/// its job when a dependency fails for every task at once — but never silently: the
/// task answers its last attempt's result, its
/// [`TaskRecord`](crate::TaskRecord::retry_refused_by_budget) says the budget refused
/// it, the name's refusals are counted in
/// [`Snapshot::retry_budgets`](crate::Snapshot::retry_budgets), and a `WARN` event
/// ("retry budget spent", at most one per name per second) says so. Turn it off with
/// [`no_budget`](RetryBuilder::no_budget).
///
/// # Examples
///
/// ```
/// use sluice::retry::{Backoff, BudgetConfig, Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .max_attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(50)).max_delay(Duration::from_secs(2)).jitter(Jitter::Equal))
///     .max_elapsed(Duration::from_secs(10))
///     .budget(BudgetConfig::new().ratio(0.1))
///     .build()?;
/// assert_eq!(retry.max_attempts(), 5);
///
/// let bad = Retry::builder().max_attempts(0).build();
/// assert_eq!(bad.unwrap_err().to_string(), "retry.max_attempts = 0: must be at least 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts in all, the first included.
    max_attempts: u32,
    /// The pause before each retry.
    backoff: Backoff,
    /// No retry starts later than this after the first attempt began.
    max_elapsed: Option<Duration>,
    /// The budget of the task's name, if any.
    budget: Option<BudgetConfig>,
    /// Seeds the jitter, for replaying exact delays.
    seed: Option<u64>,
    /// Tasks submitted with this policy (and its clones), for their seeds: only with a
    /// seed. Without one a clone is a plain copy: a shared count raised for each task
    /// (the policy cloned into it) and dropped by its worker was a line every
    /// submitter and worker wrote, once each per task.
    tasks: Option<Arc<AtomicU64>>,
}

/// Builds a [`Retry`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build()"]
pub struct RetryBuilder {
    /// What is built.
    retry: Retry,
}

/// A retry setting out of range; the message names the setting, its value and what is
/// allowed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RetryConfigError {
    /// `max_attempts` was zero.
    #[error("retry.max_attempts = {0}: must be at least 1")]
    MaxAttempts(u32),
    /// `max_elapsed` was zero.
    #[error("retry.max_elapsed = {0:?}: must be more than zero")]
    MaxElapsed(Duration),
    /// The budget's settings.
    #[error(transparent)]
    Budget(#[from] BudgetConfigError),
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 3,
            backoff: Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_secs(10))
                .jitter(Jitter::Full),
            max_elapsed: None,
            budget: Some(BudgetConfig::new()),
            seed: None,
            tasks: None,
        }
    }
}

impl Retry {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryBuilder {
        RetryBuilder {
            retry: Retry::default(),
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The pause before each retry.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// No retry starts later than this after the first attempt began.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The retry budget of the task's name, if any.
    pub fn budget(&self) -> Option<BudgetConfig> {
        self.budget
    }

    /// The jitter's seed, if one was set.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The jitter seed of the next task submitted with this policy; `None` for one
    /// drawn from entropy when the task first retries (most tasks never do, and
    /// entropy costs more than a counter).
    pub(crate) fn next_seed(&self) -> Option<u64> {
        let seed = self.seed?;
        let n = self
            .tasks
            .as_ref()
            .map_or(0, |tasks| tasks.fetch_add(1, Ordering::Relaxed));
        Some(seed.wrapping_add(n))
    }
}

impl RetryBuilder {
    /// Attempts in all, the first included (at least 1; 1 means no retry).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts;
        self
    }

    /// The pause before each retry.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.retry.backoff = backoff;
        self
    }

    /// No retry starts later than `limit` after the first attempt began (the attempt
    /// running then still ends as it will).
    pub fn max_elapsed(mut self, limit: Duration) -> Self {
        self.retry.max_elapsed = Some(limit);
        self
    }

    /// The retry budget, shared by every task of the same name: when retries of the
    /// name's recent calls use it up, a failed attempt is answered instead of retried.
    pub fn budget(mut self, budget: BudgetConfig) -> Self {
        self.retry.budget = Some(budget);
        self
    }

    /// No retry budget: every task retries up to its own limits.
    pub fn no_budget(mut self) -> Self {
        self.retry.budget = None;
        self
    }

    /// Seeds the jitter, so that a test can replay exact delays: the `n`-th task
    /// submitted with this policy waits the delays of
    /// [`Backoff::delays`]`(seed + n)` (counting from 0 per built policy, in
    /// submission order).
    pub fn seed(mut self, seed: u64) -> Self {
        self.retry.seed = Some(seed);
        self
    }

    /// The policy, or the first setting out of range.
    pub fn build(self) -> Result<Retry, RetryConfigError> {
        let mut retry = self.retry;
        // Each built policy counts its tasks from 0.
        retry.tasks = retry.seed.map(|_| Arc::default());
        if retry.max_attempts == 0 {
            return Err(RetryConfigError::MaxAttempts(retry.max_attempts));
        }
        if let Some(limit) = retry.max_elapsed
            && limit.is_zero()
        {
            return Err(RetryConfigError::MaxElapsed(limit));
        }
        if let Some(budget) = &retry.budget {
            budget.validate()?;
        }
        Ok(retry)
    }
}
