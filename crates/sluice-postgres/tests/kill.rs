//! A worker process killed with SIGKILL in the middle of its batch: its tasks are
//! rescued once their leases expire and completed by another worker; none is lost.

mod common;

use common::{handler, queue, wait_for_status, worker};
use sluice_postgres::{NewTask, Queue, Work};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Names the database of the child worker process.
const CHILD_URL: &str = "SLUICE_PG_TEST_CHILD_URL";

#[tokio::test]
async fn a_killed_worker_s_tasks_are_rescued_and_completed_by_another() {
    let queue = queue().await;
    let tasks = (0..30u32)
        .map(|n| NewTask::new("job", &n))
        .collect::<Result<Vec<_>, _>>()
        .expect("payloads");
    let ids = queue.enqueue_many(tasks).await.expect("enqueue");

    // Another process claims a batch and hangs in it; then it is killed.
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "--ignored",
                "--exact",
                "child_worker_that_hangs",
                "--nocapture",
            ])
            .env(CHILD_URL, queue.url())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the child worker starts"),
    );
    wait_for_status(&queue, "the child holds a batch", |s| {
        s.count("running") == 10
    })
    .await;
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();

    let running = worker(&queue)
        .handler(handler("job", |_task, _: u32| Work::io(async { Ok(()) })))
        .build()
        .expect("worker")
        .start();
    let status = wait_for_status(&queue, "every task completed", |s| {
        s.count("completed") == 30
    })
    .await;
    running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(status.count("pending") + status.count("running"), 0);
    // The ten the killed worker held ran again, after their leases expired.
    let mut rescued = 0;
    for id in ids.into_iter().flatten() {
        let history = queue.history(id).await.expect("history").expect("kept");
        assert_eq!(history.state, "completed");
        if history.attempt >= 2 {
            assert!(
                history.errors.iter().all(|e| e.error == "lease expired"),
                "{history:?}"
            );
            rescued += 1;
        }
    }
    assert_eq!(rescued, 10);
}

/// Not a test of its own: the worker process that the test above kills. It claims
/// one batch of 10 with a 2 s lease and hangs in every task.
#[tokio::test]
#[ignore = "run by a_killed_worker_s_tasks_are_rescued_and_completed_by_another"]
async fn child_worker_that_hangs() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let queue = Queue::connect_with(&url, 4).await.expect("connect");
    let _running = worker(&queue)
        .batch_size(10)
        .max_in_flight(10)
        .lease(Duration::from_secs(2))
        .heartbeat(Duration::from_millis(200))
        .handler(handler("job", |_task, _: u32| {
            Work::io(std::future::pending())
        }))
        .build()
        .expect("worker")
        .start();
    // Killed long before; the bound only matters if the test that kills it failed.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// The child process, killed when the test ends however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
