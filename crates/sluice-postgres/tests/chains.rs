//! Each key's chain of live tasks and its head row: cancels in the middle or at the
//! end of a chain, unique keys skipped inside a keyed batch, and a database of schema
//! version 2 migrating its live chains. Each ends with every task run in key order and
//! no chain row left behind.

mod common;

use common::{handler, queue, sql, wait_for_status, worker};
use sluice_postgres::testing::TestServer;
use sluice_postgres::{Cancelled, NewTask, Queue, Work, WorkerHandle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What each key's handler saw, in order.
type Seen = Arc<Mutex<HashMap<String, Vec<u32>>>>;

/// A worker recording each `step` task's number under its key.
fn recording_worker(queue: &Queue, seen: &Seen) -> WorkerHandle {
    let seen = seen.clone();
    worker(queue)
        .handler(handler("step", move |task, n: u32| {
            let seen = seen.clone();
            Work::io(async move {
                let key = task.key.unwrap_or_default();
                seen.lock().expect("lock").entry(key).or_default().push(n);
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start()
}

/// Task `n` of key `key`.
fn step(key: &str, n: u32) -> NewTask {
    NewTask::new("step", &n).expect("task").key(key)
}

#[tokio::test]
async fn cancelling_in_the_middle_and_at_the_end_keeps_the_rest_of_the_key_in_order() {
    let queue = queue().await;
    // The head waits an hour and holds its key while the others are cancelled.
    let mut tasks = vec![step("k", 0).delay(Duration::from_secs(3600))];
    tasks.extend((1..=5).map(|n| step("k", n)));
    let ids = queue.enqueue_many(tasks).await.expect("enqueue");
    for cancelled in [2, 5] {
        let id = ids[cancelled].expect("an id");
        assert_eq!(queue.cancel(id).await.expect("cancel"), Cancelled::Dequeued);
    }
    // Appended after the new tail (4), not after the cancelled one.
    queue
        .enqueue_many(vec![step("k", 6), step("k", 7)])
        .await
        .expect("enqueue");
    let head = ids[0].expect("an id");
    assert_eq!(
        queue.cancel(head).await.expect("cancel"),
        Cancelled::Dequeued
    );

    let seen = Seen::default();
    let running = recording_worker(&queue, &seen);
    wait_for_status(&queue, "the rest of the key", |s| s.count("completed") == 5).await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(seen.lock().expect("lock")["k"], [1, 3, 4, 6, 7]);
    assert_eq!(sql(&queue, "SELECT 1 FROM sluice_chain").await, 0);
}

#[tokio::test]
async fn unique_keys_skipped_inside_a_keyed_batch_leave_its_chain_whole() {
    let queue = queue().await;
    let ids = queue
        .enqueue_many(vec![
            step("k", 0).unique_key("a"),
            step("k", 1),
            // The same unique key again in the batch: skipped, between two kept tasks.
            step("k", 2).unique_key("a"),
            step("k", 3),
        ])
        .await
        .expect("enqueue");
    assert_eq!(
        ids.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    // Skipped as the first and only task of its key in this batch, then a kept one.
    let ids = queue
        .enqueue_many(vec![
            step("k", 4).unique_key("a"),
            step("j", 0).unique_key("a"),
            step("k", 5),
        ])
        .await
        .expect("enqueue");
    assert_eq!(
        ids.iter().map(Option::is_some).collect::<Vec<_>>(),
        [false, false, true]
    );

    let seen = Seen::default();
    let running = recording_worker(&queue, &seen);
    wait_for_status(&queue, "every kept task", |s| s.count("completed") == 4).await;
    running.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen["k"], [0, 1, 3, 5]);
    assert!(!seen.contains_key("j"));
    assert_eq!(sql(&queue, "SELECT 1 FROM sluice_chain").await, 0);
}

#[tokio::test]
async fn a_version_2_database_migrates_its_live_chains() {
    let server = TestServer::shared().expect("a throwaway PostgreSQL server");
    let url = server.fresh_database().await.expect("a fresh database");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    // The schema and live tasks as version 2 left them: the oldest task of each key is
    // its head; one head is running (its worker will lose the lease and it is rescued).
    client
        .batch_execute(concat!(
            include_str!("../migrations/0001_init.sql"),
            include_str!("../migrations/0002_bytes_payload.sql"),
            "CREATE TABLE sluice_migrations (
                 version integer PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO sluice_migrations (version, name)
                 VALUES (1, '0001_init.sql'), (2, '0002_bytes_payload.sql');
             INSERT INTO sluice_task (queue, kind, key, fifo_key, payload, is_head)
             SELECT 'default', 'step', k, k, to_jsonb(n), n = 0
             FROM unnest(ARRAY['k', 'j']) AS k, generate_series(0, 4) AS n
             ORDER BY n, k;
             INSERT INTO sluice_task (queue, kind, key, payload) VALUES
                 ('default', 'step', 'free', '9');
             UPDATE sluice_task SET state = 'running', attempt = 1, lease_owner = 'gone',
                    lease_until = now() - interval '1 minute'
             WHERE key = 'j' AND is_head;",
        ))
        .await
        .expect("a version 2 database");

    let queue = Queue::connect_with(&url, 8).await.expect("migrated");
    let seen = Seen::default();
    let running = recording_worker(&queue, &seen);
    wait_for_status(&queue, "every task", |s| s.count("completed") == 11).await;
    running.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen["k"], [0, 1, 2, 3, 4]);
    assert_eq!(seen["j"], [0, 1, 2, 3, 4]);
    assert_eq!(seen["free"], [9]);
    assert_eq!(sql(&queue, "SELECT 1 FROM sluice_chain").await, 0);
}

#[tokio::test]
async fn a_head_that_waited_for_its_chain_sees_the_task_appended_meanwhile() {
    let queue = queue().await;
    queue.enqueue(step("k", 0)).await.expect("enqueue");
    let (started, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (tell, wait) = (started.clone(), gate.clone());
    let running = worker(&queue)
        .handler(handler("step", move |_task, n: u32| {
            let (tell, wait) = (tell.clone(), wait.clone());
            Work::io(async move {
                if n == 0 {
                    tell.notify_one();
                    wait.notified().await;
                }
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    started.notified().await;

    // An enqueue into the key, left open: it holds the key's chain while the head ends.
    let (mut client, connection) = tokio_postgres::connect(queue.url(), tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    let tx = client.transaction().await.expect("a transaction");
    queue
        .enqueue_many_in(&tx, vec![step("k", 1)])
        .await
        .expect("enqueue");
    gate.notify_one();
    common::wait_for("the head's result waiting for its chain", || async {
        let waiting = "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
        (sql(&queue, waiting).await > 0).then_some(())
    })
    .await;
    tx.commit().await.expect("commit");

    wait_for_status(&queue, "the appended task", |s| s.count("completed") == 2).await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(sql(&queue, "SELECT 1 FROM sluice_chain").await, 0);
}

#[tokio::test]
async fn keys_appended_while_their_heads_finish_all_run_in_order() {
    let queue = queue().await;
    let seen = Seen::default();
    // Two workers finish heads while the producer appends to the same keys: a leaving
    // head must see a successor appended while it waited for its chain.
    let workers = [
        recording_worker(&queue, &seen),
        recording_worker(&queue, &seen),
    ];
    for round in 0..400u32 {
        let tasks = (0..4).map(|n| step(&format!("k{}", n % 2), round * 2 + n / 2));
        queue.enqueue_many(tasks.collect()).await.expect("enqueue");
    }
    wait_for_status(&queue, "every task", |s| s.count("completed") == 1600).await;
    for running in workers {
        running.shutdown(Duration::from_secs(5)).await;
    }
    let expected: Vec<u32> = (0..800).collect();
    for (key, order) in seen.lock().expect("lock").iter() {
        assert_eq!(order, &expected, "key {key}");
    }
    assert_eq!(sql(&queue, "SELECT 1 FROM sluice_chain").await, 0);
}
