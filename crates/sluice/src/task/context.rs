//! What the thread running a task knows about it: the task's frame.
//!
//! Every closure task, map unit and poll of an io future runs inside a frame pushed on
//! a thread-local stack. The frame says which task runs (for [`is_cancelled`]), on which
//! route (for helping that route's pool while blocked), and holds the task's admission
//! permit, so that a wait can lend the permit's slot back to the gate (see `wait.rs`).

use crate::route::Route;
use sluice_core::{CancelToken, Lease, Lent, Permit};
use std::cell::RefCell;
use std::sync::Arc;

/// The admission slot a frame holds, if any.
pub(crate) enum Slot {
    /// No permit: work run inline by a waiter, or a map unit (its puller holds one).
    Free,
    /// A closure task's permit, released when the frame ends.
    Permit(Permit),
    /// The same permit once lent: the lease ends with the frame.
    OwnedLease(Lease),
    /// An io future's lease, which outlives this poll's frame.
    SharedLease(Lease),
}

/// One task running on this thread.
struct Frame {
    /// The task's cancellation.
    token: CancelToken,
    /// Its route.
    route: Arc<Route>,
    /// Its admission slot.
    slot: Slot,
}

thread_local! {
    /// The frames of the tasks running on this thread, innermost last.
    static CURRENT: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Whether the task running on this thread has been asked to stop: cancelled through
/// its handle, or by a shutdown whose deadline passed. CPU and chunk work cannot be
/// stopped from outside; long loops check this to stop early. Outside a task, `false`.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let handle = mgr.run_cpu(|| {
///     let mut rounds = 0u64;
///     while !sluice::is_cancelled() && rounds < 1_000 {
///         rounds += 1;
///     }
///     rounds
/// });
/// assert_eq!(handle.wait()?, 1_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_cancelled() -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .last()
            .is_some_and(|frame| frame.token.is_cancelled())
    })
}

/// The route of the task running on this thread.
pub(crate) fn current_route() -> Option<Arc<Route>> {
    CURRENT.with(|current| current.borrow().last().map(|frame| frame.route.clone()))
}

/// Lends the admission slot of the innermost task on this thread that holds one: its
/// gate admits the next waiter until the guard drops. `None` if no task here holds a
/// slot that is not lent already.
pub(crate) fn lend_current() -> Option<Lent> {
    let lease = CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        current.iter_mut().rev().find_map(|frame| {
            match std::mem::replace(&mut frame.slot, Slot::Free) {
                Slot::Free => None,
                Slot::Permit(permit) => {
                    let lease = Lease::new(permit);
                    frame.slot = Slot::OwnedLease(lease.clone());
                    Some(lease)
                }
                Slot::OwnedLease(lease) => {
                    frame.slot = Slot::OwnedLease(lease.clone());
                    Some(lease)
                }
                Slot::SharedLease(lease) => {
                    frame.slot = Slot::SharedLease(lease.clone());
                    Some(lease)
                }
            }
        })
    })?;
    // Outside the borrow: releasing the slot admits the next waiter, which may run
    // code (a backend's `execute`) that looks at this thread's frames.
    lease.lend()
}

/// Runs `body` as the task owning `token` on `route`, holding `slot` until it ends.
pub(crate) fn run_as_task<R>(
    token: &CancelToken,
    route: &Arc<Route>,
    slot: Slot,
    body: impl FnOnce() -> R,
) -> R {
    /// Pops the frame even if `body` unwinds, and ends what it holds.
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let frame = CURRENT.with(|current| current.borrow_mut().pop());
            if let Some(Frame {
                slot: Slot::OwnedLease(lease),
                ..
            }) = frame
            {
                lease.end();
            }
        }
    }
    CURRENT.with(|current| {
        current.borrow_mut().push(Frame {
            token: token.clone(),
            route: route.clone(),
            slot,
        })
    });
    let _pop = Pop;
    body()
}
