//! An awaited closure's handle may spin a few µs on its first poll for the answer:
//! whatever the spin catches or misses, every await ends in its task's one answer, work
//! no worker has taken up is not waited for, and a handle dropped after its first poll
//! leaves its task running.

mod common;

use common::{TestResult, on_current_thread, on_multi_thread};
use futures::future::join_all;
use sluice::{ConcurrencyManager, TaskError};
use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// One thread per closure route, so a task is easy to hold up.
fn narrow() -> Result<ConcurrencyManager, sluice::BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .io_blocking_threads(1)
        .build()
}

#[test]
fn calls_longer_than_the_spin_are_answered_through_the_waker() -> TestResult {
    on_current_thread("long calls awaited", || async {
        let mgr = narrow()?;
        let slow = Duration::from_millis(20);
        assert_eq!(
            mgr.run_io_blocking(move || {
                std::thread::sleep(slow);
                "read"
            })
            .await?,
            "read"
        );
        assert_eq!(
            mgr.run_cpu(move || {
                std::thread::sleep(slow);
                7
            })
            .await?,
            7
        );
        Ok(())
    })
}

#[test]
fn short_calls_awaited_in_a_loop_each_get_their_own_answer() -> TestResult {
    on_current_thread("short calls in a loop", || async {
        let mgr = ConcurrencyManager::builder().build()?;
        for i in 0..2_000u64 {
            assert_eq!(mgr.run_io_blocking(move || i * 2).await?, i * 2);
            assert_eq!(mgr.run_cpu(move || i + 1).await?, i + 1);
            assert_eq!(mgr.run_chunk(move || i ^ 3).await?, i ^ 3);
        }
        Ok(())
    })
}

#[test]
fn many_handles_polled_together_all_answer() -> TestResult {
    on_current_thread("many handles joined", || async {
        let mgr = narrow()?;
        let handles: Vec<_> = (0..200u64).map(|i| mgr.run_cpu(move || i)).collect();
        let answers: Result<Vec<u64>, TaskError> = join_all(handles).await.into_iter().collect();
        assert_eq!(answers?, (0..200).collect::<Vec<_>>());
        Ok(())
    })
}

#[test]
fn the_first_poll_does_not_wait_for_work_no_worker_has_taken_up() -> TestResult {
    let mgr = narrow()?;
    let (release, held) = mpsc::channel::<()>();
    // The pool's one thread is busy until released, so the next task stays queued.
    let blocker = mgr.run_cpu(move || held.recv().is_ok());
    let mut queued = Box::pin(mgr.run_cpu(|| 5));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        queued.as_mut().poll(&mut cx).is_pending(),
        "the task cannot have run: the pool's only thread is held"
    );
    release.send(())?;
    assert!(blocker.wait()?);
    on_multi_thread("the queued task awaited", 2, move || async move {
        assert_eq!(queued.await?, 5);
        Ok(())
    })
}

#[test]
fn a_handle_dropped_after_its_first_poll_leaves_its_task_running() -> TestResult {
    let mgr = narrow()?;
    let (release, held) = mpsc::channel::<()>();
    let (ran, done) = mpsc::channel::<u32>();
    let task = mgr.run_io_blocking(move || {
        let _ = held.recv();
        let _ = ran.send(9);
    });
    {
        let mut task = pin!(task);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(task.as_mut().poll(&mut cx), Poll::Pending);
    }
    release.send(())?;
    assert_eq!(done.recv_timeout(Duration::from_secs(10))?, 9);
    Ok(())
}
