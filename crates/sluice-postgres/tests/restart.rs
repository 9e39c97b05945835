//! A server restarted at once (as after a crash) in the middle of a run: workers
//! reconnect with backoff and finish; no task is lost and none is completed twice.

mod common;

use common::{handler, wait_for_status};
use sluice_postgres::testing::{DATABASE_URL_VAR, TestServer};
use sluice_postgres::{NewTask, Queue, Work};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn workers_reconnect_after_an_immediate_restart_and_finish() {
    if std::env::var(DATABASE_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        // An existing server is not ours to crash.
        return;
    }
    // A server of its own, since this test restarts it; commits are flushed to the
    // operating system, so an immediate stop loses none.
    let server = TestServer::start().expect("a private server");
    let queue = Queue::connect(server.url()).await.expect("connect");
    common::sql(&queue, "ALTER SYSTEM SET synchronous_commit = on").await;
    common::sql(&queue, "SELECT pg_reload_conf()").await;

    let tasks = (0..400u32)
        .map(|n| NewTask::new("work", &n))
        .collect::<Result<Vec<_>, _>>()
        .expect("payloads");
    queue.enqueue_many(tasks).await.expect("enqueue");
    let runs: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let runs = runs.clone();
            common::worker(&queue)
                .batch_size(5)
                .lease(Duration::from_secs(3))
                .heartbeat(Duration::from_millis(500))
                .handler(handler("work", move |_task, n: u32| {
                    let runs = runs.clone();
                    Work::io(async move {
                        *runs.lock().expect("lock").entry(n).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        Ok(())
                    })
                }))
                .build()
                .expect("worker")
                .start()
        })
        .collect();

    wait_for_status(&queue, "some progress", |s| s.count("completed") >= 50).await;
    server.restart().expect("an immediate restart");
    let status = wait_for_status(&queue, "every task completed", |s| {
        s.count("completed") == 400
    })
    .await;
    assert_eq!(status.count("pending") + status.count("running"), 0);

    let mut accepted = 0;
    for running in workers {
        accepted += running.metrics().total().completed;
        running.shutdown(Duration::from_secs(5)).await;
    }
    // Each accepted completion is a different task (a write whose commit was lost in
    // the crash is written again; one whose answer was lost is refused on retry).
    assert!(
        accepted <= 400,
        "{accepted} completions accepted for 400 tasks"
    );
    let runs = runs.lock().expect("lock");
    assert_eq!(runs.len(), 400, "every task ran");
}
