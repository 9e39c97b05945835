//! A worker's metrics and a queue's status as Prometheus text (feature `metrics`).

mod common;

use common::{handler, queue, wait_for, wait_for_status, worker};
use metrics_exporter_prometheus::PrometheusBuilder;
use sluice_postgres::{HandlerError, NewTask, Work};
use std::time::Duration;

#[tokio::test]
async fn worker_metrics_and_status_are_published() {
    let queue = queue().await;
    queue
        .enqueue_many(vec![
            NewTask::new("ok", &()).expect("task").key("tenant-1"),
            NewTask::new("ok", &()).expect("task"),
            NewTask::new("bad", &()).expect("task"),
            NewTask::new("unclaimed", &()).expect("task"),
        ])
        .await
        .expect("enqueue");
    let running = worker(&queue)
        .handler(handler("ok", |_task, (): ()| Work::io(async { Ok(()) })))
        .handler(handler("bad", |_task, (): ()| {
            Work::io(async { Err(HandlerError::permanent("no")) })
        }))
        .build()
        .expect("worker")
        .start();
    let status = wait_for_status(&queue, "two completed, one dead", |s| {
        s.count("completed") == 2 && s.dead == 1
    })
    .await;
    wait_for("the results counted", || {
        let total = running.metrics().total();
        async move { (total.completed == 2 && total.dead == 1).then_some(()) }
    })
    .await;

    let recorder = PrometheusBuilder::new().build_recorder();
    let scrape = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        running.publish_metrics();
        status.publish_metrics(queue.name());
    });
    running.shutdown(Duration::from_secs(5)).await;
    let text = scrape.render();
    for line in [
        r#"sluice_queue_tasks_total{kind="ok",outcome="completed"} 2"#,
        r#"sluice_queue_tasks_total{kind="bad",outcome="dead"} 1"#,
        r#"sluice_queue_claimed_total{kind="ok"} 2"#,
        r#"sluice_queue_key_tasks_total{kind="ok",key="tenant-1",outcome="completed"} 1"#,
        r#"sluice_queue_key_claimed_total{kind="ok",key="tenant-1"} 1"#,
        r#"sluice_queue_key_running{kind="ok",key="tenant-1"} 0"#,
        r#"sluice_queue_depth{queue="default",state="pending",kind="unclaimed"} 1"#,
        r#"sluice_queue_dead{queue="default"} 1"#,
        r#"sluice_queue_workers_alive{queue="default"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}
