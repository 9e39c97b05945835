//! The future returned by [`Gate::acquire`](super::Gate::acquire).

use super::permit::Permit;
use super::state::{Inner, Signal};
use crate::loom::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Resolves to a [`Permit`] in the caller's turn. Cancel-safe: dropping it while it
/// waits gives up its place, and a permit granted to it in the meantime is passed on.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire {
    /// The gate it waits at.
    gate: Arc<Inner>,
    /// Its place in the queue once it had to wait.
    signal: Option<Arc<Signal>>,
    /// Set once it has resolved, so a drop afterwards does nothing.
    done: bool,
}

impl Acquire {
    pub(super) fn new(gate: Arc<Inner>) -> Self {
        Acquire {
            gate,
            signal: None,
            done: false,
        }
    }
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = self.get_mut();
        assert!(!this.done, "Acquire polled after it resolved");
        if this.gate.poll_task(&mut this.signal, cx.waker()) {
            this.done = true;
            Poll::Ready(Permit::new(this.gate.clone()))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(signal) = self.signal.take() {
            Inner::cancel_task(&self.gate, &signal);
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.signal.is_some())
            .finish_non_exhaustive()
    }
}
