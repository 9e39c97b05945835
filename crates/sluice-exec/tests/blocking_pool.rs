//! Blocking jobs through `IoPool`, as the facade hands them over: where they run, what
//! they see, panics, and shutdown.
//!
//! The pool's own counts (lazy growth, its cap, keep-alive, no lost wakeup) are unit
//! tests beside it, in `src/blocking/tests.rs`.

#![allow(clippy::unwrap_used)]

use sluice_exec::{Executor, IoPool, Job};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle};

/// Long enough for any job here on a loaded two-core machine; a lost job fails, not hangs.
const PATIENCE: Duration = Duration::from_secs(5);

/// Runs `work` on the pool and waits for what it returns.
fn run<T: Send + 'static>(pool: &IoPool, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    pool.execute(Job::new(move || {
        let _ = tx.send(work());
    }));
    rx.recv_timeout(PATIENCE).unwrap()
}

/// What a job sees of its thread and runtime.
fn look_around() -> (String, u32) {
    let name = thread::current().name().unwrap_or_default().to_owned();
    // `Handle::current()` panics outside a runtime context; `block_on` on it must work
    // here, with the runtime's timer.
    let answer = Handle::current().block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::spawn(async { 42 }).await.unwrap()
    });
    (name, answer)
}

fn is_blocking_thread(name: &str) -> bool {
    name.strip_prefix("sluice-io-blocking-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn jobs_run_on_named_threads_inside_the_owned_runtime() {
    let pool = IoPool::new(1, 2, 2).unwrap();
    let (name, answer) = run(&pool, look_around);
    assert!(is_blocking_thread(&name), "a blocking job ran on {name:?}");
    assert_eq!(answer, 42);
}

#[test]
fn jobs_run_on_named_threads_inside_an_attached_runtime() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pool = IoPool::attach(rt.handle().clone(), 2);
    let (name, answer) = run(&pool, look_around);
    assert!(is_blocking_thread(&name), "a blocking job ran on {name:?}");
    assert_eq!(answer, 42);
    // The job's runtime is the attached one.
    let id = run(&pool, || Handle::current().id());
    assert_eq!(id, rt.handle().id());
}

#[test]
fn the_pool_still_answers_after_jobs_panic() {
    // That the panicking job's thread survives is a unit test beside the pool, where
    // a one-thread cap makes it observable without timing.
    let pool = IoPool::new(1, 1, 1).unwrap();
    for _ in 0..3 {
        pool.execute(Job::new(|| panic!("a raw job panics")));
    }
    let (name, answer) = run(&pool, look_around);
    assert!(is_blocking_thread(&name), "a blocking job ran on {name:?}");
    assert_eq!(answer, 42);
}

/// Counts a job's closure being dropped, run or not.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A job that holds the pool's only thread until `release` receives.
fn blocker(pool: &IoPool) -> (mpsc::Sender<()>, Receiver<()>) {
    let (release, held) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    pool.execute(Job::new(move || {
        started_tx.send(()).unwrap();
        held.recv_timeout(PATIENCE).unwrap();
        done_tx.send(()).unwrap();
    }));
    started.recv_timeout(PATIENCE).unwrap();
    (release, done)
}

#[test]
fn shutdown_returns_at_once_and_drops_later_jobs_unrun() {
    let pool = IoPool::new(1, 1, 1).unwrap();
    let (release, done) = blocker(&pool);
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let guarded = |dropped: &Arc<AtomicUsize>, ran: &Arc<AtomicUsize>| {
        let (guard, ran) = (Dropped(dropped.clone()), ran.clone());
        Job::new(move || {
            let _guard = guard;
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    // Queued jobs being dropped needs a full pool, which `IoPool` (sized past
    // `max_blocking` on purpose) never is here: that part is a unit test beside the pool.
    // Returns while the blocker still runs: shutdown does not wait for it.
    let began = Instant::now();
    pool.shutdown();
    assert!(began.elapsed() < PATIENCE);

    pool.execute(guarded(&dropped, &ran));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "a later job not dropped at once"
    );

    release.send(()).unwrap();
    done.recv_timeout(PATIENCE).unwrap();
    pool.shutdown(); // twice is fine
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a job ran after shutdown");
}

#[test]
fn shutdown_from_a_pool_thread_returns() {
    let pool = Arc::new(IoPool::new(1, 2, 2).unwrap());
    let slot = Arc::new(Mutex::new(Some(pool.clone())));
    let from_inside = run(&pool, move || {
        // The last handle is dropped here too, on the pool's own thread.
        let pool = slot.lock().unwrap().take().unwrap();
        pool.shutdown();
        drop(pool);
        thread::current().name().unwrap_or_default().to_owned()
    });
    assert!(is_blocking_thread(&from_inside));
    drop(pool);
}
