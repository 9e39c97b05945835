//! A background thread that does one thing every interval until it is stopped: the
//! load throttle's samples and the periodic summary log. A plain thread, so neither
//! needs a runtime.

use crate::lock::lock;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// The running thread; dropping it stops the thread (which is never joined: a tick may
/// be blocked in a read, and dropping a manager must not block).
pub(crate) struct Ticker {
    /// What the thread and its owner share.
    stop: Arc<Stop>,
}

/// The stop flag and the wake-up that ends a wait early.
struct Stop {
    /// Set to stop the thread.
    stopped: Mutex<bool>,
    /// Wakes the thread when it is stopped.
    wake: Condvar,
}

impl Ticker {
    /// Starts a thread named `name` that calls `tick` at once and then every
    /// `interval`, until stopped or until `tick` returns false.
    pub(crate) fn start(
        name: &str,
        interval: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> std::io::Result<Ticker> {
        let stop = Arc::new(Stop {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_stop = stop.clone();
        thread::Builder::new().name(name.into()).spawn(move || {
            loop {
                if !tick() || *lock(&thread_stop.stopped) {
                    return;
                }
                let stopped = lock(&thread_stop.stopped);
                let (stopped, _) = thread_stop
                    .wake
                    .wait_timeout_while(stopped, interval, |stopped| !*stopped)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if *stopped {
                    return;
                }
            }
        })?;
        Ok(Ticker { stop })
    }

    /// Stops the thread after its current tick.
    pub(crate) fn stop(&self) {
        *lock(&self.stop.stopped) = true;
        self.stop.wake.notify_all();
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}
