//! Catching panics at the task boundary, for closures and for futures; and dropping
//! user values (payloads, errors, results, captures, futures) so that a `Drop` that
//! panics cannot unwind through the manager's bookkeeping.

use pin_project_lite::pin_project;
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The panic's message when its payload is a string, as `panic!` makes it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The panic's message (see [`panic_message`]); the payload itself is dropped quietly,
/// since a payload is a user's value and its `Drop` may panic too.
pub(crate) fn take_message(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(payload.as_ref());
    drop_quietly(payload, "a panic's payload");
    message
}

/// Drops `value`, a user's value, catching a panic in its `Drop` (logged as a warning
/// naming `what`). Whoever drops a user's value on a manager thread or between a task's
/// answer and the rest of its bookkeeping drops it through here: a panic unwinding
/// from there would leave a task unanswered, a key's turn held or a thread dead.
pub(crate) fn drop_quietly<T>(value: T, what: &'static str) {
    quietly(move || drop(value), what);
}

/// Holds a user's value (a map's results so far) and drops it quietly when it goes,
/// on whichever return of the function that holds it.
pub(crate) struct Quiet<T: Default>(pub(crate) T);

impl<T: Default> Drop for Quiet<T> {
    fn drop(&mut self) {
        drop_quietly(std::mem::take(&mut self.0), "a value left behind");
    }
}

/// Runs `f`, which may drop a user's value, catching a panic (logged as a warning
/// naming `what`).
pub(crate) fn quietly(f: impl FnOnce(), what: &'static str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        tracing::warn!(
            what,
            panic = %panic_message(payload.as_ref()),
            "a user's value panicked in its drop; caught, and the manager carries on"
        );
        // This payload is a user's value too, and dropping it could panic again, without
        // end: it is leaked instead (one box, on a path that is already a user's bug).
        std::mem::forget(payload);
    }
}

pin_project! {
    /// Polls the inner future inside `catch_unwind`: a panic becomes `Err(message)`.
    /// The future is dropped quietly (see [`drop_quietly`]) wherever this wrapper is: at a
    /// timeout, a cancel or a runtime's shutdown, its `Drop` must not unwind through the
    /// task's settling.
    pub(crate) struct CatchUnwind<F> {
        // The user's future, kept inline and pinned where this wrapper is (a box for it
        // was an allocation per io task); `None` once dropped.
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for CatchUnwind<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut inner = this.project().inner;
            // Dropped in place; an assignment whose drop unwinds still stores `None`,
            // so the future is never dropped twice.
            quietly(|| inner.set(None), "a future");
        }
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchUnwind { inner: Some(inner) }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A panicking future is never polled again (it is dropped right after), so the
        // state it may have left half-updated is never observed.
        let Some(inner) = self.project().inner.as_pin_mut() else {
            // Only `drop` takes the future, so this is never reached.
            return Poll::Pending;
        };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(take_message(payload))),
        }
    }
}
