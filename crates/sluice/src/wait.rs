//! Waiting from synchronous code without deadlocking anyone.
//!
//! Where a `wait()` can come from, and what it does there:
//! - inside a task of the manager: first run the awaited work on this thread if nobody
//!   has started it (it cannot then be stuck behind the waiter's own permit). Otherwise
//!   lend the waiter's admission slot to its gate for the length of the wait, so that
//!   work queued behind it — the awaited task, or work that task needs — can be
//!   admitted; and if this thread is a pool worker, run that pool's queued jobs while
//!   waiting rather than sleep, because the work that was just admitted may be queued
//!   for this very thread (a one-thread pool, or every worker waiting).
//! - a worker of a multi-thread tokio runtime: all of the above inside `block_in_place`,
//!   which first hands the worker's other tasks to another thread;
//! - a thread inside a current-thread runtime: refuse with an error, because blocking it
//!   could stop the very runtime that must make progress. Tokio does not tell whether a
//!   thread drives that runtime or is one of its blocking threads, so blocking threads
//!   of a current-thread runtime are refused too; they can `Handle::block_on` the handle.
//!
//! An awaiting future (`TaskHandle::poll`) lends its task's slot the same way.

use crate::TaskError;
use crate::task::{Control, current_route, lend_current};
use sluice_core::Completion;
use sluice_exec::Executor;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Blocks until `completion` closes, as described above.
pub(crate) fn block_on_completion<T>(
    completion: Completion<T>,
    control: Option<&dyn Control>,
) -> Result<Option<T>, TaskError> {
    if completion.is_closed() {
        return Ok(completion.wait());
    }
    if let Ok(handle) = Handle::try_current()
        && handle.runtime_flavor() == RuntimeFlavor::CurrentThread
    {
        return Err(TaskError::WaitWouldBlockRuntime);
    }
    Ok(blocking(|| wait_in_place(completion, control)))
}

fn wait_in_place<T>(completion: Completion<T>, control: Option<&dyn Control>) -> Option<T> {
    let Some(route) = current_route() else {
        return completion.wait();
    };
    if let Some(control) = control {
        control.help();
        if completion.is_closed() {
            return completion.wait();
        }
    }
    let _lent = lend_current();
    if route.executor.is_worker_thread() {
        wait_helping(completion, &*route.executor)
    } else {
        completion.wait()
    }
}

/// Runs the pool's queued jobs on this worker until `completion` closes; sleeps a
/// little, growing to a millisecond, whenever there is nothing to run.
fn wait_helping<T>(mut completion: Completion<T>, pool: &dyn Executor) -> Option<T> {
    const FIRST_PAUSE: Duration = Duration::from_micros(20);
    let mut pause = FIRST_PAUSE;
    loop {
        if completion.is_closed() {
            return completion.wait();
        }
        if pool.help() {
            pause = FIRST_PAUSE;
            continue;
        }
        match completion.wait_timeout(pause) {
            Ok(answer) => return answer,
            Err(pending) => completion = pending,
        }
        pause = (pause * 2).min(Duration::from_millis(1));
    }
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
