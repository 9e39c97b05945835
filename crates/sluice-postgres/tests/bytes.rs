//! Raw-bytes payloads: stored as `bytea`, handed to a `Bytes` handler intact, kept in
//! order with JSON tasks of the same key, and refused clearly by a JSON handler.

mod common;

use common::{handler, queue, wait_for_status, worker};
use serde::Deserialize;
use sluice_postgres::{Bytes, NewTask, Work};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn bytes_payloads_reach_their_handler_intact_and_in_key_order() {
    let queue = queue().await;
    // Not UTF-8, a NUL, an empty payload, and one larger than a page.
    let payloads: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, 0x80],
        vec![0],
        vec![],
        (0..20_000u32).map(|n| (n % 251) as u8).collect(),
    ];
    let tasks = payloads
        .iter()
        .map(|bytes| NewTask::bytes("blob", bytes.clone()).key("album"))
        .collect();
    queue.enqueue_many(tasks).await.expect("enqueue");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let running = worker(&queue)
        .batch_size(4)
        .handler(handler("blob", move |_task, bytes: Bytes| {
            let record = record.clone();
            Work::cpu(move || {
                record.lock().expect("lock").push(bytes.0);
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "4 completed", |s| s.count("completed") == 4).await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(*seen.lock().expect("lock"), payloads);
}

#[derive(Debug, Deserialize)]
struct Resize {
    width: u32,
}

#[tokio::test]
async fn a_bytes_payload_for_a_json_handler_is_dead_at_once_with_the_reason() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::bytes("resize", b"{\"width\": 640}".to_vec()))
        .await
        .expect("enqueue")
        .expect("an id");
    let json = queue
        .enqueue(NewTask::new("resize", &serde_json::json!({"width": 320})).expect("task"))
        .await
        .expect("enqueue")
        .expect("an id");
    let widths = Arc::new(Mutex::new(Vec::new()));
    let record = widths.clone();
    let running = worker(&queue)
        .handler(handler("resize", move |_task, job: Resize| {
            record.lock().expect("lock").push(job.width);
            Work::io(async { Ok(()) })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "one dead, one completed", |s| {
        s.count("dead") == 1 && s.count("completed") == 1
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(*widths.lock().expect("lock"), vec![320]);

    let dead = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((dead.state.as_str(), dead.attempt), ("dead", 1));
    let reason = &dead.errors.last().expect("an error").error;
    assert!(reason.contains("bytes payload"), "{reason}");
    let done = queue.history(json).await.expect("history").expect("kept");
    assert_eq!(done.state, "completed");
}

#[tokio::test]
async fn a_requeued_dead_bytes_task_keeps_its_bytes() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::bytes("pack", vec![1, 2, 3]).max_attempts(1))
        .await
        .expect("enqueue")
        .expect("an id");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let running = worker(&queue)
        .handler(handler("pack", move |_task, bytes: Bytes| {
            let mut seen = record.lock().expect("lock");
            seen.push(bytes.0);
            let first = seen.len() == 1;
            Work::io(async move {
                if first {
                    Err(sluice_postgres::HandlerError::permanent("first run fails"))
                } else {
                    Ok(())
                }
            })
        }))
        .build()
        .expect("worker")
        .start();
    wait_for_status(&queue, "dead", |s| s.count("dead") == 1).await;
    queue
        .requeue_dead(id)
        .await
        .expect("requeue")
        .expect("re-queued");
    wait_for_status(&queue, "completed", |s| s.count("completed") == 1).await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(*seen.lock().expect("lock"), vec![vec![1, 2, 3]; 2]);
}
