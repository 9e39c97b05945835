//! What the manager can tell about itself at one moment, as a serde value.

use crate::keys::{KeyMetrics, KeySnapshot};
use crate::limit::DependencyView;
use crate::policy::breaker::Listing;
use crate::route::{Route, RouteKind};
use crate::throttle::ThrottleView;
use serde::Serialize;
use sluice_core::{BreakerState, CountersSnapshot, HistogramSnapshot};

/// Every route's counters and admission state. Serialize it, or call
/// [`to_json`](Self::to_json).
///
/// What counts as a task: each `run_*` / `try_run_*` call is one task, and so is each
/// map (`map_cpu`, `map_chunks`, `map_io`), whatever the number of its items. A
/// [`run_on`](crate::ConcurrencyManager::run_on) (or `try_run_on`) naming no registered
/// backend is answered [`TaskError::UnknownExecutor`](crate::TaskError::UnknownExecutor)
/// without being counted on any route. Work refused during shutdown is counted on its
/// route as submitted and rejected.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// One entry per route: cpu, io, io_blocking, chunk, then custom backends by name.
    pub routes: Vec<RouteSnapshot>,
    /// One entry per circuit breaker, by name. A per-key name lists at most
    /// [`max_tracked_keys`](crate::ManagerBuilder::max_tracked_keys) of its breakers,
    /// open and half-open ones first, then the most called; `per_key_breakers` says
    /// how many it left out.
    pub breakers: Vec<BreakerView>,
    /// One entry per per-key breaker name: how many breakers it keeps, lists and has
    /// forgotten.
    pub per_key_breakers: Vec<KeyedBreakersView>,
    /// The load throttle: each route's throttled limit, why, and the last sample;
    /// `None` when the throttle is disabled.
    pub throttle: Option<ThrottleView>,
    /// One entry per dependency with an adaptive limit, by name.
    pub dependencies: Vec<DependencyView>,
    /// One entry per task name whose retries have a budget (made when the name's
    /// first retried task is submitted), by name: above all, the retries it refused.
    pub retry_budgets: Vec<RetryBudgetView>,
}

/// The retry budget of one task name at one moment (see
/// [`RetryBuilder::budget`](crate::retry::RetryBuilder::budget)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RetryBudgetView {
    /// The task name.
    pub name: String,
    /// Retries its tasks' policies asked for and the budget refused, since the start;
    /// each such task was answered with its last attempt's result and its record
    /// says [`retry_refused_by_budget`](crate::TaskRecord::retry_refused_by_budget).
    pub refused: u64,
    /// First attempts in the budget's current window.
    pub calls: u64,
    /// Retries granted in the current window.
    pub retries: u64,
    /// Retries the current window allows in all.
    pub allowed: u64,
}

/// One circuit breaker at one moment.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BreakerView {
    /// Its name; a per-key breaker shows as `name[key]`.
    pub name: String,
    /// `closed`, `open` or `half-open`.
    pub state: String,
    /// How many times it has opened or closed.
    pub generation: u64,
    /// Calls it admitted.
    pub calls: u64,
    /// Results that counted as failures.
    pub failures: u64,
    /// Calls it refused.
    pub rejections: u64,
    /// State changes so far.
    pub transitions: u64,
}

/// The breakers of one [`breaker_per_key`](crate::ManagerBuilder::breaker_per_key)
/// name at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeyedBreakersView {
    /// The name.
    pub name: String,
    /// Breakers kept now (open, half-open and in-use ones, and up to
    /// `max_tracked_keys` idle closed ones).
    pub tracked: usize,
    /// Kept breakers not listed in [`Snapshot::breakers`].
    pub left_out: usize,
    /// Idle closed breakers forgotten so far to keep memory bounded; a key that
    /// returns gets a fresh one.
    pub forgotten: u64,
}

/// One route at one moment.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RouteSnapshot {
    /// Which route.
    pub route: RouteKind,
    /// Its admission limit now.
    pub limit: usize,
    /// Tasks admitted and not yet ended (queued in the backend or running).
    pub admitted: usize,
    /// Tasks waiting for admission.
    pub queued: usize,
    /// Its outcome counters.
    pub counters: Counts,
    /// Time from submission to the start of each body: a plain task's (a keyed task's
    /// wait for its key included), or each attempt's from its launch for a task run as
    /// attempts (retries, a `deadline`, a map through `mgr.task(..)`).
    pub queue_wait: Latency,
    /// Time each body ran (a timed-out body counts when it really ends).
    pub run_time: Latency,
    /// Keyed tasks per key: the tracked keys, most tasks first, then one entry with
    /// no key for all the others (see
    /// [`ManagerBuilder::max_tracked_keys`](crate::ManagerBuilder::max_tracked_keys)).
    pub keys: Vec<KeySnapshot>,
    /// How the items of this route's streamed maps ended (each map counts as one task
    /// in `counters`).
    pub items: crate::ItemCounts,
}

/// A latency distribution, in microseconds: each percentile is the top of the
/// histogram bucket that holds it (within 12.5% above the true value, never above the
/// maximum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Their mean.
    pub mean_us: f64,
    /// The median.
    pub p50_us: f64,
    /// The 90th percentile.
    pub p90_us: f64,
    /// The 99th percentile.
    pub p99_us: f64,
    /// The largest.
    pub max_us: f64,
}

impl From<HistogramSnapshot> for Latency {
    fn from(h: HistogramSnapshot) -> Self {
        let us = |ns: u64| ns as f64 / 1_000.0;
        Latency {
            count: h.count(),
            mean_us: us(h.mean()),
            p50_us: us(h.percentile(0.5)),
            p90_us: us(h.percentile(0.9)),
            p99_us: us(h.percentile(0.99)),
            max_us: us(h.max()),
        }
    }
}

/// Outcome counters; once all work has ended, `submitted` equals the sum of
/// `succeeded`, `failed`, `panicked`, `cancelled`, `timed_out` and `rejected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Tasks accepted (or refused) by the route.
    pub submitted: u64,
    /// Tasks whose work began.
    pub started: u64,
    /// Ended with a value.
    pub succeeded: u64,
    /// Ended with the task's own error.
    pub failed: u64,
    /// Ended in a caught panic.
    pub panicked: u64,
    /// Cancelled before or while running.
    pub cancelled: u64,
    /// Ran past a deadline.
    pub timed_out: u64,
    /// Refused without running.
    pub rejected: u64,
    /// Running at the moment of the snapshot.
    pub running: u64,
    /// The most seen running at once.
    pub high_water: u64,
    /// Bodies that ended after their task timed out; their results were dropped.
    pub abandoned: u64,
    /// Attempts of retried tasks that started after the task's first attempt (a
    /// retried task still counts once as a task). A pause cut short before its next
    /// attempt started, or an attempt cancelled or refused before its start, is no
    /// retry; so the records' `attempts - 1` add up to this.
    pub retries: u64,
}

impl Counts {
    /// The sum of all outcomes.
    pub fn ended(&self) -> u64 {
        self.succeeded
            + self.failed
            + self.panicked
            + self.cancelled
            + self.timed_out
            + self.rejected
    }

    /// Submitted and not yet ended.
    pub fn pending(&self) -> u64 {
        self.submitted.saturating_sub(self.ended())
    }

    fn add(mut self, other: &Counts) -> Counts {
        self.submitted += other.submitted;
        self.started += other.started;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.panicked += other.panicked;
        self.cancelled += other.cancelled;
        self.timed_out += other.timed_out;
        self.rejected += other.rejected;
        self.running += other.running;
        self.high_water = self.high_water.max(other.high_water);
        self.abandoned += other.abandoned;
        self.retries += other.retries;
        self
    }
}

impl From<CountersSnapshot> for Counts {
    fn from(c: CountersSnapshot) -> Self {
        Counts {
            submitted: c.submitted,
            started: c.started,
            succeeded: c.succeeded,
            failed: c.failed,
            panicked: c.panicked,
            cancelled: c.cancelled,
            timed_out: c.timed_out,
            rejected: c.rejected,
            running: c.in_flight,
            high_water: c.high_water,
            abandoned: c.abandoned,
            retries: c.retries,
        }
    }
}

impl Snapshot {
    pub(crate) fn of<'a>(
        routes: impl Iterator<Item = &'a Route>,
        listing: Listing,
        throttle: Option<ThrottleView>,
        dependencies: Vec<DependencyView>,
        retry_budgets: Vec<RetryBudgetView>,
    ) -> Self {
        let Listing { breakers, per_key } = listing;
        let mut per_key_breakers = per_key;
        per_key_breakers.sort_by(|a, b| a.name.cmp(&b.name));
        let mut breakers: Vec<BreakerView> = breakers
            .into_iter()
            .map(|(name, breaker)| {
                let b = breaker.snapshot();
                BreakerView {
                    name,
                    state: match b.state {
                        BreakerState::Closed => "closed",
                        BreakerState::Open { .. } => "open",
                        BreakerState::HalfOpen => "half-open",
                    }
                    .to_owned(),
                    generation: b.generation,
                    calls: b.calls,
                    failures: b.failures,
                    rejections: b.rejections,
                    transitions: b.transitions,
                }
            })
            .collect();
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            routes: routes
                .map(|route| RouteSnapshot {
                    route: route.kind.clone(),
                    limit: route.gate.limit(),
                    admitted: route.gate.in_flight(),
                    queued: route.gate.waiting(),
                    counters: route.counters.snapshot().into(),
                    queue_wait: route.queue_wait.snapshot().into(),
                    run_time: route.run_time.snapshot().into(),
                    keys: route
                        .keys
                        .as_ref()
                        .map(KeyMetrics::snapshot)
                        .unwrap_or_default(),
                    items: route.items.snapshot(),
                })
                .collect(),
            breakers,
            per_key_breakers,
            throttle,
            dependencies,
            retry_budgets,
        }
    }

    /// One task name's retry budget.
    pub fn retry_budget(&self, name: &str) -> Option<&RetryBudgetView> {
        self.retry_budgets.iter().find(|b| b.name == name)
    }

    /// One per-key breaker name's counts.
    pub fn keyed_breaker(&self, name: &str) -> Option<&KeyedBreakersView> {
        self.per_key_breakers.iter().find(|b| b.name == name)
    }

    /// One breaker's entry.
    pub fn breaker(&self, name: &str) -> Option<&BreakerView> {
        self.breakers.iter().find(|b| b.name == name)
    }

    /// One dependency's entry.
    pub fn dependency(&self, name: &str) -> Option<&DependencyView> {
        self.dependencies.iter().find(|d| d.name == name)
    }

    /// One route's entry.
    pub fn route(&self, kind: &RouteKind) -> Option<&RouteSnapshot> {
        self.routes.iter().find(|r| &r.route == kind)
    }

    /// The counters of all routes added up (`high_water` is the largest of any route).
    pub fn total(&self) -> Counts {
        self.routes
            .iter()
            .fold(Counts::default(), |sum, r| sum.add(&r.counters))
    }

    /// The snapshot as a JSON string.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }
}
