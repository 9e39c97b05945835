//! Waiting from synchronous code without deadlocking anyone.
//!
//! Where a `wait()` can come from, and what it does there:
//! - inside a task of the manager: first run the awaited work on this thread if nobody
//!   has started it and it is CPU or chunk work (it cannot then be stuck behind the
//!   waiter's own permit). Otherwise lend the waiter's admission slot to its gate for the
//!   length of the wait, so that work queued behind it — the awaited task, or work that
//!   task needs — can be admitted and run on another thread of the pool.
//!
//!   The waiter does not run other queued jobs while it blocks: a job run on top of a
//!   blocked waiter's stack may itself wait for that waiter (a pipeline stage waiting
//!   for the one below it), which would deadlock. The price: if every thread of a pool
//!   blocks on work that needs a thread of that same pool, nothing is left to run it.
//! - a worker of a multi-thread tokio runtime: all of the above inside `block_in_place`,
//!   which first hands the worker's other tasks to another thread;
//! - a thread inside a current-thread runtime: refuse with an error, because blocking it
//!   could stop the very runtime that must make progress. Tokio does not tell whether a
//!   thread drives that runtime or is one of its blocking threads, so blocking threads
//!   of a current-thread runtime are refused too; they can `Handle::block_on` the handle.
//!
//! An awaiting future (`TaskHandle::poll`) lends its task's slot the same way.
//!
//! Before any of that, a wait from inside a keyed task for a task queued behind the
//! turn it holds (checked in `TaskHandle::wait` and `poll` against every frame on the
//! thread) is refused with `TaskError::WaitOnOwnKey`: it could never end. And the
//! inline run never starts a keyed task whose turn has not come.

use crate::TaskError;
use crate::task::{Control, in_task, lend_current};
use sluice_core::OneShot;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Blocks until `completion` closes, as described above, and takes its value.
pub(crate) fn block_on_slot<T>(
    completion: &OneShot<T>,
    control: Option<&dyn Control>,
) -> Result<Option<T>, TaskError> {
    if completion.is_closed() {
        return Ok(completion.wait());
    }
    // One look at the runtime for both questions (may it block, and how): the look is
    // a thread-local and a shared count, on every blocking wait.
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            Err(TaskError::WaitWouldBlockRuntime)
        }
        Ok(_) => Ok(tokio::task::block_in_place(|| {
            wait_in_place(completion, control)
        })),
        Err(_) => Ok(wait_in_place(completion, control)),
    }
}

fn wait_in_place<T>(completion: &OneShot<T>, control: Option<&dyn Control>) -> Option<T> {
    // The waiter spins before it parks only while a worker runs the task: queued work
    // may be waiting for the very core the waiter would spin on.
    let started = || control.is_none_or(Control::started);
    if !in_task() {
        if let Some(control) = control {
            control.help_small();
        }
        return completion.wait_for_work(started);
    }
    if let Some(control) = control {
        control.help();
        if completion.is_closed() {
            return completion.wait();
        }
    }
    let _lent = lend_current();
    completion.wait_for_work(started)
}

/// Runs `f`, which blocks, without freezing a multi-thread runtime the caller may be a
/// worker of.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() != RuntimeFlavor::CurrentThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
