//! The retry driver: one task made of attempts.
//!
//! The driver is what the caller's handle controls and what waits for a key's turn.
//! Each attempt is an ordinary task of its route (gate, timeout, breaker, frame and
//! permit as usual) whose answer comes back here instead of to the caller; the driver
//! then answers the caller, or pauses on the manager's timer thread and launches the
//! next attempt. The caller hears exactly once, and the task's outcome is counted once;
//! each attempt's body is counted in flight while it runs.
//!
//! The key's turn is held from the first attempt to the end of the last body, so order
//! survives retries, and a timed-out body still running keeps the next task of its key
//! waiting.
//!
//! A retried closure task starts without a driver: its first attempt is an ordinary
//! task (its caller's answer, key state and token inside) that makes one only when a
//! failure may be retried ([`Driver::promoted`]). The driver then answers through that
//! task ([`FirstAttempt`]) and keeps its key's turn there; the two hold each other
//! until the driver is done and no body of the task runs, when the first task lets it
//! go ([`FirstAttempt::unlink`]).

use super::RetryIf;
use super::budgets::NamedBudget;
use super::launch::{Holds, Launch};
use crate::TaskError;
use crate::lock::lock;
use crate::policy::keyed::{KeyState, KeyedTask, TurnHeld};
use crate::policy::limit::DependencyCall;
use crate::task::{Answering, AttemptSink, Control, Reply, drop_quietly};
use crate::timers::{Armed, Fire, Fired, TimerKind, Timers};
use sluice_core::{
    Backoff, CancelOutcome, CancelScope, OneShot, Outcome, Priority, Rng, StartError, TokenCell,
};
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// What the driver needs of the manager and the task's policies.
pub(crate) struct Plan {
    /// The task's name, for logs.
    pub(crate) name: Option<Arc<str>>,
    /// Attempts in all.
    pub(crate) max_attempts: u32,
    /// Pauses between attempts.
    pub(crate) backoff: Backoff,
    /// No retry after this long since the first attempt began.
    pub(crate) max_elapsed: Option<Duration>,
    /// The name's retry budget.
    pub(crate) budget: Option<Arc<NamedBudget>>,
    /// A time limit on each attempt from its launch, kept by the driver: for attempts
    /// that keep no timeout of their own (maps).
    pub(crate) attempt_timeout: Option<Duration>,
    /// The jitter's seed; `None` to draw one from entropy at the first retry.
    pub(crate) seed: Option<u64>,
    /// The manager's timer thread.
    pub(crate) timers: Arc<Timers>,
    /// Set when the manager shuts down: no retry begins after that.
    pub(crate) closed: Arc<AtomicBool>,
    /// The manager's cancellation, whose abort epoch tells whether `abort_pending` ran
    /// while a pause was being set up.
    pub(crate) scope: CancelScope,
}

/// The first attempt of a retried closure task, which made a driver when it failed:
/// the driver answers through it and keeps its key's turn there.
pub(crate) trait FirstAttempt<T, E>: Send + Sync {
    /// The caller's answer, counted on the route once.
    fn reply(&self) -> &Reply<T, E>;

    /// The task's key, if it has one.
    fn keyed(&self) -> Option<&KeyState>;

    /// The driver is done and no body of the task runs: the first task lets it go (the
    /// two held each other).
    fn unlink(&self);
}

/// What a promoted first attempt holds of its driver: its cancel and help, and where its
/// body's end and (for a timed-out body) its answer go.
pub(crate) trait Successor<T, E>: Control + AttemptSink<T, E> {}

impl<T, E, X: Control + AttemptSink<T, E>> Successor<T, E> for X {}

/// Where a driver's answer and key state are.
// Inline, not boxed: the driver is one allocation either way, and a box would be one
// more for every driver made from the start (io, deadline and refused tasks).
#[allow(clippy::large_enum_variant)]
enum Origin<T, E> {
    /// Its own: a driver from the start.
    Own {
        /// The caller's answer, counted on the route once.
        reply: Reply<T, E>,
        /// Its key, if it has one.
        keyed: Option<KeyState>,
    },
    /// In the first attempt that made it.
    First(Arc<dyn FirstAttempt<T, E>>),
}

/// One retried task.
pub(crate) struct Driver<T, E, C, L> {
    /// The task's own token: pending until its first attempt, so that cancellation and
    /// `abort_pending` settle it without attempts while it waits for its key. Inside
    /// the driver, as the caller's answer's slot is (in `reply`): one allocation. A
    /// promoted driver's starts started.
    token: TokenCell,
    /// The caller's answer and the task's key.
    origin: Origin<T, E>,
    /// Starts an attempt.
    launch: L,
    /// Which failures are worth another attempt.
    classify: C,
    /// Limits, backoff, budget.
    plan: Plan,
    /// Where it stands.
    state: Mutex<State<T, E>>,
    /// Itself, for the attempts and timers it starts.
    me: Weak<Self>,
}

/// The driver's state, under one lock.
struct State<T, E> {
    /// What it is doing.
    phase: Phase<T, E>,
    /// Attempts launched so far.
    attempts: u32,
    /// Bodies launched and not yet ended.
    bodies: u32,
    /// When the first attempt was launched.
    began: Option<Instant>,
    /// When the whole task must be answered by, if it has a deadline.
    deadline: Option<Instant>,
    /// The deadline's timer.
    deadline_timer: Option<Armed>,
    /// The current attempt's time limit, when the driver keeps it.
    attempt_timer: Option<Armed>,
    /// The task's outcome, once answered.
    outcome: Option<Outcome>,
    /// An attempt given up at the time limit the driver keeps: its own answer (it was
    /// cancelled) counts as timed out.
    expiring: Option<u32>,
    /// The jitter's source, made at the first retry.
    rng: Option<Rng>,
}

impl<T, E> State<T, E> {
    /// A driver in `phase` with `attempts` launched and `bodies` running.
    fn new(
        phase: Phase<T, E>,
        attempts: u32,
        bodies: u32,
        began: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Self {
        State {
            phase,
            attempts,
            bodies,
            began,
            deadline,
            deadline_timer: None,
            attempt_timer: None,
            outcome: None,
            expiring: None,
            rng: None,
        }
    }
}

/// What the driver is doing.
enum Phase<T, E> {
    /// Waiting for its key's turn, or not yet launched.
    Waiting,
    /// Attempt `State::attempts` is out; its control once launched.
    Running(Option<Arc<dyn Control>>),
    /// Pausing before the next attempt, with the last attempt's answer (given to the
    /// caller if shutdown cuts the pause short).
    Backoff {
        /// The pause's timer.
        timer: Option<Armed>,
        /// The last attempt's outcome and answer.
        last: (Outcome, Result<T, TaskError<E>>),
    },
    /// Answered.
    Done,
}

impl<T, E, C, L> Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    /// A driver for a task that is answered through `reply`, which must be answered by
    /// `deadline` (from now) if it has one.
    pub(crate) fn new(
        token: TokenCell,
        reply: Reply<T, E>,
        launch: L,
        classify: C,
        plan: Plan,
        keyed: Option<KeyState>,
        deadline: Option<Duration>,
    ) -> Arc<Self> {
        let deadline = deadline.and_then(|after| Instant::now().checked_add(after));
        let driver = Arc::new_cyclic(|me| Driver {
            token,
            origin: Origin::Own { reply, keyed },
            launch,
            classify,
            plan,
            state: Mutex::new(State::new(Phase::Waiting, 0, 0, None, deadline)),
            me: me.clone(),
        });
        if let Some(at) = deadline {
            let me = driver.me.clone();
            let timer = driver.plan.timers.arm(
                at,
                TimerKind::Deadline,
                Fire::call(move |_| {
                    if let Some(driver) = me.upgrade() {
                        driver.deadline_passed();
                    }
                }),
            );
            lock(&driver.state).deadline_timer = Some(timer);
        }
        driver
    }

    /// The driver of a task whose first attempt, `first`, failed (or timed out, its body
    /// still running: `bodies` is 1) and may be retried: it takes the task over as if
    /// it had launched that attempt, whose answer it must be given next
    /// ([`AttemptSink::answered`], attempt 1). `token` is its own, started; `began` is
    /// when the first attempt's body began, for `max_elapsed`.
    pub(crate) fn promoted(
        first: Arc<dyn FirstAttempt<T, E>>,
        token: TokenCell,
        (launch, classify, plan): (L, C, Plan),
        bodies: u32,
        began: Option<Instant>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Driver {
            token,
            origin: Origin::First(first),
            launch,
            classify,
            plan,
            state: Mutex::new(State::new(Phase::Running(None), 1, bodies, began, None)),
            me: me.clone(),
        })
    }

    /// The caller's answer.
    fn reply(&self) -> &Reply<T, E> {
        match &self.origin {
            Origin::Own { reply, .. } => reply,
            Origin::First(first) => first.reply(),
        }
    }

    /// The task's key, if it has one.
    fn keyed(&self) -> Option<&KeyState> {
        match &self.origin {
            Origin::Own { keyed, .. } => keyed.as_ref(),
            Origin::First(first) => first.keyed(),
        }
    }

    /// The task is answered and no body of it runs: its key's turn passes on, and a
    /// first attempt that made this driver lets it go.
    fn completed(&self, outcome: Outcome) {
        if let Some(keyed) = self.keyed() {
            keyed.release(outcome);
        }
        if let Origin::First(first) = &self.origin {
            first.unlink();
        }
    }

    /// Launches the next attempt.
    fn launch_next(self: &Arc<Self>) {
        let (attempt, was) = {
            let mut state = lock(&self.state);
            if !matches!(state.phase, Phase::Waiting | Phase::Backoff { .. }) {
                return;
            }
            let was = mem::replace(&mut state.phase, Phase::Running(None));
            state.attempts += 1;
            state.bodies += 1;
            if self.plan.max_elapsed.is_some() {
                state.began.get_or_insert_with(Instant::now);
            }
            (state.attempts, was)
        };
        // The last attempt's answer (a user's error) goes outside the lock, quietly: on
        // the timer thread, a panic in its `Drop` would kill the thread and strand this
        // attempt unlaunched. Only a pause holds one (a first attempt was waiting).
        if let Phase::Backoff { .. } = was {
            drop_quietly(was, "a retried attempt's answer");
        }
        if attempt == 1
            && let Some(budget) = &self.plan.budget
        {
            budget.deposit();
        }
        if let Some(after) = self.plan.attempt_timeout
            && let Some(at) = Instant::now().checked_add(after)
        {
            let me = self.me.clone();
            let timer = self.plan.timers.arm(
                at,
                TimerKind::Deadline,
                Fire::call(move |_| {
                    if let Some(driver) = me.upgrade() {
                        driver.attempt_timed_out(attempt);
                    }
                }),
            );
            lock(&self.state).attempt_timer = Some(timer);
        }
        let sink: Arc<dyn AttemptSink<T, E>> = self.clone();
        let holder: Arc<dyn Holds<L::Shared>> = self.clone();
        match self.launch.launch(sink, holder, attempt) {
            // No body will end: count it ended now.
            None => self.body_ended(attempt),
            Some(control) => {
                let mut state = lock(&self.state);
                let current = state.attempts == attempt;
                match &mut state.phase {
                    Phase::Running(slot @ None) if current => {
                        *slot = Some(control.clone());
                        drop(state);
                        // A cancel that came while it launched could not reach it.
                        if self.token.is_cancelled() {
                            control.cancel();
                        }
                    }
                    Phase::Done => {
                        drop(state);
                        // Answered meanwhile (a deadline): the attempt is not wanted.
                        control.expire();
                    }
                    _ => {}
                }
            }
        }
    }

    /// How long to pause before another attempt after `error`, or `None` to answer it.
    fn retry_delay(&self, state: &mut State<T, E>, error: &TaskError<E>) -> Option<Duration> {
        let final_kind = matches!(error, TaskError::Cancelled | TaskError::ShuttingDown);
        if final_kind
            || self.token.is_cancelled()
            || self.plan.closed.load(Ordering::Acquire)
            || state.attempts >= self.plan.max_attempts
            || !self.classify.retry(error)
        {
            return None;
        }
        let seed = self.plan.seed;
        let rng = state
            .rng
            .get_or_insert_with(|| seed.map_or_else(Rng::from_entropy, Rng::seeded));
        let mut delay = self.plan.backoff.delay(state.attempts - 1, rng);
        if let TaskError::Rejected { retry_after, .. } = error {
            // No probe is let through before then: waiting less is a wasted attempt.
            delay = delay.max(*retry_after);
        }
        let next = Instant::now().checked_add(delay)?;
        if let (Some(limit), Some(began)) = (self.plan.max_elapsed, state.began)
            && next.saturating_duration_since(began) > limit
        {
            return None;
        }
        if state.deadline.is_some_and(|deadline| next >= deadline) {
            return None;
        }
        if let Some(budget) = &self.plan.budget
            && !budget.withdraw()
        {
            budget.refused(state.attempts);
            self.reply().note_budget_refused();
            return None;
        }
        Some(delay)
    }

    /// Answers the caller (once) and passes the key's turn on if no body runs.
    fn finish(
        &self,
        state: MutexGuard<'_, State<T, E>>,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
    ) {
        self.finish_stopping(state, None, outcome, answer);
    }

    /// As `finish`, giving `running` up first: once the caller has its answer, no
    /// attempt of the task may start (its own answer is ignored, the task being done).
    fn finish_stopping(
        &self,
        mut state: MutexGuard<'_, State<T, E>>,
        running: Option<Arc<dyn Control>>,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
    ) {
        let mut was = mem::replace(&mut state.phase, Phase::Done);
        state.outcome = Some(outcome);
        let deadline_timer = state.deadline_timer.take();
        let attempt_timer = state.attempt_timer.take();
        let release = state.bodies == 0;
        drop(state);
        if let Some(timer) = attempt_timer {
            timer.cancel();
        }
        if let Phase::Backoff { timer, .. } = &mut was
            && let Some(timer) = timer.take()
        {
            timer.cancel();
        }
        if let Some(timer) = deadline_timer {
            timer.cancel();
        }
        if let Some(control) = running {
            control.expire();
        }
        self.reply().settled(outcome, answer);
        if release {
            self.completed(outcome);
        }
        // A pause's last answer (a user's error) is dropped after the bookkeeping, and
        // quietly.
        drop_quietly(was, "a retried attempt's answer");
    }

    /// The pause before the next attempt is over, or was cut short.
    fn backoff_over(self: &Arc<Self>, why: Fired) {
        let mut state = lock(&self.state);
        let Phase::Backoff { .. } = state.phase else {
            return;
        };
        match why {
            Fired::Due if !self.token.is_cancelled() => {
                // Launch from Backoff: `launch_next` moves it on.
                if let Phase::Backoff { timer, .. } = &mut state.phase {
                    timer.take();
                }
                drop(state);
                self.launch_next();
            }
            Fired::Due | Fired::Aborted => {
                self.finish(state, Outcome::Cancelled, Err(TaskError::Cancelled));
            }
            Fired::ShuttingDown => {
                let Phase::Backoff { last, timer } = mem::replace(&mut state.phase, Phase::Waiting)
                else {
                    return;
                };
                let (outcome, answer) = last;
                self.finish(state, outcome, answer);
                // Cut short by this driver itself (shutdown began as it paused): its
                // timer is still armed.
                if let Some(timer) = timer {
                    timer.cancel();
                }
            }
        }
    }

    /// The whole task's deadline passed: it answers `TimedOut` now; a running attempt is
    /// asked to stop and its late end is counted as abandoned.
    fn deadline_passed(&self) {
        if self.token.claim_cancelled() {
            // Still waiting for its key's turn: settled without an attempt.
            if let Some(keyed) = self.keyed() {
                keyed.release(Outcome::TimedOut);
            }
            self.reply()
                .settled(Outcome::TimedOut, Err(TaskError::TimedOut));
            return;
        }
        let mut state = lock(&self.state);
        let running = match &state.phase {
            Phase::Done => return,
            Phase::Running(control) => control.clone(),
            Phase::Waiting | Phase::Backoff { .. } => None,
        };
        tracing::warn!(
            task = self.plan.name.as_deref(),
            attempts = state.attempts,
            "task missed its deadline"
        );
        state.deadline_timer = None;
        self.finish_stopping(state, running, Outcome::TimedOut, Err(TaskError::TimedOut));
    }

    /// The current attempt ran past the time limit the driver keeps for it: it is
    /// answered `TimedOut` (and retried, if the policy says so), then given up.
    fn attempt_timed_out(&self, attempt: u32) {
        let running = {
            let mut state = lock(&self.state);
            let running = match &state.phase {
                Phase::Running(control) if state.attempts == attempt => control.clone(),
                _ => return,
            };
            state.expiring = Some(attempt);
            running
        };
        tracing::warn!(task = self.plan.name.as_deref(), attempt, "task timed out");
        // Given up before anyone hears of it, so that it cannot start afterwards; its
        // answer, if it gives one now, counts as timed out.
        if let Some(control) = running {
            control.expire();
        }
        // Answered now if it did not (a map still ending its units): a no-op otherwise.
        self.answered(attempt, Outcome::TimedOut, Err(TaskError::TimedOut));
    }

    /// Starts the first attempt, or settles the task if it was cancelled first.
    fn start(self: &Arc<Self>) {
        match self.token.try_start() {
            Ok(()) => self.launch_next(),
            // Refused by an `abort_pending` that came after it was made: nobody else
            // claimed it, so it settles itself (and hands its key's turn on).
            Err(StartError::Cancelled) => self.settle_unstarted(),
            // Claimed by whoever cancelled it, who settles it.
            Err(StartError::Claimed) => {}
        }
    }

    /// Settles a task that never launched an attempt.
    fn settle_unstarted(&self) {
        let timer = lock(&self.state).deadline_timer.take();
        if let Some(timer) = timer {
            timer.cancel();
        }
        self.reply().cancelled_unstarted();
        if let Some(keyed) = self.keyed() {
            keyed.release(Outcome::Cancelled);
        }
    }
}

impl<T, E, C, L> AttemptSink<T, E> for Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    fn answered(&self, attempt: u32, outcome: Outcome, answer: Result<T, TaskError<E>>) {
        let mut state = lock(&self.state);
        if state.attempts != attempt || !matches!(state.phase, Phase::Running(_)) {
            drop(state);
            drop_quietly(answer, "a stale attempt's answer");
            return;
        }
        let (outcome, answer) = if state.expiring == Some(attempt) {
            drop_quietly(answer, "an expired attempt's answer");
            (Outcome::TimedOut, Err(TaskError::TimedOut))
        } else {
            (outcome, answer)
        };
        let delay = match &answer {
            Ok(_) => None,
            Err(error) => self.retry_delay(&mut state, error),
        };
        let Some(delay) = delay else {
            self.finish(state, outcome, answer);
            return;
        };
        let epoch = self.plan.scope.epoch();
        let me = self.me.clone();
        // Armed before the lock is let go, so that whoever sees the task pausing (a
        // cancel, `abort_pending`, shutdown) finds its timer.
        let timer = self.plan.timers.arm(
            Instant::now() + delay,
            TimerKind::Backoff,
            Fire::call(move |why| {
                if let Some(driver) = me.upgrade() {
                    driver.backoff_over(why);
                }
            }),
        );
        state.phase = Phase::Backoff {
            timer: Some(timer),
            last: (outcome, answer),
        };
        drop(state);
        tracing::debug!(
            task = self.plan.name.as_deref(),
            attempt,
            ?outcome,
            ?delay,
            "attempt failed; retrying"
        );
        // An abort or a shutdown that swept the pauses between the decision and the
        // arming missed this one: the timer's lock orders the sweep and the arming, so
        // if the sweep came first, its flag is visible here.
        let why = if self.plan.closed.load(Ordering::Acquire) {
            Some(Fired::ShuttingDown)
        } else if self.plan.scope.epoch() != epoch {
            Some(Fired::Aborted)
        } else {
            None
        };
        if let (Some(why), Some(me)) = (why, self.me.upgrade()) {
            me.backoff_over(why);
        }
    }

    fn body_started(&self, attempt: u32, at: Instant) {
        // Under the state lock: the answer (`finish`, which moves the phase to `Done`
        // under it) then either comes after and records this attempt, or came before
        // and this body is no part of the task's record or counts.
        let state = lock(&self.state);
        if state.attempts != attempt || !matches!(state.phase, Phase::Running(_)) {
            return;
        }
        self.reply().note_attempt(attempt);
        self.reply().first_body_began(at);
        if attempt > 1 {
            // A retry is an attempt that ran again, not a pause that was decided.
            self.reply().route.counters.retried();
            self.reply().key_retried();
        }
        drop(state);
    }

    fn turn_held(&self) -> Option<TurnHeld> {
        self.keyed()?.turn_held()
    }

    fn submitted(&self, attempt: u32) -> Option<Instant> {
        (attempt == 1).then(|| self.reply().submitted())
    }

    fn body_ended(&self, _attempt: u32) {
        let mut state = lock(&self.state);
        state.bodies -= 1;
        let release = state.bodies == 0 && matches!(state.phase, Phase::Done);
        let outcome = state.outcome;
        drop(state);
        if release && let Some(outcome) = outcome {
            self.completed(outcome);
        }
    }
}

impl<T, E, C, L> Control for Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    fn cancel(&self) -> bool {
        if self.reply().is_answered() {
            return false;
        }
        match self.token.cancel() {
            CancelOutcome::BeforeStart => {
                self.settle_unstarted();
                true
            }
            CancelOutcome::Requested | CancelOutcome::AlreadyCancelled => {
                let state = lock(&self.state);
                match &state.phase {
                    Phase::Running(Some(control)) => {
                        let control = control.clone();
                        drop(state);
                        control.cancel()
                    }
                    Phase::Backoff { .. } => {
                        self.finish(state, Outcome::Cancelled, Err(TaskError::Cancelled));
                        true
                    }
                    // Launching: it sees the token once its control is stored.
                    Phase::Running(None) | Phase::Waiting => true,
                    Phase::Done => false,
                }
            }
        }
    }

    fn help(&self) {
        let running = match &lock(&self.state).phase {
            Phase::Running(Some(control)) => Some(control.clone()),
            _ => None,
        };
        if let Some(control) = running {
            control.help();
        }
    }

    fn waits_behind(&self, held: &TurnHeld) -> bool {
        self.keyed().is_some_and(|keyed| keyed.waits_behind(held))
    }
}

impl<T, E, C, L> KeyedTask for Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    fn token(&self) -> &TokenCell {
        &self.token
    }

    fn key_state(&self) -> Option<&KeyState> {
        self.keyed()
    }

    fn dependency(&self) -> Option<&DependencyCall> {
        // Each attempt waits for the dependency itself: a pause between attempts
        // must not hold a call's slot.
        None
    }

    fn priority(&self) -> Priority {
        Priority::Normal
    }

    fn enqueue(self: Arc<Self>) {
        self.start();
    }

    fn drop_unstarted(&self) {
        self.settle_unstarted();
    }
}

impl<T, E, C, L> Holds<L::Shared> for Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    fn held(&self) -> &L::Shared {
        self.launch.shared()
    }
}

impl<T, E, C, L> Answering<T, E> for Driver<T, E, C, L>
where
    T: Send + 'static,
    E: Send + 'static,
    C: RetryIf<E>,
    L: Launch<T, E>,
{
    fn answer_slot(&self) -> &OneShot<Result<T, TaskError<E>>> {
        &self.reply().slot
    }
}
