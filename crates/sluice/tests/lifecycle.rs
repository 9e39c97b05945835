//! A task's life from the outside: cancelled while queued or running, aborted while
//! pending, refused or stopped by shutdown, cancelled when the manager is dropped
//! anywhere, and always counted exactly once.

mod common;

use common::{TestResult, in_child_process, on_current_thread, on_multi_thread, watchdog};
use sluice::{BuildError, ConcurrencyManager, RouteKind, TaskError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const AN_HOUR: Duration = Duration::from_secs(3600);

/// One thread and one admission per closure route, so a task is easy to hold up.
fn narrow() -> Result<ConcurrencyManager, BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .io_threads(1)
        .io_blocking_threads(1)
        .build()
}

/// A cpu task that runs until `release` is sent, started before this returns.
fn blocker(mgr: &ConcurrencyManager) -> (sluice::TaskHandle<bool>, mpsc::Sender<()>) {
    let (started, blocker_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let handle = mgr.run_cpu(move || {
        let _ = started.send(());
        released.recv().is_ok()
    });
    blocker_started.recv().expect("the blocker starts");
    (handle, release)
}

#[test]
fn abort_pending_cancels_what_waits_and_spares_what_runs() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog(
        "abort_pending behind a blocked task",
        move || -> TestResult {
            let (running, release) = blocker(&mgr);
            let ran = Arc::new(AtomicUsize::new(0));
            let queued: Vec<_> = (0..10)
                .map(|_| {
                    let ran = ran.clone();
                    mgr.run_cpu(move || ran.fetch_add(1, Ordering::SeqCst))
                })
                .collect();

            assert_eq!(mgr.abort_pending(), 10);
            for handle in queued {
                assert_eq!(handle.wait(), Err(TaskError::Cancelled));
            }
            release.send(())?;
            assert_eq!(running.wait(), Ok(true), "the running task was spared");
            assert_eq!(mgr.run_cpu(|| "later work").wait()?, "later work");
            assert_eq!(ran.load(Ordering::SeqCst), 0, "no aborted body ran");
            let cpu = mgr.snapshot().route(&RouteKind::Cpu).map(|r| r.counters);
            let cpu = cpu.ok_or("no cpu route")?;
            assert_eq!((cpu.submitted, cpu.succeeded, cpu.cancelled), (12, 2, 10));
            Ok(())
        },
    )
}

#[test]
fn cancel_of_a_queued_task_answers_at_once_and_never_runs_it() -> TestResult {
    let mgr = narrow()?;
    watchdog("cancel a queued task", move || -> TestResult {
        let (running, release) = blocker(&mgr);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let queued = mgr.run_cpu(move || flag.store(true, Ordering::SeqCst));

        assert!(queued.cancel());
        assert!(
            queued.is_finished(),
            "answered while the blocker still runs"
        );
        assert!(!queued.cancel(), "a task is cancelled once");
        assert_eq!(queued.wait(), Err(TaskError::Cancelled));

        release.send(())?;
        assert_eq!(running.wait(), Ok(true));
        mgr.run_cpu(|| ()).wait()?;
        assert!(!ran.load(Ordering::SeqCst), "the cancelled body never ran");
        Ok(())
    })
}

#[test]
fn cancel_of_running_cpu_or_chunk_work_is_seen_by_is_cancelled() -> TestResult {
    let mgr = narrow()?;
    watchdog("cancel a running loop", move || -> TestResult {
        for route in ["cpu", "chunk"] {
            let (started, running) = mpsc::channel();
            let work = move || {
                let _ = started.send(());
                let mut rounds = 0u64;
                while !sluice::is_cancelled() {
                    rounds += 1;
                    thread::sleep(Duration::from_millis(1));
                }
                rounds
            };
            let looping = match route {
                "cpu" => mgr.run_cpu(work),
                _ => mgr.run_chunk(work),
            };
            running.recv()?;
            assert!(!sluice::is_cancelled(), "outside any task");
            assert!(looping.cancel(), "{route}");
            assert!(
                looping.wait().is_ok(),
                "{route}: the loop saw is_cancelled and ended"
            );
        }
        Ok(())
    })
}

/// Sets its flag when dropped: tells whether a future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancel_of_a_running_io_future_drops_it_and_answers_cancelled() -> TestResult {
    let mgr = narrow()?;
    watchdog("cancel an hour-long sleep", move || -> TestResult {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let (started, sleeping) = mpsc::channel();
        let sleeper = mgr.run_io(async move {
            let _guard = guard;
            let _ = started.send(());
            tokio::time::sleep(AN_HOUR).await;
            "woke up"
        });
        sleeping.recv()?;
        let asked = Instant::now();
        assert!(sleeper.cancel());
        assert_eq!(sleeper.wait(), Err(TaskError::Cancelled));
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "the hour was not waited for"
        );
        assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
        Ok(())
    })
}

#[test]
fn shutdown_refuses_new_work_and_counts_it_rejected() -> TestResult {
    let mgr = narrow()?;
    watchdog("work after shutdown", move || -> TestResult {
        let report = mgr.shutdown(Duration::from_secs(5));
        assert!(report.drained);
        let refused = Err(TaskError::ShuttingDown);
        assert_eq!(mgr.run_cpu(|| 1).wait(), refused);
        assert_eq!(mgr.run_chunk(|| 1).wait(), refused);
        assert_eq!(mgr.run_io(async { 1 }).wait(), refused);
        assert_eq!(mgr.run_io_blocking(|| 1).wait(), refused);
        assert_eq!(
            mgr.try_run_cpu(|| "1".parse::<u8>()).wait(),
            Err(TaskError::ShuttingDown)
        );
        assert_eq!(
            mgr.map_cpu(0..10, |x| x).wait(),
            Err(TaskError::ShuttingDown)
        );
        assert_eq!(
            mgr.map_chunks(0..10, |x| x).wait(),
            Err(TaskError::ShuttingDown)
        );
        assert_eq!(
            mgr.map_io(0..10, |x| async move { x }).wait(),
            Err(TaskError::ShuttingDown)
        );
        let totals = mgr.snapshot().total();
        assert_eq!(
            (totals.submitted, totals.rejected, totals.started),
            (8, 8, 0)
        );
        Ok(())
    })
}

#[test]
fn shutdown_lets_queued_and_running_work_finish_before_its_deadline() -> TestResult {
    let mgr = narrow()?;
    watchdog("a graceful shutdown", move || -> TestResult {
        let nap = || thread::sleep(Duration::from_millis(20));
        // One cpu thread, admitting one at a time: four of these wait in the queue.
        let cpu: Vec<_> = (0..5)
            .map(|i| {
                mgr.run_cpu(move || {
                    nap();
                    i
                })
            })
            .collect();
        let chunk = mgr.run_chunk(move || {
            nap();
            "chunk"
        });
        let blocking = mgr.run_io_blocking(move || {
            nap();
            "file"
        });
        let io = mgr.run_io(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            "socket"
        });
        let map = mgr.map_chunks(0..1_000u32, |x| x + 1);

        let report = mgr.shutdown(Duration::from_secs(10));
        assert!(report.drained, "{report:?}");
        assert_eq!((report.cancelled_queued, report.still_running), (0, 0));
        for (i, handle) in cpu.into_iter().enumerate() {
            assert_eq!(handle.wait()?, i);
        }
        assert_eq!(chunk.wait()?, "chunk");
        assert_eq!(blocking.wait()?, "file");
        assert_eq!(io.wait()?, "socket");
        assert_eq!(map.wait()?.len(), 1_000);
        let totals = report.snapshot.total();
        assert_eq!((totals.submitted, totals.succeeded), (9, 9));
        Ok(())
    })
}

#[test]
fn shutdown_past_its_deadline_stops_what_is_left() -> TestResult {
    let mgr = narrow()?;
    watchdog("a shutdown that runs out of time", move || -> TestResult {
        let (started, looping_started) = mpsc::channel();
        let looping = mgr.run_cpu(move || {
            let _ = started.send(());
            while !sluice::is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            "saw is_cancelled"
        });
        looping_started.recv()?;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let queued = mgr.run_cpu(move || flag.store(true, Ordering::SeqCst));
        let (started, sleeping) = mpsc::channel();
        let sleeper = mgr.run_io(async move {
            let _ = started.send(());
            tokio::time::sleep(AN_HOUR).await;
        });
        sleeping.recv()?;

        let report = mgr.shutdown(Duration::from_millis(100));
        assert!(!report.drained);
        assert_eq!(report.cancelled_queued, 1);
        assert!(
            report.elapsed < Duration::from_secs(5),
            "the hour was not waited for"
        );
        assert_eq!(sleeper.wait(), Err(TaskError::Cancelled));
        assert_eq!(looping.wait()?, "saw is_cancelled");
        assert_eq!(queued.wait(), Err(TaskError::Cancelled));
        assert!(!ran.load(Ordering::SeqCst));
        let totals = mgr.snapshot().total();
        assert_eq!(totals.submitted, totals.ended());
        assert_eq!((totals.succeeded, totals.cancelled), (1, 2));
        Ok(())
    })
}

#[test]
fn dropping_the_manager_cancels_queued_and_running_io_work() -> TestResult {
    let mgr = narrow()?;
    watchdog("drop outside any runtime", move || -> TestResult {
        let (running, release) = blocker(&mgr);
        let queued: Vec<_> = (0..3).map(|i| mgr.run_cpu(move || i)).collect();
        let (started, sleeping) = mpsc::channel();
        let sleeper = mgr.run_io(async move {
            let _ = started.send(());
            tokio::time::sleep(AN_HOUR).await;
        });
        sleeping.recv()?;

        drop(mgr);
        for handle in queued {
            assert_eq!(handle.wait(), Err(TaskError::Cancelled));
        }
        assert_eq!(sleeper.wait(), Err(TaskError::Cancelled));
        release.send(())?;
        assert_eq!(running.wait(), Ok(true), "running cpu work runs to its end");
        Ok(())
    })
}

#[test]
fn dropping_the_manager_inside_a_multi_thread_runtime() -> TestResult {
    on_multi_thread("drop inside a multi-thread runtime", 2, || async {
        let mgr = narrow()?;
        assert_eq!(mgr.run_io(async { 1 }).await?, 1);
        assert_eq!(mgr.run_cpu(|| 2).await?, 2);
        let sleeper = mgr.run_io(tokio::time::sleep(AN_HOUR));
        drop(mgr);
        assert_eq!(sleeper.await, Err(TaskError::Cancelled));
        Ok(())
    })
}

#[test]
fn dropping_the_manager_inside_a_current_thread_runtime() -> TestResult {
    on_current_thread("drop inside a current-thread runtime", || async {
        let mgr = narrow()?;
        assert_eq!(mgr.run_io(async { 1 }).await?, 1);
        assert_eq!(mgr.run_cpu(|| 2).await?, 2);
        let sleeper = mgr.run_io(tokio::time::sleep(AN_HOUR));
        drop(mgr);
        assert_eq!(sleeper.await, Err(TaskError::Cancelled));
        Ok(())
    })
}

#[test]
fn dropping_the_last_clone_inside_one_of_its_own_tasks() -> TestResult {
    for route in ["cpu", "chunk", "io_blocking", "io"] {
        watchdog(route, move || -> TestResult {
            let mgr = narrow()?;
            let last = mgr.clone();
            // The task drops `last` once the test has dropped `mgr`: the last clone.
            let (go, others_dropped) = tokio::sync::oneshot::channel::<()>();
            let handle = if route == "io" {
                mgr.run_io(async move {
                    let _ = others_dropped.await;
                    drop(last);
                    "dropped"
                })
            } else {
                let drop_the_last = move || {
                    let _ = others_dropped.blocking_recv();
                    drop(last);
                    "dropped"
                };
                match route {
                    "cpu" => mgr.run_cpu(drop_the_last),
                    "chunk" => mgr.run_chunk(drop_the_last),
                    _ => mgr.run_io_blocking(drop_the_last),
                }
            };
            drop(mgr);
            let _ = go.send(());
            assert_eq!(handle.wait(), Ok("dropped"), "{route}");
            Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn every_task_of_a_mixed_run_is_counted_exactly_once() -> TestResult {
    // Every route admits one task at a time, so that one blocker holds each route up.
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .chunk_threads(2)
        .io_threads(2)
        .cpu_limit(1)
        .chunk_limit(1)
        .io_limit(1)
        .io_blocking_threads(1)
        .build()?;
    watchdog("2000 tasks on every route", move || -> TestResult {
        // 1 596 tasks that run, 399 per route: a third succeed, a third fail, a third panic.
        let mut ran = Vec::new();
        for i in 0..1_596u32 {
            let fate = i / 4 % 3;
            let work = move || match fate {
                0 => Ok(i),
                1 => Err(format!("task {i} failed")),
                _ => panic!("task {i} panicked"),
            };
            ran.push(match i % 4 {
                0 => mgr.try_run_cpu(work),
                1 => mgr.try_run_chunk(work),
                2 => mgr.try_run_io(async move { work() }),
                _ => mgr.try_run_io_blocking(work),
            });
        }
        for (i, handle) in (0u32..).zip(ran) {
            let expected = match i / 4 % 3 {
                0 => Ok(i),
                1 => Err(TaskError::Failed(format!("task {i} failed"))),
                _ => Err(TaskError::Panicked(format!("task {i} panicked"))),
            };
            assert_eq!(handle.wait(), expected);
        }

        // One blocker per route, then 100 tasks per route cancelled behind it.
        let (cpu_go, cpu_wait) = mpsc::channel::<()>();
        let (chunk_go, chunk_wait) = mpsc::channel::<()>();
        let (file_go, file_wait) = mpsc::channel::<()>();
        let (io_go, io_wait) = tokio::sync::oneshot::channel::<()>();
        let blockers = [
            mgr.try_run_cpu(move || cpu_wait.recv().map(|()| 0).map_err(|e| e.to_string())),
            mgr.try_run_chunk(move || chunk_wait.recv().map(|()| 0).map_err(|e| e.to_string())),
            mgr.try_run_io(async move { io_wait.await.map(|()| 0).map_err(|e| e.to_string()) }),
            mgr.try_run_io_blocking(move || {
                file_wait.recv().map(|()| 0).map_err(|e| e.to_string())
            }),
        ];
        let bodies_run = Arc::new(AtomicUsize::new(0));
        for i in 0..400u32 {
            let count = bodies_run.clone();
            let work = move || Ok::<u32, String>(count.fetch_add(1, Ordering::SeqCst) as u32);
            let handle = match i % 4 {
                0 => mgr.try_run_cpu(work),
                1 => mgr.try_run_chunk(work),
                2 => mgr.try_run_io(async move { work() }),
                _ => mgr.try_run_io_blocking(work),
            };
            assert!(handle.cancel(), "task {i} was still queued");
            assert_eq!(handle.wait(), Err(TaskError::Cancelled));
        }
        cpu_go.send(())?;
        chunk_go.send(())?;
        file_go.send(())?;
        let _ = io_go.send(());
        for blocker in blockers {
            assert_eq!(blocker.wait(), Ok(0));
        }
        assert_eq!(bodies_run.load(Ordering::SeqCst), 0);

        let snapshot = mgr.snapshot();
        let totals = snapshot.total();
        assert_eq!(totals.submitted, 2_000);
        assert_eq!(totals.submitted, totals.ended());
        assert_eq!(
            (
                totals.succeeded,
                totals.failed,
                totals.panicked,
                totals.cancelled
            ),
            (536, 532, 532, 400)
        );
        assert_eq!((totals.timed_out, totals.rejected), (0, 0));
        assert_eq!((totals.started, totals.running), (1_600, 0));
        for route in &snapshot.routes {
            let c = route.counters;
            assert_eq!(
                (c.submitted, c.succeeded, c.failed, c.panicked, c.cancelled),
                (500, 134, 133, 133, 100),
                "{}",
                route.route
            );
        }
        Ok(())
    })
}

#[test]
fn shutting_down_an_attached_runtime_under_queued_io_work() {
    in_child_process(
        "shutting_down_an_attached_runtime_under_queued_io_work",
        || {
            watchdog(
                "20 000 queued futures when their runtime goes away",
                || -> TestResult {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()?;
                    let mgr = ConcurrencyManager::builder()
                        .io_handle(runtime.handle().clone())
                        .io_limit(1)
                        .build()?;
                    let (started, sleeping) = mpsc::channel();
                    let mut sleepers = vec![mgr.run_io(async move {
                        let _ = started.send(());
                        tokio::time::sleep(AN_HOUR).await;
                    })];
                    sleeping.recv()?;
                    sleepers.extend(
                        (0..20_000)
                            .map(|_| mgr.run_io(async { tokio::time::sleep(AN_HOUR).await })),
                    );

                    runtime.shutdown_background();
                    for sleeper in sleepers {
                        assert_eq!(sleeper.wait(), Err(TaskError::Cancelled));
                    }
                    Ok(())
                },
            )
            .expect("every queued future answers");
        },
    );
}
