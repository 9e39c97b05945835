//! Per-key metrics: exact counts for tracked keys, and a bounded table whose tracked
//! keys and "others" add up to the kind's counts.

mod common;

use common::{handler, queue, wait_for, worker};
use sluice_postgres::{HandlerError, NewTask, Work};
use std::time::Duration;

#[tokio::test]
async fn each_key_counts_its_own_outcomes() {
    let queue = queue().await;
    let mut tasks = Vec::new();
    for n in 0..3 {
        tasks.push(
            NewTask::new("work", &"ok")
                .expect("task")
                .key("steady")
                .max_attempts(3),
        );
        tasks.push(NewTask::new("work", &format!("unkeyed {n}")).expect("task"));
    }
    tasks.push(
        NewTask::new("work", &"flaky")
            .expect("task")
            .key("shaky")
            .max_attempts(3),
    );
    tasks.push(NewTask::new("work", &"broken").expect("task").key("shaky"));
    queue.enqueue_many(tasks).await.expect("enqueue");
    let running = worker(&queue)
        .handler(handler("work", |task, what: String| {
            Work::io(async move {
                match what.as_str() {
                    "flaky" if task.attempt == 1 => Err(HandlerError::retry("first try")),
                    "broken" => Err(HandlerError::permanent("never works")),
                    _ => Ok(()),
                }
            })
        }))
        .build()
        .expect("worker")
        .start();
    let metrics = wait_for("every task settled", || {
        let metrics = running.metrics();
        let kind = metrics.kinds.get("work").copied().unwrap_or_default();
        async move { (kind.completed + kind.dead == 8).then_some(metrics) }
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;

    let keys = &metrics.keys["work"];
    assert_eq!(keys.len(), 2, "{keys:?}");
    let steady = keys["steady"];
    assert_eq!(
        (steady.claimed, steady.completed, steady.retried),
        (3, 3, 0)
    );
    let shaky = keys["shaky"];
    assert_eq!(
        (
            shaky.claimed,
            shaky.completed,
            shaky.retried,
            shaky.dead,
            shaky.running
        ),
        (3, 1, 1, 1, 0)
    );
    assert_eq!(shaky.high_water, 1, "one task of a key runs at a time");
    assert!(!metrics.other_keys.contains_key("work"), "{metrics:?}");
    assert_eq!(
        metrics.kinds["work"].claimed, 9,
        "unkeyed tasks count per kind only"
    );
}

#[tokio::test]
async fn the_table_is_bounded_and_the_others_add_up() {
    let queue = queue().await;
    let tasks = (0..40)
        .map(|n| Ok(NewTask::new("tick", &n)?.key(format!("key-{}", n % 10))))
        .collect::<Result<Vec<_>, sluice_postgres::Error>>()
        .expect("tasks");
    queue.enqueue_many(tasks).await.expect("enqueue");
    let running = worker(&queue)
        .key_metrics(3)
        .handler(handler("tick", |_task, _: u32| Work::io(async { Ok(()) })))
        .build()
        .expect("worker")
        .start();
    let metrics = wait_for("40 completed", || {
        let metrics = running.metrics();
        let done = metrics.kinds.get("tick").is_some_and(|k| k.completed == 40);
        async move { done.then_some(metrics) }
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;

    let keys = &metrics.keys["tick"];
    let others = metrics.other_keys["tick"];
    assert!(keys.len() <= 3, "{keys:?}");
    let claimed: u64 = keys.values().map(|k| k.claimed).sum::<u64>() + others.claimed;
    let completed: u64 = keys.values().map(|k| k.completed).sum::<u64>() + others.completed;
    assert_eq!((claimed, completed), (40, 40));
    assert!(others.claimed > 0 && others.running == 0, "{others:?}");
    assert!(keys.values().all(|k| k.running == 0));
}

#[test]
fn too_many_tracked_keys_is_refused_by_name() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let queue = runtime.block_on(queue());
    let error = worker(&queue)
        .key_metrics(1_000_000)
        .handler(handler("tick", |_task, _: u32| Work::io(async { Ok(()) })))
        .build()
        .expect_err("refused");
    assert!(error.to_string().contains("key_metrics"), "{error}");
}
