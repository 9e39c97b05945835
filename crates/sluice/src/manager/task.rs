//! `mgr.task("name")`: one task's policies, then the same `run_*` calls as the manager.

use super::ConcurrencyManager;
use crate::TaskError;
use crate::route::Route;
use crate::task::{
    Deadline, Guarded, KeyState, Keys, OnKeyFailure, Policy, TaskHandle, log_transition,
    submit_closure, submit_future,
};
use sluice_core::Outcome;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
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
pub struct TaskBuilder<'m> {
    /// The manager that runs it.
    mgr: &'m ConcurrencyManager,
    /// The policies gathered so far.
    policy: Policy,
}

impl ConcurrencyManager {
    /// Starts building a task named `name` (the name appears in its log events), to
    /// give it policies — a [`timeout`](TaskBuilder::timeout) — before it is submitted.
    pub fn task(&self, name: impl Into<String>) -> TaskBuilder<'_> {
        TaskBuilder {
            mgr: self,
            policy: Policy {
                name: Some(Arc::from(name.into())),
                ..Policy::default()
            },
        }
    }

    /// The builder behind the manager's own `run_*` calls: no name, no policy.
    pub(super) fn plain_task(&self) -> TaskBuilder<'_> {
        TaskBuilder {
            mgr: self,
            policy: Policy::default(),
        }
    }
}

impl<'m> TaskBuilder<'m> {
    /// How long one attempt may run, from the moment its work starts (time queued for
    /// admission does not count). At the deadline the task answers
    /// [`TaskError::TimedOut`]: an io future is dropped; CPU, chunk or blocking work,
    /// which cannot be stopped from outside, is asked to stop (it sees
    /// [`is_cancelled`](crate::is_cancelled)), keeps its admission slot until it really
    /// ends, and its late result is dropped and counted as `abandoned`.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.policy.timeout = Some(after);
        self
    }

    /// Guards the task with the circuit breaker registered as `name`: while the breaker
    /// is open the task is answered [`TaskError::Rejected`] at once, without running, and
    /// counted as rejected; otherwise how its work ends is recorded — a value is a
    /// success, its own error, a panic or a timeout a failure, a cancellation nothing.
    /// Tasks of any route may share a breaker. An unknown name answers
    /// [`TaskError::UnknownBreaker`].
    pub fn breaker(mut self, name: impl Into<String>) -> Self {
        self.policy.breaker = Some(Arc::from(name.into()));
        self
    }

    /// Asks the task's breaker, if it has one: `Ok` with its admitted call, or `Err`
    /// with the answer for a task that must not run.
    fn admit<T, E>(&self, route: &Route) -> Result<Option<Guarded>, TaskHandle<T, E>> {
        let Some(name) = &self.policy.breaker else {
            return Ok(None);
        };
        let Some(breaker) = self.mgr.inner().breakers.get(&**name) else {
            return Err(TaskHandle::answered(TaskError::UnknownBreaker(
                name.to_string(),
            )));
        };
        match breaker.try_acquire() {
            Ok(call) => {
                if let Some(transition) = call.transition() {
                    log_transition(name, transition);
                }
                Ok(Some(Guarded {
                    name: name.clone(),
                    call,
                }))
            }
            Err(rejected) => {
                route.counters.submitted();
                route.counters.ended(Outcome::Rejected);
                tracing::debug!(
                    breaker = &**name,
                    task = self.policy.name.as_deref(),
                    "rejected by circuit breaker"
                );
                Err(TaskHandle::answered(TaskError::Rejected {
                    breaker: name.to_string(),
                    retry_after: rejected.retry_after(),
                }))
            }
        }
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
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.policy.key = Some(Arc::from(key.into()));
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

    fn keyed<'i>(&self, inner: &'i super::Inner) -> Option<(KeyState, &'i Arc<Keys>)> {
        let key = self.policy.key.clone()?;
        Some((KeyState::new(key, self.policy.on_key_failure), &inner.keys))
    }

    fn closure<F, T, E>(self, route: &Arc<Route>, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let inner = self.mgr.inner();
        if let Some(refused) = self.mgr.refuse(route) {
            return refused;
        }
        let guard = match self.admit(route) {
            Ok(guard) => guard,
            Err(answered) => return answered,
        };
        let deadline = self.policy.timeout.map(|after| Deadline {
            after,
            timers: inner.deadlines.clone(),
            name: self.policy.name.clone(),
        });
        let keyed = self.keyed(inner);
        submit_closure(route, &inner.scope, deadline, guard, keyed, work)
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
        let inner = self.mgr.inner();
        if let Some(refused) = self.mgr.refuse(&inner.io) {
            return refused;
        }
        let guard = match self.admit(&inner.io) {
            Ok(guard) => guard,
            Err(answered) => return answered,
        };
        let keyed = self.keyed(inner);
        submit_future(inner, self.policy, guard, keyed, future)
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

impl fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskBuilder")
            .field("name", &self.policy.name)
            .field("timeout", &self.policy.timeout)
            .field("breaker", &self.policy.breaker)
            .field("key", &self.policy.key)
            .finish_non_exhaustive()
    }
}
