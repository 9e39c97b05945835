//! The gate's shared state: the limit, the count in flight, and the queue of waiters
//! (ranked by priority and arrival, in `queue.rs`).
//!
//! All of it sits under one mutex. The fast path (room, nobody waiting) takes the lock
//! once and reads only the queue's length; a hand-off happens under the lock (the
//! permit is counted for the waiter before it wakes), so a waiter never races a
//! newcomer for the room it was given. What a hand-off collects is delivered after the
//! lock, in `deliver.rs`.

use super::deliver::Handoffs;
use super::permit::Permit;
use super::queue::{Priority, RankedQueue};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
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

/// One place in the queue.
enum Waiter {
    /// A thread blocked in `acquire_blocking` or `acquire_timeout`.
    Thread(Arc<Signal>),
    /// A future returned by `acquire`.
    Task(Arc<Signal>),
    /// Queued work that is handed its permit.
    Deferred(Box<dyn Deferred>),
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

/// What the mutex guards.
struct State {
    /// How many may hold a permit at once.
    limit: usize,
    /// How many permits are held now.
    in_flight: usize,
    /// Waiters in order of rank, including abandoned ones not yet skipped.
    queue: RankedQueue<Waiter>,
    /// Entries of `queue` that gave up; compacted away when they pile up.
    abandoned: usize,
}

impl State {
    fn live_waiters(&self) -> usize {
        self.queue.len() - self.abandoned
    }

    fn has_room_for_newcomer(&self) -> bool {
        self.live_waiters() == 0 && self.in_flight < self.limit
    }

    fn abandon(&mut self, signal: &Signal) {
        signal.abandoned.store(true, Ordering::Relaxed);
        self.abandoned += 1;
        // Waiters that give up while the head is stuck would otherwise pile up.
        if self.abandoned > 32 && self.abandoned * 2 > self.queue.len() {
            self.queue.retain(|waiter| match waiter {
                Waiter::Thread(s) | Waiter::Task(s) => !s.abandoned.load(Ordering::Relaxed),
                Waiter::Deferred(_) => true,
            });
            self.abandoned = 0;
        }
    }
}

/// The state shared by a gate's clones, its permits and its waiters.
pub(crate) struct Inner {
    /// Everything, under one lock.
    state: Mutex<State>,
}

impl Inner {
    pub(super) fn new(limit: usize, aging: u64) -> Self {
        Inner {
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                queue: RankedQueue::new(aging),
                abandoned: 0,
            }),
        }
    }

    /// (limit, in flight, live waiters).
    pub(super) fn snapshot(&self) -> (usize, usize, usize) {
        let state = lock(&self.state);
        (state.limit, state.in_flight, state.live_waiters())
    }

    pub(super) fn try_admit(&self) -> bool {
        let mut state = lock(&self.state);
        let admitted = state.has_room_for_newcomer();
        if admitted {
            state.in_flight += 1;
        }
        admitted
    }

    /// Counts a permit for `work` and gives it back, or queues it at `priority`.
    pub(super) fn admit_or_queue(
        &self,
        work: Box<dyn Deferred>,
        priority: Priority,
    ) -> Option<Box<dyn Deferred>> {
        let mut state = lock(&self.state);
        if state.has_room_for_newcomer() {
            state.in_flight += 1;
            Some(work)
        } else {
            state.queue.push(Waiter::Deferred(work), priority);
            None
        }
    }

    /// Every queued [`Deferred`]; threads and futures keep their place and rank.
    pub(super) fn take_deferred(&self) -> Vec<Box<dyn Deferred>> {
        lock(&self.state).queue.take_where(|waiter| match waiter {
            Waiter::Deferred(work) => Ok(work),
            other => Err(other),
        })
    }

    pub(super) fn set_limit(this: &Arc<Self>, limit: usize) {
        let handoffs = {
            let mut state = lock(&this.state);
            state.limit = limit;
            Self::hand_off(&mut state)
        };
        Self::deliver(this, handoffs);
    }

    /// Gives one permit back and admits whoever that makes room for.
    pub(super) fn release(this: &Arc<Self>) {
        let handoffs = {
            let mut state = lock(&this.state);
            state.in_flight -= 1;
            Self::hand_off(&mut state)
        };
        Self::deliver(this, handoffs);
    }

    /// Admits waiters in order of rank while there is room. Called under the lock.
    fn hand_off(state: &mut State) -> Handoffs {
        let mut handoffs = Handoffs::default();
        while state.in_flight < state.limit {
            let Some(waiter) = state.queue.pop_front() else {
                break;
            };
            match waiter {
                Waiter::Thread(signal) | Waiter::Task(signal)
                    if signal.abandoned.load(Ordering::Relaxed) =>
                {
                    state.abandoned -= 1;
                }
                Waiter::Thread(signal) => {
                    state.in_flight += 1;
                    signal.granted.store(true, Ordering::Relaxed);
                    signal.condvar.notify_one();
                }
                Waiter::Task(signal) => {
                    state.in_flight += 1;
                    signal.granted.store(true, Ordering::Relaxed);
                    if let Some(waker) = lock(&signal.waker).take() {
                        handoffs.wakers.push(waker);
                    }
                }
                Waiter::Deferred(work) => {
                    state.in_flight += 1;
                    handoffs.deferred.push(work);
                }
            }
        }
        handoffs
    }

    /// Takes back `returned` permits that admitted work handed back, and admits whoever
    /// that makes room for: the one step of `deliver_now` that takes the lock.
    pub(super) fn hand_back(&self, returned: usize) -> Handoffs {
        let mut state = lock(&self.state);
        state.in_flight -= returned;
        Self::hand_off(&mut state)
    }

    /// A permit counted whatever the limit and the queue: for work that was admitted
    /// before, lent its slot while it waited, and now resumes.
    pub(super) fn readmit(this: &Arc<Self>) -> Permit {
        lock(&this.state).in_flight += 1;
        Permit::new(this.clone())
    }

    /// Waits on the calling thread; true once a permit is counted for it, false if
    /// `timeout` passed first (and then nothing is held).
    pub(super) fn wait_blocking(&self, timeout: Option<Duration>) -> bool {
        // A timeout too long to add to now is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = lock(&self.state);
        if state.has_room_for_newcomer() {
            state.in_flight += 1;
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
                        state.abandon(&signal);
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
        let mut state = lock(&self.state);
        match slot {
            None => {
                if state.has_room_for_newcomer() {
                    state.in_flight += 1;
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
            state.abandon(signal);
        }
    }
}
