//! Lending a held permit's slot while its holder waits for other work.
//!
//! A task that holds a permit and then waits for a task queued behind the same gate
//! would wait forever once the gate is full. A [`Lease`] owns the task's permit so that
//! the wait can [`lend`](Lease::lend) the slot: the permit is released (admitting the
//! next waiter) and taken back, whatever the limit, when the [`Lent`] guard drops. When
//! the task ends ([`Lease::end`], or the last clone dropped) the permit goes for good,
//! and a guard still out returns nothing: no slot is leaked or taken twice, whichever
//! comes first (loom test `tests/loom_lease.rs`).
//!
//! # Examples
//!
//! ```
//! use sluice_core::{Gate, Lease};
//!
//! let gate = Gate::new(1);
//! let lease = Lease::new(gate.try_acquire().expect("room"));
//! {
//!     let _lent = lease.lend().expect("the lease holds its permit");
//!     let sub = gate.try_acquire().expect("the slot is lent out");
//!     drop(sub);
//! } // taken back here
//! assert_eq!(gate.in_flight(), 1);
//! lease.end();
//! assert_eq!(gate.in_flight(), 0);
//! ```

use super::permit::Permit;
use super::state::Inner;
use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use std::fmt;

/// A permit that can be lent back to its gate while its holder waits. Clones share it.
#[derive(Clone)]
pub struct Lease {
    /// Shared by the holder and any outstanding [`Lent`].
    shared: Arc<Shared>,
}

/// What a lease's clones share.
struct Shared {
    /// The gate, to take the slot back.
    gate: Arc<Inner>,
    /// The permit and whether the lease has ended.
    state: Mutex<State>,
}

/// Guarded by the lease's mutex.
struct State {
    /// Held unless lent out or ended.
    permit: Option<Permit>,
    /// No slot is taken back after this.
    ended: bool,
}

/// A slot lent out by [`Lease::lend`]; dropping it takes the slot back.
#[must_use = "dropping it takes the slot back at once"]
pub struct Lent {
    /// The lease to give the slot back to.
    shared: Arc<Shared>,
}

impl Lease {
    /// Wraps a held permit.
    pub fn new(permit: Permit) -> Self {
        Lease {
            shared: Arc::new(Shared {
                gate: permit.gate().clone(),
                state: Mutex::new(State {
                    permit: Some(permit),
                    ended: false,
                }),
            }),
        }
    }

    /// Releases the permit's slot until the returned guard drops. `None` if it is lent
    /// out already or the lease has ended.
    #[must_use = "dropping the guard takes the slot back at once"]
    pub fn lend(&self) -> Option<Lent> {
        let permit = lock(&self.shared.state).permit.take()?;
        drop(permit);
        Some(Lent {
            shared: self.shared.clone(),
        })
    }

    /// Ends the lease: its permit is released now if held, and a guard still lent out
    /// takes nothing back.
    pub fn end(&self) {
        let permit = {
            let mut state = lock(&self.shared.state);
            state.ended = true;
            state.permit.take()
        };
        drop(permit);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Reached when the last clone and guard are gone: nothing is lent out, so
        // releasing the permit (if still held) is all that is left to do.
        let permit = match self.state.get_mut() {
            Ok(state) => state.permit.take(),
            Err(poisoned) => poisoned.into_inner().permit.take(),
        };
        drop(permit);
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        if !state.ended && state.permit.is_none() {
            state.permit = Some(Inner::readmit(&self.shared.gate));
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Lease")
            .field("held", &state.permit.is_some())
            .field("ended", &state.ended)
            .finish()
    }
}

impl fmt::Debug for Lent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lent").finish_non_exhaustive()
    }
}
