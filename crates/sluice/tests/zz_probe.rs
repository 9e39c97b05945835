//! Scratch probes (to be deleted).
#![allow(missing_docs, clippy::unwrap_used)]
mod common;
use common::*;
use sluice::*;
use std::sync::{Arc, Mutex, mpsc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn p1_cpu_io_cpu() {
    let mgr = ConcurrencyManager::builder().cpu_threads(1).io_threads(1).build().unwrap();
    let m = mgr.clone();
    let r = watchdog("cpu io cpu", move || {
        m.run_cpu({ let m = m.clone(); move || {
            let m2 = m.clone();
            m.run_io(async move { m2.run_cpu(|| 7).await }).wait()
        }}).wait()
    });
    assert_eq!(r, Ok(Ok(Ok(7))));
}

#[test]
fn p2_io_io_limit1() {
    let mgr = ConcurrencyManager::builder().io_limit(1).io_threads(1).build().unwrap();
    let m = mgr.clone();
    let r = watchdog("io io", move || {
        let m2 = m.clone();
        m.run_io(async move { m2.run_io(async { 7 }).await }).wait()
    });
    assert_eq!(r, Ok(Ok(7)));
}

#[test]
fn p3_blocking_saturated() {
    let mgr = ConcurrencyManager::builder().io_blocking_threads(1).io_threads(1).build().unwrap();
    let r = watchdog("blocking saturated", move || {
        let (tx, rx) = mpsc::channel::<()>();
        let x = mgr.run_io_blocking(move || rx.recv().is_ok());
        std::thread::sleep(Duration::from_millis(50));
        let m = mgr.clone();
        let y = mgr.run_io(async move {
            let z = m.run_io(async move { tokio::time::sleep(Duration::from_millis(10)).await; tx.send(()).is_ok() });
            z.wait()
        });
        (y.wait(), x.wait())
    });
    assert_eq!(r, (Ok(Ok(true)), Ok(true)));
}

#[test]
fn p3b_two_waits_one_blocking() {
    let mgr = ConcurrencyManager::builder().io_blocking_threads(1).io_threads(1).build().unwrap();
    let r = watchdog("two waits", move || {
        let hs: Vec<_> = (0..4).map(|_| { let m = mgr.clone(); mgr.run_io(async move {
            m.run_io(async { tokio::time::sleep(Duration::from_millis(20)).await; 1 }).wait()
        })}).collect();
        hs.into_iter().map(|h| h.wait()).collect::<Vec<_>>()
    });
    assert!(r.iter().all(|x| *x == Ok(Ok(1))), "{r:?}");
}

#[test]
fn p4_spawn_blocking_current_thread() {
    let mgr = ConcurrencyManager::builder().cpu_threads(1).build().unwrap();
    let r = on_current_thread("spawn_blocking wait", move || async move {
        let (tx, rx) = mpsc::channel::<()>();
        let h = mgr.run_cpu(move || rx.recv().is_ok());
        tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || { std::thread::sleep(Duration::from_millis(100)); tx.send(()).unwrap() });
            h.wait()
        }).await.unwrap()
    });
    assert_eq!(r, Ok(true));
}

struct Holding { closed: AtomicBool, jobs: Mutex<Vec<Job>> }
impl Executor for Holding {
    fn name(&self) -> &str { "holding" }
    fn parallelism(&self) -> usize { 1 }
    fn execute(&self, job: Job) {
        if self.closed.load(Ordering::SeqCst) { drop(job) } else { self.jobs.lock().unwrap().push(job) }
    }
}

#[test]
#[ignore]
fn p5_drop_cascade() {
    let exec = Arc::new(Holding { closed: AtomicBool::new(false), jobs: Mutex::new(Vec::new()) });
    let mgr = ConcurrencyManager::builder().executor("holding", exec.clone()).build().unwrap();
    let n: usize = std::env::var("N").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let r = watchdog("cascade", move || {
        let hs: Vec<_> = (0..n).map(|i| mgr.run_on("holding", move || i)).collect();
        exec.closed.store(true, Ordering::SeqCst);
        let jobs = std::mem::take(&mut *exec.jobs.lock().unwrap());
        drop(jobs);
        hs.into_iter().filter(|h| h.is_finished()).count()
    });
    assert_eq!(r, n);
}
