//! What the thread running a task knows about it.

use sluice_core::CancelToken;
use std::cell::RefCell;

thread_local! {
    /// The token of the closure task running on this thread, innermost first.
    static CURRENT: RefCell<Vec<CancelToken>> = const { RefCell::new(Vec::new()) };
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
            .is_some_and(CancelToken::is_cancelled)
    })
}

/// Whether this thread is running a task's body now (so it holds some route's permit,
/// and blocking it on a queued task could deadlock).
pub(crate) fn in_task() -> bool {
    CURRENT.with(|current| !current.borrow().is_empty())
}

/// Runs `body` as the task owning `token`, for `is_cancelled` and `in_task`.
pub(crate) fn run_as_task<R>(token: &CancelToken, body: impl FnOnce() -> R) -> R {
    /// Pops the token even if `body` unwinds.
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            CURRENT.with(|current| current.borrow_mut().pop());
        }
    }
    CURRENT.with(|current| current.borrow_mut().push(token.clone()));
    let _pop = Pop;
    body()
}
