//! Answering a task exactly once, and counting its outcome with the answer.
//!
//! A task's answer goes to its caller, or — for one attempt of a retried task — to the
//! retry driver, which decides whether the caller hears it or a new attempt starts.

use super::info::TaskInfo;
use super::panic::{drop_quietly, quietly};
use crate::TaskError;
use crate::keys::{Bucket, KeyMetrics};
use crate::lock::{lock, take};
use crate::policy::breaker::Guarded;
use crate::policy::keyed::{TaskKey, TurnHeld};
use crate::records::{TaskRecord, deliver};
use crate::route::Route;
use sluice_core::{CancelOutcome, Completer, OneShot, Outcome, TokenCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sending side of a task's answer.
type Answer<T, E> = Completer<Result<T, TaskError<E>>>;

/// Where the answers of one retried task's attempts go.
pub(crate) trait AttemptSink<T, E>: Send + Sync {
    /// Attempt `attempt` was answered: its body returned, it timed out, or it was
    /// cancelled before it started.
    fn answered(&self, attempt: u32, outcome: Outcome, answer: Result<T, TaskError<E>>);

    /// Attempt `attempt`'s body has really ended (or it will never run).
    fn body_ended(&self, attempt: u32);

    /// Attempt `attempt`'s body began at `at`: the task's record counts it, and an
    /// attempt after the first is a retry.
    fn body_started(&self, attempt: u32, at: Instant);

    /// The key's turn the task holds for its attempts, if it holds one.
    fn turn_held(&self) -> Option<TurnHeld> {
        None
    }

    /// When attempt `attempt` counts as submitted, if not when it is launched: the
    /// first attempt of a task, when the task was.
    fn submitted(&self, _attempt: u32) -> Option<Instant> {
        None
    }
}

/// A breaker's call and when it was admitted, until the answer records it.
type GuardSlot = Mutex<Option<(Guarded, Instant)>>;

/// An attempt's link to its driver.
struct AttemptOf<T, E> {
    /// The retry driver.
    driver: Arc<dyn AttemptSink<T, E>>,
    /// Which attempt this is, from 1.
    number: u32,
    /// Set once the body's end has been reported: here, in the room the number
    /// leaves, not in every task's reply.
    body_ended: AtomicBool,
}

/// Who hears the answer: a retry driver if the reply has an `attempt` (the one there,
/// which holds it once: a second reference would be two atomic operations more per
/// attempt); else the caller, through a completer of its own if the reply's [`Rare`]
/// holds one (a map's), or through the reply's own slot, which its handle reaches
/// through the task (a closure task: one allocation for the task and its answer).
enum To<T, E> {
    /// The caller, through the task's handle.
    Caller(Answer<T, E>),
    /// The caller, through the reply's own slot.
    InPlace,
    /// A retry driver.
    Driver,
}

/// What few tasks' replies carry, in one box a plain task never makes: the caller's
/// completer (a map's answer goes through one), a breaker's call recorded with the
/// outcome, a streamed map's item counts. A burst of tiny tasks is bound by the pages
/// its tasks touch (issue 20): these were 40 bytes of every closure task.
struct Rare<T, E> {
    /// The caller's completer, for a reply made [`new`](Reply::new); taken by the
    /// single answer.
    completer: Mutex<Option<Answer<T, E>>>,
    /// A breaker's call recorded with the outcome, for work that records none itself
    /// (a map); with when it was admitted.
    guard: GuardSlot,
    /// A streamed map's item counts, for its record.
    items: Option<Arc<crate::items::ItemCounters>>,
}

impl<T, E> Default for Rare<T, E> {
    fn default() -> Self {
        Rare {
            completer: Mutex::new(None),
            guard: Mutex::new(None),
            items: None,
        }
    }
}

/// The key's counts a keyed task's rises went to, for their falls: one lock for both
/// (two were 8 bytes more of every task).
struct KeyBuckets {
    /// Where its key counted it pending, until it is answered.
    pending: Option<Bucket>,
    /// Where its key counted its body running, until the body ends.
    running: Option<Bucket>,
}

/// The one place a task's answer goes out. Whoever takes it first records the outcome;
/// every later attempt does nothing, so no task is counted twice.
pub(crate) struct Reply<T, E> {
    /// The route whose counters record the outcome.
    pub(crate) route: Arc<Route>,
    /// Set by the single answer: whoever sets it answers.
    answered: AtomicBool,
    /// Set when the task was answered while its body still ran (it timed out).
    early: AtomicBool,
    /// Set for one attempt of a retried task.
    attempt: Option<AttemptOf<T, E>>,
    /// What few tasks carry (a caller's completer, a breaker's call, item counts).
    rare: Option<Box<Rare<T, E>>>,
    /// When the task (or attempt) was submitted: its queue wait runs from here.
    queued: Instant,
    /// When its body began, as nanoseconds after `queued` plus one; zero until it
    /// began. An atomic rather than a locked `Option<Instant>`: a third of the size,
    /// and no lock taken at the body's start and end.
    began: AtomicU64,
    /// Who the task is, for its span.
    pub(crate) info: TaskInfo,
    /// Set by the first `finished`: the body's run time is recorded, and a late end
    /// counted abandoned, once.
    timed: AtomicBool,
    /// The body's run time in nanoseconds as the first `finished` measured it (0: not
    /// yet): the answer reports the same time without reading the clock again.
    ran_nanos: AtomicU64,
    /// Attempts whose body started, as a retry driver reports them (0: the task's
    /// own body, or none started).
    attempts: AtomicU32,
    /// Set when the retry budget refused a retry of the task.
    budget_refused: AtomicBool,
    /// Where its key counted it (a keyed task only).
    buckets: Mutex<KeyBuckets>,
    /// The answer's slot, for a reply made [`in_place`](Self::in_place).
    pub(crate) slot: OneShot<Result<T, TaskError<E>>>,
}

impl<T, E> Reply<T, E> {
    /// A reply to the caller of the task `info` names, which its key (if any) counts
    /// pending until the answer.
    pub(crate) fn new(route: Arc<Route>, completer: Answer<T, E>, info: TaskInfo) -> Self {
        Self::to_caller(route, To::Caller(completer), info)
    }

    /// A reply to the caller through its own [`slot`](Self::slot), which the caller's
    /// handle reaches through the task that holds the reply.
    #[inline(always)]
    pub(crate) fn in_place(route: Arc<Route>, info: TaskInfo) -> Self {
        Self::to_caller(route, To::InPlace, info)
    }

    #[inline(always)]
    fn to_caller(route: Arc<Route>, to: To<T, E>, info: TaskInfo) -> Self {
        // Counted before the reply is made, so that the reply is one expression the
        // compiler can build in place (a reply changed after it was made was copied).
        let pending = match (&route.keys, &info.key) {
            (Some(keys), Some(key)) => Some(keys.submitted(key)),
            _ => None,
        };
        Self::with(route, to, None, info, (Instant::now(), pending))
    }

    /// A reply to a retry driver, for its attempt `number` of the task `info` names.
    /// Its outcome is not counted (the driver counts the task's once); its body's time
    /// in flight is.
    pub(crate) fn to_driver(
        route: Arc<Route>,
        driver: Arc<dyn AttemptSink<T, E>>,
        number: u32,
        info: TaskInfo,
    ) -> Self {
        // A first attempt is submitted with its task: its queue wait runs from the
        // task's submission (as a task's own body's does, key wait included), and the
        // clock is read once for both.
        let queued = driver.submitted(number).unwrap_or_else(Instant::now);
        Self::with(
            route,
            To::Driver,
            Some(AttemptOf {
                driver,
                number,
                body_ended: AtomicBool::new(false),
            }),
            info,
            (queued, None),
        )
    }

    #[inline(always)]
    fn with(
        route: Arc<Route>,
        to: To<T, E>,
        attempt: Option<AttemptOf<T, E>>,
        info: TaskInfo,
        (queued, pending): (Instant, Option<Bucket>),
    ) -> Self {
        let rare = match to {
            To::Caller(completer) => Some(Box::new(Rare {
                completer: Mutex::new(Some(completer)),
                ..Rare::default()
            })),
            To::InPlace | To::Driver => None,
        };
        Reply {
            route,
            answered: AtomicBool::new(false),
            early: AtomicBool::new(false),
            attempt,
            rare,
            queued,
            began: AtomicU64::new(0),
            info,
            timed: AtomicBool::new(false),
            ran_nanos: AtomicU64::new(0),
            attempts: AtomicU32::new(0),
            budget_refused: AtomicBool::new(false),
            buckets: Mutex::new(KeyBuckets {
                pending,
                running: None,
            }),
            slot: OneShot::new(),
        }
    }

    /// The route's per-key metrics and this task's key, if both.
    fn keyed(&self) -> Option<(&KeyMetrics, &TaskKey)> {
        Some((self.route.keys.as_ref()?, self.info.key.as_ref()?))
    }

    /// An attempt failed and will be tried again: counted for the task's key.
    pub(crate) fn key_retried(&self) {
        if let Some((keys, key)) = self.keyed() {
            keys.retried(key);
        }
    }

    /// The key's turn this attempt's retry driver holds for it, if any (a task that is
    /// not an attempt holds its own, in its key state).
    pub(crate) fn driver_turn(&self) -> Option<TurnHeld> {
        self.attempt.as_ref()?.driver.turn_held()
    }

    /// The span the body runs in (see [`span`](super::info::span)).
    pub(crate) fn span(&self) -> tracing::Span {
        super::info::span(
            &self.info,
            &self.route.kind,
            self.attempt.as_ref().map(|a| a.number),
        )
    }

    /// The span a retried task's attempt `number` runs in, for a first attempt that is
    /// the task itself (its reply is the caller's, not an attempt's).
    pub(crate) fn span_of_attempt(&self, number: u32) -> tracing::Span {
        super::info::span(&self.info, &self.route.kind, Some(number))
    }

    /// The body begins: counted as started, and the time since submission recorded as
    /// the route's queue wait. Returns when it began, for whoever else times the body
    /// (a breaker's call), so that the clock is read once.
    pub(crate) fn started(&self) -> Instant {
        self.route.counters.started();
        let now = Instant::now();
        // The wait is what `began` stores, less one: one subtraction of the two
        // instants (each is a `timespec` normalisation) serves both.
        let began = self.since_queued(now);
        self.route.queue_wait.record(began - 1);
        self.began.store(began, Ordering::Release);
        if let Some((keys, key)) = self.keyed() {
            // Where its key counted it pending, if it did (an attempt is not).
            let running = lock(&self.buckets)
                .pending
                .as_ref()
                .map(Bucket::body_started);
            let running = running.unwrap_or_else(|| keys.body_started(key));
            lock(&self.buckets).running = Some(running);
        }
        if let Some(attempt) = &self.attempt {
            attempt.driver.body_started(attempt.number, now);
        }
        now
    }

    /// `at` as `began` stores it: nanoseconds after submission, plus one (never zero).
    fn since_queued(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.queued).as_nanos();
        // Saturates after 584 years.
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// When the task was submitted.
    pub(crate) fn submitted(&self) -> Instant {
        self.queued
    }

    /// The first body of a task run as attempts began at `at` (later ones change
    /// nothing): its record's queue wait ends and its run time starts there. Nothing
    /// is counted on the route, whose counts are the attempts'.
    pub(crate) fn first_body_began(&self, at: Instant) {
        // Only the first: a later attempt's start leaves it as it is.
        let _ = self.began.compare_exchange(
            0,
            self.since_queued(at),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// The retry budget of the task's name refused the retry its policy asked for:
    /// its record says so.
    pub(crate) fn note_budget_refused(&self) {
        self.budget_refused.store(true, Ordering::Relaxed);
    }

    /// Reports `items` (a streamed map's item counts) in the task's record.
    pub(crate) fn with_items(mut self, items: Arc<crate::items::ItemCounters>) -> Self {
        self.rare.get_or_insert_default().items = Some(items);
        self
    }

    /// Records `guard`'s call with the outcome this reply sends (none: nothing).
    pub(crate) fn guarded(mut self, guard: Option<Guarded>) -> Self {
        if let Some(guard) = guard {
            let slot = Some((guard, Instant::now()));
            self.rare.get_or_insert_default().guard = Mutex::new(slot);
        }
        self
    }

    /// Whether the task was answered while its body ran (it timed out).
    pub(crate) fn answered_early(&self) -> bool {
        self.early.load(Ordering::Acquire)
    }

    /// Whether the answer has gone out.
    pub(crate) fn is_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// The cancel every task kind shares: nothing once answered; claimed before its
    /// start, `unstarted` settles it (and says whether that cancelled live work); once
    /// running, `running` asks it to stop. True if this call cancelled it.
    pub(crate) fn cancel_with(
        &self,
        token: &TokenCell,
        unstarted: impl FnOnce() -> bool,
        running: impl FnOnce(),
    ) -> bool {
        if self.is_answered() {
            return false;
        }
        match token.cancel() {
            CancelOutcome::BeforeStart => unstarted(),
            CancelOutcome::Requested => {
                running();
                true
            }
            CancelOutcome::AlreadyCancelled => false,
        }
    }

    /// A started task ended: counts `outcome` (and the end of its run) and answers. If
    /// the task was already answered early (it timed out), the body's end is counted as
    /// abandoned and its result dropped.
    pub(crate) fn finished(&self, outcome: Outcome, answer: Result<T, TaskError<E>>) -> bool {
        // A driver that settles on its way out (a map's) may call this twice: only the
        // first call is the body's end.
        let first_end = self.body_timed();
        let sent = self.send(outcome, answer, |route, attempt| {
            if attempt {
                route.counters.attempt_ended();
            } else {
                route.counters.finished(outcome);
            }
        });
        if !sent && first_end && self.early.load(Ordering::Acquire) {
            self.route.counters.abandoned();
            if let Some((keys, key)) = self.keyed() {
                keys.abandoned(key);
            }
        }
        sent
    }

    /// Records the body's run time and its end for its key, once; true the first time.
    fn body_timed(&self) -> bool {
        let first_end = !self.timed.swap(true, Ordering::AcqRel);
        let began = self.began.load(Ordering::Acquire);
        if first_end && began != 0 {
            // Both as offsets from submission: one subtraction of instants, not the
            // start's instant rebuilt (an addition) and then subtracted from now.
            let nanos = self.since_queued(Instant::now()).saturating_sub(began);
            self.route.run_time.record(nanos);
            self.ran_nanos.store(nanos, Ordering::Relaxed);
            // Before the answer, so that a caller that heard sees the body ended.
            // Only a keyed task's key counts its body (`started`): an unkeyed one
            // skips the lock.
            if self.info.key.is_some() {
                let running = lock(&self.buckets).running.take();
                if let Some(bucket) = running {
                    bucket.body_ended();
                }
            }
        }
        first_end
    }

    /// The body of a retried task's first attempt ended and the task went on to a retry
    /// driver, which answers later through this reply: the body is timed and leaves the
    /// in-flight count as an attempt's does; nothing is answered or counted as an
    /// outcome.
    pub(crate) fn attempt_finished(&self) {
        if self.body_timed() {
            self.route.counters.attempt_ended();
        }
    }

    /// The body of a retried task's first attempt ended after the attempt timed out and
    /// the task went on to a retry driver: counted as abandoned, as a timed-out body's
    /// late end is.
    pub(crate) fn attempt_abandoned(&self) {
        if self.body_timed() {
            self.route.counters.abandoned();
            if let Some((keys, key)) = self.keyed() {
                keys.abandoned(key);
            }
        }
    }

    /// The first attempt's body runs on past its timeout, the task gone on to a retry
    /// driver: the body's policies see it as timed out.
    pub(crate) fn mark_timed_out(&self) {
        self.early.store(true, Ordering::Release);
    }

    /// When the body began, if it did.
    pub(crate) fn body_began(&self) -> Option<Instant> {
        match self.began.load(Ordering::Acquire) {
            0 => None,
            stored => Some(self.queued + Duration::from_nanos(stored - 1)),
        }
    }

    /// A started task's deadline passed while its body runs: answers `TimedOut` now; the
    /// body's end is counted later, by `finished`, as abandoned.
    pub(crate) fn timed_out(&self) -> bool {
        // Set before the answer is taken: a `finished` that then finds it gone sees the
        // flag (the mutex orders the two). If `finished` took it first, the flag is
        // never read.
        self.early.store(true, Ordering::Release);
        self.send(
            Outcome::TimedOut,
            Err(TaskError::TimedOut),
            |route, attempt| {
                if !attempt {
                    route.counters.answered_early(Outcome::TimedOut);
                }
            },
        )
    }

    /// A started task was cancelled while its body is stuck where it cannot see the
    /// cancel (a map's driver inside a blocking input iterator): answers `Cancelled`
    /// now; the body's end is counted later, by `finished`, as abandoned.
    pub(crate) fn cancelled_early(&self) -> bool {
        // Ordered before the answer as in `timed_out`.
        self.early.store(true, Ordering::Release);
        self.send(
            Outcome::Cancelled,
            Err(TaskError::Cancelled),
            |route, attempt| {
                if !attempt {
                    route.counters.answered_early(Outcome::Cancelled);
                }
            },
        )
    }

    /// A task that never started was cancelled: counts it and answers.
    pub(crate) fn cancelled_unstarted(&self) -> bool {
        self.send(
            Outcome::Cancelled,
            Err(TaskError::Cancelled),
            |route, attempt| {
                if !attempt {
                    route.counters.ended(Outcome::Cancelled);
                }
            },
        )
    }

    /// A task about to start was refused by its breaker, which opened while it waited:
    /// counts it rejected (its body never began) and answers `answer`.
    pub(crate) fn rejected_at_start(&self, answer: TaskError<E>) -> bool {
        self.send(Outcome::Rejected, Err(answer), |route, attempt| {
            if !attempt {
                route.counters.ended(Outcome::Rejected);
            }
        })
    }

    /// A task whose bodies were counted elsewhere (a retried task, whose attempts are)
    /// ended: counts `outcome` and answers.
    pub(crate) fn settled(&self, outcome: Outcome, answer: Result<T, TaskError<E>>) -> bool {
        self.send(outcome, answer, |route, _| route.counters.ended(outcome))
    }

    /// The body of a retry driver's attempt `number` started: the task's record
    /// counts it.
    pub(crate) fn note_attempt(&self, number: u32) {
        self.attempts.fetch_max(number, Ordering::Relaxed);
    }

    /// The task's queue wait and run time (as its end measured it, else so far), if
    /// its body began.
    fn times(&self) -> (Option<Duration>, Option<Duration>) {
        let began = self.body_began();
        let ran = match self.ran_nanos.load(Ordering::Relaxed) {
            0 => began.map(|began| began.elapsed()),
            nanos => Some(Duration::from_nanos(nanos)),
        };
        (began.map(|began| began - self.queued), ran)
    }

    /// The task's record, for the route's sink.
    fn record(&self, outcome: Outcome) -> TaskRecord {
        let (queue_wait, run_time) = self.times();
        let attempts = match self.attempts.load(Ordering::Relaxed) {
            0 => u32::from(run_time.is_some()),
            driven => driven,
        };
        TaskRecord {
            id: self.info.id,
            name: self.info.name.clone(),
            key: self.info.key.as_ref().map(TaskKey::shared),
            route: self.route.kind.clone(),
            attempts,
            queue_wait,
            run_time,
            total: self.queued.elapsed(),
            outcome,
            retry_refused_by_budget: self.budget_refused.load(Ordering::Relaxed),
            items: self
                .rare
                .as_deref()
                .and_then(|rare| rare.items.as_deref())
                .map(crate::items::ItemCounters::snapshot),
        }
    }

    /// The body has really ended, or will never run: tells a retry driver, which
    /// passes its key's turn on only once no body of its task runs. Only the first
    /// report counts (several paths may end one body: a run, a runtime dropping it).
    pub(crate) fn body_ended(&self) {
        if let Some(attempt) = &self.attempt
            && !attempt.body_ended.swap(true, Ordering::AcqRel)
        {
            attempt.driver.body_ended(attempt.number);
        }
    }

    /// Claims the answer, once: who hears it, or nothing if it was sent already.
    fn claim(&self) -> Option<To<T, E>> {
        // AcqRel: a later sender that finds it set sees what the answerer stored
        // before it (`early`), as the lock that was here ordered them.
        if self.answered.swap(true, Ordering::AcqRel) {
            return None;
        }
        if self.attempt.is_some() {
            return Some(To::Driver);
        }
        Some(
            match self.rare.as_deref().and_then(|rare| take(&rare.completer)) {
                Some(completer) => To::Caller(completer),
                None => To::InPlace,
            },
        )
    }

    fn send(
        &self,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
        count: impl FnOnce(&Route, bool),
    ) -> bool {
        let Some(to) = self.claim() else {
            // Answered already (a late result after a timeout): the value is a user's,
            // and the caller (`finished`) still has counting to do after this.
            drop_quietly(answer, "a late result");
            return false;
        };
        // Counted before the answer leaves, so a caller who has its answer sees it counted.
        count(&self.route, self.attempt.is_some());
        if let To::Caller(_) | To::InPlace = &to {
            // Only a keyed task is counted pending (`to_caller`): an unkeyed one
            // skips the lock.
            if self.info.key.is_some() {
                let pending = lock(&self.buckets).pending.take();
                if let Some(bucket) = pending {
                    bucket.answered(outcome, self.times());
                }
            }
            if let Some(sink) = &self.route.records {
                deliver(sink, &self.record(outcome));
            }
        }
        let guard = self.rare.as_deref().and_then(|rare| take(&rare.guard));
        if let Some((guard, admitted)) = guard {
            guard.record(outcome, admitted.elapsed());
        }
        match to {
            // A caller who dropped its handle leaves the answer to be dropped here, on
            // the thread that answers: quietly, since the task's bookkeeping goes on.
            To::Caller(completer) => {
                quietly(move || completer.complete(answer), "an unread answer")
            }
            // A handle already dropped hands the answer back, to be dropped here.
            To::InPlace => quietly(
                || {
                    if let Err(unread) = self.slot.complete(answer) {
                        drop(unread);
                    }
                },
                "an unread answer",
            ),
            To::Driver => match &self.attempt {
                Some(attempt) => attempt.driver.answered(attempt.number, outcome, answer),
                // Only an attempt's reply is made to a driver (`to_driver`).
                None => drop_quietly(answer, "an attempt's answer without its driver"),
            },
        }
        true
    }
}

/// The outcome and answer of a body that ran: value, own error, or panic message.
pub(crate) fn settle<T, E>(
    result: Result<Result<T, E>, String>,
) -> (Outcome, Result<T, TaskError<E>>) {
    match result {
        Ok(Ok(value)) => (Outcome::Succeeded, Ok(value)),
        Ok(Err(error)) => (Outcome::Failed, Err(TaskError::Failed(error))),
        Err(message) => (Outcome::Panicked, Err(TaskError::Panicked(message))),
    }
}
