//! Publishing through the `metrics` facade (feature `metrics`): every figure of a
//! [`Snapshot`] as counters and gauges of whatever recorder the program installed —
//! Prometheus, StatsD, OpenTelemetry. Pull-style: call
//! [`ConcurrencyManager::publish_metrics`] before each scrape (or on a timer).
//!
//! Names, all prefixed `sluice_`; labels in braces:
//! - counters `tasks_total{route,outcome}`, `tasks_submitted_total{route}`,
//!   `retries_total{route}`, `abandoned_total{route}`,
//!   `breaker_transitions_total{breaker}`, `breaker_rejections_total{breaker}`;
//! - gauges `key_tasks{route,key,outcome}` (`key="other"` for untracked keys; a
//!   gauge, since an evicted key's series stops where it was while its counts move to
//!   "other": sum a single scrape's series, not a key's history), `in_flight{route}`, `high_water{route}`, `queued{route}`, `limit{route}`,
//!   `queue_wait_seconds{route,quantile}` and `run_time_seconds{route,quantile}`
//!   (quantile `0.5`, `0.9`, `0.99`, `1`), `breaker_state{breaker}` (0 closed, 1 half
//!   open, 2 open), `throttle_factor{route}`, `throttle_reason{route,reason}` (1 for the
//!   current reason, 0 for the others), `dependency_limit{dependency}`,
//!   `dependency_in_flight{dependency}`.

use crate::snapshot::Latency;
use crate::throttle::Reason;
use crate::{ConcurrencyManager, Snapshot};
use metrics::{counter, gauge};

impl ConcurrencyManager {
    /// Publishes the manager's [`snapshot`](Self::snapshot) through the `metrics`
    /// facade (see the names in the `export` module docs). Counters are set to their
    /// totals, so calling it often is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// mgr.run_cpu(|| 1).wait()?;
    /// mgr.publish_metrics(); // to the recorder the program installed, if any
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_metrics(&self) {
        publish(&self.snapshot());
    }
}

/// Publishes `snapshot`.
pub(crate) fn publish(snapshot: &Snapshot) {
    for route in &snapshot.routes {
        let name = route.route.to_string();
        let c = &route.counters;
        let outcomes = [
            ("succeeded", c.succeeded),
            ("failed", c.failed),
            ("panicked", c.panicked),
            ("cancelled", c.cancelled),
            ("timed_out", c.timed_out),
            ("rejected", c.rejected),
        ];
        for (outcome, n) in outcomes {
            counter!("sluice_tasks_total", "route" => name.clone(), "outcome" => outcome)
                .absolute(n);
        }
        counter!("sluice_tasks_submitted_total", "route" => name.clone()).absolute(c.submitted);
        counter!("sluice_retries_total", "route" => name.clone()).absolute(c.retries);
        counter!("sluice_abandoned_total", "route" => name.clone()).absolute(c.abandoned);
        gauge!("sluice_in_flight", "route" => name.clone()).set(c.running as f64);
        gauge!("sluice_high_water", "route" => name.clone()).set(c.high_water as f64);
        gauge!("sluice_queued", "route" => name.clone()).set(route.queued as f64);
        gauge!("sluice_limit", "route" => name.clone()).set(route.limit as f64);
        latency("sluice_queue_wait_seconds", &name, &route.queue_wait);
        latency("sluice_run_time_seconds", &name, &route.run_time);
        for key in &route.keys {
            let label = key.key.clone().unwrap_or_else(|| "other".to_owned());
            let per_key = [
                ("succeeded", key.succeeded),
                ("failed", key.failed),
                ("panicked", key.panicked),
                ("cancelled", key.cancelled),
                ("timed_out", key.timed_out),
                ("rejected", key.rejected),
            ];
            for (outcome, n) in per_key {
                // A gauge: a key can leave the table (its counts move to "other"), so
                // its figure may fall, which a counter must never do.
                gauge!("sluice_key_tasks", "route" => name.clone(), "key" => label.clone(), "outcome" => outcome)
                    .set(n as f64);
            }
        }
    }
    for breaker in &snapshot.breakers {
        let state = match breaker.state.as_str() {
            "closed" => 0.0,
            "half-open" => 1.0,
            _ => 2.0,
        };
        gauge!("sluice_breaker_state", "breaker" => breaker.name.clone()).set(state);
        counter!("sluice_breaker_transitions_total", "breaker" => breaker.name.clone())
            .absolute(breaker.transitions);
        counter!("sluice_breaker_rejections_total", "breaker" => breaker.name.clone())
            .absolute(breaker.rejections);
    }
    if let Some(throttle) = &snapshot.throttle {
        for route in &throttle.routes {
            let name = route.route.to_string();
            gauge!("sluice_throttle_factor", "route" => name.clone()).set(route.factor);
            for reason in REASONS {
                let now = if reason == route.reason { 1.0 } else { 0.0 };
                gauge!("sluice_throttle_reason", "route" => name.clone(), "reason" => reason.to_string())
                    .set(now);
            }
        }
    }
    for dependency in &snapshot.dependencies {
        let name = dependency.name.clone();
        gauge!("sluice_dependency_limit", "dependency" => name.clone())
            .set(dependency.limit as f64);
        gauge!("sluice_dependency_in_flight", "dependency" => name)
            .set(dependency.in_flight as f64);
    }
}

/// Every reason, so that the one no longer current reads 0.
const REASONS: [Reason; 6] = [
    Reason::Clear,
    Reason::ForeignCpu,
    Reason::CpuStall,
    Reason::Memory,
    Reason::Recovering,
    Reason::Holding,
];

/// One latency as gauges by quantile, in seconds.
fn latency(metric: &'static str, route: &str, latency: &Latency) {
    let quantiles = [
        ("0.5", latency.p50_us),
        ("0.9", latency.p90_us),
        ("0.99", latency.p99_us),
        ("1", latency.max_us),
    ];
    for (quantile, micros) in quantiles {
        gauge!(metric, "route" => route.to_owned(), "quantile" => quantile).set(micros / 1e6);
    }
}
