//! Several workers on one queue: never two owners of a task, and per-key order that
//! holds across workers and across retries.

mod common;

use common::{handler, queue, wait_for_status, worker};
use sluice_postgres::{Fifo, HandlerError, NewTask, Work, WorkerHandle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn many_workers_never_run_a_task_twice() {
    let queue = queue().await;
    let tasks = (0..600u32)
        .map(|n| NewTask::new("touch", &n))
        .collect::<Result<Vec<_>, _>>()
        .expect("payloads");
    queue.enqueue_many(tasks).await.expect("enqueue");

    let runs: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let workers: Vec<WorkerHandle> = (0..4)
        .map(|_| {
            let runs = runs.clone();
            worker(&queue)
                .batch_size(25)
                .handler(handler("touch", move |_task, n: u32| {
                    let runs = runs.clone();
                    Work::io(async move {
                        *runs.lock().expect("lock").entry(n).or_default() += 1;
                        Ok(())
                    })
                }))
                .build()
                .expect("worker")
                .start()
        })
        .collect();

    wait_for_status(&queue, "600 completed", |s| s.count("completed") == 600).await;
    let mut claimed = 0;
    for running in workers {
        let counts = running.metrics().total();
        claimed += counts.claimed;
        assert_eq!(counts.refused, 0);
        running.shutdown(Duration::from_secs(5)).await;
    }
    let runs = runs.lock().expect("lock");
    assert_eq!(runs.len(), 600);
    assert!(runs.values().all(|&n| n == 1), "a task ran twice");
    assert_eq!(claimed, 600);
}

/// What the key-order test's handler saw.
#[derive(Default)]
struct Seen {
    /// Tasks of each key running now.
    running: HashMap<String, u32>,
    /// Two tasks of one key ran at once.
    overlaps: u32,
    /// Each key's sequence numbers in the order their runs started (retries repeat).
    starts: HashMap<String, Vec<u32>>,
}

#[tokio::test]
async fn keys_run_in_order_across_workers_and_retries() {
    let queue = queue().await;
    const KEYS: u32 = 6;
    const PER_KEY: u32 = 25;
    let tasks = (0..PER_KEY)
        .flat_map(|seq| (0..KEYS).map(move |k| (format!("key-{k}"), seq)))
        .map(|(key, seq)| Ok(NewTask::new("step", &(key.clone(), seq))?.key(key)))
        .collect::<Result<Vec<_>, sluice_postgres::Error>>()
        .expect("payloads");
    // Enqueued in several batches, as producers would.
    for chunk in tasks.chunks(40) {
        queue.enqueue_many(chunk.to_vec()).await.expect("enqueue");
    }
    // Unkeyed and relaxed tasks go around the chains.
    let loose = (0..20u32).map(|n| {
        NewTask::new("step", &(format!("loose-{n}"), 0u32))
            .expect("task")
            .key("key-0")
            .fifo(Fifo::Relaxed)
    });
    queue.enqueue_many(loose.collect()).await.expect("enqueue");

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let workers: Vec<WorkerHandle> = (0..4)
        .map(|_| {
            let seen = seen.clone();
            worker(&queue)
                .batch_size(5)
                .handler(handler("step", move |task, (key, seq): (String, u32)| {
                    let seen = seen.clone();
                    Work::io(async move {
                        let ordered = key.starts_with("key-");
                        if ordered {
                            let mut s = seen.lock().expect("lock");
                            let now = s.running.entry(key.clone()).or_default();
                            *now += 1;
                            if *now > 1 {
                                s.overlaps += 1;
                            }
                            s.starts.entry(key.clone()).or_default().push(seq);
                        }
                        tokio::task::yield_now().await;
                        if ordered {
                            *seen.lock().expect("lock").running.entry(key).or_default() -= 1;
                        }
                        // Every seventh step fails twice before it passes.
                        if seq % 7 == 3 && task.attempt <= 2 {
                            return Err(HandlerError::retry("not yet"));
                        }
                        Ok(())
                    })
                }))
                .build()
                .expect("worker")
                .start()
        })
        .collect();

    let total = i64::from(KEYS * PER_KEY) + 20;
    wait_for_status(&queue, "every step completed", |s| {
        s.count("completed") == total
    })
    .await;
    let mut retried = 0;
    for running in workers {
        retried += running.metrics().total().retried;
        running.shutdown(Duration::from_secs(5)).await;
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.overlaps, 0, "two tasks of one key ran at once");
    let failing = (0..PER_KEY).filter(|seq| seq % 7 == 3).count() as u64;
    assert_eq!(retried, 2 * failing * u64::from(KEYS));
    for k in 0..KEYS {
        let starts = &seen.starts[&format!("key-{k}")];
        let expected: Vec<u32> = (0..PER_KEY)
            .flat_map(|seq| {
                if seq % 7 == 3 {
                    vec![seq; 3]
                } else {
                    vec![seq]
                }
            })
            .collect();
        assert_eq!(starts, &expected, "key-{k} ran out of order");
    }
}

#[tokio::test]
async fn strict_fifo_runs_one_task_of_the_queue_at_a_time_in_order() {
    let queue = queue().await;
    let tasks = (0..30u32)
        .map(|n| {
            Ok(NewTask::new("line", &n)?
                .fifo(Fifo::Strict)
                .priority((n % 3) as i16))
        })
        .collect::<Result<Vec<_>, sluice_postgres::Error>>()
        .expect("payloads");
    queue.enqueue_many(tasks).await.expect("enqueue");
    let order: Arc<Mutex<Vec<u32>>> = Arc::default();
    let workers: Vec<WorkerHandle> = (0..2)
        .map(|_| {
            let order = order.clone();
            worker(&queue)
                .handler(handler("line", move |_task, n: u32| {
                    let order = order.clone();
                    Work::io(async move {
                        order.lock().expect("lock").push(n);
                        Ok(())
                    })
                }))
                .build()
                .expect("worker")
                .start()
        })
        .collect();
    wait_for_status(&queue, "30 completed", |s| s.count("completed") == 30).await;
    for running in workers {
        running.shutdown(Duration::from_secs(5)).await;
    }
    // Priorities do not reorder a strict chain: enqueue order wins.
    assert_eq!(*order.lock().expect("lock"), (0..30).collect::<Vec<_>>());
}

#[tokio::test]
async fn cancelling_a_waiting_head_lets_its_key_go_on() {
    let queue = queue().await;
    let ids = queue
        .enqueue_many(vec![
            // The head waits an hour (as a head in a long backoff would) and holds its key.
            NewTask::new("step", &0u32)
                .expect("task")
                .key("k")
                .delay(Duration::from_secs(3600)),
            NewTask::new("step", &1u32).expect("task").key("k"),
            NewTask::new("step", &2u32).expect("task").key("k"),
        ])
        .await
        .expect("enqueue");
    let order: Arc<Mutex<Vec<u32>>> = Arc::default();
    let seen = order.clone();
    let running = worker(&queue)
        .handler(handler("step", move |_task, n: u32| {
            let seen = seen.clone();
            Work::io(async move {
                seen.lock().expect("lock").push(n);
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    let head = ids[0].expect("an id");
    assert_eq!(
        queue.cancel(head).await.expect("cancel"),
        sluice_postgres::Cancelled::Dequeued
    );
    wait_for_status(&queue, "the rest of the key completed", |s| {
        s.count("completed") == 2
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(*order.lock().expect("lock"), [1, 2]);
}
