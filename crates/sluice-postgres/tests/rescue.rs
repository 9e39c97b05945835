//! Lost leases: a late result is refused after the lease was lost, and expired
//! leases are rescued even while the maintenance leader is stuck.

mod common;

use common::{handler, queue, sql, wait_for, wait_for_status, worker};
use sluice_postgres::{NewTask, Work};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_complete_the_task() {
    let queue = queue().await;
    let id = queue
        .enqueue(NewTask::new("slow", &()).expect("task"))
        .await
        .expect("enqueue")
        .expect("an id");
    // Each attempt waits for its own gate; the test opens them.
    let gates: Arc<[Semaphore; 2]> = Arc::new([Semaphore::new(0), Semaphore::new(0)]);
    let started = Arc::new(Semaphore::new(0));
    let (gates_in, started_in) = (gates.clone(), started.clone());
    let running = worker(&queue)
        .lease(Duration::from_secs(30))
        .heartbeat(Duration::from_secs(20))
        .handler(handler("slow", move |task, (): ()| {
            let (gates, started) = (gates_in.clone(), started_in.clone());
            Work::io(async move {
                started.add_permits(1);
                let gate = usize::try_from(task.attempt - 1).unwrap_or(0).min(1);
                let _ = gates[gate].acquire().await;
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    started
        .acquire()
        .await
        .expect("the first attempt starts")
        .forget();

    // The lease runs out (as if the worker had been stopped past it): the maintenance
    // leader hands the task to a new attempt.
    sql(
        &queue,
        "UPDATE sluice_task SET lease_until = now() - interval '1 second'",
    )
    .await;
    started
        .acquire()
        .await
        .expect("the second attempt starts")
        .forget();

    // The first attempt ends now, while the second runs: its result is refused.
    gates[0].add_permits(1);
    wait_for("the late result refused", || {
        let refused = running.metrics().total().refused;
        async move { (refused == 1).then_some(()) }
    })
    .await;
    let status = queue.status().await.expect("status");
    assert_eq!(
        status.count("running"),
        1,
        "the second attempt still holds the task"
    );

    gates[1].add_permits(1);
    wait_for_status(&queue, "the second attempt completed", |s| {
        s.count("completed") == 1
    })
    .await;
    assert_eq!(running.metrics().total().completed, 1);
    running.shutdown(Duration::from_secs(5)).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("completed", 2));
    assert_eq!(history.errors.len(), 1);
    assert_eq!(history.errors[0].error, "lease expired");
}

#[tokio::test]
async fn expired_leases_are_rescued_while_the_leader_is_stuck() {
    let queue = queue().await;
    // The test holds the maintenance leader's lock ("sluicemt"), as a leader stopped
    // with SIGSTOP would: no worker can lead.
    let (leader, connection) = tokio_postgres::connect(queue.url(), tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    leader
        .execute("SELECT pg_advisory_lock(8317151707346070900)", &[])
        .await
        .expect("the leader's lock");

    let id = queue
        .enqueue(NewTask::new("once-stuck", &()).expect("task"))
        .await
        .expect("enqueue")
        .expect("an id");
    let started = Arc::new(Semaphore::new(0));
    let started_in = started.clone();
    let running = worker(&queue)
        .lease(Duration::from_secs(30))
        .heartbeat(Duration::from_secs(20))
        .handler(handler("once-stuck", move |task, (): ()| {
            let started = started_in.clone();
            Work::io(async move {
                started.add_permits(1);
                if task.attempt == 1 {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
        }))
        .build()
        .expect("worker")
        .start();
    started.acquire().await.expect("it starts").forget();
    sql(
        &queue,
        "UPDATE sluice_task SET lease_until = now() - interval '1 second'",
    )
    .await;
    wait_for_status(&queue, "the rescued task completed", |s| {
        s.count("completed") == 1
    })
    .await;
    running.shutdown(Duration::from_millis(100)).await;
    let history = queue.history(id).await.expect("history").expect("kept");
    assert_eq!((history.state.as_str(), history.attempt), ("completed", 2));
    drop(leader);
}
