//! A backend of the user's own, plugged in with `.executor(name, ..)`: work sent with
//! `run_on` runs on it, the snapshot shows its route, and jobs it drops are answered
//! as cancelled, never lost.

mod common;

use common::{Discard, TestResult, in_child_process, on_multi_thread, thread_name, watchdog};
use sluice::{ConcurrencyManager, Executor, Job, RouteKind, TaskError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;

/// Runs every job on one dedicated thread, in order.
struct OneThread(mpsc::Sender<Job>);

impl OneThread {
    fn start(thread_name: &str) -> Self {
        let (jobs, incoming) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || incoming.into_iter().for_each(Job::run))
            .expect("the executor's thread starts");
        OneThread(jobs)
    }
}

impl Executor for OneThread {
    fn name(&self) -> &str {
        "one-thread"
    }

    fn parallelism(&self) -> usize {
        1
    }

    fn execute(&self, job: Job) {
        // A send error means the thread is gone: the job is dropped, which reports it.
        let _ = self.0.send(job);
    }
}

fn with_one_thread() -> Result<ConcurrencyManager, sluice::BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .io_threads(1)
        .executor("one-thread", Arc::new(OneThread::start("my-gpu-feeder")))
        .build()
}

#[test]
fn run_on_sends_work_to_the_registered_executor() -> TestResult {
    let mgr = with_one_thread()?;
    watchdog("run_on, sync", {
        let mgr = mgr.clone();
        move || -> TestResult {
            assert_eq!(
                mgr.run_on("one-thread", thread_name).wait()?,
                "my-gpu-feeder"
            );
            let parsed = mgr.try_run_on("one-thread", || "42".parse::<u32>());
            assert_eq!(parsed.wait()?, 42);
            let failed = mgr.try_run_on("one-thread", || "x".parse::<u32>());
            assert!(matches!(failed.wait(), Err(TaskError::Failed(_))));
            Ok(())
        }
    })?;
    on_multi_thread("run_on, async", 1, move || async move {
        assert_eq!(
            mgr.run_on("one-thread", thread_name).await?,
            "my-gpu-feeder"
        );
        let parsed = mgr.try_run_on("one-thread", || "42".parse::<u32>());
        assert_eq!(parsed.await?, 42);
        Ok(())
    })
}

#[test]
fn the_snapshot_lists_the_custom_route_with_its_counts() -> TestResult {
    let mgr = with_one_thread()?;
    watchdog("counted custom work", move || -> TestResult {
        let handles: Vec<_> = (0..30u32)
            .map(|i| {
                mgr.try_run_on("one-thread", move || match i % 3 {
                    0 => Ok(i),
                    1 => Err(format!("job {i} failed")),
                    _ => panic!("job {i} panicked"),
                })
            })
            .collect();
        for handle in handles {
            let _ = handle.wait();
        }
        assert_eq!(mgr.run_cpu(|| "elsewhere").wait()?, "elsewhere");

        let snapshot = mgr.snapshot();
        let custom = RouteKind::Custom("one-thread".to_owned());
        let route = snapshot.route(&custom).ok_or("no one-thread route")?;
        assert_eq!(route.route.to_string(), "one-thread");
        assert_eq!(route.limit, 1, "its parallelism");
        let c = route.counters;
        assert_eq!((c.submitted, c.started, c.running), (30, 30, 0));
        assert_eq!(
            (c.succeeded, c.failed, c.panicked, c.cancelled),
            (10, 10, 10, 0)
        );
        assert_eq!(c.high_water, 1);
        let last = snapshot.routes.last().map(|r| &r.route);
        assert_eq!(
            last,
            Some(&custom),
            "custom routes come after the built-in ones"
        );
        assert!(snapshot.to_json().contains("one-thread"));
        let totals = snapshot.total();
        assert_eq!((totals.submitted, totals.ended()), (31, 31));
        Ok(())
    })
}

#[test]
fn run_on_an_unknown_name_answers_unknown_executor() -> TestResult {
    let mgr = with_one_thread()?;
    watchdog("run_on a name nobody registered", move || -> TestResult {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let handle = mgr.run_on("gpu", move || flag.store(true, Ordering::SeqCst));
        assert_eq!(
            handle.wait(),
            Err(TaskError::UnknownExecutor("gpu".to_owned()))
        );
        assert_eq!(
            mgr.try_run_on("cpu", || Ok::<_, ()>(1)).wait(),
            Err(TaskError::UnknownExecutor("cpu".to_owned())),
            "built-in routes are not reached through run_on"
        );
        assert!(!ran.load(Ordering::SeqCst));
        Ok(())
    })
}

#[test]
fn an_executor_that_drops_every_job_loses_no_task() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .executor("discard", Arc::new(Discard))
        .build()?;
    watchdog("a backend that runs nothing", move || -> TestResult {
        let ran = Arc::new(AtomicUsize::new(0));
        // From four threads at once, so that some tasks wait at the gate too.
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (mgr, ran) = (mgr.clone(), ran.clone());
                thread::spawn(move || {
                    (0..250)
                        .map(|_| {
                            let ran = ran.clone();
                            mgr.run_on("discard", move || ran.fetch_add(1, Ordering::SeqCst))
                        })
                        .map(|handle| handle.wait())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for submitter in submitters {
            let answers = submitter.join().map_err(|_| "a submitter panicked")?;
            assert!(answers.iter().all(|a| *a == Err(TaskError::Cancelled)));
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0);

        let route = mgr
            .snapshot()
            .route(&RouteKind::Custom("discard".to_owned()))
            .map(|r| r.counters);
        let c = route.ok_or("no discard route")?;
        assert_eq!((c.submitted, c.cancelled, c.started), (1_000, 1_000, 0));
        assert_eq!(c.submitted, c.ended());
        Ok(())
    })
}

/// A backend for a remote service: it holds jobs while connected and, once the
/// connection is lost, drops what it holds and every job it is handed after.
#[derive(Default)]
struct Remote {
    /// Set once the connection is gone.
    lost: AtomicBool,
    /// Jobs sent to the service and not yet answered.
    held: Mutex<Vec<Job>>,
}

impl Remote {
    fn connection_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        drop(held);
    }
}

impl Executor for Remote {
    fn name(&self) -> &str {
        "remote"
    }

    fn parallelism(&self) -> usize {
        1
    }

    fn execute(&self, job: Job) {
        if self.lost.load(Ordering::SeqCst) {
            drop(job);
        } else {
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(job);
        }
    }
}

#[test]
fn an_executor_that_loses_its_connection_under_a_long_queue() {
    in_child_process(
        "an_executor_that_loses_its_connection_under_a_long_queue",
        || {
            watchdog(
                "20 000 tasks queued at a backend that drops them",
                || -> TestResult {
                    let remote = Arc::new(Remote::default());
                    let mgr = ConcurrencyManager::builder()
                        .executor("remote", remote.clone())
                        .build()?;
                    // One admitted (held by the backend), the rest queued at the gate.
                    let queued: Vec<_> = (0..20_000)
                        .map(|i| mgr.run_on("remote", move || i))
                        .collect();

                    remote.connection_lost();
                    for handle in queued {
                        assert_eq!(handle.wait(), Err(TaskError::Cancelled));
                    }
                    let totals = mgr.snapshot().total();
                    assert_eq!((totals.submitted, totals.cancelled), (20_000, 20_000));
                    Ok(())
                },
            )
            .expect("every task answers");
        },
    );
}
