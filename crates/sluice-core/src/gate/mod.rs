//! Admission control with a limit that can change at any moment.
//!
//! A [`Gate`] lets at most `limit` holders of a [`Permit`] in at once. Those who find
//! it full wait in one FIFO queue, whichever way they wait: a blocked thread
//! ([`Gate::acquire_blocking`]), a future ([`Gate::acquire`]), or a piece of work that
//! is handed its permit when its turn comes ([`Gate::enqueue`], how Sluice queues
//! tasks without holding a thread for each).
//!
//! Invariants, each checked by the loom tests in `tests/loom_gate.rs`:
//! - in-flight never exceeds the limit once a lowered limit has drained: lowering it
//!   lets running work finish and admits nobody until in-flight is below the new limit;
//! - raising the limit admits as many waiters as it frees room for, at once;
//! - a waiter that gives up (a dropped future, a timed-out thread) leaks no permit and
//!   loses no wakeup: a permit handed to it in the meantime passes to the next waiter;
//! - waiters are admitted in the order they arrived, and a newcomer never overtakes one.
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
mod state;

pub use acquire::Acquire;
pub use lease::{Lease, Lent};
pub use permit::Permit;
pub use state::Deferred;

use crate::loom::sync::Arc;
use state::Inner;
use std::fmt;
use std::time::Duration;

/// Admission control with a movable limit; cheap to clone (clones share one gate).
#[derive(Clone)]
pub struct Gate {
    /// The shared state every clone and permit points at.
    inner: Arc<Inner>,
}

impl Gate {
    /// A gate that admits up to `limit` holders at once. A limit of zero admits
    /// nobody until it is raised.
    pub fn new(limit: usize) -> Self {
        Gate {
            inner: Arc::new(Inner::new(limit)),
        }
    }

    /// A permit now if there is room and nobody is waiting ahead; `None` otherwise.
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
    /// and nobody ahead, or queues it to be admitted in its turn by whichever thread
    /// frees the room.
    pub fn enqueue(&self, work: Box<dyn Deferred>) {
        if let Some(work) = self.inner.admit_or_queue(work) {
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
        self.inner.snapshot().0
    }

    /// How many permits are held now.
    pub fn in_flight(&self) -> usize {
        self.inner.snapshot().1
    }

    /// How many are waiting now (threads, futures and queued work).
    pub fn waiting(&self) -> usize {
        self.inner.snapshot().2
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
