//! The blocking pool's own counts: lazy growth, its cap, keep-alive, no lost wakeup,
//! a panic that keeps its thread, shutdown dropping the queue.
//!
//! Through `IoPool`, the public side (runtime context, panics, shutdown) is in
//! `tests/blocking_pool.rs`.

#![allow(clippy::unwrap_used)]

use super::BlockingPool;
use crate::Job;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

/// Long enough for any job here on a loaded two-core machine; a lost job fails, not hangs.
const PATIENCE: Duration = Duration::from_secs(5);

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `done` until it holds or [`PATIENCE`] passes.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A job that sends `value` when it runs.
fn send(tx: &Sender<usize>, value: usize) -> Job {
    let tx = tx.clone();
    Job::new(move || tx.send(value).unwrap())
}

#[test]
fn threads_start_lazily_and_never_exceed_the_maximum() {
    let rt = runtime();
    let pool = BlockingPool::new(rt.handle().clone(), 3);
    assert_eq!(pool.threads(), 0, "no thread before the first job");

    let (tx, rx) = mpsc::channel();
    pool.execute(send(&tx, 0));
    rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(pool.threads(), 1, "one job, one thread");

    // Ten jobs that hold their thread until released: three run, seven queue.
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Barrier::new(4));
    let (started_tx, started) = mpsc::channel();
    for i in 0..10 {
        let (running, peak, release, started_tx, tx) = (
            running.clone(),
            peak.clone(),
            release.clone(),
            started_tx.clone(),
            tx.clone(),
        );
        pool.execute(Job::new(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            started_tx.send(()).unwrap();
            if i < 3 {
                release.wait();
            }
            running.fetch_sub(1, Ordering::SeqCst);
            tx.send(i).unwrap();
        }));
    }
    for _ in 0..3 {
        started.recv_timeout(PATIENCE).unwrap();
    }
    thread::sleep(Duration::from_millis(20));
    assert!(
        started.try_recv().is_err(),
        "a fourth job started beside three that hold every thread"
    );
    assert_eq!(pool.threads(), 3);
    release.wait();
    let mut ended: Vec<_> = (0..10)
        .map(|_| rx.recv_timeout(PATIENCE).unwrap())
        .collect();
    ended.sort_unstable();
    assert_eq!(ended, (0..10).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert!(pool.threads() <= 3);
}

#[test]
fn idle_threads_exit_after_their_keep_alive() {
    let rt = runtime();
    let pool = BlockingPool::with_keep_alive(rt.handle().clone(), 3, Duration::from_millis(50));
    // Three jobs that meet at a barrier need three threads at once.
    let meet = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        let (meet, tx) = (meet.clone(), tx.clone());
        pool.execute(Job::new(move || {
            meet.wait();
            tx.send(i).unwrap();
        }));
    }
    for _ in 0..3 {
        rx.recv_timeout(PATIENCE).unwrap();
    }
    assert_eq!(pool.threads(), 3);
    eventually("every idle thread has exited", || pool.threads() == 0);

    // The pool still works, starting a thread again.
    pool.execute(send(&tx, 7));
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 7);
    assert_eq!(pool.threads(), 1);
}

/// Waits `micros` without sleeping, for pauses finer than the scheduler's.
fn pause(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn a_job_submitted_as_the_last_thread_goes_to_sleep_still_runs() {
    let rt = runtime();
    // One thread, so every job must reach that one thread wherever it is in its idle
    // spell: spinning, deciding to park, or parked.
    let pool = BlockingPool::new(rt.handle().clone(), 1);
    let (tx, rx) = mpsc::channel();
    for round in 0..3_000 {
        // Pauses from 0 to 120 µs, across the 50 µs spin window and its edge.
        pause((round % 31) * 4);
        pool.execute(send(&tx, round as usize));
        match rx.recv_timeout(PATIENCE) {
            Ok(got) => assert_eq!(got, round as usize),
            Err(_) => panic!("the job of round {round} never ran: a lost wakeup"),
        }
    }
    assert_eq!(pool.threads(), 1);
}

#[test]
fn every_job_runs_exactly_once_under_many_submitters() {
    const SUBMITTERS: usize = 8;
    const EACH: usize = 2_000;
    const MAX: usize = 4;
    let rt = runtime();
    let pool = Arc::new(BlockingPool::new(rt.handle().clone(), MAX));
    let runs: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..SUBMITTERS * EACH)
            .map(|_| AtomicUsize::new(0))
            .collect(),
    );
    let names = Arc::new(Mutex::new(HashSet::new()));
    let (tx, rx) = mpsc::channel();
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let (pool, runs, names, tx) = (pool.clone(), runs.clone(), names.clone(), tx.clone());
            thread::spawn(move || {
                for i in 0..EACH {
                    let (runs, names, tx) = (runs.clone(), names.clone(), tx.clone());
                    pool.execute(Job::new(move || {
                        runs[s * EACH + i].fetch_add(1, Ordering::SeqCst);
                        let name = thread::current().name().map(str::to_owned);
                        names.lock().unwrap().insert(name);
                        tx.send(()).unwrap();
                    }));
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    for _ in 0..SUBMITTERS * EACH {
        rx.recv_timeout(PATIENCE).unwrap();
    }
    let counts: Vec<_> = runs.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    assert!(counts.iter().all(|&n| n == 1), "a job ran other than once");
    let names = names.lock().unwrap();
    assert!(
        names.len() <= MAX,
        "more threads than the maximum: {names:?}"
    );
    assert!(
        names.iter().all(|n| n
            .as_deref()
            .is_some_and(|n| n.starts_with("sluice-io-blocking-"))),
        "{names:?}"
    );
    assert!(pool.threads() <= MAX);
}

#[test]
fn a_panicking_job_keeps_its_thread() {
    let rt = runtime();
    // With a cap of one thread, a panic that killed the thread would leave the next
    // job queued for ever (the dead thread still counted), and the wait below fails.
    let pool = BlockingPool::new(rt.handle().clone(), 1);
    let (tx, rx) = mpsc::channel();
    let id = |tx: &Sender<thread::ThreadId>| {
        let tx = tx.clone();
        Job::new(move || tx.send(thread::current().id()).unwrap())
    };
    pool.execute(id(&tx));
    let before = rx.recv_timeout(PATIENCE).unwrap();
    for _ in 0..3 {
        pool.execute(Job::new(|| panic!("a raw job panics")));
        pool.execute(id(&tx));
        let after = rx
            .recv_timeout(PATIENCE)
            .expect("no job ran after a panic: the panic took the pool's only thread");
        assert_eq!(before, after, "the panic replaced the pool's thread");
    }
    assert_eq!(pool.threads(), 1);
}

#[test]
fn shutdown_drops_the_queue_and_lets_the_running_job_finish() {
    /// Counts a job being dropped, run or not.
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = runtime();
    let pool = BlockingPool::new(rt.handle().clone(), 1);
    let (release, held) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    pool.execute(Job::new(move || {
        started_tx.send(()).unwrap();
        held.recv_timeout(PATIENCE).unwrap();
        done_tx.send(()).unwrap();
    }));
    started.recv_timeout(PATIENCE).unwrap();
    let (dropped, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for _ in 0..5 {
        let (guard, ran) = (Dropped(dropped.clone()), ran.clone());
        pool.execute(Job::new(move || {
            let _guard = guard;
            ran.fetch_add(1, Ordering::SeqCst);
        }));
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "queued jobs dropped early"
    );
    pool.shutdown();
    assert_eq!(dropped.load(Ordering::SeqCst), 5, "queued jobs not dropped");
    release.send(()).unwrap();
    done.recv_timeout(PATIENCE)
        .expect("the running job did not finish after shutdown");
    eventually("the thread has exited", || pool.threads() == 0);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a queued job ran after shutdown"
    );
}
