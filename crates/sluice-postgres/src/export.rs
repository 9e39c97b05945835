//! Publishing through the `metrics` facade (feature `metrics`): a worker's counts by
//! kind and a queue's status, as counters and gauges of whatever recorder the program
//! installed (Prometheus, StatsD, OpenTelemetry). Pull-style: call before each scrape.
//!
//! Names, all prefixed `sluice_queue_`; labels in braces:
//! - from [`WorkerHandle::publish_metrics`]: counters `claimed_total{kind}` and
//!   `tasks_total{kind,outcome}` (outcome `completed`, `retried`, `dead`, `snoozed`,
//!   `cancelled`, `handed_back`, `refused`); gauges `running{kind}`,
//!   `high_water{kind}`, `run_time_seconds{kind,stat}` (stat `mean`, `p99`); the
//!   same per tracked key with the prefix `sluice_queue_key_` and labels
//!   `{kind,key,..}` (`key_claimed_total{kind,key}`, `key_tasks_total{kind,key,outcome}`
//!   and so on), and for the keys not tracked, added up, with the prefix
//!   `sluice_queue_other_keys_` and labels `{kind,..}`. A key that leaves the tracked
//!   set keeps its last values; add up per kind, not per key;
//! - from [`Status::publish_metrics`]: gauges `depth{queue,state,kind}`,
//!   `oldest_pending_seconds{queue}`, `dead{queue}`, `workers_alive{queue}`.

use crate::status::Status;
use crate::worker::{KindMetrics, WorkerHandle};
use metrics::{counter, gauge};

impl WorkerHandle {
    /// Publishes this worker's [`metrics`](Self::metrics) through the `metrics`
    /// facade (names in the `export` module docs), per kind and per tracked key.
    /// Counters are set to the worker's totals: with several workers in one process,
    /// give each its own recorder or publish one at a time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(worker: &sluice_postgres::WorkerHandle) {
    /// worker.publish_metrics(); // to the recorder the program installed, if any
    /// # }
    /// ```
    pub fn publish_metrics(&self) {
        let metrics = self.metrics();
        for (kind, counts) in &metrics.kinds {
            publish("sluice_queue_", vec![("kind", kind.clone())], counts);
        }
        for (kind, keys) in &metrics.keys {
            for (key, counts) in keys {
                let labels = vec![("kind", kind.clone()), ("key", key.clone())];
                publish("sluice_queue_key_", labels, counts);
            }
        }
        for (kind, counts) in &metrics.other_keys {
            publish(
                "sluice_queue_other_keys_",
                vec![("kind", kind.clone())],
                counts,
            );
        }
    }
}

/// Publishes one entry's counts under names starting with `prefix`, with `labels`.
fn publish(prefix: &str, labels: Vec<(&'static str, String)>, counts: &KindMetrics) {
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = labels.clone();
        labels.push((extra.0, extra.1.to_owned()));
        labels
    };
    counter!(format!("{prefix}claimed_total"), &labels).absolute(counts.claimed);
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
        counter!(format!("{prefix}tasks_total"), &with(("outcome", outcome))).absolute(n);
    }
    gauge!(format!("{prefix}running"), &labels).set(counts.running as f64);
    gauge!(format!("{prefix}high_water"), &labels).set(counts.high_water as f64);
    for (stat, us) in [("mean", counts.mean_us), ("p99", counts.p99_us)] {
        gauge!(format!("{prefix}run_time_seconds"), &with(("stat", stat))).set(us as f64 / 1e6);
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
