//! A stress worker process: runs `stress` tasks until its stdin closes, logging each
//! run it starts (task, attempt, key, seq, worker) for the judge, then prints its
//! counts.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::Deserialize;
use sluice::ConcurrencyManager;
use sluice::retry::Backoff;
use sluice_postgres::{Handler, HandlerError, Queue, TaskInfo, Work, Worker};
use std::io::{Read, Write};
use std::str::FromStr;
use std::time::Duration;

/// A stress task's payload.
#[derive(Debug, Deserialize)]
pub struct Job {
    /// Its place in its key's order.
    pub seq: i32,
    /// `none`, `retry_once` (its first attempt fails) or `dead` (fails for good).
    pub fail: String,
}

/// Runs stress jobs, logging each run first.
struct Stress {
    /// The run log's connections.
    log: Pool,
    /// This worker's id, for the log.
    worker: String,
}

impl Handler for Stress {
    type Payload = Job;

    fn kind(&self) -> &str {
        "stress"
    }

    fn handle(&self, task: TaskInfo, job: Job) -> Work {
        let (log, worker) = (self.log.clone(), self.worker.clone());
        Work::io(async move {
            let client = log.get().await.map_err(HandlerError::retry)?;
            client
                .execute(
                    "INSERT INTO stress_run (task_id, attempt, key, seq, worker)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&task.id, &task.attempt, &task.key, &job.seq, &worker],
                )
                .await
                .map_err(HandlerError::retry)?;
            // A little work, so that batches are in flight when the faults come.
            tokio::time::sleep(Duration::from_millis(2)).await;
            match job.fail.as_str() {
                "retry_once" if task.attempt == 1 => Err(HandlerError::retry("planned failure")),
                "dead" => Err(HandlerError::permanent("planned death")),
                _ => Ok(()),
            }
        })
    }
}

/// The worker process's body: `sluice-pg-stress worker URL LEASE_MS`.
pub async fn run(url: &str, lease_ms: u64) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::connect_with(url, 8).await?;
    let config = tokio_postgres::Config::from_str(url)?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let log = Pool::builder(manager).max_size(8).build()?;
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .io_threads(2)
        .build()?;
    let lease = Duration::from_millis(lease_ms);
    let worker = Worker::builder(&queue, mgr)
        .handler(Stress {
            log,
            worker: format!("pid-{}", std::process::id()),
        })
        .batch_size(50)
        .max_in_flight(100)
        .lease(lease)
        .heartbeat(lease / 4)
        .poll_interval(Duration::from_millis(200))
        .maintenance_interval(Duration::from_millis(300))
        .backoff(
            Backoff::exponential(Duration::from_millis(10)).max_delay(Duration::from_millis(100)),
        )
        .build()?
        .start();
    // The coordinator closes our stdin to stop us.
    let (closed, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = closed.send(());
    });
    let _ = wait.await;
    let metrics = worker.metrics().total();
    let report = worker.shutdown(Duration::from_secs(10)).await;
    writeln!(
        std::io::stdout(),
        "report claimed={} completed={} retried={} dead={} refused={} handed_back={}",
        metrics.claimed,
        metrics.completed,
        metrics.retried,
        metrics.dead,
        metrics.refused,
        report.handed_back
    )?;
    Ok(())
}
