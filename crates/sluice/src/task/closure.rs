//! Tasks whose work is a closure: the cpu, chunk, io-blocking and custom routes.

use super::extras::{Extras, InlineExtras, KeyOnly, Travelling};
use super::promotion::{Cancel, Keeps, Promotion};
use super::reply::{Reply, settle};
use super::{
    Answering, Control, Owning, Slot, TaskHandle, TaskInfo, drop_quietly, run_owned, take_message,
};
use crate::lock::{lock, take};
use crate::policy::breaker::Guarded;
use crate::policy::keyed::{
    Handed, KeyState, KeyedTask, Keys, RunsHere, TurnHeld, start as start_task,
};
use crate::policy::limit::{Dependency, DependencyCall};
use crate::policy::retry::{FirstAttempt, Holds};
use crate::policy::timeout::{Deadline, Expirable};
use crate::route::Route;
use crate::{RouteKind, TaskError};
use sluice_core::{
    CancelOutcome, CancelScope, OneShot, Outcome, Permit, Priority, SharedDeferred, StartError,
    TokenCell,
};
use sluice_exec::{Executor, Job, Runnable};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Weak};

#[cfg(test)]
mod size;

/// A closure task, shared by its handle, its place in the gate's queue and its job:
/// one allocation for a task with no policy, its token and its answer's slot inside.
struct ClosureTask<F, T, E, X = Extras, P = ()> {
    /// Who owns the task's fate: inside the task, so task, token and answer's slot
    /// (in `reply`) are one allocation.
    token: TokenCell,
    /// The task itself, for a waiter that runs it inline (its frame holds the task).
    me: Weak<Self>,
    /// The work, until someone runs it.
    work: Mutex<Option<F>>,
    /// The answer, sent once.
    reply: Reply<T, E>,
    /// Its deadline, breaker call, key and dependency call, if it has any: boxed for a
    /// task the caller submitted (`Extras`), inline for a retried task's attempt.
    extras: X,
    /// Its place in the gate's queue.
    priority: Priority,
    /// Its admission permit from dispatch to run: the job that carries the task to its
    /// backend is the task itself, with no box of its own.
    permit: Mutex<Option<Permit>>,
    /// Where its answer may go instead of its caller: a retried task's first attempt
    /// may hand the task over to a retry driver (nothing, `()`, for other tasks).
    then: P,
}

/// What a closure task is given besides its work and its answer.
pub(crate) struct ClosureSetup<'a> {
    /// Where it runs.
    pub(crate) route: &'a Arc<Route>,
    /// Its cancellation.
    pub(crate) scope: &'a CancelScope,
    /// Its timeout, for one attempt.
    pub(crate) deadline: Option<Deadline>,
    /// Its breaker's admitted call.
    pub(crate) guard: Option<Guarded>,
    /// Its place in the gate's queue.
    pub(crate) priority: Priority,
    /// The dependency whose adaptive limit it waits for.
    pub(crate) dependency: Option<Arc<Dependency>>,
}

/// Submits `work` to `route`: it waits for its key's turn if it has a key, then at the
/// route's gate, then runs on its backend.
pub(crate) fn submit_closure<F, T, E>(
    setup: ClosureSetup<'_>,
    info: TaskInfo,
    keyed: Option<(KeyState, &Arc<Keys>)>,
    work: F,
) -> TaskHandle<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (state, keys) = keyed.unzip();
    let route = setup.route.clone();
    let reply = move || Reply::in_place(route, info);
    let only_key = KeyOnly::fits(
        setup.deadline.as_ref(),
        setup.guard.as_ref(),
        state.as_ref(),
        setup.dependency.is_some(),
    );
    if only_key {
        // Its key state inline: no box for its policies.
        let task: Arc<ClosureTask<F, T, E, KeyOnly>> =
            closure_task(setup, reply, state, |_| (work, ()));
        task.reply.route.counters.submitted();
        start_task(task.clone(), keys);
        return TaskHandle::within(task);
    }
    let task: Arc<ClosureTask<F, T, E>> = closure_task(setup, reply, state, |_| (work, ()));
    task.reply.route.counters.submitted();
    start_task(task.clone(), keys);
    TaskHandle::within(task)
}

/// Submits one attempt of a retried task: answered through `reply` (to its driver),
/// not counted as a task of its own.
pub(crate) fn launch_closure<F, T, E>(
    setup: ClosureSetup<'_>,
    reply: Reply<T, E>,
    work: F,
) -> Arc<dyn Control>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    // Its policies inline: an attempt nearly always carries some (a timeout, a
    // breaker's call), and a box for them would be an allocation per attempt.
    let task: Arc<ClosureTask<F, T, E, InlineExtras>> =
        closure_task(setup, move || reply, None, |_| (work, ()));
    start_task(task.clone(), None);
    task
}

/// Submits the first attempt of a retried closure task, whose work `work` the task
/// keeps for later attempts: an ordinary closure task until a failure may be retried,
/// when `then` (made given the task, as the holder of the work and as the first
/// attempt a driver answers through) hands the task over to a retry driver.
pub(crate) fn submit_first<W, T, E, P>(
    setup: ClosureSetup<'_>,
    info: TaskInfo,
    keyed: Option<(KeyState, &Arc<Keys>)>,
    then: impl FnOnce(Weak<dyn Holds<W>>, Weak<dyn FirstAttempt<T, E>>) -> P,
) -> TaskHandle<T, E>
where
    W: Fn() -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
    P: Promotion<T, E> + Keeps<W>,
{
    let (state, keys) = keyed.unzip();
    let route = setup.route.clone();
    let reply = move || Reply::in_place(route, info);
    // Its policies inline, as an attempt's: a retried task nearly always carries some.
    let task: Arc<ClosureTask<_, T, E, InlineExtras, P>> =
        closure_task(setup, reply, state, |me| {
            let holder: Weak<dyn Holds<W>> = me.clone();
            let first: Weak<dyn FirstAttempt<T, E>> = me.clone();
            (call_held(holder.clone()), then(holder, first))
        });
    task.reply.route.counters.submitted();
    start_task(task.clone(), keys);
    TaskHandle::within(task)
}

/// The body of a first attempt: the work its task keeps, called once.
fn call_held<W, T, E>(holder: Weak<dyn Holds<W>>) -> impl FnOnce() -> Result<T, E> + Send + 'static
where
    W: Fn() -> Result<T, E> + Send + Sync + 'static,
{
    move || match holder.upgrade() {
        Some(task) => (task.held())(),
        // Unreachable: a task runs its body through a reference of its own. Caught as
        // the attempt's panic if it ever were.
        None => panic!("a retried task's first attempt outlived its task"),
    }
}

/// Makes the task. Its reply is made by `reply` where the task is built, not passed
/// in made: a `Reply` is a few hundred bytes, and each move of it by value was a
/// `memcpy` per task.
#[inline(always)]
fn closure_task<F, T, E, X, P>(
    setup: ClosureSetup<'_>,
    reply: impl FnOnce() -> Reply<T, E>,
    keyed: Option<KeyState>,
    parts: impl FnOnce(&Weak<ClosureTask<F, T, E, X, P>>) -> (F, P),
) -> Arc<ClosureTask<F, T, E, X, P>>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    Arc::new_cyclic(|me| {
        let (work, then) = parts(me);
        ClosureTask {
            token: setup.scope.cell(),
            me: me.clone(),
            work: Mutex::new(Some(work)),
            reply: reply(),
            extras: X::new(
                setup
                    .deadline
                    .map(|deadline| (deadline, me.clone() as Weak<dyn Expirable>)),
                setup.guard,
                keyed,
                setup.dependency.map(DependencyCall::new),
            ),
            priority: setup.priority,
            permit: Mutex::new(None),
            then,
        }
    })
}

impl<F, T, E, X, P> ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    /// Runs the work on this thread if this call claims the task, holding `permit`
    /// (none when a waiter runs it inline) until the work ends; `me` is the task.
    /// Answers the permit once the task is settled, unless it was lent meanwhile (and
    /// so released): the caller passes it on or drops it. With the permit comes the
    /// task its key's turn went to, if that may run on this thread with it.
    fn run(&self, me: Arc<dyn Owning>, permit: Option<Permit>) -> Handed {
        match self.token.try_start() {
            Ok(()) => {
                // Its breaker may have opened while it waited: asked again as it starts.
                let name = self.reply.info.name.as_deref();
                if let Err(refused) = self.extras.recheck_guard(name) {
                    self.refused_at_start(refused);
                    return Handed::permit(permit);
                }
                let work = take(&self.work);
                let Some(work) = work else {
                    return Handed::permit(permit);
                };
                let began = self.reply.started();
                let dependency = self.extras.dependency();
                if let Some(call) = dependency {
                    call.begin();
                }
                let slot = permit.map_or(Slot::Free, Slot::Permit);
                // The answer goes out inside the frame, before the permit is released
                // or passed on: a waiting caller hears first, and the next admission
                // follows once the task is settled.
                let timer = self
                    .extras
                    .deadline()
                    .and_then(|(deadline, me)| deadline.arm(began, me));
                // The breaker's call leaves the task now that it runs, timed from the
                // body's start.
                let guard = self.extras.take_guard().map(|guard| (guard, began));
                let span = if P::FIRST_ATTEMPT {
                    self.reply.span_of_attempt(1)
                } else {
                    self.reply.span()
                };
                let _entered = span.enter();
                let held = self.turn_held();
                let (outcome, permit) = run_owned(me, slot, held, || {
                    let result = catch_unwind(AssertUnwindSafe(work)).map_err(take_message);
                    let (outcome, answer) = settle(result);
                    let outcome = self.policy_outcome(outcome);
                    if let Some((guard, began)) = guard {
                        guard.record_since(outcome, began);
                    }
                    // Measured before the answer, so a caller that heard sees it counted.
                    if let Some(call) = dependency {
                        call.measure(outcome);
                    }
                    // A retried task's first attempt may go on to a retry driver here.
                    if let Some((outcome, answer)) =
                        self.then.ended(&self.reply, &self.token, outcome, answer)
                    {
                        self.reply.finished(outcome, answer);
                    }
                    outcome
                });
                if let Some(timer) = timer {
                    timer.cancel();
                }
                // Answered, and out of the frame: the next call may be admitted.
                if let Some(call) = dependency {
                    call.release();
                }
                // Only now, with the body really ended, may the key's next task start;
                // a driver the task went on to passes the turn on after its last body.
                // With the permit still within its gate's limit, the next task of the
                // key runs on this thread with it (`policy/keyed/here.rs`).
                let mut next = None;
                if let Some(keyed) = self.extras.keyed()
                    && !self.then.promoted()
                {
                    let gate = &self.reply.route.gate;
                    if permit.is_some() && gate.in_flight() <= gate.limit() {
                        next = keyed.release_here(outcome, &self.reply.route);
                    } else {
                        keyed.release(outcome);
                    }
                }
                self.reply.body_ended();
                self.then.body_ended();
                Handed { permit, next }
            }
            Err(StartError::Cancelled) => {
                self.drop_unstarted();
                Handed::permit(permit)
            }
            Err(StartError::Claimed) => Handed::permit(permit),
        }
    }

    /// The key's turn it holds: its own, or its retry driver's.
    fn turn_held(&self) -> Option<TurnHeld> {
        match self.extras.keyed() {
            Some(keyed) => keyed.turn_held(),
            None => self.reply.driver_turn(),
        }
    }

    /// The outcome as the task's policies see it: a task answered at its deadline
    /// counts as timed out, whatever its body did later.
    fn policy_outcome(&self, outcome: Outcome) -> Outcome {
        if self.reply.answered_early() {
            Outcome::TimedOut
        } else {
            outcome
        }
    }

    /// Settles a task refused by its breaker as it was about to start.
    fn refused_at_start(&self, answer: TaskError<E>) {
        // Quietly: the closure's captures are user code, and the task must be settled
        // whatever their `Drop` does.
        drop_quietly(take(&self.work), "a closure's captures");
        if let Some(call) = self.extras.dependency() {
            call.end(Outcome::Rejected);
        }
        if let Some(answer) = self.then.refused(&self.reply, &self.token, answer) {
            self.reply.rejected_at_start(answer);
        }
        if let Some(keyed) = self.extras.keyed()
            && !self.then.promoted()
        {
            keyed.release(Outcome::Rejected);
        }
        self.reply.body_ended();
    }

    /// Settles a task that will never start.
    fn drop_unstarted(&self) {
        let work = take(&self.work);
        // Dropped outside the lock, and quietly: the closure's captures are user code,
        // and the task must be settled whatever their `Drop` does.
        drop_quietly(work, "a closure's captures");
        // A breaker call goes back now (a half-open probe frees its slot), not when the
        // last reference to the task happens to go.
        drop(self.extras.take_guard());
        if let Some(call) = self.extras.dependency() {
            call.end(Outcome::Cancelled);
        }
        self.reply.cancelled_unstarted();
        if let Some(keyed) = self.extras.keyed() {
            keyed.release(Outcome::Cancelled);
        }
        self.reply.body_ended();
    }
}

impl<F, T, E, X, P> Control for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn cancel(&self) -> bool {
        if self.reply.is_answered() {
            return false;
        }
        // Running closure work sees the token itself (`is_cancelled`).
        match self.then.cancel(&self.token) {
            Cancel::Token(CancelOutcome::BeforeStart) => {
                self.drop_unstarted();
                true
            }
            Cancel::Token(CancelOutcome::Requested) => true,
            Cancel::Token(CancelOutcome::AlreadyCancelled) => false,
            Cancel::Forwarded(cancelled) => cancelled,
        }
    }

    fn started(&self) -> bool {
        self.token.is_started()
    }

    fn spins_when_awaited(&self) -> bool {
        true
    }

    fn help(&self) {
        // A task gone on to a driver: its next attempt may be the one to run here.
        if let Some(driver) = self.then.successor() {
            return driver.help();
        }
        // Not before its dependency has admitted it: run inline, it would call the
        // service past the dependency's limit. Nor before its key's turn has come: run
        // inline, it would run beside (or before) the task of its key that holds it.
        let admitted = self
            .extras
            .dependency()
            .is_none_or(DependencyCall::is_admitted);
        let its_turn = self.extras.keyed().is_none_or(KeyState::may_run);
        if self.reply.route.inline_ok
            && admitted
            && its_turn
            && let Some(me) = self.me.upgrade()
        {
            // Run without a permit: nothing comes back, and no task of its key is
            // handed to this thread (that takes a permit).
            let handed = self.run(me, None);
            debug_assert!(handed.next.is_none(), "a task handed to a waiter");
            drop(handed.run_chain());
        }
    }

    fn waits_behind(&self, held: &TurnHeld) -> bool {
        self.extras
            .keyed()
            .is_some_and(|keyed| keyed.waits_behind(held))
    }

    fn expire(&self) {
        if self.reply.is_answered() {
            return;
        }
        match self.token.cancel() {
            CancelOutcome::BeforeStart => self.drop_unstarted(),
            // Running: its late end is counted as abandoned, like a timed-out body's.
            CancelOutcome::Requested | CancelOutcome::AlreadyCancelled => {
                self.reply.timed_out();
            }
        }
    }
}

impl<F, T, E, X, P> Expirable for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn time_out(&self) -> bool {
        if let Some(answered) = self.then.timed_out(&self.reply, &self.token) {
            return answered;
        }
        let answered = self.reply.timed_out();
        if answered {
            self.token.cancel();
        }
        answered
    }

    fn route_kind(&self) -> &RouteKind {
        &self.reply.route.kind
    }
}

/// How many queued tasks a backend's thread runs in a row, each with the permit the
/// last one ended with, before it hands the next to its backend's queue as a release
/// does. A task run here skips that queue, so tasks already in it (a limit above the
/// backend's threads dispatches some ahead) wait at most this many tasks longer.
const RUN_QUEUED_HERE: usize = 16;

/// Passes `permit`, freed by a task that ended on this thread (a thread of the task's
/// backend), straight to the next task queued at its gate and runs that task here: a
/// burst queued at the gate then costs one hand-off per task (submit to the gate), as
/// on a raw pool, not two (and then from the gate to the backend's queue).
fn run_queued_here(mut permit: Permit) {
    for _ in 0..RUN_QUEUED_HERE {
        match permit.pass_on() {
            Some((next, passed)) => match next.run_here(passed) {
                Some(free) => permit = free,
                None => return,
            },
            None => return,
        }
    }
    // Released as a task's permit always was: the next queued task goes to the
    // backend's queue.
    drop(permit);
}

/// Hands `job` to a backend. A user's backend may panic in `execute`: the job it was
/// given is dropped in the unwinding (which settles its task as cancelled and releases
/// its permit), and the panic stops here instead of unwinding through the gate.
pub(crate) fn execute(executor: &dyn Executor, job: Job) {
    if catch_unwind(AssertUnwindSafe(|| executor.execute(job))).is_err() {
        tracing::error!(
            backend = executor.name(),
            "a backend panicked in execute; its job was dropped"
        );
    }
}

impl<F, T, E, X, P> KeyedTask for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
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
        // Room and nobody waiting: admitted here, without a place in the queue.
        if let Some(permit) = self.reply.route.gate.try_acquire() {
            drop(self.dispatch(permit));
            return;
        }
        // The task is its own place in the queue: nothing is allocated for it. Queued
        // through a second reference to the task, not a clone of the gate: the task's
        // count is on a line this thread holds, the gate's is shared with the workers.
        let place: Arc<dyn SharedDeferred> = self.clone();
        self.reply
            .route
            .gate
            .enqueue_shared_at(place, self.priority);
    }

    fn drop_unstarted(&self) {
        ClosureTask::drop_unstarted(self);
    }

    fn runs_on(&self, route: &Arc<Route>) -> bool {
        Arc::ptr_eq(&self.reply.route, route)
    }

    fn here(self: Arc<Self>) -> Option<Arc<dyn RunsHere>> {
        Some(self)
    }
}

/// A task handed its key's turn by a task of its route that ended on a thread of the
/// route's backend: run there, with that task's permit.
impl<F, T, E, X, P> RunsHere for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn run_turn(self: Arc<Self>, permit: Permit) -> Handed {
        if !self.token.is_pending() {
            return Handed::permit(Some(permit));
        }
        ClosureTask::run(&self, self.clone(), Some(permit))
    }

    fn to_gate(self: Arc<Self>) {
        KeyedTask::enqueue(self);
    }
}

impl<F, T, E, X, P> ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    /// Hands the admitted task to its backend with `permit`; the permit comes back if
    /// the task was settled while it waited.
    fn dispatch(self: Arc<Self>, permit: Permit) -> Option<Permit> {
        if !self.token.is_pending() {
            return Some(permit);
        }
        let executor = self.reply.route.executor.clone();
        *lock(&self.permit) = Some(permit);
        execute(&*executor, Job::shared(self));
        None
    }
}

/// The task as its own place in its gate's queue.
impl<F, T, E, X, P> SharedDeferred for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
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

    /// Passed a permit by a task of its route that ended on this thread, a thread of
    /// the route's backend: run here, with no trip through the backend's queue.
    fn run_here(self: Arc<Self>, permit: Permit) -> Option<Permit> {
        if !self.token.is_pending() {
            return Some(permit);
        }
        ClosureTask::run(&self, self.clone(), Some(permit)).run_chain()
    }
}

/// The task as its backend's job, with the permit `dispatch` left in it. If the
/// backend drops it unrun, the task is settled as cancelled; the permit goes back
/// either way.
impl<F, T, E, X, P> Runnable for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn run(self: Arc<Self>) {
        let permit = take(&self.permit);
        let handed = ClosureTask::run(&self, self.clone(), permit);
        drop(self);
        if let Some(permit) = handed.run_chain() {
            run_queued_here(permit);
        }
    }

    fn dropped(self: Arc<Self>) {
        if self.token.claim_cancelled() {
            self.drop_unstarted();
        }
        // Only now, with the task settled: releasing it may admit the next task.
        drop(take(&self.permit));
    }
}

impl<F, T, E, X, P> Owning for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn token(&self) -> &TokenCell {
        &self.token
    }
}

impl<F, T, E, X, P> Answering<T, E> for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn answer_slot(&self) -> &OneShot<Result<T, TaskError<E>>> {
        &self.reply.slot
    }
}

/// A retried task's first attempt, as its driver sees it.
impl<F, T, E, X, P> FirstAttempt<T, E> for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E>,
{
    fn reply(&self) -> &Reply<T, E> {
        &self.reply
    }

    fn keyed(&self) -> Option<&KeyState> {
        self.extras.keyed()
    }

    fn unlink(&self) {
        self.then.unlink();
    }
}

/// A retried task's first attempt keeps the work every attempt calls.
impl<F, T, E, X, P, W> Holds<W> for ClosureTask<F, T, E, X, P>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    X: Travelling,
    P: Promotion<T, E> + Keeps<W>,
{
    fn held(&self) -> &W {
        self.then.work()
    }
}
