//! Waiting never deadlocks the pools: nested waits on one-thread pools, maps waited for
//! inside tasks, `wait()` inside async code without freezing the runtime, and a clear
//! refusal where blocking would freeze a current-thread runtime.

mod common;

use common::{TestResult, on_current_thread, on_multi_thread, watchdog};
use sluice::{ConcurrencyManager, TaskError};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

#[test]
fn a_cpu_task_waits_for_cpu_work_it_submitted_on_a_one_thread_pool() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
    watchdog("nested cpu tasks on one thread", move || -> TestResult {
        let inner = mgr.clone();
        let outer = mgr.run_cpu(move || inner.run_cpu(|| 2).wait());
        assert_eq!(outer.wait()?, Ok(2));

        let (middle, inner) = (mgr.clone(), mgr.clone());
        let outer = mgr.run_cpu(move || middle.run_cpu(move || inner.run_cpu(|| 3).wait()).wait());
        assert_eq!(outer.wait()?, Ok(Ok(3)), "three levels deep");
        Ok(())
    })
}

#[test]
fn a_chunk_task_waits_for_chunk_work_it_submitted_on_a_one_thread_pool() -> TestResult {
    let mgr = ConcurrencyManager::builder().chunk_threads(1).build()?;
    watchdog("nested chunk tasks on one thread", move || -> TestResult {
        let inner = mgr.clone();
        let outer = mgr.run_chunk(move || inner.run_chunk(|| 2).wait());
        assert_eq!(outer.wait()?, Ok(2));

        let (middle, inner) = (mgr.clone(), mgr.clone());
        let outer = mgr.run_chunk(move || {
            middle
                .run_chunk(move || inner.run_chunk(|| 3).wait())
                .wait()
        });
        assert_eq!(outer.wait()?, Ok(Ok(3)), "three levels deep");
        Ok(())
    })
}

#[test]
fn cpu_and_chunk_tasks_wait_for_each_other_with_one_thread_each() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .build()?;
    watchdog(
        "cpu and chunk tasks waiting across pools",
        move || -> TestResult {
            let m = mgr.clone();
            assert_eq!(
                mgr.run_cpu(move || m.run_chunk(|| "chunk").wait()).wait()?,
                Ok("chunk")
            );
            let m = mgr.clone();
            assert_eq!(
                mgr.run_chunk(move || m.run_cpu(|| "cpu").wait()).wait()?,
                Ok("cpu")
            );

            // Both at once: each pool's only thread waits for work queued behind the other.
            let both_running = Arc::new(Barrier::new(2));
            let (m, running) = (mgr.clone(), both_running.clone());
            let on_cpu = mgr.run_cpu(move || {
                running.wait();
                m.run_chunk(|| "chunk").wait()
            });
            let (m, running) = (mgr.clone(), both_running);
            let on_chunk = mgr.run_chunk(move || {
                running.wait();
                m.run_cpu(|| "cpu").wait()
            });
            assert_eq!(on_cpu.wait()?, Ok("chunk"));
            assert_eq!(on_chunk.wait()?, Ok("cpu"));
            Ok(())
        },
    )
}

#[test]
fn a_task_on_a_one_thread_pool_maps_ten_thousand_items_and_waits() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .build()?;
    watchdog("a map waited for inside a task", move || -> TestResult {
        let expected: u64 = (0..10_000u64).map(|x| x * 2).sum();
        let m = mgr.clone();
        let total = mgr.run_cpu(move || {
            let doubled = m.map_cpu(0..10_000u64, |x| x * 2).wait()?;
            Ok::<u64, TaskError>(doubled.iter().sum())
        });
        assert_eq!(total.wait()?, Ok(expected));

        let m = mgr.clone();
        let total = mgr.run_chunk(move || {
            let doubled = m.map_chunks(0..10_000u64, |x| x * 2).wait()?;
            Ok::<u64, TaskError>(doubled.iter().sum())
        });
        assert_eq!(total.wait()?, Ok(expected));
        Ok(())
    })
}

#[test]
fn wait_inside_an_io_future_leaves_the_managers_runtime_running() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .io_threads(1)
        .build()?;
    watchdog("wait() inside run_io", move || -> TestResult {
        // CPU work that can only finish once another future on the io runtime has run.
        let (to_cpu, from_io) = mpsc::channel();
        let cpu = mgr.run_cpu(move || from_io.recv().map(|x: u32| x * 2));
        let (blocking, waiter_blocks) = tokio::sync::oneshot::channel();
        let waiter = mgr.run_io(async move {
            let _ = blocking.send(());
            cpu.wait() // blocks the runtime's only worker thread
        });
        let ticker = mgr.run_io(async move {
            // Runs only while the waiter blocks: it holds the only worker until then.
            let _ = waiter_blocks.await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            to_cpu.send(21)
        });
        assert!(ticker.wait()?.is_ok(), "the runtime kept running");
        assert_eq!(waiter.wait()?, Ok(Ok(42)));
        Ok(())
    })
}

#[test]
fn wait_inside_a_users_multi_thread_runtime_leaves_it_running() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
    // The runtime of #[tokio::test(flavor = "multi_thread", worker_threads = 1)].
    on_multi_thread("wait() inside tokio::spawn", 1, move || async move {
        let (to_cpu, from_io) = mpsc::channel();
        let cpu = mgr.run_cpu(move || from_io.recv().map(|x: u32| x * 2));
        let (blocking, waiter_blocks) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn(async move {
            let _ = blocking.send(());
            cpu.wait() // blocks the runtime's only worker thread
        });
        let ticker = tokio::spawn(async move {
            let _ = waiter_blocks.await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            to_cpu.send(21)
        });
        assert!(ticker.await?.is_ok(), "the runtime kept running");
        assert_eq!(waiter.await?, Ok(Ok(42)));

        // And straight from the test's own async body.
        assert_eq!(mgr.run_cpu(|| 5).wait()?, 5);
        Ok(())
    })
}

#[test]
fn wait_on_a_current_thread_runtime_refuses_instead_of_freezing_it() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
    // The runtime of a plain #[tokio::test].
    on_current_thread(
        "wait() inside a current-thread runtime",
        move || async move {
            let (release, released) = mpsc::channel::<()>();
            let unfinished = mgr.run_cpu(move || released.recv().is_ok());
            assert_eq!(unfinished.wait(), Err(TaskError::WaitWouldBlockRuntime));
            release.send(())?;

            // Awaiting is the way here; work that has already finished can be waited for.
            assert_eq!(mgr.run_cpu(|| 7).await?, 7);
            let finished = mgr.run_cpu(|| 8);
            while !finished.is_finished() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(finished.wait()?, 8);
            Ok(())
        },
    )
}

#[test]
fn a_blocking_call_waits_for_another_on_one_blocking_thread() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .io_blocking_threads(1)
        .build()?;
    watchdog(
        "nested blocking calls on one thread",
        move || -> TestResult {
            let inner = mgr.clone();
            let outer = mgr.run_io_blocking(move || inner.run_io_blocking(|| 3).wait());
            assert_eq!(outer.wait()?, Ok(3));
            Ok(())
        },
    )
}

/// The waiting task lends its CPU slot, so the inner CPU task is admitted at once even
/// though the CPU limit is reached, and runs on the pool's other thread. (With a single
/// CPU thread this would hang: the only thread is blocked in `wait()`, and a blocked
/// waiter does not run other queued jobs, because a job run on its stack could in turn
/// wait for it. That limit is documented on `TaskHandle::wait`.)
#[test]
fn a_cpu_task_waits_for_an_io_future_that_awaits_cpu_work() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .io_threads(1)
        .build()?;
    watchdog(
        "cpu task -> io future -> cpu task",
        move || -> TestResult {
            // Parse (cpu) a record that needs a lookup (io) which parses a key (cpu).
            let m = mgr.clone();
            let record = mgr.run_cpu(move || {
                let lookup = m.clone();
                m.run_io(async move { lookup.run_cpu(|| 42).await }).wait()
            });
            assert_eq!(record.wait()?, Ok(Ok(42)));
            Ok(())
        },
    )
}

/// A pipeline: a stage waits for the stage before it, which is itself blocked on io.
/// Nothing may run the later stage on top of the earlier one's stack.
#[test]
fn a_pipeline_stage_waits_for_a_blocked_stage_on_one_thread() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .io_threads(1)
        .build()?;
    watchdog("pipeline on one cpu thread", move || -> TestResult {
        let m = mgr.clone();
        let fetched = mgr.run_cpu(move || {
            m.run_io(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                7
            })
            .wait()
        });
        let summed = mgr.run_cpu(move || fetched.wait().map(|inner| inner.map(|n| n * 6)));
        assert_eq!(summed.wait()?, Ok(Ok(42)));
        Ok(())
    })
}

/// A map unit that waits on io work which needs the CPU route: the puller's slot is
/// lent while the unit waits, so the inner task is admitted although the CPU limit is
/// reached, and runs on the thread the map does not use.
#[test]
fn a_map_unit_waits_for_io_that_needs_cpu() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .io_threads(1)
        .build()?;
    watchdog(
        "map_cpu unit -> io future -> cpu task",
        move || -> TestResult {
            let m = mgr.clone();
            let out = mgr
                .map_cpu(0..4u64, move |x| {
                    let inner = m.clone();
                    m.run_io(async move { inner.run_cpu(move || x * 10).await })
                        .wait()
                })
                .wait()?;
            let values: Vec<u64> = out
                .into_iter()
                .map(|r| r.expect("io ran").expect("cpu ran"))
                .collect();
            assert_eq!(values, [0, 10, 20, 30]);
            Ok(())
        },
    )
}

/// A `map_io` item that awaits another io task at the io limit lends its slot.
#[test]
fn a_map_io_item_awaits_io_at_the_io_limit() -> TestResult {
    let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
    watchdog(
        "map_io item -> io task at io_limit(1)",
        move || -> TestResult {
            let m = mgr.clone();
            let out = mgr
                .map_io(0..5u64, move |x| {
                    let m = m.clone();
                    async move { m.run_io(async move { x + 1 }).await }
                })
                .wait()?;
            let values: Vec<u64> = out.into_iter().map(|r| r.expect("ran")).collect();
            assert_eq!(values, [1, 2, 3, 4, 5]);
            Ok(())
        },
    )
}

/// A task that awaits two handles at once (join) at the io limit: its slot is lent
/// while it is suspended on either.
#[test]
fn an_io_future_joins_two_handles_at_the_io_limit() -> TestResult {
    let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
    watchdog(
        "join of two handles at io_limit(1)",
        move || -> TestResult {
            let m = mgr.clone();
            let both = mgr.run_io(async move {
                let a = m.run_cpu(|| 1);
                let b = m.run_io(async { 2 });
                let (a, b) = tokio::join!(a, b);
                a.expect("cpu ran") + b.expect("io ran")
            });
            assert_eq!(both.wait()?, 3);
            Ok(())
        },
    )
}

#[test]
fn an_io_future_awaits_another_at_the_io_limit() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .io_threads(1)
        .io_limit(1)
        .build()?;
    watchdog(
        "io future -> io future with io_limit(1)",
        move || -> TestResult {
            let m = mgr.clone();
            let outer = mgr.run_io(async move { m.run_io(async { 42 }).await });
            assert_eq!(outer.wait()?, Ok(42));
            Ok(())
        },
    )
}

#[test]
fn wait_inside_an_io_future_while_every_blocking_thread_is_busy() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .io_threads(1)
        .io_blocking_threads(1)
        .build()?;
    watchdog(
        "wait() in run_io with the blocking pool full",
        move || -> TestResult {
            // A blocking reader that holds the only blocking thread until an io future sends.
            let (started, reader_started) = mpsc::channel();
            let (to_reader, from_io) = mpsc::channel();
            let reader = mgr.run_io_blocking(move || {
                let _ = started.send(());
                from_io.recv()
            });
            reader_started.recv()?;

            let m = mgr.clone();
            let waiter = mgr.run_io(async move {
                let sender = m.run_io(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    to_reader.send(7)
                });
                sender.wait()
            });
            assert_eq!(waiter.wait()?, Ok(Ok(())));
            assert_eq!(reader.wait()?, Ok(7));
            Ok(())
        },
    )
}

/// Tokio does not tell a blocking thread of a current-thread runtime from the thread
/// that drives it, so `wait()` refuses on both rather than risk freezing the runtime;
/// `Handle::block_on` is the way to block on a handle there.
#[test]
fn wait_inside_spawn_blocking_of_a_current_thread_runtime_refuses_and_block_on_works() -> TestResult
{
    let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
    on_current_thread("wait() inside spawn_blocking", move || async move {
        let (release, released) = mpsc::channel::<()>();
        let unfinished = mgr.run_cpu(move || released.recv().is_ok());
        let runtime = tokio::runtime::Handle::current();
        let (refused, waited) = tokio::task::spawn_blocking(move || {
            let refused = mgr
                .run_cpu(|| std::thread::sleep(Duration::from_millis(20)))
                .wait();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let _ = release.send(());
            });
            (refused, runtime.block_on(unfinished))
        })
        .await?;
        assert_eq!(refused, Err(TaskError::WaitWouldBlockRuntime));
        assert_eq!(waited, Ok(true));
        Ok(())
    })
}
