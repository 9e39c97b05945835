//! A claimed batch runs its tasks concurrently in one driver: each task settles the
//! moment it ends, whatever the others of its batch do, a stop hands back the one
//! still running, and so does a manager shut down under it.

mod common;

use common::{gated, handler, manager, queue, wait_for, wait_for_status, worker};
use sluice_postgres::{NewTask, Work, Worker};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_task_settles_while_another_of_its_batch_still_runs() {
    let queue = queue().await;
    // Enqueued together, claimed together: task 0 waits for its gate, task 1 does not.
    let tasks = (0..2u32)
        .map(|n| NewTask::new("gated", &n).expect("task"))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    let (gate, held) = gated("gated", |n| n == 0, |_| Ok(()));
    let running = worker(&queue)
        .batch_size(2)
        .handler(held)
        .build()
        .expect("worker")
        .start();

    let counts = wait_for("one task of the batch completed", || async {
        let total = running.metrics().total();
        (total.completed == 1).then_some(total)
    })
    .await;
    assert_eq!(counts.claimed, 2, "both tasks were claimed in one batch");
    assert_eq!(counts.running, 1, "the gated task still runs");

    // The stop's deadline passes while the gated task waits: it is handed back.
    let report = running.shutdown(Duration::from_millis(200)).await;
    assert_eq!(report.handed_back, 1);
    let total = report.metrics.total();
    assert_eq!((total.completed, total.handed_back), (1, 1));
    gate.add_permits(1);
}

#[tokio::test]
async fn a_handler_that_panics_in_handle_fails_only_its_own_task() {
    let queue = queue().await;
    // Claimed together: making task 0's work panics, task 1's does not.
    let tasks = (0..2u32)
        .map(|n| NewTask::new("fragile", &n).expect("task").max_attempts(2))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    let running = worker(&queue)
        .batch_size(2)
        .handler(handler("fragile", |_task, n: u32| {
            assert!(n != 0, "task 0 cannot be handled");
            Work::io(async { Ok(()) })
        }))
        .build()
        .expect("worker")
        .start();
    let counts = wait_for("task 1 completed and task 0 dead", || async {
        let total = running.metrics().total();
        (total.completed == 1 && total.dead == 1).then_some(total)
    })
    .await;
    assert_eq!(counts.retried, 1, "task 0's first attempt was retried");
    running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_manager_shut_down_under_its_worker_has_the_held_tasks_handed_back() {
    let queue = queue().await;
    let tasks = (0..2u32)
        .map(|n| NewTask::new("stuck", &n).expect("task"))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    // CPU work that ignores cancellation: it outlives its manager's shutdown.
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(blocked));
    let mgr = manager();
    let running = Worker::builder(&queue, mgr.clone())
        .batch_size(2)
        .handler(handler("stuck", move |_task, n: u32| {
            let blocked = blocked.clone();
            Work::cpu(move || {
                if n == 0 {
                    let _ = blocked.lock().map(|wait| wait.recv());
                }
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for("task 1 completed, task 0 running", || async {
        let total = running.metrics().total();
        (total.completed == 1 && total.running == 1).then_some(())
    })
    .await;

    // The manager goes while task 0's body still runs, and its runtime with it.
    let report = tokio::task::spawn_blocking(move || mgr.shutdown(Duration::from_millis(20)))
        .await
        .expect("shutdown");
    assert_eq!(report.still_running, 1);
    // The worker hands task 0 back and stops on its own: it has nothing to run on.
    let stopped = tokio::time::timeout(Duration::from_secs(60), running.join())
        .await
        .expect("the worker stopped once its manager was gone");
    let total = stopped.metrics.total();
    assert_eq!((total.completed, total.handed_back), (1, 1));
    assert_eq!(total.running, 0);
    let status = wait_for_status(&queue, "task 0 pending again", |status| {
        status.count("pending") == 1 && status.count("running") == 0
    })
    .await;
    assert_eq!(status.count("completed"), 1);
    drop(release);
}
