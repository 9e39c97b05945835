//! A claimed batch runs its tasks concurrently in one driver: each task settles the
//! moment it ends, whatever the others of its batch do, and a stop hands back the one
//! still running.

mod common;

use common::{handler, queue, wait_for, worker};
use sluice_postgres::{NewTask, Work};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[tokio::test]
async fn a_task_settles_while_another_of_its_batch_still_runs() {
    let queue = queue().await;
    // Enqueued together, claimed together: task 0 waits for its gate, task 1 does not.
    let tasks = (0..2u32)
        .map(|n| NewTask::new("gated", &n).expect("task"))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    let gate = Arc::new(Semaphore::new(0));
    let gate_in = gate.clone();
    let running = worker(&queue)
        .batch_size(2)
        .handler(handler("gated", move |_task, n: u32| {
            let gate = gate_in.clone();
            Work::io(async move {
                if n == 0 {
                    let _open = gate.acquire().await;
                }
                Ok(())
            })
        }))
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
