//! Tasks run by a driver of attempts: retried tasks (`TaskBuilder<Retrying<C>>`, whose
//! work is an `Fn`), and tasks with a deadline for the whole task.

use super::TaskBuilder;
use super::promote::PromotionParts;
use crate::TaskError;
use crate::lock::take;
use crate::policy::breaker::{self, Guarded};
use crate::policy::keyed::start as start_task;
use crate::policy::retry::{
    Driver, Holds, Launch, NamedBudget, NoRetry, Plan, Retry, RetryIf, Retrying, SharedLaunch, When,
};
use crate::route::Route;
use crate::task::{
    AttemptSink, ClosureSetup, Control, Reply, TaskHandle, TaskInfo, launch_closure, launch_future,
};
use sluice_core::{Backoff, CircuitBreaker, Outcome};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl<'m, C> TaskBuilder<'m, Retrying<C>> {
    /// Retries only the failures `predicate` accepts (instead of the default: the
    /// task's own error and timeouts). It sees every kind of failure, so panics
    /// ([`TaskError::Panicked`]) and breaker rejections ([`TaskError::Rejected`],
    /// retried no sooner than the breaker lets a probe through) are retried only if it
    /// says so; cancellations and shutdown never are.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use sluice::retry::{Backoff, Retry};
    /// use std::time::Duration;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum Fetch { Busy, NotFound }
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let retry = Retry::builder().backoff(Backoff::exponential(Duration::from_millis(1))).build()?;
    /// let missing = mgr
    ///     .task("fetch")
    ///     .retry(retry)
    ///     .retry_if(|error: &TaskError<Fetch>| matches!(error, TaskError::Failed(Fetch::Busy)))
    ///     .try_run_io(|| async { Err::<(), _>(Fetch::NotFound) });
    /// assert_eq!(missing.wait(), Err(TaskError::Failed(Fetch::NotFound)));
    /// assert_eq!(mgr.snapshot().total().retries, 0, "not found is final");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_if<E, P>(self, predicate: P) -> TaskBuilder<'m, Retrying<When<E, P>>>
    where
        P: Fn(&TaskError<E>) -> bool + Send + Sync + 'static,
    {
        TaskBuilder {
            mgr: self.mgr,
            policy: self.policy,
            retry: Retrying {
                retry: self.retry.retry,
                classify: When::new(predicate),
            },
        }
    }

    /// As [`ConcurrencyManager::run_cpu`](crate::ConcurrencyManager::run_cpu), retried:
    /// `work` is called once per attempt.
    pub fn run_cpu<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Send + 'static,
        C: RetryIf<Infallible>,
    {
        self.try_run_cpu(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_cpu`](crate::ConcurrencyManager::try_run_cpu),
    /// retried: `work` is called once per attempt.
    pub fn try_run_cpu<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        // Borrowed, not cloned: a clone is a count every task and worker touches.
        let mgr = self.mgr;
        self.retried_closure(&mgr.inner().cpu, work)
    }

    /// As [`ConcurrencyManager::run_chunk`](crate::ConcurrencyManager::run_chunk),
    /// retried: `work` is called once per attempt.
    pub fn run_chunk<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Send + 'static,
        C: RetryIf<Infallible>,
    {
        self.try_run_chunk(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_chunk`](crate::ConcurrencyManager::try_run_chunk),
    /// retried: `work` is called once per attempt.
    pub fn try_run_chunk<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        // Borrowed, not cloned: a clone is a count every task and worker touches.
        let mgr = self.mgr;
        self.retried_closure(&mgr.inner().chunk, work)
    }

    /// As [`ConcurrencyManager::run_io_blocking`](crate::ConcurrencyManager::run_io_blocking),
    /// retried: `work` is called once per attempt.
    pub fn run_io_blocking<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Send + 'static,
        C: RetryIf<Infallible>,
    {
        self.try_run_io_blocking(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_io_blocking`](crate::ConcurrencyManager::try_run_io_blocking),
    /// retried: `work` is called once per attempt.
    pub fn try_run_io_blocking<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        // Borrowed, not cloned: a clone is a count every task and worker touches.
        let mgr = self.mgr;
        self.retried_closure(&mgr.inner().io_blocking, work)
    }

    /// As [`ConcurrencyManager::run_on`](crate::ConcurrencyManager::run_on), retried:
    /// `work` is called once per attempt.
    pub fn run_on<F, T>(self, executor: &str, work: F) -> TaskHandle<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Send + 'static,
        C: RetryIf<Infallible>,
    {
        self.try_run_on(executor, move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_on`](crate::ConcurrencyManager::try_run_on),
    /// retried: `work` is called once per attempt.
    pub fn try_run_on<F, T, E>(self, executor: &str, work: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        match self.mgr.inner().custom.get(executor).cloned() {
            Some(route) => self.retried_closure(&route, work),
            None => TaskHandle::answered(TaskError::UnknownExecutor(executor.to_owned())),
        }
    }

    /// As [`ConcurrencyManager::run_io`](crate::ConcurrencyManager::run_io), retried:
    /// `make` is called once per attempt for a new future.
    pub fn run_io<F, Fut>(self, make: F) -> TaskHandle<Fut::Output>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
        C: RetryIf<Infallible>,
    {
        self.try_run_io(move || {
            let future = make();
            async move { Ok::<_, Infallible>(future.await) }
        })
    }

    /// As [`ConcurrencyManager::try_run_io`](crate::ConcurrencyManager::try_run_io),
    /// retried: `make` is called once per attempt for a new future.
    pub fn try_run_io<F, Fut, T, E>(self, make: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        let (builder, retry, classify) = self.split();
        builder.drive_future(Some(retry), classify, move || Some(make()))
    }

    fn retried_closure<F, T, E>(self, route: &Arc<Route>, work: F) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        let (builder, retry, classify) = self.split();
        if builder.policy.deadline.is_none() {
            // Its first attempt is an ordinary task, which makes a driver only when a
            // failure may be retried.
            return builder.retried_first(route, retry, classify, work);
        }
        builder.retried_driver(route, retry, classify, work, None)
    }

    /// The policies without the retry, the retry, and its judge.
    fn split(self) -> (TaskBuilder<'m, NoRetry>, Retry, C) {
        let TaskBuilder {
            mgr,
            policy,
            retry: Retrying { retry, classify },
        } = self;
        let builder = TaskBuilder {
            mgr,
            policy,
            retry: NoRetry,
        };
        (builder, retry, classify)
    }
}

impl TaskBuilder<'_, NoRetry> {
    /// Submits a retried closure task as a driver of attempts from the start (a task
    /// with a deadline, or one its breaker refused at submission: `refused`, the first
    /// attempt's answer).
    pub(super) fn retried_driver<F, T, E, C>(
        self,
        route: &Arc<Route>,
        retry: Retry,
        classify: C,
        work: F,
        refused: Option<TaskError<E>>,
    ) -> TaskHandle<T, E>
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        // The work lives in the driver; each attempt reaches it through the driver.
        self.drive_closure(
            route,
            (Some(retry), refused),
            classify,
            work,
            |driver: &Arc<dyn Holds<F>>| {
                let driver = driver.clone();
                Some(move || (driver.held())())
            },
        )
    }
}

impl<R> TaskBuilder<'_, R> {
    /// What each attempt of this task asks of its breaker.
    pub(super) fn attempt_guards(&self) -> AttemptGuards {
        AttemptGuards::of(self)
    }

    /// Submits closure work to `route` as a driver of attempts: `make` gives each
    /// attempt its work (`None`: there is none left — an `FnOnce` already used), given
    /// the driver as the holder of `shared`, which it keeps for the attempts.
    /// Without `retry`, one attempt (a task with a deadline of its own). `refused`: the
    /// first attempt's answer, if the breaker refused it at submission.
    pub(super) fn drive_closure<S, M, F, T, E, C>(
        self,
        route: &Arc<Route>,
        (retry, refused): (Option<Retry>, Option<TaskError<E>>),
        classify: C,
        shared: S,
        make: M,
    ) -> TaskHandle<T, E>
    where
        S: Send + Sync + 'static,
        M: Fn(&Arc<dyn Holds<S>>) -> Option<F> + Send + Sync + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        let inner = self.mgr.inner();
        let attempt_route = route.clone();
        let scope = inner.scope.clone();
        let deadline = self.attempt_deadline();
        let guards = self.attempt_guards();
        let unknown = guards.unknown();
        let priority = self.policy.priority;
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        let info = self.task_info();
        let attempt_info = info.clone();
        let refused = Mutex::new(refused);
        let launch = move |sink: Arc<dyn AttemptSink<T, E>>,
                           holder: Arc<dyn Holds<S>>,
                           attempt: u32|
              -> Option<Arc<dyn Control>> {
            if attempt == 1
                && let Some(refusal) = take(&refused)
            {
                sink.answered(attempt, Outcome::Rejected, Err(refusal));
                return None;
            }
            let (guard, work) = guards.prepare(&sink, attempt, || make(&holder))?;
            let setup = ClosureSetup {
                route: &attempt_route,
                scope: &scope,
                deadline: deadline.clone(),
                guard,
                priority,
                dependency: dependency.clone(),
            };
            let reply =
                Reply::to_driver(attempt_route.clone(), sink, attempt, attempt_info.clone());
            Some(launch_closure(setup, reply, work))
        };
        let launch = SharedLaunch { shared, launch };
        self.drive(route, retry, classify, launch, (None, info, unknown))
    }

    /// Submits io work as a driver of attempts: `make` gives each attempt its future
    /// (`None`: there is none left). Without `retry`, one attempt.
    pub(super) fn drive_future<M, Fut, T, E, C>(
        self,
        retry: Option<Retry>,
        classify: C,
        make: M,
    ) -> TaskHandle<T, E>
    where
        M: Fn() -> Option<Fut> + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
    {
        let inner = self.mgr.inner();
        let io = inner.io_side.clone();
        let route = io.route.clone();
        let guards = self.attempt_guards();
        let unknown = guards.unknown();
        let mut policy = self.policy.clone();
        // Each attempt has its own timeout; the whole task's deadline is the driver's.
        policy.deadline = None;
        policy.key = None;
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        let info = self.task_info();
        let attempt_info = info.clone();
        let launch =
            move |sink: Arc<dyn AttemptSink<T, E>>, attempt: u32| -> Option<Arc<dyn Control>> {
                let (guard, future) = guards.prepare(&sink, attempt, &make)?;
                let reply = Reply::to_driver(io.route.clone(), sink, attempt, attempt_info.clone());
                let dependency = dependency.clone();
                Some(launch_future(
                    &io,
                    policy.clone(),
                    guard,
                    dependency,
                    reply,
                    future,
                ))
            };
        self.drive(&route, retry, classify, launch, (None, info, unknown))
    }

    /// Submits a driver whose attempts `launch` starts; the driver keeps each attempt's
    /// `attempt_timeout` itself (for attempts that keep none of their own).
    pub(super) fn drive<T, E, C, L>(
        self,
        route: &Arc<Route>,
        retry: Option<Retry>,
        classify: C,
        launch: L,
        (attempt_timeout, info, unknown): (Option<Duration>, TaskInfo, Option<Arc<str>>),
    ) -> TaskHandle<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
        L: Launch<T, E>,
    {
        if let Some(refused) =
            self.mgr
                .refuse(route, self.policy.name.as_ref(), self.policy.key.as_ref())
        {
            return refused;
        }
        // A breaker nobody registered: answered at once, counted nowhere.
        if let Some(name) = unknown {
            return TaskHandle::answered(TaskError::UnknownBreaker(name.to_string()));
        }
        let plan = self.plan(retry.as_ref(), attempt_timeout);
        let inner = self.mgr.inner();
        let (state, keys) = self.keyed(inner).unzip();
        // Token and answer's slot live in the driver: one allocation for the three.
        let driver = Driver::new(
            inner.scope.cell(),
            Reply::in_place(route.clone(), info),
            launch,
            classify,
            plan,
            state,
            self.policy.deadline,
        );
        route.counters.submitted();
        start_task(driver.clone(), keys);
        TaskHandle::within(driver)
    }

    /// A driver's plan under `retry` (one attempt without), keeping each attempt's
    /// `attempt_timeout` itself if given.
    pub(super) fn plan(&self, retry: Option<&Retry>, attempt_timeout: Option<Duration>) -> Plan {
        let inner = self.mgr.inner();
        let plan = PlanParts {
            name: self.policy.name.clone(),
            budget: retry.and_then(|retry| self.budget(retry)),
            seed: retry.and_then(Retry::next_seed),
            attempt_timeout,
        };
        plan.under(retry, &inner.promotion)
    }

    /// The retry budget `retry` asks for under the task's name, if both are given.
    pub(super) fn budget(&self, retry: &Retry) -> Option<Arc<NamedBudget>> {
        let name = self.policy.name.as_ref()?;
        let config = retry.budget()?;
        self.mgr.inner().budgets.of(name, config)
    }
}

/// What a driver's plan takes of its task, besides the `Retry` and the manager's parts.
pub(super) struct PlanParts {
    /// The task's name, for logs.
    pub(super) name: Option<Arc<str>>,
    /// The name's retry budget.
    pub(super) budget: Option<Arc<NamedBudget>>,
    /// The jitter's seed, drawn at submission.
    pub(super) seed: Option<u64>,
    /// A time limit the driver keeps on each attempt.
    pub(super) attempt_timeout: Option<Duration>,
}

impl PlanParts {
    /// The plan under `retry` (one attempt without), on the manager's `parts`.
    pub(super) fn under(self, retry: Option<&Retry>, parts: &PromotionParts) -> Plan {
        Plan {
            name: self.name,
            max_attempts: retry.map_or(1, Retry::max_attempts),
            backoff: retry.map_or(Backoff::exponential(Duration::ZERO), Retry::backoff),
            max_elapsed: retry.and_then(Retry::max_elapsed),
            budget: self.budget,
            attempt_timeout: self.attempt_timeout,
            seed: self.seed,
            timers: parts.timers.clone(),
            closed: parts.closed.clone(),
            scope: parts.scope.clone(),
        }
    }
}

/// What each attempt asks of the task's circuit breaker, looked up once for the task
/// (a name lookup per attempt would hash the name every time).
pub(super) struct AttemptGuards {
    /// The task's breaker, if it names one: its name, and the breaker or `None` if no
    /// breaker of that name is registered.
    breaker: Option<NamedBreaker>,
    /// The task's name, for the log.
    name: Option<Arc<str>>,
}

/// A task's breaker's name, and the breaker or `None` if no breaker of that name is
/// registered.
pub(super) type NamedBreaker = (Arc<str>, Option<CircuitBreaker>);

impl AttemptGuards {
    /// The guards of a task named `name` whose breaker (its name, and the breaker if
    /// one of that name is registered) is `breaker`.
    pub(super) fn with(breaker: Option<NamedBreaker>, name: Option<Arc<str>>) -> Self {
        AttemptGuards { breaker, name }
    }

    fn of<R>(builder: &TaskBuilder<'_, R>) -> Self {
        let breakers = &builder.mgr.inner().breakers;
        AttemptGuards {
            breaker: builder.policy.breaker.as_ref().map(|name| {
                let key = builder.policy.key.as_ref();
                let found = breakers.get_named(name, key);
                (name.clone(), found)
            }),
            name: builder.policy.name.clone(),
        }
    }

    /// The breaker, if the task names one: kept by a first attempt for its later
    /// attempts (the task's name is its reply's, not kept twice). Kept, not looked up
    /// again: the task holds its per-key breaker, so the registry does not forget it.
    pub(super) fn into_breaker(self) -> Option<NamedBreaker> {
        self.breaker
    }

    /// The breaker's name if the task names one that is not registered.
    pub(super) fn unknown(&self) -> Option<Arc<str>> {
        match &self.breaker {
            Some((name, None)) => Some(name.clone()),
            _ => None,
        }
    }

    /// What attempt `attempt` needs to start: its breaker's call (none without a
    /// breaker) and its work from `work`; or `None`, with `sink` told why (the breaker
    /// refused it, or there is no work left: an `FnOnce` already used).
    pub(super) fn prepare<W, T, E>(
        &self,
        sink: &Arc<dyn AttemptSink<T, E>>,
        attempt: u32,
        work: impl FnOnce() -> Option<W>,
    ) -> Option<(Option<Guarded>, W)> {
        let guard = match self.admit() {
            Ok(guard) => guard,
            Err(error) => {
                sink.answered(attempt, Outcome::Rejected, Err(error));
                return None;
            }
        };
        let Some(work) = work() else {
            sink.answered(attempt, Outcome::Cancelled, Err(TaskError::Cancelled));
            return None;
        };
        Some((guard, work))
    }

    /// The attempt's admitted call (none without a breaker), or its rejection.
    pub(super) fn admit<E>(&self) -> Result<Option<Guarded>, TaskError<E>> {
        match &self.breaker {
            None => Ok(None),
            Some((name, None)) => Err(TaskError::UnknownBreaker(name.to_string())),
            Some((name, Some(breaker))) => {
                breaker::admit_to(breaker, name, self.name.as_deref()).map(Some)
            }
        }
    }
}
