//! What every test file shares: a watchdog that turns a hang into a failure, and
//! runtimes built the way a user would build them.

#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long any one test body may take before it counts as hung.
pub const HANG_AFTER: Duration = Duration::from_secs(20);

/// Runs `body` on a thread of its own and returns what it returns. A body that is still
/// running after [`HANG_AFTER`] fails the test with `hung: <what>`; a panic in the body
/// fails it with the body's own message.
pub fn watchdog<T, F>(what: &str, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("test body: {what}"))
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(body));
            let _ = tx.send(outcome);
        })
        .expect("the test thread starts");
    match rx.recv_timeout(HANG_AFTER) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(RecvTimeoutError::Timeout) => panic!("hung: {what}"),
        Err(RecvTimeoutError::Disconnected) => panic!("the body of {what:?} vanished"),
    }
}

/// Like `#[tokio::test(flavor = "multi_thread", worker_threads = N)]`, under the
/// watchdog: `body` runs as the `block_on` future of a runtime built for it.
pub fn on_multi_thread<T, Fut, F>(what: &str, workers: usize, body: F) -> T
where
    T: Send + 'static,
    Fut: Future<Output = T>,
    F: FnOnce() -> Fut + Send + 'static,
{
    watchdog(what, move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("the test runtime starts")
            .block_on(body())
    })
}

/// Like `#[tokio::test]` (a current-thread runtime), under the watchdog.
pub fn on_current_thread<T, Fut, F>(what: &str, body: F) -> T
where
    T: Send + 'static,
    Fut: Future<Output = T>,
    F: FnOnce() -> Fut + Send + 'static,
{
    watchdog(what, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the test runtime starts")
            .block_on(body())
    })
}

/// The name of the thread this runs on.
pub fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Whether `name` is `<prefix>-N` for some number N.
pub fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
