//! Tasks whose work is a future: the io route.

use super::extras::{Extras, InlineExtras, KeyOnly, Travelling};
use super::reply::{Reply, settle};
use super::stop::{StopSignal, Stops, until_stopped};
use super::{
    Answering, CatchUnwind, Control, Holding, Owner, Owning, TaskHandle, TaskInfo, drop_quietly,
    run_polled_as,
};
use crate::TaskError;
use crate::lock::take;
use crate::policy::Policy;
use crate::policy::breaker::Guarded;
use crate::policy::keyed::{KeyState, KeyedTask, Keys, TurnHeld, start as start_task};
use crate::policy::limit::{Dependency, DependencyCall};
use crate::policy::timeout::within;
use crate::route::Route;
use pin_project_lite::pin_project;
use sluice_core::{
    CancelScope, CancelToken, Lent, OneShot, Outcome, Permit, Priority, SharedDeferred, StartError,
    TokenCell,
};
use sluice_exec::IoPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A future task, shared by its handle, its place in the gate's queue and the
/// runtime task that polls it.
struct FutureTask<Fut, T, E, X = Extras> {
    /// Who owns the task's fate: inside the task, which the running future's frame
    /// holds, so task, token and answer's slot are one allocation.
    token: TokenCell,
    /// Asks the running future to stop: this task's cancel.
    stop: StopSignal,
    /// The work, until it is polled.
    future: Mutex<Option<Fut>>,
    /// The answer, sent once.
    reply: Reply<T, E>,
    /// Where it runs, and the manager's shutdown token.
    runs_on: Arc<RunsOn>,
    /// How long its future may run, from its first poll.
    timeout: Option<Duration>,
    /// Its place in the gate's queue.
    priority: Priority,
    /// Its breaker's call, key and dependency call, if it has any: boxed for a task
    /// the caller submitted (`Extras`), inline for a retried task's attempt.
    extras: X,
}

/// What every io task of a manager runs with, behind one `Arc` the task holds: cloning
/// a `CancellationToken` takes its tree's lock, and the pool's `Arc` was a second
/// shared count to move, on each task's submission and again on its drop.
pub(crate) struct RunsOn {
    /// The runtime.
    pool: Arc<IoPool>,
    /// Fires to drop every running future (shutdown past its deadline).
    shutdown: CancellationToken,
}

/// Where a future task runs, shared by every io task of a manager.
#[derive(Clone)]
pub(crate) struct IoSide {
    /// The io route: its gate and counters.
    pub(crate) route: Arc<Route>,
    /// The manager's cancellation.
    pub(crate) scope: CancelScope,
    /// The runtime.
    pub(crate) pool: Arc<IoPool>,
    /// Fires to drop every running future (shutdown past its deadline).
    pub(crate) stop: CancellationToken,
    /// The two above, as a future task holds them.
    runs_on: Arc<RunsOn>,
}

impl IoSide {
    /// The io route of a manager: `route` admitting into `pool`, its tasks cancelled
    /// with `scope` and their running futures dropped when `stop` fires.
    pub(crate) fn new(
        route: Arc<Route>,
        scope: CancelScope,
        pool: Arc<IoPool>,
        stop: CancellationToken,
    ) -> Self {
        let runs_on = Arc::new(RunsOn {
            pool: pool.clone(),
            shutdown: stop.clone(),
        });
        IoSide {
            route,
            scope,
            pool,
            stop,
            runs_on,
        }
    }
}

/// Submits `future` to the io route: it waits for its key's turn if it has a key, then
/// at the gate, then runs on the runtime.
pub(crate) fn submit_future<Fut, T, E>(
    io: &IoSide,
    policy: Policy,
    guard: Option<Guarded>,
    dependency: Option<Arc<Dependency>>,
    keyed: Option<(KeyState, &Arc<Keys>)>,
    future: Fut,
) -> TaskHandle<T, E>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (state, keys) = keyed.unzip();
    let info = TaskInfo::new(policy.name.clone(), policy.key.clone());
    // The answer's slot lives in the task: one allocation for both. Made where the
    // task is built, as a closure task's reply is: each move of it by value was a
    // `memcpy` of a few hundred bytes.
    let route = io.route.clone();
    let reply = move || Reply::in_place(route, info);
    if KeyOnly::fits(None, guard.as_ref(), state.as_ref(), dependency.is_some()) {
        // Its key state inline: no box for its policies.
        let task: Arc<FutureTask<Fut, T, E, KeyOnly>> =
            future_task(io, (policy, guard, dependency), reply, state, future);
        io.route.counters.submitted();
        start_task(task.clone(), keys);
        return TaskHandle::within(task);
    }
    let task: Arc<FutureTask<Fut, T, E>> =
        future_task(io, (policy, guard, dependency), reply, state, future);
    io.route.counters.submitted();
    start_task(task.clone(), keys);
    TaskHandle::within(task)
}

/// Submits one attempt of a retried io task: answered through `reply` (to its driver),
/// not counted as a task of its own.
pub(crate) fn launch_future<Fut, T, E>(
    io: &IoSide,
    policy: Policy,
    guard: Option<Guarded>,
    dependency: Option<Arc<Dependency>>,
    reply: Reply<T, E>,
    future: Fut,
) -> Arc<dyn Control>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    // Its policies inline, as a closure attempt's: no box of their own per attempt.
    let task: Arc<FutureTask<Fut, T, E, InlineExtras>> =
        future_task(io, (policy, guard, dependency), move || reply, None, future);
    start_task(task.clone(), None);
    task
}

/// How a running body ended: `None` if stopped (its cancel, or the shutdown past its
/// deadline), `Some(None)` if it timed out, else its answer (`Err`: its panic).
type BodyEnded<T, E> = Option<Option<Result<Result<T, E>, String>>>;

/// A task's policies as submission resolved them: its own, its breaker's admitted
/// call, its dependency.
type Resolved = (Policy, Option<Guarded>, Option<Arc<Dependency>>);

#[inline(always)]
fn future_task<Fut, T, E, X: Travelling>(
    io: &IoSide,
    (policy, guard, dependency): Resolved,
    reply: impl FnOnce() -> Reply<T, E>,
    keyed: Option<KeyState>,
    future: Fut,
) -> Arc<FutureTask<Fut, T, E, X>> {
    Arc::new(FutureTask {
        token: io.scope.cell(),
        stop: StopSignal::default(),
        future: Mutex::new(Some(future)),
        timeout: policy.timeout,
        priority: policy.priority,
        reply: reply(),
        runs_on: io.runs_on.clone(),
        extras: X::new(None, guard, keyed, dependency.map(DependencyCall::new)),
    })
}

impl<Fut, T, E, X> FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn take_future(&self) -> Option<Fut> {
        take(&self.future)
    }

    /// The runtime task. The guard is made before the future, so that a runtime that
    /// drops it without ever polling it still settles the task.
    ///
    /// The permit is held as it is, not as a [`Lease`]: it becomes one (an allocation
    /// shared with the guards it lends) only if the future waits on a handle, which
    /// few do; until the body starts the guard holds it, then the running future.
    ///
    /// This future is what the runtime's cell carries, copied whole at each of the
    /// runtime's moves (five or six per task): so it keeps across its one await only
    /// the guard (the task and the permit: the task is not captured a second time) and
    /// the running body; whatever the end needs is read from the task again.
    fn run(self: Arc<Self>, permit: Permit) -> impl Future<Output = ()> + Send + 'static {
        let mut settle_on_drop = SettleOnDrop {
            task: self,
            permit: Some(permit),
        };
        async move {
            let Some(body) = settle_on_drop.task.begin(&mut settle_on_drop.permit) else {
                return;
            };
            let ended = body.await;
            settle_on_drop.task.end(ended);
        }
    }

    /// Starts the body, unless the task was settled while it waited or its breaker
    /// refuses it now: the user's future in its frame, under its timeout and span,
    /// until stopped.
    fn begin<'a>(
        self: &'a Arc<Self>,
        permit: &mut Option<Permit>,
    ) -> Option<impl Future<Output = BodyEnded<T, E>> + Send + 'a> {
        match self.token.try_start() {
            Ok(()) => {}
            Err(StartError::Cancelled) => {
                self.drop_unstarted();
                return None;
            }
            Err(StartError::Claimed) => return None,
        }
        // Its breaker may have opened while it waited: asked again now.
        let name = self.reply.info.name.as_deref();
        if let Err(refused) = self.extras.recheck_guard(name) {
            self.refused_at_start(refused);
            return None;
        }
        let future = self.take_future()?;
        self.reply.started();
        let held = match self.extras.keyed() {
            Some(keyed) => keyed.turn_held(),
            None => self.reply.driver_turn(),
        };
        let owner = Owner::Task(self.clone());
        let slot = permit.take().map_or(Holding::Ended, Holding::Permit);
        let future = InFrame::owned(future, owner, slot).holding(held);
        if let Some(call) = self.extras.dependency() {
            call.begin();
        }
        // Dropped at the deadline: a future can be stopped from outside.
        let timed = within(self.timeout, future).instrument(self.reply.span());
        Some(until_stopped(timed, &**self))
    }

    /// Answers the task as its body ended (`None`: stopped; `Some(None)`: timed
    /// out), and releases what it held.
    fn end(&self, ended: BodyEnded<T, E>) {
        let (outcome, answer) = match ended {
            Some(Some(result)) => settle(result),
            None => (Outcome::Cancelled, Err(TaskError::Cancelled)),
            Some(None) => {
                tracing::warn!(task = self.reply.info.name.as_deref(), after = ?self.timeout, route = "io", "task timed out");
                (Outcome::TimedOut, Err(TaskError::TimedOut))
            }
        };
        // Only a breaker needs the duration, timed from the body's start, which the
        // reply keeps: not kept in this future's state, which the runtime's cell
        // carries (and copies) for every task. Its call stays in the task until now;
        // a runtime that drops the future gives it back in `SettleOnDrop`.
        if let Some(guard) = self.extras.take_guard()
            && let Some(began) = self.reply.body_began()
        {
            guard.record(outcome, began.elapsed());
        }
        let dependency = self.extras.dependency();
        // Measured before the answer, so a caller that heard sees it counted.
        if let Some(call) = dependency {
            call.measure(outcome);
        }
        self.reply.finished(outcome, answer);
        if let Some(call) = dependency {
            call.release();
        }
        if let Some(keyed) = self.extras.keyed() {
            keyed.release(outcome);
        }
        self.reply.body_ended();
    }

    /// Settles a task refused by its breaker as it was about to start.
    fn refused_at_start(&self, answer: TaskError<E>) {
        // Quietly: the task must be settled whatever the future's `Drop` does.
        drop_quietly(self.take_future(), "a future");
        if let Some(call) = self.extras.dependency() {
            call.end(Outcome::Rejected);
        }
        if let Some(keyed) = self.extras.keyed() {
            keyed.release(Outcome::Rejected);
        }
        self.reply.rejected_at_start(answer);
        self.reply.body_ended();
    }

    fn drop_unstarted(&self) {
        // Quietly: the task must be settled whatever the future's `Drop` does.
        drop_quietly(self.take_future(), "a future");
        drop(self.extras.take_guard());
        if let Some(call) = self.extras.dependency() {
            call.end(Outcome::Cancelled);
        }
        if let Some(keyed) = self.extras.keyed() {
            keyed.release(Outcome::Cancelled);
        }
        self.reply.cancelled_unstarted();
        self.reply.body_ended();
    }
}

pin_project! {
    /// Polls a future inside its task's frame, so that code it runs sees
    /// [`is_cancelled`](crate::is_cancelled), a blocking `wait()` in it can lend the task's
    /// slot, and a handle it leaves pending gets the slot lent while the task is suspended.
    /// Gives its slot back when dropped.
    pub(crate) struct InFrame<F> {
        // The user's future, panics caught.
        #[pin]
        inner: CatchUnwind<F>,
        // The task's cancellation.
        token: Owner,
        // Its admission slot: its permit, a lease once lent.
        slot: Holding,
        // The slot, lent while the task is suspended on a handle.
        lent: Option<Lent>,
        // Its key's turn, if it holds one (see `context.rs`); boxed, since this future
        // is in the runtime's cell of every io task and few of them have a key.
        held: Option<Box<TurnHeld>>,
    }

    impl<F> PinnedDrop for InFrame<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            *this.lent = None;
            this.slot.end();
        }
    }
}

impl<F> InFrame<F> {
    /// A map's item, holding its admission `permit`: a lease is made of it only if a
    /// wait in the item lends it, as for a `run_io`.
    pub(crate) fn new(future: F, token: CancelToken, permit: Permit) -> Self {
        Self::owned(future, Owner::Token(token), Holding::Permit(permit))
    }

    /// The same, for the task `owner` names, holding `slot`.
    pub(crate) fn owned(future: F, owner: Owner, slot: Holding) -> Self {
        InFrame {
            inner: CatchUnwind::new(future),
            token: owner,
            slot,
            lent: None,
            held: None,
        }
    }

    /// The same, for a task that holds its key's turn (`held`) while it runs.
    pub(crate) fn holding(mut self, held: Option<TurnHeld>) -> Self {
        self.held = held.map(Box::new);
        self
    }
}

impl<F: Future> Future for InFrame<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Running again: take the slot back (whatever the limit) before any of its code.
        *this.lent = None;
        let held = this.held.as_deref().cloned();
        let inner = this.inner;
        let (poll, wants_lend) =
            run_polled_as(this.token.clone(), this.slot, held, || inner.poll(cx));
        if poll.is_pending() && wants_lend {
            *this.lent = this.slot.lend();
        }
        poll
    }
}

/// Releases the task's permit if the runtime task ends before its body started, and
/// settles the task if the runtime drops it mid-flight (a runtime shut down under it):
/// unstarted, it is cancelled; started, its run ends as cancelled.
struct SettleOnDrop<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    /// The task.
    task: Arc<FutureTask<Fut, T, E, X>>,
    /// Its admission permit until its body starts (then the running future's, whose
    /// drop releases it), released here.
    permit: Option<Permit>,
}

impl<Fut, T, E, X> Drop for SettleOnDrop<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn drop(&mut self) {
        let task = &self.task;
        if task.token.claim_cancelled() {
            task.drop_unstarted();
        } else if task.token.is_started() {
            task.reply
                .finished(Outcome::Cancelled, Err(TaskError::Cancelled));
        }
        // No-ops when the run already released them; here for a runtime that dropped it.
        drop(task.extras.take_guard());
        if let Some(call) = task.extras.dependency() {
            call.end(Outcome::Cancelled);
        }
        if let Some(keyed) = task.extras.keyed() {
            keyed.release(Outcome::Cancelled);
        }
        task.reply.body_ended();
        drop(self.permit.take());
    }
}

impl<Fut, T, E, X> Control for FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn cancel(&self) -> bool {
        self.reply.cancel_with(
            &self.token,
            || {
                self.drop_unstarted();
                true
            },
            || self.stop.request(),
        )
    }

    /// A future cannot run on a caller's thread; the runtime makes progress on its own.
    fn help(&self) {}

    fn started(&self) -> bool {
        self.token.is_started()
    }

    fn waits_behind(&self, held: &TurnHeld) -> bool {
        self.extras
            .keyed()
            .is_some_and(|keyed| keyed.waits_behind(held))
    }
}

impl<Fut, T, E, X> KeyedTask for FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn token(&self) -> &TokenCell {
        &self.token
    }

    fn key_state(&self) -> Option<&KeyState> {
        self.extras.keyed()
    }

    fn dependency(&self) -> Option<&DependencyCall> {
        self.extras.dependency()
    }

    fn priority(&self) -> Priority {
        self.priority
    }

    fn enqueue(self: Arc<Self>) {
        // Room and nobody waiting: admitted here, with no box for a place in the queue.
        if let Some(permit) = self.reply.route.gate.try_acquire() {
            drop(self.dispatch(permit));
            return;
        }
        // The task is its own place in the queue, as a closure task is: a box for the
        // place was an allocation per queued task.
        let gate = self.reply.route.gate.clone();
        let priority = self.priority;
        gate.enqueue_shared_at(self, priority);
    }

    fn drop_unstarted(&self) {
        FutureTask::drop_unstarted(self);
    }
}

impl<Fut, T, E, X> FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    /// Spawns the admitted task's future with `permit`; the permit comes back if the
    /// task was settled while it waited.
    fn dispatch(self: Arc<Self>, permit: Permit) -> Option<Permit> {
        if !self.token.is_pending() {
            return Some(permit);
        }
        let runs_on = self.runs_on.clone();
        runs_on.pool.spawn(self.run(permit));
        None
    }
}

/// What stops the task's running future, reached through the task.
impl<Fut, T, E, X> Stops for FutureTask<Fut, T, E, X> {
    fn signal(&self) -> &StopSignal {
        &self.stop
    }

    fn shutdown(&self) -> &CancellationToken {
        &self.runs_on.shutdown
    }
}

/// The task as its own place in the io gate's queue: nothing is allocated for it.
impl<Fut, T, E, X> SharedDeferred for FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn admit(self: Arc<Self>, permit: Permit) -> Option<Permit> {
        self.dispatch(permit)
    }

    fn abort(self: Arc<Self>) -> bool {
        let aborted = self.token.claim_cancelled();
        if aborted {
            self.drop_unstarted();
        }
        aborted
    }
}

impl<Fut, T, E, X> Answering<T, E> for FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn answer_slot(&self) -> &OneShot<Result<T, TaskError<E>>> {
        &self.reply.slot
    }
}

impl<Fut, T, E, X> Owning for FutureTask<Fut, T, E, X>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
{
    fn token(&self) -> &TokenCell {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// The size of what `f` returns, without calling it.
    fn returned<A, B, R>(_: impl FnOnce(A, B) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// The future a `run_io` hands the runtime is copied whole at each of the
    /// runtime's moves (into its cell, and at each change of the cell's stage): for a
    /// user future of 16 bytes it was 320 bytes, now 240.
    #[test]
    fn the_runtime_cell_carries_little_beside_the_future() {
        type Fut = std::future::Ready<Result<u64, Infallible>>;
        assert_eq!(std::mem::size_of::<Fut>(), 16);
        let runtime_future = returned(FutureTask::<Fut, u64, Infallible>::run);
        assert!(runtime_future <= 240, "{runtime_future} bytes");
    }
}
