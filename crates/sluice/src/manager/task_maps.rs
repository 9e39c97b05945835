//! The map calls with a task's policies: `mgr.task(name).key(..).map_io(..)`.
//!
//! A map is one task: it waits for its key's turn as a whole, asks its breaker once and
//! records one result, and is answered `TimedOut` at its `timeout` (from when it is
//! launched, queueing for its key excluded) or its `deadline` (from submission). Its
//! pullers (`map_cpu`, `map_chunks`) wait at the gate at its priority. A map's items are
//! consumed as they are pulled, so a map cannot be retried as a whole; retry inside `f`,
//! or submit the items as retried tasks.

use super::TaskBuilder;
use crate::lock::take;
use crate::map::{start_io_map, start_pull_map};
use crate::policy::retry::{NoRetry, Transient};
use crate::route::Route;
use crate::task::{AttemptSink, Control, Reply, TaskHandle};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};

impl TaskBuilder<'_, NoRetry> {
    /// As [`ConcurrencyManager::map_cpu`](crate::ConcurrencyManager::map_cpu), with this
    /// task's policies; the map is one task.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Priority};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let lines = ["a,b", "c", "d,e,f"];
    /// let fields = mgr
    ///     .task("split")
    ///     .key("batch-7")              // after earlier work of batch-7
    ///     .priority(Priority::High)    // ahead of normal work at a full gate
    ///     .timeout(Duration::from_secs(5))
    ///     .map_cpu(lines, |line| line.split(',').count())
    ///     .wait()?;
    /// assert_eq!(fields, [2, 1, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_cpu<I, F, O>(self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let route = self.mgr.inner().cpu.clone();
        self.pull_map(&route, items.into_iter(), f)
    }

    /// As [`ConcurrencyManager::map_chunks`](crate::ConcurrencyManager::map_chunks),
    /// with this task's policies; the map is one task.
    pub fn map_chunks<I, F, O>(self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let route = self.mgr.inner().chunk.clone();
        self.pull_map(&route, items.into_iter(), f)
    }

    /// As [`ConcurrencyManager::map_io`](crate::ConcurrencyManager::map_io), with this
    /// task's policies; the map is one task (its items each wait at the io gate at
    /// normal priority). With a dependency ([`limit`](TaskBuilder::limit)), each item
    /// is one call: it waits for the dependency's permit first, and its latency moves
    /// the dependency's limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let stuck = mgr
    ///     .task("fetch-all")
    ///     .timeout(Duration::from_millis(30))
    ///     .map_io(0..3, |_| std::future::pending::<()>());
    /// assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_io<I, F, Fut, O>(self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        let io = self.mgr.inner().io_side.clone();
        let route = io.route.clone();
        let input = Mutex::new(Some((items.into_iter(), f)));
        let guards = self.attempt_guards();
        let unknown = guards.unknown();
        let dependency = match self.dependency() {
            Ok(dependency) => dependency,
            Err(answered) => return answered,
        };
        let progress = self.policy.progress.clone();
        let info = self.task_info();
        let attempt_info = info.clone();
        let launch = move |sink: Arc<dyn AttemptSink<Vec<O>, Infallible>>,
                           attempt: u32|
              -> Option<Arc<dyn Control>> {
            let (guard, (items, f)) = guards.prepare(&sink, attempt, || take(&input))?;
            let reply = Reply::to_driver(io.route.clone(), sink, attempt, attempt_info.clone())
                .guarded(guard);
            Some(start_io_map(
                &io,
                reply,
                (dependency.clone(), progress.clone()),
                items,
                f,
            ))
        };
        let timeout = self.policy.timeout;
        self.drive(&route, None, Transient, launch, (timeout, info, unknown))
    }

    fn pull_map<It, F, O>(self, route: &Arc<Route>, items: It, f: F) -> TaskHandle<Vec<O>>
    where
        It: Iterator + Send + 'static,
        It::Item: Send,
        F: Fn(It::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        // Items of a CPU map are not calls to a service: a dependency named here only
        // has its name checked.
        if let Err(unknown) = self.dependency::<Vec<O>, Infallible>() {
            return unknown;
        }
        let scope = self.mgr.inner().scope.clone();
        let priority = self.policy.priority;
        let progress = self.policy.progress.clone();
        let map_route = route.clone();
        let input = Mutex::new(Some((items, f)));
        let guards = self.attempt_guards();
        let unknown = guards.unknown();
        let info = self.task_info();
        let attempt_info = info.clone();
        let launch = move |sink: Arc<dyn AttemptSink<Vec<O>, Infallible>>,
                           attempt: u32|
              -> Option<Arc<dyn Control>> {
            let (guard, (items, f)) = guards.prepare(&sink, attempt, || take(&input))?;
            let reply = Reply::to_driver(map_route.clone(), sink, attempt, attempt_info.clone())
                .guarded(guard);
            let placed = (priority, progress.clone());
            Some(start_pull_map(&map_route, &scope, placed, reply, items, f))
        };
        let timeout = self.policy.timeout;
        self.drive(route, None, Transient, launch, (timeout, info, unknown))
    }
}
