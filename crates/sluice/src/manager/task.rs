//! `mgr.task("name")`: one task's policies, then the same `run_*` calls as the manager.

use super::ConcurrencyManager;
use crate::TaskError;
use crate::lock::take;
use crate::policy::Policy;
use crate::policy::breaker::{self, Guarded};
use crate::policy::keyed::{KeyState, Keys, OnKeyFailure, TaskKey};
use crate::policy::limit::Dependency;
use crate::policy::retry::{Holds, NoRetry, Retry, Retrying, Transient};
use crate::policy::timeout::Deadline;
use crate::route::Route;
use crate::task::{ClosureSetup, TaskHandle, TaskInfo, submit_closure, submit_future};
use sluice_core::Priority;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Builds one task's policies, then submits it with the same calls as the manager
/// (`run_cpu`, `try_run_io`, …). Made by [`ConcurrencyManager::task`].
///
/// # Examples
///
/// ```
/// use sluice::{ConcurrencyManager, TaskError};
/// use std::time::Duration;
///
/// let mgr = ConcurrencyManager::builder().build()?;
///
/// // An io call that never answers is dropped at its deadline.
/// let stuck = mgr
///     .task("fetch-manifest")
///     .timeout(Duration::from_millis(20))
///     .run_io(std::future::pending::<()>());
/// assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
///
/// // CPU work that checks `is_cancelled()` stops soon after its deadline.
/// let parse = mgr
///     .task("parse")
///     .timeout(Duration::from_millis(20))
///     .run_cpu(|| while !sluice::is_cancelled() {});
/// assert_eq!(parse.wait(), Err(TaskError::TimedOut));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a task builder does nothing until one of its run_* calls"]
pub struct TaskBuilder<'m, R = NoRetry> {
    /// The manager that runs it.
    pub(super) mgr: &'m ConcurrencyManager,
    /// The policies gathered so far.
    pub(super) policy: Policy,
    /// Its retry policy: [`NoRetry`], or [`Retrying`] after [`retry`](Self::retry).
    pub(super) retry: R,
}

impl ConcurrencyManager {
    /// Starts building a task named `name` (the name appears in its log events and
    /// names its retry budget), to give it policies before it is submitted.
    pub fn task(&self, name: impl AsRef<str>) -> TaskBuilder<'_> {
        TaskBuilder {
            mgr: self,
            policy: Policy {
                name: Some(crate::names::shared(name.as_ref())),
                timeout: self.inner().defaults.timeout,
                ..Policy::default()
            },
            retry: NoRetry,
        }
    }

    /// The builder behind the manager's own `run_*` calls: no name, the defaults.
    pub(super) fn plain_task(&self) -> TaskBuilder<'_> {
        TaskBuilder {
            mgr: self,
            policy: Policy {
                timeout: self.inner().defaults.timeout,
                ..Policy::default()
            },
            retry: NoRetry,
        }
    }
}

impl<'m, R> TaskBuilder<'m, R> {
    /// How long one attempt may run, from the moment its work starts (time queued for
    /// admission does not count). At the deadline the attempt answers
    /// [`TaskError::TimedOut`]: an io future is dropped; CPU, chunk or blocking work,
    /// which cannot be stopped from outside, is asked to stop (it sees
    /// [`is_cancelled`](crate::is_cancelled)), keeps its admission slot until it really
    /// ends, and its late result is dropped and counted as `abandoned`. With a
    /// [`retry`](TaskBuilder::retry) policy a timed-out attempt may be tried again.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.policy.timeout = Some(after);
        self
    }

    /// How long the whole task may take, from submission to its answer, whatever its
    /// attempts and pauses: at the deadline it answers [`TaskError::TimedOut`] — from
    /// its key's queue, its gate's queue, a backoff or a running attempt (which is
    /// stopped or abandoned as with [`timeout`](Self::timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let slow = mgr
    ///     .task("slow-lookup")
    ///     .deadline(Duration::from_millis(30))
    ///     .run_io(async { tokio::time::sleep(Duration::from_secs(60)).await });
    /// assert_eq!(slow.wait(), Err(TaskError::TimedOut));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deadline(mut self, within: Duration) -> Self {
        self.policy.deadline = Some(within);
        self
    }

    /// Guards the task with the circuit breaker registered as `name` (see
    /// [`ManagerBuilder::breaker`](crate::ManagerBuilder::breaker) and
    /// [`breaker_per_key`](crate::ManagerBuilder::breaker_per_key)): while the breaker
    /// is open the task is answered [`TaskError::Rejected`] at once, without running,
    /// and counted as rejected; otherwise how its work ends is recorded — a value is a
    /// success, its own error, a panic or a timeout a failure, a cancellation nothing.
    /// A task that waits before it runs (for its key's turn, at its route's gate, in
    /// its backend's queue) asks the breaker again as its work is about to start: if
    /// the breaker opened meanwhile, it is answered [`TaskError::Rejected`] then,
    /// without running, and counted as rejected; its slot and its key's turn go to the
    /// next task. A half-open probe admitted at submission runs as that probe.
    /// Each attempt of a retried task asks the breaker again. Tasks of any route may
    /// share a breaker. An unknown name answers [`TaskError::UnknownBreaker`].
    pub fn breaker(mut self, name: impl AsRef<str>) -> Self {
        self.policy.breaker = Some(crate::names::shared(name.as_ref()));
        self
    }

    /// Sends the task through the adaptive concurrency limit of the dependency
    /// registered as `name` (see
    /// [`ManagerBuilder::dependency`](crate::ManagerBuilder::dependency)): it waits for
    /// the dependency's permit before its route's, and its latency and outcome move the
    /// dependency's limit. Without this call, a task whose
    /// [`breaker`](Self::breaker) has the name of a registered dependency goes through
    /// that dependency. An unknown name answers [`TaskError::UnknownDependency`].
    ///
    /// Each attempt of a retried task is one call (a backoff holds no permit); each
    /// item of a [`map_io`](TaskBuilder::map_io) is one call; the items of `map_cpu`
    /// and `map_chunks` are not calls, so there the name is only checked. The
    /// dependency's permit is not lent while its holder waits for other tasks, so a
    /// call that waits for another call to the same dependency can deadlock once the
    /// limit is 1: keep such waits outside the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use sluice::limit::LimitConfig;
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder()
    ///     .dependency("pdf-api", LimitConfig::new().initial(4).max(32))
    ///     .build()?;
    /// let pages: Vec<_> = (0..8)
    ///     .map(|page| {
    ///         mgr.task("render").limit("pdf-api").run_io(async move {
    ///             tokio::time::sleep(Duration::from_millis(2)).await; // the service call
    ///             page * 10
    ///         })
    ///     })
    ///     .collect();
    /// for (page, handle) in pages.into_iter().enumerate() {
    ///     assert_eq!(handle.wait()?, page * 10);
    /// }
    /// let api = &mgr.snapshot().dependencies[0];
    /// assert_eq!((api.name.as_str(), api.samples), ("pdf-api", 8));
    /// assert!((1..=32).contains(&api.limit));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limit(mut self, dependency: impl AsRef<str>) -> Self {
        self.policy.limit = Some(crate::names::shared(dependency.as_ref()));
        self
    }

    /// Reports a map's progress into `progress` (items done of the total, rate, ETA;
    /// see [`Progress`](crate::Progress)). Only the `map_*` calls report; other tasks
    /// ignore it.
    pub fn progress(mut self, progress: &crate::Progress) -> Self {
        self.policy.progress = Some(progress.clone());
        self
    }

    /// Where the task waits at its gate when the gate is full: [`Priority::High`]
    /// work is admitted before [`Priority::Normal`] (the default) and `Normal` before
    /// [`Priority::Low`]. Aging keeps low work from starving: a waiting task is
    /// overtaken by at most a fixed number of later, more urgent arrivals (see
    /// [`ManagerBuilder::priority_aging`](crate::ManagerBuilder::priority_aging)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Priority};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let urgent = mgr.task("health-check").priority(Priority::High).run_cpu(|| "ok");
    /// let batch = mgr.task("reindex").priority(Priority::Low).run_cpu(|| 42);
    /// assert_eq!((urgent.wait()?, batch.wait()?), ("ok", 42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.policy.priority = priority;
        self
    }

    /// Orders the task by `key`: it goes to its route only when its key's turn comes, and
    /// the next task of the key only once it has really ended (its answer given and its
    /// work returned). With [`KeyOrder::PerKey`](crate::KeyOrder) (the default) tasks of
    /// one key run one at a time in submission order and different keys in parallel;
    /// [`KeyOrder::Strict`](crate::KeyOrder) runs one keyed task at a time across the
    /// manager; [`KeyOrder::Relaxed`](crate::KeyOrder) keeps no order. Set the order with
    /// [`ManagerBuilder::key_order`](crate::ManagerBuilder::key_order).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let writes: Vec<_> = (0..5)
    ///     .map(|i| {
    ///         let log = log.clone();
    ///         mgr.task("append").key("customer-42").run_cpu(move || log.lock().unwrap().push(i))
    ///     })
    ///     .collect();
    /// for write in writes {
    ///     write.wait()?;
    /// }
    /// assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3, 4], "one key: in submission order");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        self.policy.key = Some(TaskKey::new(key.as_ref()));
        self
    }

    /// What happens to the tasks of this task's key queued behind it if it finally fails
    /// (its own error, a panic or a timeout): they run as usual
    /// ([`OnKeyFailure::Continue`], the default) or are cancelled
    /// ([`OnKeyFailure::CancelRest`]).
    pub fn on_key_failure(mut self, policy: OnKeyFailure) -> Self {
        self.policy.on_key_failure = policy;
        self
    }

    pub(super) fn keyed<'i>(&self, inner: &'i super::Inner) -> Option<(KeyState, &'i Arc<Keys>)> {
        let key = self.policy.key.clone()?;
        Some((KeyState::new(key, self.policy.on_key_failure), &inner.keys))
    }

    /// The timeout of one attempt of closure work, armed on the timer thread.
    pub(super) fn attempt_deadline(&self) -> Option<Deadline> {
        self.policy.timeout.map(|after| Deadline {
            after,
            timers: self.mgr.inner().timers.clone(),
            name: self.policy.name.clone(),
        })
    }

    /// A new task's identity, for its span.
    pub(super) fn task_info(&self) -> TaskInfo {
        TaskInfo::new(self.policy.name.clone(), self.policy.key.clone())
    }

    /// The dependency the task goes through: the one it names with `limit`, or else
    /// the one named like its breaker; `Err` with the answer for an unknown name.
    pub(super) fn dependency<T, E>(&self) -> Result<Option<Arc<Dependency>>, TaskHandle<T, E>> {
        let dependencies = &self.mgr.inner().dependencies;
        match &self.policy.limit {
            Some(name) => dependencies.get(name).map(Some).ok_or_else(|| {
                TaskHandle::answered(TaskError::UnknownDependency(name.to_string()))
            }),
            None => Ok(self
                .policy
                .breaker
                .as_ref()
                .and_then(|name| dependencies.get(name))),
        }
    }

    /// Asks the task's breaker, if it has one: its admitted call, or the answered
    /// handle of a task that must not run (counted as rejected on `route`).
    fn admit<T, E>(&self, route: &Route) -> Result<Option<Guarded>, TaskHandle<T, E>> {
        let Some(name) = &self.policy.breaker else {
            return Ok(None);
        };
        let inner = self.mgr.inner();
        match breaker::admit(
            &inner.breakers,
            name,
            self.policy.key.as_ref(),
            self.policy.name.as_deref(),
        ) {
            Ok(guard) => Ok(Some(guard)),
            Err(error) => {
                if matches!(error, TaskError::Rejected { .. }) {
                    route.reject(self.policy.name.as_ref(), self.policy.key.as_ref());
                }
                Err(TaskHandle::answered(error))
            }
        }
    }
}

impl<'m> TaskBuilder<'m, NoRetry> {
    /// Gives the task a retry policy: a failed attempt is tried again (by default, its
    /// own error or a timeout; see [`retry_if`](TaskBuilder::retry_if)) after a
    /// backoff, within the policy's limits and the retry budget of the task's name.
    /// The work is called once per attempt, so a retried task's work must be an `Fn`
    /// (for io, an `Fn` that makes the future); `FnOnce` work does not compile.
    ///
    /// The task is counted once, with the outcome of its last attempt; the route's
    /// `retries` counter counts the attempts that started after a task's first (a
    /// pause cut short before its attempt began is no retry), and the task's record
    /// the attempts that started. A retry the budget refuses ends the task with its
    /// last attempt's answer; it is counted in
    /// [`Snapshot::retry_budgets`](crate::Snapshot::retry_budgets), marked on the
    /// task's record and logged as a warning (at most one per name per second). Backoff pauses end at once on
    /// [`cancel`](TaskHandle::cancel) and
    /// [`abort_pending`](ConcurrencyManager::abort_pending) (answered `Cancelled`) and
    /// at [`shutdown`](ConcurrencyManager::shutdown) (answered with the last attempt's
    /// result). A keyed task keeps its key's turn through its pauses.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use sluice::retry::{Backoff, Retry};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let retry = Retry::builder()
    ///     .max_attempts(4)
    ///     .backoff(Backoff::exponential(Duration::from_millis(5)))
    ///     .build()?;
    ///
    /// // A flaky service: the first two calls fail.
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let seen = calls.clone();
    /// let fetched = mgr.task("fetch-manifest").retry(retry).try_run_io(move || {
    ///     let call = seen.fetch_add(1, Ordering::SeqCst);
    ///     async move { if call < 2 { Err("503 Service Unavailable") } else { Ok("manifest") } }
    /// });
    /// assert_eq!(fetched.wait(), Ok("manifest"));
    /// assert_eq!(calls.load(Ordering::SeqCst), 3);
    /// assert_eq!(mgr.snapshot().total().retries, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Work that can run only once cannot be retried, and says so at compile time:
    ///
    /// ```compile_fail
    /// # use sluice::ConcurrencyManager;
    /// # let mgr = ConcurrencyManager::builder().build().unwrap();
    /// let page = String::from("<html>");
    /// // `move || page` gives `page` away: an `FnOnce`, which a retry cannot call twice.
    /// let handle = mgr.task("parse").retry(Default::default()).run_cpu(move || page);
    /// ```
    pub fn retry(self, retry: Retry) -> TaskBuilder<'m, Retrying<Transient>> {
        TaskBuilder {
            mgr: self.mgr,
            policy: self.policy,
            retry: Retrying {
                retry,
                classify: Transient,
            },
        }
    }

    /// Gives the task the manager's default retry policy
    /// ([`ManagerBuilder::default_retry`](crate::ManagerBuilder::default_retry)); as
    /// [`retry`](Self::retry).
    pub fn retry_default(self) -> TaskBuilder<'m, Retrying<Transient>> {
        let retry = self.mgr.inner().defaults.retry.clone();
        self.retry(retry)
    }

    fn closure<F, T, E>(self, route: &Arc<Route>, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        if self.policy.deadline.is_some() {
            // A deadline for the whole task is kept by a driver of one attempt.
            let work = Mutex::new(Some(work));
            return self.drive_closure(
                route,
                (None, None),
                Transient,
                (),
                move |_: &Arc<dyn Holds<()>>| take(&work),
            );
        }
        let inner = self.mgr.inner();
        if let Some(refused) =
            self.mgr
                .refuse(route, self.policy.name.as_ref(), self.policy.key.as_ref())
        {
            return refused;
        }
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        let guard = match self.admit(route) {
            Ok(guard) => guard,
            Err(answered) => return answered,
        };
        let setup = ClosureSetup {
            route,
            scope: &inner.scope,
            deadline: self.attempt_deadline(),
            guard,
            priority: self.policy.priority,
            dependency,
        };
        submit_closure(setup, self.task_info(), self.keyed(inner), work)
    }

    /// As [`ConcurrencyManager::run_cpu`], with this task's policies.
    pub fn run_cpu<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_cpu(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_cpu`], with this task's policies.
    pub fn try_run_cpu<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let route = self.mgr.inner().cpu.clone();
        self.closure(&route, work)
    }

    /// As [`ConcurrencyManager::run_chunk`], with this task's policies.
    pub fn run_chunk<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_chunk(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_chunk`], with this task's policies.
    pub fn try_run_chunk<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let route = self.mgr.inner().chunk.clone();
        self.closure(&route, work)
    }

    /// As [`ConcurrencyManager::run_io_blocking`], with this task's policies.
    pub fn run_io_blocking<F, T>(self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_io_blocking(move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_io_blocking`], with this task's policies.
    pub fn try_run_io_blocking<F, T, E>(self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let route = self.mgr.inner().io_blocking.clone();
        self.closure(&route, work)
    }

    /// As [`ConcurrencyManager::run_io`], with this task's policies.
    pub fn run_io<Fut>(self, future: Fut) -> TaskHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.try_run_io(async move { Ok::<_, Infallible>(future.await) })
    }

    /// As [`ConcurrencyManager::try_run_io`], with this task's policies.
    pub fn try_run_io<Fut, T, E>(self, future: Fut) -> TaskHandle<T, E>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        if self.policy.deadline.is_some() {
            // A deadline for the whole task is kept by a driver of one attempt.
            let future = Mutex::new(Some(future));
            return self.drive_future(None, Transient, move || take(&future));
        }
        let inner = self.mgr.inner();
        if let Some(refused) = self.mgr.refuse(
            &inner.io,
            self.policy.name.as_ref(),
            self.policy.key.as_ref(),
        ) {
            return refused;
        }
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        let guard = match self.admit(&inner.io) {
            Ok(guard) => guard,
            Err(answered) => return answered,
        };
        let keyed = self.keyed(inner);
        submit_future(
            &inner.io_side,
            self.policy,
            guard,
            dependency,
            keyed,
            future,
        )
    }

    /// As [`ConcurrencyManager::run_on`], with this task's policies.
    pub fn run_on<F, T>(self, executor: &str, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_on(executor, move || Ok::<T, Infallible>(work()))
    }

    /// As [`ConcurrencyManager::try_run_on`], with this task's policies.
    pub fn try_run_on<F, T, E>(self, executor: &str, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        match self.mgr.inner().custom.get(executor).cloned() {
            Some(route) => self.closure(&route, work),
            None => TaskHandle::answered(TaskError::UnknownExecutor(executor.to_owned())),
        }
    }
}

impl<R> fmt::Debug for TaskBuilder<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.policy.name)
            .field("timeout", &self.policy.timeout)
            .field("breaker", &self.policy.breaker)
            .field("limit", &self.policy.limit)
            .field("key", &self.policy.key)
            .field("deadline", &self.policy.deadline)
            .field("priority", &self.policy.priority)
            .finish_non_exhaustive()
    }
}
