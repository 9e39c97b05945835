//! The RAII permit: holding one is being in flight.

use super::state::{Inner, SharedDeferred};
use crate::loom::StdArc;
use crate::loom::sync::Arc;
use std::fmt;

/// Proof of admission through a [`Gate`](super::Gate). Dropping it gives the room back
/// and admits the next waiter, on the dropping thread.
#[must_use = "dropping a permit releases it at once"]
pub struct Permit {
    /// The gate to give the room back to.
    gate: Arc<Inner>,
    /// False once disarmed: the count is then someone else's to settle.
    armed: bool,
}

impl Permit {
    pub(super) fn new(gate: Arc<Inner>) -> Self {
        Permit { gate, armed: true }
    }

    /// The gate this permit belongs to.
    pub(super) fn gate(&self) -> &Arc<Inner> {
        &self.gate
    }

    /// Hands this permit's room straight to the work at the head of its gate's queue,
    /// if that work is shared ([`SharedDeferred`]) and the room is still the gate's to
    /// give (in flight, this permit included, is within the limit): answers that work
    /// with this permit, now its, for the caller to run itself — a worker that ends a
    /// task and runs the next queued one on its own thread, instead of handing it to
    /// its pool's queue. Otherwise releases the permit as dropping it does (admitting
    /// whoever that makes room for) and answers `None`.
    ///
    /// The work is admitted in its turn, exactly as a release would admit it, but its
    /// [`SharedDeferred::admit`] is not called: the caller runs it or hands the permit
    /// to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{Gate, Permit, Priority, SharedDeferred};
    /// use std::sync::Arc;
    ///
    /// struct Parked;
    ///
    /// impl SharedDeferred for Parked {
    ///     fn admit(self: Arc<Self>, permit: Permit) -> Option<Permit> {
    ///         Some(permit)
    ///     }
    ///     fn abort(self: Arc<Self>) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// let gate = Gate::new(1);
    /// let permit = gate.try_acquire().expect("the gate is empty");
    /// gate.enqueue_shared_at(Arc::new(Parked), Priority::Normal);
    /// let (_next, permit) = permit.pass_on().expect("the queued work is next");
    /// assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));
    /// drop(permit);
    /// assert_eq!(gate.in_flight(), 0);
    /// ```
    pub fn pass_on(self) -> Option<(StdArc<dyn SharedDeferred>, Permit)> {
        let next = self.gate.take_next_shared()?;
        Some((next, self))
    }

    /// Forgets the permit without releasing it: its count is handled by the caller.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.armed {
            Inner::release(&self.gate);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}
