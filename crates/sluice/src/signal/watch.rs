//! Listening for the signals: one task on the manager's runtime polls a `tokio` signal
//! stream per signal and passes each arrival to the shutdown thread.

use super::guard::SignalError;
use super::options::ShutdownSignal;
use std::future::poll_fn;
use std::sync::mpsc::Sender;
use std::task::Poll;
use tokio::runtime::Handle;
use tokio::signal::unix::{Signal, signal};
use tokio::task::AbortHandle;

/// Installs a handler for each of `signals` now, so that a signal sent once this
/// returns is seen, and spawns the task that forwards them to `arrived`.
pub(super) fn listen(
    runtime: &Handle,
    signals: &[ShutdownSignal],
    arrived: Sender<ShutdownSignal>,
) -> Result<AbortHandle, SignalError> {
    let _entered = runtime.enter();
    let mut streams = Vec::with_capacity(signals.len());
    for &which in signals {
        let stream = signal(which.kind()).map_err(|source| SignalError::Install {
            signal: which,
            source,
        })?;
        streams.push((which, stream));
    }
    Ok(runtime.spawn(forward(streams, arrived)).abort_handle())
}

/// Sends each signal as it arrives, until nobody listens or the runtime stops.
async fn forward(mut streams: Vec<(ShutdownSignal, Signal)>, arrived: Sender<ShutdownSignal>) {
    loop {
        let next = poll_fn(|cx| {
            for (which, stream) in &mut streams {
                match stream.poll_recv(cx) {
                    Poll::Ready(Some(())) => return Poll::Ready(Some(*which)),
                    // The runtime's signal driver is gone: nothing more will arrive.
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await;
        let Some(which) = next else {
            return;
        };
        if arrived.send(which).is_err() {
            return;
        }
    }
}
