//! A stop report's "handed back" counts the tasks the database took back because the
//! worker stopped: not a hand-back fenced off (the task was another worker's by then),
//! not a snooze answered while the worker was running, but a snooze answered once it
//! was stopping (the task goes back to pending, as at the deadline). A worker that
//! stopped claiming on its own, its manager closing, still keeps a stop's deadline.

mod common;

use common::{gated, manager, queue, sql, wait_for, worker};
use sluice_postgres::{HandlerError, NewTask, Worker};
use std::time::Duration;

#[tokio::test]
async fn a_hand_back_fenced_off_is_refused_and_not_counted() {
    let queue = queue().await;
    queue
        .enqueue(NewTask::new("held", &0u32).expect("task"))
        .await
        .expect("enqueue");
    let (gate, held) = gated("held", |_| true, |_| Ok(()));
    let running = worker(&queue)
        .handler(held)
        .build()
        .expect("worker")
        .start();
    wait_for("the task running", || async {
        (running.metrics().total().running == 1).then_some(())
    })
    .await;

    // Its lease passes to another worker (as after a rescue) while it still runs here.
    let moved = sql(
        &queue,
        "UPDATE sluice_task SET lease_owner = 'another worker'",
    )
    .await;
    assert_eq!(moved, 1);
    // The deadline passes at once: this worker's hand-back is fenced off.
    let report = running.shutdown(Duration::ZERO).await;
    let total = report.metrics.total();
    assert_eq!((total.refused, total.handed_back), (1, 0));
    assert_eq!(report.handed_back, 0, "{report:?}");
    gate.add_permits(1);
}

#[tokio::test]
async fn a_snooze_answered_once_the_worker_stops_is_counted_as_handed_back() {
    let queue = queue().await;
    let tasks = (0..2u32)
        .map(|n| NewTask::new("sleepy", &n).expect("task"))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    // Task 0 snoozes at once, while the worker runs; task 1 waits for its gate and
    // snoozes after the stop.
    let (gate, sleepy) = gated(
        "sleepy",
        |n| n == 1,
        |_| Err(HandlerError::Snooze(Duration::from_secs(3600))),
    );
    let running = worker(&queue)
        .batch_size(2)
        .handler(sleepy)
        .build()
        .expect("worker")
        .start();
    wait_for("task 0 snoozed, task 1 running", || async {
        let total = running.metrics().total();
        (total.snoozed == 1 && total.running == 1).then_some(())
    })
    .await;

    let stop = running.stop_handle();
    stop.stop(Duration::from_secs(60));
    gate.add_permits(1);
    let report = running.join().await;
    assert!(report.drained, "{report:?}");
    let total = report.metrics.total();
    assert_eq!((total.snoozed, total.handed_back), (1, 1));
    assert_eq!(report.handed_back, 1, "{report:?}");
}

#[tokio::test]
async fn a_worker_that_stopped_claiming_as_its_manager_closed_still_keeps_its_stop_deadline() {
    let queue = queue().await;
    queue
        .enqueue(NewTask::new("stubborn", &0u32).expect("task"))
        .await
        .expect("enqueue");
    // An io task that ignores cancellation: the manager's shutdown waits for it.
    let (gate, stubborn) = gated("stubborn", |_| true, |_| Ok(()));
    let mgr = manager();
    let running = Worker::builder(&queue, mgr.clone())
        .max_in_flight(2)
        .poll_interval(Duration::from_millis(20))
        .handler(stubborn)
        .build()
        .expect("worker")
        .start();
    wait_for("the task running", || async {
        (running.metrics().total().running == 1).then_some(())
    })
    .await;

    // The manager starts closing (for up to a minute, while the task runs); the
    // worker, polling, sees it and stops claiming on its own.
    let closing = {
        let mgr = mgr.clone();
        tokio::task::spawn_blocking(move || mgr.shutdown(Duration::from_secs(60)))
    };
    wait_for("the manager closing", || async {
        mgr.is_shutting_down().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A stop asked now still hands the held task back at its deadline, rather than
    // leaving it held until the manager gives up on it.
    let stop = running.stop_handle();
    stop.stop(Duration::from_millis(100));
    let report = tokio::time::timeout(Duration::from_secs(30), running.join())
        .await
        .expect("the worker stopped at its deadline");
    assert!(!report.drained, "{report:?}");
    assert_eq!(report.handed_back, 1, "{report:?}");
    gate.add_permits(1);
    closing.await.expect("the manager's shutdown");
}
