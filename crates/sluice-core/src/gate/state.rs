//! The gate's shared state: the limit, the count in flight, and the queue of waiters
//! (ranked by priority and arrival, in `queue.rs`).
//!
//! The limit and the count sit in one atomic word, the queue under a mutex. The fast
//! path (room, nobody waiting; a release with nobody waiting) is one compare-and-swap
//! on the word; a hand-off happens under the lock (the permit is counted for the waiter
//! before it wakes), so a waiter never races a newcomer for the room it was given. What
//! a hand-off collects is delivered after the lock, in `deliver.rs`.

use super::deliver::Handoffs;
use super::permit::Permit;
use super::queue::{Priority, RankedQueue};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::{StdArc, lock};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Work that waits in a gate's queue without a thread of its own.
pub trait Deferred: Send + 'static {
    /// Called, outside the gate's lock, when this work is admitted. Returns the permit
    /// if the work no longer wants it (it was cancelled meanwhile), so that the gate
    /// passes it on without recursion.
    ///
    /// The implementation must not block; it may hand the permit to another thread.
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit>;

    /// Called instead of `admit` when the gate is drained
    /// ([`Gate::drain_deferred`](super::Gate::drain_deferred)). Returns true if this
    /// cancelled live work, false if the work had already been settled elsewhere.
    fn abort(self: Box<Self>) -> bool;
}

/// Work that waits in a gate's queue as [`Deferred`] does, but whose place in the
/// queue is the work itself, already shared behind an `Arc`: no box per place.
pub trait SharedDeferred: Send + Sync + 'static {
    /// As [`Deferred::admit`].
    fn admit(self: StdArc<Self>, permit: Permit) -> Option<Permit>;

    /// As [`Deferred::abort`].
    fn abort(self: StdArc<Self>) -> bool;

    /// Called with a permit passed on to this work by a holder that ends
    /// ([`Permit::pass_on`]), on the holder's thread, instead of `admit`: runs the
    /// work here if it may run on this thread, else as `admit`. Returns the permit if
    /// it is free again (the work ran and ended, or it was settled meanwhile), for the
    /// caller to pass on or drop.
    fn run_here(self: StdArc<Self>, permit: Permit) -> Option<Permit> {
        self.admit(permit)
    }
}

/// Queued work's place: boxed, or the work's own `Arc`.
pub(super) enum Work {
    /// A box made for the place.
    Boxed(Box<dyn Deferred>),
    /// The work itself.
    Shared(StdArc<dyn SharedDeferred>),
}

impl Work {
    /// See [`Deferred::admit`].
    pub(super) fn admit(self, permit: Permit) -> Option<Permit> {
        match self {
            Work::Boxed(work) => work.admit(permit),
            Work::Shared(work) => work.admit(permit),
        }
    }

    /// See [`Deferred::abort`].
    pub(super) fn abort(self) -> bool {
        match self {
            Work::Boxed(work) => work.abort(),
            Work::Shared(work) => work.abort(),
        }
    }
}

/// One place in the queue.
enum Waiter {
    /// A thread blocked in `acquire_blocking` or `acquire_timeout`.
    Thread(Arc<Signal>),
    /// A future returned by `acquire`.
    Task(Arc<Signal>),
    /// Queued work that is handed its permit.
    Deferred(Work),
}

/// How a thread or a future learns that it was admitted or that it gave up.
pub(super) struct Signal {
    /// Set under the gate's lock when a permit was counted for this waiter.
    granted: AtomicBool,
    /// Set under the gate's lock when the waiter gave up; the queue skips it.
    abandoned: AtomicBool,
    /// Wakes a blocked thread; always used with the gate's own mutex.
    condvar: Condvar,
    /// Wakes a waiting future; replaced on every poll.
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn new() -> Arc<Self> {
        Arc::new(Signal {
            granted: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            condvar: Condvar::new(),
            waker: Mutex::new(None),
        })
    }
}

/// Bits 0..32 of the word: permits held now.
const IN_FLIGHT: u64 = (1 << 32) - 1;
/// Where the limit starts in the word (bits 32..63).
const LIMIT_SHIFT: u32 = 32;
/// Bit 63 of the word: somebody waits in the queue, so every change of the count goes
/// through the lock.
const WAITING: u64 = 1 << 63;
/// The largest limit the word holds (31 bits).
pub(super) const MAX_LIMIT: usize = (1 << 31) - 1;

fn in_flight_of(word: u64) -> usize {
    // At most 32 bits: fits any usize this crate builds for.
    (word & IN_FLIGHT) as usize
}

fn limit_of(word: u64) -> usize {
    ((word & !WAITING) >> LIMIT_SHIFT) as usize
}

/// What the mutex guards: the waiters. The counts live in [`Inner::word`].
struct State {
    /// Waiters in order of rank, including abandoned ones not yet skipped.
    queue: RankedQueue<Waiter>,
    /// Entries of `queue` that gave up; compacted away when they pile up.
    abandoned: usize,
}

impl State {
    fn live_waiters(&self) -> usize {
        self.queue.len() - self.abandoned
    }
}

/// The state shared by a gate's clones, its permits and its waiters.
///
/// The limit and the count in flight sit in one atomic word with a `WAITING` bit, so
/// that the common case (room and nobody queued; a release with nobody queued) is one
/// compare-and-swap with no lock. The bit is set, under the lock, by the first waiter
/// to queue, and cleared, under the lock, when the last live one leaves; while it is
/// set, the count only moves under the lock, so a hand-off and a newcomer never race
/// for the same room. A newcomer that finds the bit set does not take the lock at all:
/// someone waits ahead of it, so it would queue.
///
/// The word shares its cache line with the `Arc`'s counts (before `Inner` in its
/// allocation) and the lock: an admission is a compare-and-swap on the word and a
/// clone of the `Arc` for the permit, one line between cores. Each on a line of its
/// own (tried, for a burst's submitter and workers taking the lock in turn), an
/// admission moved two contended lines instead of one: `try_acquire` + release on two
/// threads went from 34–46 ns to 202–208 ns, while the burst's gain was within noise.
pub(crate) struct Inner {
    /// In flight, limit and `WAITING`.
    word: AtomicU64,
    /// The queue, under one lock.
    state: Mutex<State>,
}

impl Inner {
    pub(super) fn new(limit: usize, aging: u64) -> Self {
        Inner {
            word: AtomicU64::new((limit.min(MAX_LIMIT) as u64) << LIMIT_SHIFT),
            state: Mutex::new(State {
                queue: RankedQueue::new(aging),
                abandoned: 0,
            }),
        }
    }

    /// (limit, in flight, live waiters).
    pub(super) fn snapshot(&self) -> (usize, usize, usize) {
        let state = lock(&self.state);
        let word = self.word.load(Ordering::Acquire);
        (limit_of(word), in_flight_of(word), state.live_waiters())
    }

    /// Whether somebody waits in the queue (the `WAITING` bit), without the lock: a
    /// hint, true from the first waiter's queueing until the last live one leaves.
    pub(super) fn has_waiters(&self) -> bool {
        self.word.load(Ordering::Acquire) & WAITING != 0
    }

    /// (limit, in flight), without the lock.
    pub(super) fn counts(&self) -> (usize, usize) {
        let word = self.word.load(Ordering::Acquire);
        (limit_of(word), in_flight_of(word))
    }

    /// Counts a permit if there is room and nobody waits; lock-free.
    pub(super) fn try_admit(&self) -> bool {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & WAITING != 0 || in_flight_of(word) >= limit_of(word) {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Under the lock: counts a permit for a newcomer if there is room and nobody
    /// waits (true), or sets `WAITING` for the newcomer, who must then queue before the
    /// lock is let go (false).
    fn admit_or_wait(&self, state: &State) -> bool {
        if state.live_waiters() > 0 {
            // `WAITING` is already set, by whoever queued first.
            return false;
        }
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let next = if in_flight_of(word) < limit_of(word) {
                word + 1
            } else {
                word | WAITING
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next & WAITING == 0,
                // A release or admission without the lock moved the count: look again.
                Err(now) => word = now,
            }
        }
    }

    /// Under the lock, after waiters left: clears `WAITING` once no live one is left.
    fn left(&self, state: &State) {
        if state.live_waiters() == 0 {
            self.word.fetch_and(!WAITING, Ordering::AcqRel);
        }
    }

    /// Under the lock: a waiter gives up its place.
    fn abandon(&self, state: &mut State, signal: &Signal) {
        signal.abandoned.store(true, Ordering::Relaxed);
        state.abandoned += 1;
        // Waiters that give up while the head is stuck would otherwise pile up.
        if state.abandoned > 32 && state.abandoned * 2 > state.queue.len() {
            state.queue.retain(|waiter| match waiter {
                Waiter::Thread(s) | Waiter::Task(s) => !s.abandoned.load(Ordering::Relaxed),
                Waiter::Deferred(_) => true,
            });
            state.abandoned = 0;
        }
        self.left(state);
    }

    /// Counts a permit for `work` and gives it back, or queues it at `priority`.
    pub(super) fn admit_or_queue(&self, work: Work, priority: Priority) -> Option<Work> {
        if self.try_admit() {
            return Some(work);
        }
        let mut state = lock(&self.state);
        if self.admit_or_wait(&state) {
            Some(work)
        } else {
            state.queue.push(Waiter::Deferred(work), priority);
            None
        }
    }

    /// Every queued [`Deferred`]; threads and futures keep their place and rank.
    pub(super) fn take_deferred(&self) -> Vec<Work> {
        let mut state = lock(&self.state);
        let taken = state.queue.take_where(|waiter| match waiter {
            Waiter::Deferred(work) => Ok(work),
            other => Err(other),
        });
        self.left(&state);
        taken
    }

    pub(super) fn set_limit(this: &Arc<Self>, limit: usize) {
        let limit = (limit.min(MAX_LIMIT) as u64) << LIMIT_SHIFT;
        let handoffs = {
            let mut state = lock(&this.state);
            let mut word = this.word.load(Ordering::Acquire);
            loop {
                let next = (word & (WAITING | IN_FLIGHT)) | limit;
                match this.word.compare_exchange_weak(
                    word,
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
            this.hand_off(&mut state)
        };
        Self::deliver(this, handoffs);
    }

    /// Gives one permit back and admits whoever that makes room for. With nobody
    /// queued, one compare-and-swap and no lock.
    pub(super) fn release(this: &Arc<Self>) {
        let mut word = this.word.load(Ordering::Acquire);
        while word & WAITING == 0 {
            match this.word.compare_exchange_weak(
                word,
                word - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
        let handoffs = this.hand_back(1);
        Self::deliver(this, handoffs);
    }

    /// For a holder passing its permit on: the work at the head of the queue if that
    /// is shared work and the holder's room is still the gate's to give, taken out of
    /// the queue with the holder's permit now counted for it (the count does not
    /// move). The room goes on exactly when a release would hand it to that head: in
    /// flight, the holder included, is within the limit (a lowered limit drains first).
    pub(super) fn take_next_shared(&self) -> Option<StdArc<dyn SharedDeferred>> {
        if self.word.load(Ordering::Acquire) & WAITING == 0 {
            return None;
        }
        let mut state = lock(&self.state);
        let (limit, in_flight) = self.counts();
        if in_flight > limit {
            return None;
        }
        let work = state.queue.pop_front_map(|waiter| match waiter {
            Waiter::Deferred(Work::Shared(work)) => Ok(work),
            // A thread, a future or boxed work: the ordinary release hands it on.
            other => Err(other),
        })?;
        self.left(&state);
        Some(work)
    }

    /// Admits waiters in order of rank while there is room. Called under the lock;
    /// while anybody waits, nothing else moves the count but a readmission.
    fn hand_off(&self, state: &mut State) -> Handoffs {
        let mut handoffs = Handoffs::default();
        while state.live_waiters() > 0 {
            let (limit, in_flight) = self.counts();
            if in_flight >= limit {
                break;
            }
            let Some(waiter) = state.queue.pop_front() else {
                break;
            };
            match waiter {
                Waiter::Thread(signal) | Waiter::Task(signal)
                    if signal.abandoned.load(Ordering::Relaxed) =>
                {
                    state.abandoned -= 1;
                    continue;
                }
                Waiter::Thread(signal) => {
                    signal.granted.store(true, Ordering::Relaxed);
                    signal.condvar.notify_one();
                }
                Waiter::Task(signal) => {
                    signal.granted.store(true, Ordering::Relaxed);
                    if let Some(waker) = lock(&signal.waker).take() {
                        handoffs.wakers.push(waker);
                    }
                }
                Waiter::Deferred(work) => handoffs.deferred.push(work),
            }
            self.word.fetch_add(1, Ordering::AcqRel);
        }
        self.left(state);
        handoffs
    }

    /// Takes back `returned` permits (a release that found somebody waiting, or
    /// admitted work that handed its permit back), and admits whoever that makes room
    /// for: the one step of `deliver_now` that takes the lock.
    pub(super) fn hand_back(&self, returned: usize) -> Handoffs {
        let mut state = lock(&self.state);
        self.word.fetch_sub(returned as u64, Ordering::AcqRel);
        self.hand_off(&mut state)
    }

    /// A permit counted whatever the limit and the queue: for work that was admitted
    /// before, lent its slot while it waited, and now resumes.
    pub(super) fn readmit(this: &Arc<Self>) -> Permit {
        this.word.fetch_add(1, Ordering::AcqRel);
        Permit::new(this.clone())
    }

    /// Waits on the calling thread; true once a permit is counted for it, false if
    /// `timeout` passed first (and then nothing is held).
    pub(super) fn wait_blocking(&self, timeout: Option<Duration>) -> bool {
        // A timeout too long to add to now is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if self.try_admit() {
            return true;
        }
        let mut state = lock(&self.state);
        if self.admit_or_wait(&state) {
            return true;
        }
        let signal = Signal::new();
        state
            .queue
            .push(Waiter::Thread(signal.clone()), Priority::Normal);
        while !signal.granted.load(Ordering::Relaxed) {
            match deadline {
                None => {
                    state = match signal.condvar.wait(state) {
                        Ok(guard) => guard,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.abandon(&mut state, &signal);
                        return false;
                    }
                    state = match signal.condvar.wait_timeout(state, deadline - now) {
                        Ok((guard, _)) => guard,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
            }
        }
        true
    }

    /// Polls for a future's permit: `Some(true)` admitted, `None` still waiting.
    pub(super) fn poll_task(&self, slot: &mut Option<Arc<Signal>>, waker: &Waker) -> bool {
        if slot.is_none() && self.try_admit() {
            return true;
        }
        let mut state = lock(&self.state);
        match slot {
            None => {
                if self.admit_or_wait(&state) {
                    return true;
                }
                let signal = Signal::new();
                *lock(&signal.waker) = Some(waker.clone());
                state
                    .queue
                    .push(Waiter::Task(signal.clone()), Priority::Normal);
                *slot = Some(signal);
                false
            }
            Some(signal) => {
                if signal.granted.load(Ordering::Relaxed) {
                    *slot = None;
                    return true;
                }
                let mut stored = lock(&signal.waker);
                if !stored.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *stored = Some(waker.clone());
                }
                false
            }
        }
    }

    /// A future gives up its place. If a permit was already counted for it, that
    /// permit is released so the next waiter gets it: no wakeup is lost.
    pub(super) fn cancel_task(this: &Arc<Self>, signal: &Signal) {
        let mut state = lock(&this.state);
        if signal.granted.load(Ordering::Relaxed) {
            drop(state);
            Self::release(this);
        } else {
            this.abandon(&mut state, signal);
        }
    }
}
