//! What the thread running a task knows about it: the task's frame.
//!
//! Every closure task, map unit and poll of an io future runs inside a frame pushed on
//! a thread-local stack. The frame says which task runs (for [`is_cancelled`]) and holds
//! or reaches the task's admission slot, so that a wait can lend the slot back to the
//! gate: a blocking `wait()` for its own length (`wait.rs`), an awaited handle for the
//! length of the task's suspension (the runner lends after a poll that left a handle
//! pending, and takes the slot back when it polls again).

use super::Control;
use crate::policy::keyed::TurnHeld;
use sluice_core::{CancelToken, Lease, Lent, Permit, TokenCell};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// The admission slot a frame holds, if any.
pub(crate) enum Slot {
    /// No permit: work run inline by a waiter.
    Free,
    /// A closure task's permit, released when the frame ends.
    Permit(Permit),
    /// The same permit once lent: the lease ends with the frame.
    OwnedLease(Lease),
    /// A lease owned by the runner (an io future, a map puller), which outlives the
    /// frame.
    Polled {
        /// The runner's lease.
        lease: Lease,
        /// Set by a handle that returned `Pending` inside this frame.
        wants_lend: Cell<bool>,
    },
    /// A runner's permit not yet lent (an io task's), lent in this frame to the
    /// runner's poll and handed back at its end: made a lease only if a wait in the
    /// poll lends it, so a future that never waits on a handle allocates no lease.
    PolledPermit {
        /// The runner's permit.
        permit: Permit,
        /// Set by a handle that returned `Pending` inside this frame.
        wants_lend: Cell<bool>,
    },
}

/// What a polled task's runner holds between its polls: its permit, until a wait
/// lends it and it becomes a lease (a shared allocation, made only then).
pub(crate) enum Holding {
    /// The permit, never lent.
    Permit(Permit),
    /// The permit as a lease, lent at least once.
    Lease(Lease),
    /// Nothing: ended, or released by a poll that unwound.
    Ended,
}

impl Holding {
    /// Releases the slot's room until the guard drops: the permit becomes a lease
    /// first if it is not one yet. `None` if it is lent out already or ended.
    pub(crate) fn lend(&mut self) -> Option<Lent> {
        if let Holding::Permit(_) = self
            && let Holding::Permit(permit) = std::mem::replace(self, Holding::Ended)
        {
            *self = Holding::Lease(Lease::new(permit));
        }
        match self {
            Holding::Lease(lease) => lease.lend(),
            Holding::Permit(_) | Holding::Ended => None,
        }
    }

    /// Gives the slot back for good: the permit is released, or the lease ended (a
    /// guard still lent out then takes nothing back).
    pub(crate) fn end(&mut self) {
        match std::mem::replace(self, Holding::Ended) {
            Holding::Permit(permit) => drop(permit),
            Holding::Lease(lease) => lease.end(),
            Holding::Ended => {}
        }
    }
}

/// Whose cancellation a frame reads.
#[derive(Clone)]
pub(crate) enum Owner {
    /// A task whose token is shared on its own.
    Token(CancelToken),
    /// A task that keeps its token inside itself (a closure task: one allocation).
    Task(Arc<dyn Owning>),
}

/// A task that keeps its cancellation state inside itself.
pub(crate) trait Owning: Send + Sync {
    /// The task's cancellation state.
    fn token(&self) -> &TokenCell;
}

impl Owner {
    fn token(&self) -> &TokenCell {
        match self {
            Owner::Token(token) => token,
            Owner::Task(task) => task.token(),
        }
    }
}

/// One task running on this thread.
struct Frame {
    /// The task's cancellation.
    token: Owner,
    /// Its admission slot.
    slot: Slot,
    /// Its key's turn, if it holds one: a wait for a task queued behind that turn
    /// could never end, and is refused.
    held: Option<TurnHeld>,
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
            .is_some_and(|frame| frame.token.token().is_cancelled())
    })
}

/// Whether this thread is running a task's code now.
pub(crate) fn in_task() -> bool {
    CURRENT.with(|current| !current.borrow().is_empty())
}

/// Tells the runner of the innermost polled task on this thread that a handle it awaits
/// is pending, so that it lends the task's slot while the task is suspended.
pub(crate) fn request_lend() {
    CURRENT.with(|current| {
        if let Some(Frame {
            slot: Slot::Polled { wants_lend, .. } | Slot::PolledPermit { wants_lend, .. },
            ..
        }) = current.borrow().last()
        {
            wants_lend.set(true);
        }
    });
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
                Slot::Polled { lease, wants_lend } => {
                    let lent = lease.clone();
                    frame.slot = Slot::Polled { lease, wants_lend };
                    Some(lent)
                }
                // A lease from now on: the runner takes it back as one at the poll's end.
                Slot::PolledPermit { permit, wants_lend } => {
                    let lease = Lease::new(permit);
                    frame.slot = Slot::Polled {
                        lease: lease.clone(),
                        wants_lend,
                    };
                    Some(lease)
                }
            }
        })
    })?;
    // Outside the borrow: releasing the slot admits the next waiter, which may run
    // code (a backend's `execute`) that looks at this thread's frames.
    lease.lend()
}

/// Runs `body` as the task owning `token`, holding `slot` until it ends; `held` is the
/// key's turn the task holds, if any (its own, or its retry driver's).
pub(crate) fn run_as_task<R>(
    token: &CancelToken,
    slot: Slot,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
) -> R {
    run_in_frame(Owner::Token(token.clone()), slot, held, body).0
}

/// Runs `body` as `task`, which keeps its token inside itself; otherwise as
/// [`run_as_task`], except that a permit the frame still holds at its end (not lent
/// while the task ran) is handed back instead of released, so that the thread may
/// pass it straight on to the next task queued at its gate (`Permit::pass_on`).
pub(crate) fn run_owned<R>(
    task: Arc<dyn Owning>,
    slot: Slot,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
) -> (R, Option<Permit>) {
    let mut kept = None;
    let value = in_frame(Owner::Task(task), slot, held, body, |frame| match frame {
        Some(Frame {
            slot: Slot::Permit(permit),
            ..
        }) => {
            kept = Some(permit);
            false
        }
        other => end_frame(other),
    });
    (value.0, kept)
}

/// Whether `awaited` waits for its key's turn behind a turn that a task running on this
/// thread holds — the innermost or any task below it, which cannot end before the
/// innermost does. Such a wait could never end.
pub(crate) fn waits_behind_this_thread(awaited: &dyn Control) -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .iter()
            .filter_map(|frame| frame.held.as_ref())
            .any(|held| awaited.waits_behind(held))
    })
}

/// Runs one poll (or one map unit) of a task whose runner owns `lease`, holding the
/// key's turn `held` if any; also answers whether a handle was left pending in it.
pub(crate) fn run_polled<R>(
    token: &CancelToken,
    lease: &Lease,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
) -> (R, bool) {
    let slot = Slot::Polled {
        lease: lease.clone(),
        wants_lend: Cell::new(false),
    };
    run_in_frame(Owner::Token(token.clone()), slot, held, body)
}

/// As [`run_polled`], for the task `owner` names, whose runner holds `slot`: lent to
/// the poll's frame (moved, not shared) and put back at its end, a lease if a wait in
/// the poll made it one.
pub(crate) fn run_polled_as<R>(
    owner: Owner,
    slot: &mut Holding,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
) -> (R, bool) {
    let wants_lend = Cell::new(false);
    let slot_in_frame = match std::mem::replace(slot, Holding::Ended) {
        Holding::Permit(permit) => Slot::PolledPermit { permit, wants_lend },
        Holding::Lease(lease) => Slot::Polled { lease, wants_lend },
        Holding::Ended => Slot::Free,
    };
    in_frame(owner, slot_in_frame, held, body, |frame| match frame {
        Some(Frame {
            slot: Slot::PolledPermit { permit, wants_lend },
            ..
        }) => {
            *slot = Holding::Permit(permit);
            wants_lend.get()
        }
        Some(Frame {
            slot: Slot::Polled { lease, wants_lend },
            ..
        }) => {
            *slot = Holding::Lease(lease);
            wants_lend.get()
        }
        other => end_frame(other),
    })
}

fn run_in_frame<R>(
    token: Owner,
    slot: Slot,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
) -> (R, bool) {
    in_frame(token, slot, held, body, end_frame)
}

/// Runs `body` in a frame, which `end` ends once `body` returned (`end_frame` if it
/// unwinds).
fn in_frame<R>(
    token: Owner,
    slot: Slot,
    held: Option<TurnHeld>,
    body: impl FnOnce() -> R,
    end: impl FnOnce(Option<Frame>) -> bool,
) -> (R, bool) {
    /// Pops the frame if `body` unwinds.
    struct PopOnUnwind {
        /// False once the frame was popped normally.
        armed: bool,
    }
    impl Drop for PopOnUnwind {
        fn drop(&mut self) {
            if self.armed {
                pop_frame();
            }
        }
    }
    CURRENT.with(|current| current.borrow_mut().push(Frame { token, slot, held }));
    let mut guard = PopOnUnwind { armed: true };
    let value = body();
    guard.armed = false;
    // Outside the borrow: ending a lease releases a permit, which may admit work that
    // looks at this thread's frames.
    let frame = CURRENT.with(|current| current.borrow_mut().pop());
    (value, end(frame))
}

/// Pops the innermost frame and ends what it owns.
fn pop_frame() -> bool {
    end_frame(CURRENT.with(|current| current.borrow_mut().pop()))
}

/// Ends what a popped frame owns; answers whether a handle left pending in it asked
/// its runner to lend.
fn end_frame(frame: Option<Frame>) -> bool {
    match frame {
        Some(Frame {
            slot: Slot::OwnedLease(lease),
            ..
        }) => {
            lease.end();
            false
        }
        Some(Frame {
            slot: Slot::Polled { wants_lend, .. },
            ..
        }) => wants_lend.get(),
        // Only a poll that unwound leaves it here: its permit is released with it.
        Some(Frame {
            slot: Slot::PolledPermit { permit, .. },
            ..
        }) => {
            drop(permit);
            false
        }
        _ => false,
    }
}
