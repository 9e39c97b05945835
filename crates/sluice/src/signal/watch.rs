//! Listening for the signals: a `tokio` signal stream per signal, made on the signal
//! thread's own small runtime, so that listening needs nothing of the manager's
//! runtime (which may be attached without an IO driver, or be a current-thread one)
//! and outlives its shutdown.

use super::guard::SignalError;
use super::options::ShutdownSignal;
use std::future::poll_fn;
use std::task::Poll;
use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, signal};

/// The signals listened for.
#[derive(Debug)]
pub(super) struct Listener {
    streams: Vec<(ShutdownSignal, Signal)>,
}

impl Listener {
    /// Installs a handler for each of `signals` now, on `runtime`, so that a signal
    /// sent once this returns is seen.
    pub(super) fn install(
        runtime: &Runtime,
        signals: &[ShutdownSignal],
    ) -> Result<Self, SignalError> {
        let _entered = runtime.enter();
        let mut streams = Vec::with_capacity(signals.len());
        for &which in signals {
            let stream = signal(which.kind()).map_err(|source| SignalError::Install {
                signal: which,
                source,
            })?;
            streams.push((which, stream));
        }
        Ok(Listener { streams })
    }

    /// The next signal to arrive; `None` once none can (the runtime is stopping).
    pub(super) async fn next(&mut self) -> Option<ShutdownSignal> {
        poll_fn(|cx| {
            for (which, stream) in &mut self.streams {
                match stream.poll_recv(cx) {
                    Poll::Ready(Some(())) => return Poll::Ready(Some(*which)),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }
}
