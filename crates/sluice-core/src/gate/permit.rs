//! The RAII permit: holding one is being in flight.

use super::state::Inner;
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
