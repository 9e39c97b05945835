//! Enqueue, claim, complete; bad input: unregistered kinds, payloads that do not
//! deserialize, attempts used up, an unreachable database; timeouts; status.

mod common;

use common::{handler, queue, wait_for, wait_for_status, worker};
use sluice_postgres::{Error, HandlerError, NewTask, Queue, Work};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn enqueued_tasks_are_claimed_run_and_completed() {
    let queue = queue().await;
    let tasks = (1..=20u64)
        .map(|n| NewTask::new("add", &(n, n * 10)))
        .collect::<Result<Vec<_>, _>>()
        .expect("payloads serialize");
    let ids = queue.enqueue_many(tasks).await.expect("enqueue");
    assert!(ids.iter().all(Option::is_some));

    let sums = Arc::new(Mutex::new(Vec::new()));
    let seen = sums.clone();
    let running = worker(&queue)
        .batch_size(7)
        .handler(handler("add", move |_task, (a, b): (u64, u64)| {
            let seen = seen.clone();
            Work::cpu(move || {
                seen.lock().expect("lock").push(a + b);
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();

    let status = wait_for_status(&queue, "20 completed", |s| s.count("completed") == 20).await;
    assert_eq!(status.count("pending") + status.count("running"), 0);
    let add = wait_for("every result written", || {
        let add = running.metrics().kinds["add"];
        async move { (add.completed == 20).then_some(add) }
    })
    .await;
    assert_eq!((add.claimed, add.running), (20, 0));
    assert!(
        add.high_water >= 1 && add.p99_us >= add.mean_us / 2,
        "{add:?}"
    );
    let report = running.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);

    let mut sums = sums.lock().expect("lock").clone();
    sums.sort_unstable();
    assert_eq!(sums, (1..=20u64).map(|n| n * 11).collect::<Vec<_>>());
    let first = ids[0].expect("an id");
    let history = queue.history(first).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("completed", 1));
}

#[tokio::test]
async fn unregistered_kinds_are_never_claimed() {
    let queue = queue().await;
    queue
        .enqueue(NewTask::new("nobody-runs-this", &0).expect("task"))
        .await
        .expect("enqueue");
    queue
        .enqueue(NewTask::new("noop", &0).expect("task"))
        .await
        .expect("enqueue");
    let running = worker(&queue)
        .handler(handler("noop", |_task, _: u32| Work::io(async { Ok(()) })))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "the noop completed", |s| s.count("completed") == 1).await;
    let metrics = running.metrics();
    running.shutdown(Duration::from_secs(5)).await;
    let status = queue.status().await.expect("status");
    assert_eq!(status.depth["pending"]["nobody-runs-this"], 1);
    assert!(!metrics.kinds.contains_key("nobody-runs-this"));
}

#[tokio::test]
async fn a_payload_that_does_not_deserialize_is_dead_at_once() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::new("count", &"not a number").expect("task"))
        .await
        .expect("enqueue")
        .expect("an id");
    let running = worker(&queue)
        .handler(handler("count", |_task, _: u32| Work::io(async { Ok(()) })))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "one dead task", |s| s.dead == 1).await;
    running.shutdown(Duration::from_secs(5)).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("dead", 1));
    assert!(
        history.errors[0].error.contains("does not deserialize"),
        "{history:?}"
    );
}

#[tokio::test]
async fn failures_are_retried_until_attempts_run_out_then_requeued() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::new("flaky", &()).expect("task").max_attempts(3))
        .await
        .expect("enqueue")
        .expect("an id");
    let healed = Arc::new(Mutex::new(false));
    let healed_in = healed.clone();
    let running = worker(&queue)
        .handler(handler("flaky", move |task, (): ()| {
            let healed = *healed_in.lock().expect("lock");
            Work::io(async move {
                if healed {
                    Ok(())
                } else {
                    Err(HandlerError::retry(format!(
                        "down at attempt {}",
                        task.attempt
                    )))
                }
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "the flaky task dead", |s| s.dead == 1).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("dead", 3));
    let attempts: Vec<i32> = history.errors.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(history.errors[2].error, "down at attempt 3");

    *healed.lock().expect("lock") = true;
    let again = queue
        .requeue_dead(id)
        .await
        .expect("requeue")
        .expect("was dead");
    wait_for_status(&queue, "the re-queued task completed", |s| {
        s.count("completed") == 1
    })
    .await;
    let metrics = running.shutdown(Duration::from_secs(5)).await;
    assert!(metrics.drained);
    let history = queue.history(again).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("completed", 1));
    assert_eq!(history.errors.len(), 3, "past errors are kept");
}

#[tokio::test]
async fn an_unreachable_database_names_the_url_without_its_password() {
    let error = Queue::connect("postgresql://app:hunter2@127.0.0.1:1/jobs")
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("postgresql://app:***@127.0.0.1:1/jobs"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn status_shows_depth_by_state_and_kind_and_the_workers_alive() {
    let queue = queue().await;
    let mail = queue.named("mail");
    let tasks = vec![
        NewTask::new("send", &1).expect("task"),
        NewTask::new("send", &2).expect("task"),
        NewTask::new("bounce", &3).expect("task"),
        NewTask::new("send", &4)
            .expect("task")
            .delay(Duration::from_secs(3600)),
    ];
    mail.enqueue_many(tasks).await.expect("enqueue");
    queue
        .enqueue(NewTask::new("send", &5).expect("task"))
        .await
        .expect("enqueue on another queue");

    let status = mail.status().await.expect("status");
    assert_eq!(status.depth["pending"]["send"], 3);
    assert_eq!(status.depth["pending"]["bounce"], 1);
    assert_eq!(status.count("pending"), 4, "other queues are not counted");
    assert!(status.oldest_pending.is_some());
    assert_eq!(status.workers_alive, 0);

    let running = worker(&mail)
        .handler(handler("bounce", |_task, _: u32| {
            Work::io(async { Ok(()) })
        }))
        .build()
        .expect("worker")
        .start();
    let status = wait_for_status(&mail, "the bounce completed", |s| {
        s.count("completed") == 1 && s.workers_alive == 1
    })
    .await;
    assert_eq!(status.depth["completed"]["bounce"], 1);
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(queue.status().await.expect("status").count("pending"), 1);
}

#[tokio::test]
async fn a_task_s_timeout_is_kept_by_the_manager_and_the_attempt_retried() {
    let queue = queue().await;
    let id = queue
        .enqueue(
            NewTask::new("hang-once", &())
                .expect("task")
                .timeout(Duration::from_millis(50)),
        )
        .await
        .expect("enqueue")
        .expect("an id");
    let running = worker(&queue)
        .handler(handler("hang-once", |task, (): ()| {
            Work::io(async move {
                if task.attempt == 1 {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "completed on the second attempt", |s| {
        s.count("completed") == 1
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!(history.attempt, 2);
    assert_eq!(history.errors[0].error, "timed out after 50ms");
}
