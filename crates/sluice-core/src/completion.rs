//! A one-shot slot: a task fills it once, a caller awaits it or blocks on it.
//!
//! The value is delivered exactly once. If the [`Completer`] is dropped unfilled, the
//! [`Completion`] answers `None` rather than waiting forever.
//!
//! # Examples
//!
//! ```
//! use sluice_core::completion;
//!
//! let (completer, completion) = completion::<u32>();
//! std::thread::spawn(move || completer.complete(7));
//! assert_eq!(completion.wait(), Some(7));
//! ```

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::spin::spin_until;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A connected pair: fill one side, wait on the other.
pub fn completion<T>() -> (Completer<T>, Completion<T>) {
    let shared = Arc::new(OneShot::new());
    (
        Completer {
            shared: shared.clone(),
        },
        Completion { shared },
    )
}

/// The slot itself, for a task that keeps its answer's slot inside itself (one
/// allocation for both) instead of sharing a [`completion`] pair: filled once with
/// [`complete`](Self::complete), waited on with [`wait`](Self::wait) or
/// [`poll_take`](Self::poll_take).
///
/// # Examples
///
/// ```
/// use sluice_core::OneShot;
/// use std::sync::Arc;
///
/// let slot = Arc::new(OneShot::<u32>::new());
/// let filler = slot.clone();
/// std::thread::spawn(move || filler.complete(7));
/// assert_eq!(slot.wait(), Some(7));
/// ```
pub struct OneShot<T> {
    /// The value and who to wake.
    slot: Mutex<Slot<T>>,
    /// Wakes a thread blocked in `wait`.
    condvar: Condvar,
    /// Mirrors `Slot::closed`, set after it, so a waiter can spin without the lock.
    closed: AtomicBool,
}

/// What the mutex guards.
struct Slot<T> {
    /// The value, until the waiting side takes it.
    value: Option<T>,
    /// Set when the completer is gone, filled or not.
    closed: bool,
    /// Set when the waiting side is gone: a value given later is handed back.
    abandoned: bool,
    /// The waiting future's waker.
    waker: Option<Waker>,
    /// Threads blocked on the condition variable: notifying costs a system call, so it
    /// is skipped when nobody sleeps.
    sleepers: usize,
}

impl<T> Default for OneShot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> OneShot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        OneShot {
            slot: Mutex::new(Slot {
                value: None,
                closed: false,
                abandoned: false,
                waker: None,
                sleepers: 0,
            }),
            condvar: Condvar::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Fills the slot and wakes the waiter. The value comes back (`Err`) if the slot
    /// was closed already or its waiting side [abandoned](Self::abandon) it, so that
    /// the caller decides where it is dropped.
    pub fn complete(&self, value: T) -> Result<(), T> {
        let (waker, sleepers) = {
            let mut slot = lock(&self.slot);
            if slot.closed {
                return Err(value);
            }
            slot.closed = true;
            self.closed.store(true, Ordering::Release);
            if slot.abandoned {
                return Err(value);
            }
            slot.value = Some(value);
            (slot.waker.take(), slot.sleepers)
        };
        self.wake(waker, sleepers);
        Ok(())
    }

    /// Closes the slot unfilled, if it is still open: the waiter sees `None`.
    pub fn close(&self) {
        let (waker, sleepers) = {
            let mut slot = lock(&self.slot);
            if slot.closed {
                return;
            }
            slot.closed = true;
            self.closed.store(true, Ordering::Release);
            (slot.waker.take(), slot.sleepers)
        };
        self.wake(waker, sleepers);
    }

    /// The waiting side goes away: takes the value if it is there, and any value
    /// given later is handed back to its giver ([`complete`](Self::complete)).
    pub fn abandon(&self) -> Option<T> {
        let mut slot = lock(&self.slot);
        slot.abandoned = true;
        slot.waker = None;
        slot.value.take()
    }

    /// Whether the slot has closed (filled, or closed unfilled).
    pub fn is_closed(&self) -> bool {
        // The mirror, not the lock: a `wait()` asks this twice before it blocks. The
        // mirror is set under the lock with the value, so a caller that then takes the
        // lock (to take the value) finds the value there.
        self.closed.load(Ordering::Acquire)
    }

    /// The value if it is there now, without waiting.
    pub fn try_take(&self) -> Option<T> {
        lock(&self.slot).value.take()
    }

    /// Wakes whoever waits: the future first (no system call on its path), then blocked
    /// threads if there are any.
    fn wake(&self, waker: Option<Waker>, sleepers: usize) {
        if let Some(waker) = waker {
            waker.wake();
        }
        if sleepers > 0 {
            self.condvar.notify_all();
        }
    }

    /// Blocks until the slot closes and takes the value; `None` if it closed unfilled
    /// (or the value was taken already). It may spin a few µs first, as
    /// [`wait_for_work`](Self::wait_for_work) does for work already taken up.
    pub fn wait(&self) -> Option<T> {
        self.wait_for_work(|| true)
    }

    /// As [`wait`](Self::wait), for a slot that work not yet run will fill: `started`
    /// says whether a worker has taken that work up. The waiter spins a few µs before
    /// it parks only while the work runs elsewhere (an answer can then come within the
    /// spin; work nobody runs yet may be waiting for this very core) and while spinning
    /// has been paying off on this thread (`spin.rs`).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::OneShot;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let slot = Arc::new(OneShot::<u32>::new());
    /// let started = Arc::new(AtomicBool::new(false));
    /// let (filler, runs) = (slot.clone(), started.clone());
    /// std::thread::spawn(move || {
    ///     runs.store(true, Ordering::Release);
    ///     filler.complete(7)
    /// });
    /// assert_eq!(slot.wait_for_work(|| started.load(Ordering::Acquire)), Some(7));
    /// ```
    pub fn wait_for_work(&self, started: impl Fn() -> bool) -> Option<T> {
        spin_until(|| self.closed.load(Ordering::Acquire), started);
        let mut slot = lock(&self.slot);
        while !slot.closed {
            slot.sleepers += 1;
            slot = match self.condvar.wait(slot) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            slot.sleepers -= 1;
        }
        slot.value.take()
    }

    /// Spins a few µs while the slot may close soon, as [`wait_for_work`](Self::wait_for_work)
    /// does before it parks, under the same rules (`started` says whether a worker has
    /// taken the work up; a thread whose spins keep missing rests): true if it closed
    /// meanwhile. For a future's first poll, so that a short task's answer is taken
    /// without the caller's runtime parking and being woken for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::OneShot;
    /// use std::sync::Arc;
    ///
    /// let slot = Arc::new(OneShot::<u32>::new());
    /// let filler = slot.clone();
    /// std::thread::spawn(move || filler.complete(7));
    /// // Whether it caught the answer depends on the threads' timing; the answer comes.
    /// let _caught = slot.spin_for_work(|| true);
    /// assert_eq!(slot.wait(), Some(7));
    /// ```
    pub fn spin_for_work(&self, started: impl Fn() -> bool) -> bool {
        spin_until(|| self.closed.load(Ordering::Acquire), started)
    }

    /// Blocks until the slot closes or `deadline` passes; `None` on timeout.
    fn wait_until(&self, deadline: Instant) -> Option<Option<T>> {
        let mut slot = lock(&self.slot);
        while !slot.closed {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            slot.sleepers += 1;
            slot = match self.condvar.wait_timeout(slot, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            slot.sleepers -= 1;
        }
        Some(slot.value.take())
    }

    /// Takes the value once the slot has closed; until then, registers `cx`'s waker.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.slot);
        if slot.closed {
            return Poll::Ready(slot.value.take());
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for OneShot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneShot")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The filling side.
pub struct Completer<T> {
    /// The slot it fills.
    shared: Arc<OneShot<T>>,
}

impl<T> Completer<T> {
    /// Fills the slot and wakes the waiter.
    pub fn complete(self, value: T) {
        // Only this completer fills the slot, once, and its waiting side never
        // abandons it: the value always goes in.
        drop(self.shared.complete(value));
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The waiting side: a future, or [`wait`](Completion::wait) from synchronous code.
#[must_use = "a completion does nothing unless awaited or waited on"]
pub struct Completion<T> {
    /// The slot it waits on.
    shared: Arc<OneShot<T>>,
}

impl<T> Completion<T> {
    /// Whether the completer has finished (filled the slot or gone away).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The value if it is there now, without waiting.
    pub fn try_take(&self) -> Option<T> {
        self.shared.try_take()
    }

    /// The slot it waits on, for waiting by reference.
    pub fn one_shot(&self) -> &OneShot<T> {
        &self.shared
    }

    /// Blocks until filled; `None` if the completer went away unfilled.
    pub fn wait(self) -> Option<T> {
        self.shared.wait()
    }

    /// Blocks until filled or `timeout` passes; `Err(self)` on timeout.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Option<T>, Self> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // Too long to add to now: no deadline.
            return Ok(self.wait());
        };
        match self.shared.wait_until(deadline) {
            Some(value) => Ok(value),
            None => Err(self),
        }
    }
}

impl<T> Future for Completion<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.shared.poll_take(cx)
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer").finish_non_exhaustive()
    }
}
