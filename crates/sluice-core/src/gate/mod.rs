//! Admission control with a limit that can change at any moment.
//!
//! A [`Gate`] lets at most `limit` holders of a [`Permit`] in at once. Those who find
//! it full wait in one queue, whichever way they wait: a blocked thread
//! ([`Gate::acquire_blocking`]), a future ([`Gate::acquire`]), or a piece of work that
//! is handed its permit when its turn comes ([`Gate::enqueue`], how Sluice queues
//! tasks without holding a thread for each).
//!
//! Queued work may wait at a [`Priority`] ([`Gate::enqueue_at`]); threads and futures
//! wait at `Normal`. The queue (`queue.rs`) ranks each waiter by its arrival number plus
//! a boost for lower priority, and aging, counted in arrivals rather than time, bounds
//! how far a waiter can be overtaken: the rule is spelled out on [`Gate::with_aging`].
//!
//! Invariants, each checked by the loom tests in `tests/loom_gate.rs`:
//! - in-flight never exceeds the limit once a lowered limit has drained: lowering it
//!   lets running work finish and admits nobody until in-flight is below the new limit;
//! - raising the limit admits as many waiters as it frees room for, at once;
//! - a waiter that gives up (a dropped future, a timed-out thread) leaks no permit and
//!   loses no wakeup: a permit handed to it in the meantime passes to the next waiter;
//! - waiters are admitted in order of rank (with one priority, in arrival order), and a
//!   newcomer never overtakes one: while any waiter of any priority is queued, a
//!   newcomer queues too, whatever room there is.
//!
//! # Examples
//!
//! ```
//! use sluice_core::Gate;
//! use std::thread;
//!
//! let gate = Gate::new(2);
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let gate = gate.clone();
//!         thread::spawn(move || {
//!             let _permit = gate.acquire_blocking();
//!             assert!(gate.in_flight() <= 2);
//!         })
//!     })
//!     .collect();
//! for worker in workers {
//!     worker.join().unwrap();
//! }
//! assert_eq!(gate.in_flight(), 0);
//! ```

mod acquire;
mod deliver;
mod lease;
mod permit;
mod queue;
mod state;

pub use acquire::Acquire;
pub use lease::{Lease, Lent};
pub use permit::Permit;
pub use queue::Priority;
pub use state::{Deferred, SharedDeferred};

use crate::loom::StdArc;
use crate::loom::sync::Arc;
use state::{Inner, Work};
use std::fmt;
use std::time::Duration;

/// Admission control with a movable limit; cheap to clone (clones share one gate).
#[derive(Clone)]
pub struct Gate {
    /// The shared state every clone and permit points at.
    inner: Arc<Inner>,
}

impl Gate {
    /// The aging of [`Gate::new`]: a waiter is overtaken by fewer than 128 later
    /// arrivals, far more than a short burst of urgent work.
    pub const DEFAULT_AGING: u64 = 64;

    /// The largest limit a gate keeps, 2³¹ − 1: the limit and the count in flight
    /// share one atomic word, so that admission and release with nobody waiting take
    /// no lock. A larger limit (here and in [`set_limit`](Self::set_limit)) is taken
    /// as this one, which is no limit in practice; Sluice's builder refuses one.
    pub const MAX_LIMIT: usize = state::MAX_LIMIT;

    /// A gate that admits up to `limit` holders at once, with
    /// [`DEFAULT_AGING`](Self::DEFAULT_AGING). A limit of zero admits nobody until it
    /// is raised.
    pub fn new(limit: usize) -> Self {
        Self::with_aging(limit, Self::DEFAULT_AGING)
    }

    /// A gate whose waiters rank `aging` arrivals apart per step of [`Priority`].
    ///
    /// Aging is counted in arrivals, not in time, so that it is deterministic: each
    /// waiter takes the next sequence number of its gate when it joins the queue, and
    /// its *rank* is that number plus `aging` for `Normal` or `2 * aging` for `Low`
    /// (nothing for `High`). The gate admits the smallest rank first, and the older
    /// waiter when two ranks are equal. So:
    /// - with one priority, the order is exactly the order of arrival;
    /// - a waiter is overtaken only by later arrivals of higher priority that came
    ///   fewer than `aging` arrivals (one step of priority) or `2 * aging` arrivals (two
    ///   steps) after it: fewer than `2 * aging` in all;
    /// - a `Low` waiter is admitted before any `High` one that arrives `2 * aging` or
    ///   more arrivals after it, so constant high-priority load cannot starve low work;
    /// - an `aging` of 0 is plain FIFO, and `u64::MAX` makes priorities strict in
    ///   practice.
    ///
    /// Only waiters count as arrivals: work admitted at once takes no number.
    pub fn with_aging(limit: usize, aging: u64) -> Self {
        Gate {
            inner: Arc::new(Inner::new(limit, aging)),
        }
    }

    /// A permit now if there is room and nobody is waiting ahead; `None` otherwise.
    /// Lock-free: one compare-and-swap when it succeeds, one load when somebody waits.
    #[must_use = "dropping the permit releases it at once"]
    pub fn try_acquire(&self) -> Option<Permit> {
        self.inner
            .try_admit()
            .then(|| Permit::new(self.inner.clone()))
    }

    /// Blocks the calling thread until a permit is granted.
    pub fn acquire_blocking(&self) -> Permit {
        self.inner.wait_blocking(None);
        Permit::new(self.inner.clone())
    }

    /// Blocks the calling thread until a permit is granted or `timeout` passes.
    /// On timeout nothing is held and the place in the queue is given up.
    #[must_use = "dropping the permit releases it at once"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<Permit> {
        self.inner
            .wait_blocking(Some(timeout))
            .then(|| Permit::new(self.inner.clone()))
    }

    /// A future that resolves to a permit. Dropping it while it waits leaks nothing,
    /// and a permit granted to it just before the drop passes to the next waiter.
    pub fn acquire(&self) -> Acquire {
        Acquire::new(self.inner.clone())
    }

    /// Admits `work` now (calling [`Deferred::admit`] on this thread) if there is room
    /// and nobody ahead, or queues it at [`Priority::Normal`] to be admitted in its turn
    /// by whichever thread frees the room.
    pub fn enqueue(&self, work: Box<dyn Deferred>) {
        self.enqueue_at(work, Priority::Normal);
    }

    /// As [`enqueue`](Self::enqueue), at `priority`. Priority orders the queue only:
    /// work is admitted at once only if nobody waits, of any priority.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{Deferred, Gate, Permit, Priority};
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// Notes its name when admitted and hands the permit straight back.
    /// struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);
    ///
    /// impl Deferred for Named {
    ///     fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
    ///         self.1.lock().unwrap().push(self.0);
    ///         Some(permit)
    ///     }
    ///     fn abort(self: Box<Self>) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// let gate = Gate::new(1);
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let permit = gate.try_acquire().expect("the gate is empty");
    /// gate.enqueue_at(Box::new(Named("normal", order.clone())), Priority::Normal);
    /// gate.enqueue_at(Box::new(Named("high", order.clone())), Priority::High);
    /// drop(permit);
    /// assert_eq!(*order.lock().unwrap(), ["high", "normal"]);
    /// ```
    pub fn enqueue_at(&self, work: Box<dyn Deferred>, priority: Priority) {
        self.enqueue_work(Work::Boxed(work), priority);
    }

    /// As [`enqueue_at`](Self::enqueue_at), for work that is its own place in the
    /// queue: nothing is allocated to queue it.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{Gate, Permit, Priority, SharedDeferred};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// /// Notes that it was admitted and hands the permit straight back.
    /// struct Flag(AtomicBool);
    ///
    /// impl SharedDeferred for Flag {
    ///     fn admit(self: Arc<Self>, permit: Permit) -> Option<Permit> {
    ///         self.0.store(true, Ordering::Release);
    ///         Some(permit)
    ///     }
    ///     fn abort(self: Arc<Self>) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// let gate = Gate::new(1);
    /// let flag = Arc::new(Flag(AtomicBool::new(false)));
    /// let permit = gate.try_acquire().expect("the gate is empty");
    /// gate.enqueue_shared_at(flag.clone(), Priority::Normal);
    /// assert!(!flag.0.load(Ordering::Acquire));
    /// drop(permit);
    /// assert!(flag.0.load(Ordering::Acquire));
    /// ```
    pub fn enqueue_shared_at(&self, work: StdArc<dyn SharedDeferred>, priority: Priority) {
        self.enqueue_work(Work::Shared(work), priority);
    }

    fn enqueue_work(&self, work: Work, priority: Priority) {
        if let Some(work) = self.inner.admit_or_queue(work, priority) {
            // A permit handed back (the work was cancelled meanwhile) is released here.
            drop(work.admit(Permit::new(self.inner.clone())));
        }
    }

    /// Removes every queued [`Deferred`] and calls [`Deferred::abort`] on each, on this
    /// thread; returns how many aborts answered true (live work cancelled). Threads and
    /// futures waiting keep their place.
    pub fn drain_deferred(&self) -> usize {
        let drained = self.inner.take_deferred();
        drained
            .into_iter()
            .map(|work| work.abort())
            .filter(|&live| live)
            .count()
    }

    /// Moves the limit. Raising it admits waiters at once; lowering it admits nobody
    /// until in-flight work has fallen below the new limit.
    pub fn set_limit(&self, limit: usize) {
        Inner::set_limit(&self.inner, limit);
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.inner.counts().0
    }

    /// How many permits are held now.
    pub fn in_flight(&self) -> usize {
        self.inner.counts().1
    }

    /// How many are waiting now (threads, futures and queued work).
    pub fn waiting(&self) -> usize {
        self.inner.snapshot().2
    }

    /// Whether anybody waits for a permit now (threads, futures or queued work), read
    /// without the gate's lock: a hint that may be stale by the time it is used, for
    /// work that would otherwise overtake the waiters (a permit kept for a successor).
    ///
    /// ```
    /// use sluice_core::{Deferred, Gate, Permit};
    ///
    /// /// Work that hands its permit straight back when admitted.
    /// struct Done;
    ///
    /// impl Deferred for Done {
    ///     fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
    ///         Some(permit)
    ///     }
    ///     fn abort(self: Box<Self>) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// let gate = Gate::new(1);
    /// let permit = gate.try_acquire().expect("the gate is empty");
    /// assert!(!gate.has_waiters());
    /// gate.enqueue(Box::new(Done));
    /// assert!(gate.has_waiters());
    /// drop(permit); // the queued work is admitted with it, and gives it back
    /// assert!(!gate.has_waiters());
    /// ```
    pub fn has_waiters(&self) -> bool {
        self.inner.has_waiters()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (limit, in_flight, waiting) = self.inner.snapshot();
        f.debug_struct("Gate")
            .field("limit", &limit)
            .field("in_flight", &in_flight)
            .field("waiting", &waiting)
            .finish()
    }
}
