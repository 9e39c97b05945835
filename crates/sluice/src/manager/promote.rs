//! A retried closure task whose first attempt is an ordinary closure task: the retry
//! driver is made only when a failure may be retried ("promotion"), so a task never
//! retried costs what a task with a timeout and a breaker costs.
//!
//! The first task keeps what a retry needs (the `Fn` work, the retry plan, the
//! classifier, what each attempt asks of the breaker) in its [`Promotable`]. When its
//! body fails, times out, or is refused by its breaker as it starts, and a retry is
//! possible, it makes the driver and hands it the failure as attempt 1's answer. The
//! driver then answers through the first task's reply, passes the key's turn on through
//! the first task's key state, and takes the cancels that reach the first task; the
//! promotion and a cancel are decided under one lock, so no cancel is lost between
//! them.

use super::TaskBuilder;
use super::retried::{AttemptGuards, NamedBreaker, PlanParts};
use crate::TaskError;
use crate::lock::lock;
use crate::policy::limit::Dependency;
use crate::policy::retry::{
    Driver, FirstAttempt, Holds, NamedBudget, NoRetry, Retry, RetryIf, Successor,
};
use crate::policy::timeout::Deadline;
use crate::route::Route;
use crate::task::{
    AttemptSink, Cancel, ClosureSetup, Control, Keeps, Promotion, Reply, TaskHandle, drop_quietly,
    launch_closure, submit_first,
};
use crate::timers::Timers;
use sluice_core::{CancelScope, Outcome, Priority, TokenCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// What a retried closure task's first attempt keeps for a retry.
pub(super) struct Promotable<W, C, T, E> {
    /// The work every attempt calls.
    work: W,
    /// Set (under `stage`'s lock) once the task went on to a driver: read without the
    /// lock as the first body ends.
    promoted: AtomicBool,
    /// Where the task stands.
    stage: Mutex<Stage<W, C, T, E>>,
}

/// Where a first attempt stands, and what it holds for a driver.
struct Stage<W, C, T, E> {
    /// What it does next.
    at: At,
    /// What a driver is made of, until one is made.
    kit: Option<Kit<W, C, T, E>>,
    /// The driver, from the promotion until it is done and no body runs.
    driver: Option<Arc<dyn Successor<T, E>>>,
}

/// Where a first attempt stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// Its answer is not decided.
    First,
    /// It answers its caller itself (it succeeded, or its failure is final).
    Settled,
    /// A driver answers for it.
    Promoted,
    /// The driver is done and no body of the task runs.
    Over,
}

/// What a driver is made of, kept small: nearly every task is never promoted, and
/// each part kept was a copy and a shared count touched per task. The plan and the
/// attempts' timeout and guards are made from it at the promotion; the manager's
/// timers, scope and shutdown flag come through one shared [`PromotionParts`].
struct Kit<W, C, T, E> {
    /// The first task, which the driver answers through.
    first: Weak<dyn FirstAttempt<T, E>>,
    /// The first task as the holder of the work.
    holder: Weak<dyn Holds<W>>,
    /// Which failures are retried.
    classify: C,
    /// Attempts, backoff, budget: the driver's plan is made from it.
    retry: Retry,
    /// The jitter's seed, drawn at submission (the n-th task submitted with a seeded
    /// policy has the n-th seed, whenever it retries).
    seed: Option<u64>,
    /// What each later attempt is launched with.
    attempt: AttemptParts,
}

/// What each attempt after the first is launched with, besides the manager's parts.
struct AttemptParts {
    /// The task's breaker, for the attempts.
    breaker: Option<NamedBreaker>,
    /// Its timeout.
    timeout: Option<Duration>,
    /// Its place in the gate's queue.
    priority: Priority,
    /// The dependency whose limit it waits for.
    dependency: Option<Arc<Dependency>>,
    /// The manager's parts a driver and its attempts use.
    manager: Arc<PromotionParts>,
    /// The task's retry budget, which its submission paid into.
    budget: Option<Arc<NamedBudget>>,
}

/// What a first attempt's promotion needs of its manager, made once with the manager
/// and shared by every retried task as one count: each of these kept by each task was
/// a count of its own to raise and drop, on lines every task and worker touches.
pub(crate) struct PromotionParts {
    /// The timer thread: attempts' timeouts and backoffs.
    pub(crate) timers: Arc<Timers>,
    /// The manager's cancellation.
    pub(crate) scope: CancelScope,
    /// Set once shutdown begins: no retry begins then.
    pub(crate) closed: Arc<AtomicBool>,
}

impl<'m> TaskBuilder<'m, NoRetry> {
    /// Submits a retried closure task to `route` as a first attempt that makes its
    /// retry driver only when a failure may be retried.
    pub(super) fn retried_first<W, T, E, C>(
        self,
        route: &Arc<Route>,
        retry: Retry,
        classify: C,
        work: W,
    ) -> TaskHandle<T, E>
    where
        W: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        if let Some(refused) =
            self.mgr
                .refuse(route, self.policy.name.as_ref(), self.policy.key.as_ref())
        {
            return refused;
        }
        let guards = self.attempt_guards();
        // A breaker nobody registered: answered at once, counted nowhere.
        if let Some(name) = guards.unknown() {
            return TaskHandle::answered(TaskError::UnknownBreaker(name.to_string()));
        }
        let guard = match guards.admit::<E>() {
            Ok(guard) => guard,
            // Refused already: a driver from the start, whose first attempt is this
            // refusal (retried if the task's classifier says so).
            Err(refusal) => {
                return self.retried_driver(route, retry, classify, work, Some(refusal));
            }
        };
        let inner = self.mgr.inner();
        let budget = self.budget(&retry);
        if let Some(budget) = &budget {
            budget.deposit();
        }
        let seed = retry.next_seed();
        let priority = self.policy.priority;
        let setup = ClosureSetup {
            route,
            scope: &inner.scope,
            deadline: self.attempt_deadline(),
            guard,
            priority,
            dependency: dependency.clone(),
        };
        let attempt = AttemptParts {
            breaker: guards.into_breaker(),
            timeout: self.policy.timeout,
            priority,
            dependency,
            manager: inner.promotion.clone(),
            budget,
        };
        submit_first(
            setup,
            self.task_info(),
            self.keyed(inner),
            move |holder, first| Promotable {
                work,
                promoted: AtomicBool::new(false),
                stage: Mutex::new(Stage {
                    at: At::First,
                    kit: Some(Kit {
                        first,
                        holder,
                        classify,
                        retry,
                        seed,
                        attempt,
                    }),
                    driver: None,
                }),
            },
        )
    }
}

/// Whether an attempt's answer may be retried at all (the driver decides the rest:
/// the classifier, the budget, the time left, shutdown).
fn may_retry<T, E>(answer: &Result<T, TaskError<E>>, max_attempts: u32) -> bool {
    max_attempts > 1
        && matches!(answer, Err(error) if !matches!(error, TaskError::Cancelled | TaskError::ShuttingDown))
}

impl<W, C, T, E> Kit<W, C, T, E>
where
    W: Fn() -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
{
    /// Makes the driver of the first task whose reply is `reply`, with `bodies` of its
    /// bodies still to end (1 if its body has not returned, 0 if it never began).
    fn promote(self, reply: &Reply<T, E>, bodies: u32) -> Option<Arc<dyn Successor<T, E>>> {
        let first = self.first.upgrade()?;
        let holder = self.holder.upgrade()?;
        let AttemptParts {
            breaker,
            timeout,
            priority,
            dependency,
            manager,
            budget,
        } = self.attempt;
        let route = reply.route.clone();
        let info = reply.info.clone();
        let plan = PlanParts {
            name: info.name.clone(),
            budget,
            seed: self.seed,
            attempt_timeout: None,
        }
        .under(Some(&self.retry), &manager);
        let began = plan
            .max_elapsed
            .map(|_| reply.body_began().unwrap_or_else(|| reply.submitted()));
        let guards = AttemptGuards::with(breaker, info.name.clone());
        let deadline = timeout.map(|after| Deadline {
            after,
            timers: manager.timers.clone(),
            name: info.name.clone(),
        });
        let scope = manager.scope.clone();
        // The driver's own token, started: the first task's is its first body's.
        let token: TokenCell = scope.cell();
        // An abort that lands just now refuses it: the driver then sees a cancelled
        // task and retries nothing.
        let _ = token.try_start();
        let launch = move |sink: Arc<dyn AttemptSink<T, E>>,
                           attempt: u32|
              -> Option<Arc<dyn Control>> {
            let held = holder.clone();
            let (guard, work) = guards.prepare(&sink, attempt, || Some(move || (held.held())()))?;
            let setup = ClosureSetup {
                route: &route,
                scope: &scope,
                deadline: deadline.clone(),
                guard,
                priority,
                dependency: dependency.clone(),
            };
            let reply = Reply::to_driver(route.clone(), sink, attempt, info.clone());
            Some(launch_closure(setup, reply, work))
        };
        let driver = Driver::promoted(first, token, (launch, self.classify, plan), bodies, began);
        Some(driver)
    }
}

impl<W, C, T, E> Promotable<W, C, T, E>
where
    W: Fn() -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
{
    /// Makes the driver if `answer` may be retried and nothing settled the task
    /// meanwhile (a cancel, its timeout); otherwise the task answers itself. `bodies`
    /// as in [`Kit::promote`]. The driver, if made, must be given the answer next.
    fn decide(
        &self,
        reply: &Reply<T, E>,
        token: &TokenCell,
        answer: &Result<T, TaskError<E>>,
        bodies: u32,
    ) -> Decision<T, E> {
        let mut stage = lock(&self.stage);
        match stage.at {
            At::First => {}
            At::Settled => return Decision::Answer,
            // Gone on to a driver at its timeout, while the body ran.
            At::Promoted | At::Over => return Decision::Late,
        }
        let retry = stage
            .kit
            .as_ref()
            .is_some_and(|kit| may_retry(answer, kit.retry.max_attempts()))
            && !token.is_cancelled()
            && !reply.is_answered();
        // Taken only to promote: a task that answers itself leaves its kit in place
        // (moving it out and back was two copies of a few hundred bytes per task).
        let driver = if retry {
            stage.kit.take().and_then(|kit| kit.promote(reply, bodies))
        } else {
            None
        };
        match driver {
            Some(driver) => {
                stage.at = At::Promoted;
                stage.driver = Some(driver.clone());
                self.promoted.store(true, Ordering::Release);
                Decision::Promote(driver)
            }
            None => {
                stage.at = At::Settled;
                Decision::Answer
            }
        }
    }
}

/// What a first attempt does with an answer.
enum Decision<T, E> {
    /// Answers its caller itself.
    Answer,
    /// Hands it to this driver, just made.
    Promote(Arc<dyn Successor<T, E>>),
    /// Nothing: its task went on to a driver at its timeout, and this is its body's
    /// late end.
    Late,
}

impl<W, C, T, E> Promotion<T, E> for Promotable<W, C, T, E>
where
    W: Fn() -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
{
    fn ended(
        &self,
        reply: &Reply<T, E>,
        token: &TokenCell,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
    ) -> Option<(Outcome, Result<T, TaskError<E>>)> {
        match self.decide(reply, token, &answer, 1) {
            Decision::Answer => Some((outcome, answer)),
            Decision::Promote(driver) => {
                reply.attempt_finished();
                driver.answered(1, outcome, answer);
                None
            }
            Decision::Late => {
                reply.attempt_abandoned();
                drop_quietly(answer, "a timed-out attempt's late result");
                None
            }
        }
    }

    fn timed_out(&self, reply: &Reply<T, E>, token: &TokenCell) -> Option<bool> {
        let timed_out: Result<T, TaskError<E>> = Err(TaskError::TimedOut);
        let Decision::Promote(driver) = self.decide(reply, token, &timed_out, 1) else {
            return None;
        };
        // Its policies see the body as timed out, whatever it returns later.
        reply.mark_timed_out();
        token.cancel();
        driver.answered(1, Outcome::TimedOut, timed_out);
        Some(true)
    }

    fn refused(
        &self,
        reply: &Reply<T, E>,
        token: &TokenCell,
        refusal: TaskError<E>,
    ) -> Option<TaskError<E>> {
        let refused: Result<T, TaskError<E>> = Err(refusal);
        match self.decide(reply, token, &refused, 0) {
            Decision::Promote(driver) => {
                driver.answered(1, Outcome::Rejected, refused);
                None
            }
            Decision::Answer | Decision::Late => refused.err(),
        }
    }

    fn cancel(&self, token: &TokenCell) -> Cancel {
        let stage = lock(&self.stage);
        if let Some(driver) = stage.driver.clone() {
            drop(stage);
            return Cancel::Forwarded(driver.cancel());
        }
        // Under the lock: a promotion after this sees the token cancelled.
        let cancelled = token.cancel();
        drop(stage);
        Cancel::Token(cancelled)
    }

    fn successor(&self) -> Option<Arc<dyn Successor<T, E>>> {
        if !self.promoted.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.stage).driver.clone()
    }

    fn promoted(&self) -> bool {
        self.promoted.load(Ordering::Acquire)
    }

    fn body_ended(&self) {
        if let Some(driver) = self.successor() {
            driver.body_ended(1);
        }
    }

    fn unlink(&self) {
        let driver = {
            let mut stage = lock(&self.stage);
            stage.at = At::Over;
            stage.driver.take()
        };
        drop(driver);
    }
}

impl<W, C, T, E> Keeps<W> for Promotable<W, C, T, E>
where
    W: Send + Sync,
    C: Send,
    T: Send,
    E: Send,
{
    fn work(&self) -> &W {
        &self.work
    }
}
