//! How held tasks end besides completing: cancel reaches queued and running tasks, a
//! stop hands back what did not finish, snoozes, and the TTL removes old history.

mod common;

use common::{handler, queue, sql, wait_for_status, worker};
use sluice_postgres::{Cancelled, HandlerError, NewTask, Work};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[tokio::test]
async fn cancel_reaches_queued_and_running_tasks() {
    let queue = queue().await;
    let later = queue
        .enqueue(
            NewTask::new("wait", &())
                .expect("task")
                .delay(Duration::from_secs(3600)),
        )
        .await
        .expect("enqueue")
        .expect("an id");
    assert_eq!(
        queue.cancel(later).await.expect("cancel"),
        Cancelled::Dequeued
    );
    assert_eq!(
        queue.cancel(later).await.expect("cancel"),
        Cancelled::NotFound
    );

    let now = queue
        .enqueue(NewTask::new("wait", &()).expect("task"))
        .await
        .expect("enqueue")
        .expect("an id");
    let started = Arc::new(Semaphore::new(0));
    let started_in = started.clone();
    let running = worker(&queue)
        .lease(Duration::from_secs(3))
        .heartbeat(Duration::from_millis(100))
        .handler(handler("wait", move |_task, (): ()| {
            let started = started_in.clone();
            Work::io(async move {
                started.add_permits(1);
                std::future::pending::<()>().await;
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    let _ = started.acquire().await.expect("it starts");
    assert_eq!(
        queue.cancel(now).await.expect("cancel"),
        Cancelled::Requested
    );
    wait_for_status(&queue, "both cancelled", |s| s.count("cancelled") == 2).await;
    assert_eq!(running.metrics().total().cancelled, 1);
    running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stop_hands_back_what_did_not_finish_within_the_deadline() {
    let queue = queue().await;
    let ids = queue
        .enqueue_many(vec![
            NewTask::new("quick", &()).expect("task"),
            NewTask::new("stuck", &()).expect("task").max_attempts(1),
        ])
        .await
        .expect("enqueue");
    let stuck_started = Arc::new(Semaphore::new(0));
    let started_in = stuck_started.clone();
    let running = worker(&queue)
        .handler(handler("quick", |_task, (): ()| Work::io(async { Ok(()) })))
        .handler(handler("stuck", move |_task, (): ()| {
            let started = started_in.clone();
            Work::io(async move {
                started.add_permits(1);
                std::future::pending::<()>().await;
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    let _ = stuck_started.acquire().await.expect("it starts");
    wait_for_status(&queue, "the quick one completed", |s| {
        s.count("completed") == 1
    })
    .await;

    let report = running.shutdown(Duration::from_millis(200)).await;
    assert!(!report.drained);
    assert_eq!(report.handed_back, 1);
    // Handed back at once, and the attempt does not count: it can still run once.
    let stuck = ids[1].expect("an id");
    let history = queue.history(stuck).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("pending", 1));
    assert_eq!(history.max_attempts, 2);
    let status = queue.status().await.expect("status");
    assert_eq!(status.workers_alive, 0, "a stopped worker says it is gone");
}

#[tokio::test]
async fn snoozed_tasks_come_back_without_using_an_attempt() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::new("later", &()).expect("task").max_attempts(1))
        .await
        .expect("enqueue")
        .expect("an id");
    let running = worker(&queue)
        .handler(handler("later", |task, (): ()| {
            Work::io(async move {
                if task.attempt < 3 {
                    return Err(HandlerError::Snooze(Duration::from_millis(10)));
                }
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "completed after two snoozes", |s| {
        s.count("completed") == 1
    })
    .await;
    assert_eq!(running.metrics().total().snoozed, 2);
    running.shutdown(Duration::from_secs(5)).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("completed", 3));
    assert!(history.errors.is_empty());
}

#[tokio::test]
async fn the_ttl_removes_old_history_in_batches() {
    let queue = queue().await;
    let tasks = (0..6u32)
        .map(|n| NewTask::new("done", &n).expect("task"))
        .chain((0..2u32).map(|n| NewTask::new("broken", &n).expect("task")))
        .collect();
    let ids = queue.enqueue_many(tasks).await.expect("enqueue");
    let running = worker(&queue)
        .handler(handler("done", |_task, _: u32| Work::io(async { Ok(()) })))
        .handler(handler("broken", |_task, _: u32| {
            Work::io(async { Err(HandlerError::permanent("bad input")) })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "6 completed, 2 dead", |s| {
        s.count("completed") == 6 && s.dead == 2
    })
    .await;
    // Age some of the history past the default TTLs (24 h finished, 7 days dead),
    // and one dead task not quite.
    let old = |i: usize| ids[i].expect("an id");
    sql(&queue, &format!(
        "UPDATE sluice_task_done SET finished_at = now() - interval '25 hours' WHERE id IN ({}, {}, {})",
        old(0), old(1), old(2)
    ))
    .await;
    sql(
        &queue,
        &format!(
            "UPDATE sluice_task_done SET finished_at = now() - interval '8 days' WHERE id = {}",
            old(6)
        ),
    )
    .await;
    sql(
        &queue,
        &format!(
            "UPDATE sluice_task_done SET finished_at = now() - interval '6 days' WHERE id = {}",
            old(7)
        ),
    )
    .await;
    let status = wait_for_status(&queue, "old history removed", |s| {
        s.count("completed") == 3 && s.dead == 1
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(status.count("completed"), 3);
    assert!(queue.history(old(0)).await.expect("history").is_none());
    assert!(queue.history(old(7)).await.expect("history").is_some());
}
