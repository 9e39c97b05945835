//! Retry per item in a streamed map: an item's attempts are made again in its place
//! (the item keeps its place in the buffer, so the window and the backpressure are
//! those of one item), paused by the policy's backoff, limited by its attempts, its
//! total time and a retry budget of the map's own.

use super::ItemResult;
use crate::TaskError;
use crate::items::ItemCounters;
use crate::policy::retry::{Retry, RetryIf};
use crate::route::Route;
use futures_util::FutureExt;
use sluice_core::{RetryBudget, Rng};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a CPU thread sleeps at most between two looks at the map's cancellation
/// while it waits out a backoff: a cancelled map answers its item within this.
const CANCEL_LOOK: Duration = Duration::from_millis(5);

/// One map's retry policy, shared by its items.
pub(crate) struct ItemRetry<C> {
    /// The policy.
    retry: Retry,
    /// Which failures are tried again.
    classify: C,
    /// The map's own budget: its retries add at most the policy's ratio to its items.
    budget: Option<RetryBudget>,
    /// The route, whose item counts add up every map's.
    route: Arc<Route>,
    /// The map's item counts.
    counts: Arc<ItemCounters>,
}

/// One item's attempts so far.
struct Attempts {
    /// Made so far.
    made: u32,
    /// When the first began, if the policy limits the total time.
    began: Option<Instant>,
    /// Draws the jitter; made at the first retry.
    rng: Option<Rng>,
}

impl<C> ItemRetry<C> {
    pub(crate) fn new(
        retry: Retry,
        classify: C,
        route: Arc<Route>,
        counts: Arc<ItemCounters>,
    ) -> Self {
        let budget = retry
            .budget()
            .and_then(|config| RetryBudget::new(config).ok());
        ItemRetry {
            retry,
            classify,
            budget,
            route,
            counts,
        }
    }

    fn first(&self) -> Attempts {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        Attempts {
            made: 1,
            began: self.retry.max_elapsed().map(|_| Instant::now()),
            rng: None,
        }
    }

    /// The pause before another attempt after `error`, or `None` to answer it.
    fn delay<E>(&self, attempts: &mut Attempts, error: &TaskError<E>) -> Option<Duration>
    where
        C: RetryIf<E>,
    {
        let final_kind = matches!(error, TaskError::Cancelled | TaskError::ShuttingDown);
        if final_kind
            || crate::is_cancelled()
            || attempts.made >= self.retry.max_attempts()
            || !self.classify.retry(error)
        {
            return None;
        }
        // The seed is drawn at an item's first retry only: the n-th item to retry
        // replays the policy's n-th seed.
        let rng = attempts.rng.get_or_insert_with(|| {
            self.retry
                .next_seed()
                .map_or_else(Rng::from_entropy, Rng::seeded)
        });
        let mut delay = self.retry.backoff().delay(attempts.made - 1, rng);
        if let TaskError::Rejected { retry_after, .. } = error {
            delay = delay.max(*retry_after);
        }
        if let (Some(limit), Some(began)) = (self.retry.max_elapsed(), attempts.began)
            && began.elapsed().saturating_add(delay) > limit
        {
            return None;
        }
        if let Some(budget) = &self.budget
            && !budget.withdraw()
        {
            return None;
        }
        attempts.made += 1;
        self.route.items.retried();
        self.counts.retried();
        Some(delay)
    }

    /// Runs `attempt` until it succeeds or the policy answers its failure, on this
    /// thread, waiting out the backoff here. A panic the policy does not retry goes on
    /// unwinding (the map answers it `Panicked`); a map cancelled meanwhile answers
    /// `Cancelled`.
    pub(crate) fn run_blocking<O, E>(
        &self,
        attempt: impl Fn() -> ItemResult<O, E>,
    ) -> ItemResult<O, E>
    where
        C: RetryIf<E>,
    {
        let mut attempts = self.first();
        loop {
            let (error, payload) = match catch_unwind(AssertUnwindSafe(&attempt)) {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => (error, None),
                Err(payload) => {
                    let message = crate::task::panic_message(&*payload);
                    (TaskError::Panicked(message), Some(payload))
                }
            };
            let Some(delay) = self.delay(&mut attempts, &error) else {
                if let Some(payload) = payload {
                    resume_unwind(payload);
                }
                return Err(error);
            };
            drop(error);
            if !wait_out(delay) {
                return Err(TaskError::Cancelled);
            }
        }
    }

    /// Awaits the futures `attempt()` until one succeeds or the policy answers its
    /// failure, each under `limit` if given (a timed-out attempt is a failure like
    /// another: `TimedOut`). A panic the policy does not retry goes on unwinding.
    pub(crate) async fn run<O, E, Fut>(
        &self,
        attempt: impl Fn() -> Fut,
        limit: Option<Duration>,
    ) -> ItemResult<O, E>
    where
        C: RetryIf<E>,
        Fut: Future<Output = ItemResult<O, E>>,
    {
        let mut attempts = self.first();
        loop {
            // The future is made outside the await, so that the attempt's maker (which
            // owns the item) is never borrowed across it: the item need not be `Sync`.
            let ran = match catch_unwind(AssertUnwindSafe(&attempt)) {
                Ok(future) => {
                    AssertUnwindSafe(limited(future, limit))
                        .catch_unwind()
                        .await
                }
                Err(payload) => Err(payload),
            };
            let (error, payload) = match ran {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => (error, None),
                Err(payload) => {
                    let message = crate::task::panic_message(&*payload);
                    (TaskError::Panicked(message), Some(payload))
                }
            };
            let Some(delay) = self.delay(&mut attempts, &error) else {
                if let Some(payload) = payload {
                    resume_unwind(payload);
                }
                return Err(error);
            };
            drop(error);
            tokio::time::sleep(delay).await;
            if crate::is_cancelled() {
                return Err(TaskError::Cancelled);
            }
        }
    }
}

/// Awaits one attempt, under `limit` if given.
async fn limited<O, E>(
    attempt: impl Future<Output = ItemResult<O, E>>,
    limit: Option<Duration>,
) -> ItemResult<O, E> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or(Err(TaskError::TimedOut)),
        None => attempt.await,
    }
}

/// Sleeps `delay` on this thread in short naps, looking at the map's cancellation
/// between them; answers false if it was cancelled.
fn wait_out(delay: Duration) -> bool {
    // A pause too long to add to the clock is as good as endless: only cancel ends it.
    let until = Instant::now().checked_add(delay);
    loop {
        if crate::is_cancelled() {
            return false;
        }
        let left = until.map_or(CANCEL_LOOK, |until| {
            until.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(CANCEL_LOOK));
    }
}
