//! What every test file shares: a watchdog that turns a hang into a failure, runtimes
//! built the way a user would build them, a child process for tests that may crash,
//! and a backend that runs nothing.

#![allow(dead_code)] // each test file uses its own subset

use sluice::{ConcurrencyManager, Counts, Executor, Job, RouteKind};
use std::future::Future;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// What a test body returns: `?` works on build errors and task answers alike.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

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

/// Set in the environment of a test re-run by [`in_child_process`].
const IN_CHILD: &str = "TEST_SLUICE_IN_CHILD";

/// Runs `body` in a process of its own: this test binary, started again on the one
/// test named `test` (which must be the caller). A crash there, such as a stack
/// overflow, which aborts the whole process, then fails this one test instead of
/// taking every other test of the binary down with it.
pub fn in_child_process(test: &str, body: impl FnOnce()) {
    if std::env::var_os(IN_CHILD).is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--include-ignored", "--test-threads=1"])
        .env(IN_CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child process starts");
    // Read both pipes as they fill, so that a chatty child never blocks on them.
    let readers = [
        drain(
            child
                .stdout
                .take()
                .map(|out| Box::new(out) as Box<dyn Read + Send>),
        ),
        drain(
            child
                .stderr
                .take()
                .map(|err| Box::new(err) as Box<dyn Read + Send>),
        ),
    ];
    let deadline = Instant::now() + HANG_AFTER + Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hung: {test}, in a child process");
            }
        }
    };
    let [stdout, stderr] = readers.map(|reader| reader.join().unwrap_or_default());
    assert!(
        status.success(),
        "{test} failed in a child process ({status}):\n{stdout}\n{stderr}"
    );
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<Box<dyn Read + Send>>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
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

/// A backend that drops every job it is handed, which is how a backend says it will
/// never run one.
pub struct Discard;

impl Executor for Discard {
    fn name(&self) -> &str {
        "discard"
    }

    fn parallelism(&self) -> usize {
        1
    }

    fn execute(&self, job: Job) {
        drop(job);
    }
}

/// How long [`eventually`] waits for its condition.
pub const EVENTUALLY: Duration = Duration::from_secs(5);

/// Polls `done` every millisecond until it holds; fails the test with `never: <what>`
/// if it still does not after [`EVENTUALLY`]. For states that other threads reach soon
/// after the call that causes them (a late body's end, a counter moved by a pool).
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY;
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The counters of one of `mgr`'s routes.
pub fn counts(mgr: &ConcurrencyManager, route: RouteKind) -> Counts {
    mgr.snapshot()
        .route(&route)
        .map(|r| r.counters)
        .expect("every built-in route is listed")
}

/// Counts the calls of a task's work: a retried task's `Fn` bumps it once per attempt.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<AtomicU32>);

impl Calls {
    /// Counts one call and returns its number, from 1.
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Calls so far.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A retry policy of `attempts` in all, from 1 ms apart, without a budget: for tests
/// that need a task retried, not a particular backoff.
pub fn quick_retry(attempts: u32) -> Result<sluice::retry::Retry, sluice::retry::RetryConfigError> {
    sluice::retry::Retry::builder()
        .max_attempts(attempts)
        .backoff(sluice::retry::Backoff::exponential(Duration::from_millis(
            1,
        )))
        .no_budget()
        .build()
}
