//! Waiting from synchronous code without deadlocking anyone.
//!
//! Three places a `wait()` can come from, and what each does:
//! - inside another task of the manager (its thread holds a permit): run the awaited
//!   work here if nobody has started it, then block. Blocking on *started* work is safe:
//!   started work never waits on work that is not started without running it itself;
//! - a worker of a multi-thread tokio runtime: block inside `block_in_place`, which hands
//!   the worker's other tasks to another thread first;
//! - a thread driving a current-thread runtime: refuse with an error, because blocking
//!   it would stop the very runtime that must make progress.

use crate::TaskError;
use crate::task::{Control, in_task};
use sluice_core::Completion;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Blocks until `completion` closes, as described above.
pub(crate) fn block_on_completion<T>(
    completion: Completion<T>,
    control: Option<&dyn Control>,
) -> Result<Option<T>, TaskError> {
    if completion.is_closed() {
        return Ok(completion.wait());
    }
    if let Some(control) = control.filter(|_| in_task()) {
        control.help();
    }
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            if completion.is_closed() {
                Ok(completion.wait())
            } else {
                Err(TaskError::WaitWouldBlockRuntime)
            }
        }
        Ok(_) => Ok(tokio::task::block_in_place(|| completion.wait())),
        Err(_) => Ok(completion.wait()),
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
