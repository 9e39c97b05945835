//! Publishing through the `metrics` facade (feature `metrics`): a worker's counts by
//! kind and a queue's status, as counters and gauges of whatever recorder the program
//! installed (Prometheus, StatsD, OpenTelemetry). Pull-style: call before each scrape.
//!
//! Names, all prefixed `sluice_queue_`; labels in braces:
//! - from [`WorkerHandle::publish_metrics`]: counters `claimed_total{kind}` and
//!   `tasks_total{kind,outcome}` (outcome `completed`, `retried`, `dead`, `snoozed`,
//!   `cancelled`, `handed_back`, `refused`); gauges `running{kind}`,
//!   `high_water{kind}`, `run_time_seconds{kind,stat}` (stat `mean`, `p99`);
//! - from [`Status::publish_metrics`]: gauges `depth{queue,state,kind}`,
//!   `oldest_pending_seconds{queue}`, `dead{queue}`, `workers_alive{queue}`.

use crate::status::Status;
use crate::worker::WorkerHandle;
use metrics::{counter, gauge};

impl WorkerHandle {
    /// Publishes this worker's [`metrics`](Self::metrics) through the `metrics`
    /// facade (names in the `export` module docs). Counters are set to the worker's
    /// totals: with several workers in one process, give each its own recorder or
    /// publish one at a time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(worker: &sluice_postgres::WorkerHandle) {
    /// worker.publish_metrics(); // to the recorder the program installed, if any
    /// # }
    /// ```
    pub fn publish_metrics(&self) {
        for (kind, counts) in &self.metrics().kinds {
            let kind = kind.clone();
            counter!("sluice_queue_claimed_total", "kind" => kind.clone()).absolute(counts.claimed);
            let outcomes = [
                ("completed", counts.completed),
                ("retried", counts.retried),
                ("dead", counts.dead),
                ("snoozed", counts.snoozed),
                ("cancelled", counts.cancelled),
                ("handed_back", counts.handed_back),
                ("refused", counts.refused),
            ];
            for (outcome, n) in outcomes {
                counter!("sluice_queue_tasks_total", "kind" => kind.clone(), "outcome" => outcome)
                    .absolute(n);
            }
            gauge!("sluice_queue_running", "kind" => kind.clone()).set(counts.running as f64);
            gauge!("sluice_queue_high_water", "kind" => kind.clone()).set(counts.high_water as f64);
            for (stat, us) in [("mean", counts.mean_us), ("p99", counts.p99_us)] {
                gauge!("sluice_queue_run_time_seconds", "kind" => kind.clone(), "stat" => stat)
                    .set(us as f64 / 1e6);
            }
        }
    }
}

impl Status {
    /// Publishes this status of queue `queue` through the `metrics` facade (names in
    /// the `export` module docs).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// queue.status().await?.publish_metrics(queue.name());
    /// # Ok(())
    /// # }
    /// ```
    pub fn publish_metrics(&self, queue: &str) {
        let queue = queue.to_owned();
        for (state, kinds) in &self.depth {
            for (kind, n) in kinds {
                gauge!("sluice_queue_depth", "queue" => queue.clone(), "state" => state.clone(), "kind" => kind.clone())
                    .set(*n as f64);
            }
        }
        let oldest = self.oldest_pending.map_or(0.0, |age| age.as_secs_f64());
        gauge!("sluice_queue_oldest_pending_seconds", "queue" => queue.clone()).set(oldest);
        gauge!("sluice_queue_dead", "queue" => queue.clone()).set(self.dead as f64);
        gauge!("sluice_queue_workers_alive", "queue" => queue).set(self.workers_alive as f64);
    }
}
