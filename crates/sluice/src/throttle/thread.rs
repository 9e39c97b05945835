//! The controller's thread (a [`Ticker`]): samples every interval, moves the gates,
//! and keeps what it saw for `snapshot()`.

use super::config::ThrottleConfig;
use super::controller::{Pressure, Reason, RouteLimit, Signals, step};
use super::sample::{LoadSample, LoadSampler};
use crate::lock::lock;
use crate::route::{Route, RouteKind};
use crate::ticker::Ticker;
use serde::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Weak};

/// The running throttle, owned by the manager; dropping it stops the thread.
pub(crate) struct Throttle {
    /// What the last sample did, for snapshots.
    view: Arc<Mutex<ThrottleView>>,
    /// The thread.
    ticker: Ticker,
}

/// The throttle at one moment, in [`Snapshot::throttle`](crate::Snapshot::throttle).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ThrottleView {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Samples taken so far.
    pub samples: u64,
    /// Foreign CPU in the last sample, percent of the capacity this process may use.
    pub foreign_cpu: Option<f64>,
    /// Memory in use in the last sample, percent of the limit that applies.
    pub memory: Option<f64>,
    /// The last sample as read.
    pub last: Option<LoadSample>,
    /// Each route's limit as the throttle set it.
    pub routes: Vec<RouteThrottle>,
}

/// One route's throttle at one moment.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RouteThrottle {
    /// Which route.
    pub route: RouteKind,
    /// The limit set in the builder.
    pub configured: usize,
    /// The limit the throttle set.
    pub limit: usize,
    /// `limit / configured`.
    pub factor: f64,
    /// Why the limit is where it is.
    pub reason: Reason,
    /// How many times the throttle moved it.
    pub changes: u64,
}

/// A route the thread moves: weak, so the thread never keeps a dropped manager's
/// pools alive.
struct Moved {
    /// The route.
    route: Weak<Route>,
    /// Which route, for the view and the log.
    kind: RouteKind,
    /// Its state.
    limit: RouteLimit,
}

impl Throttle {
    /// Starts the thread for `routes`, which it moves according to `config`.
    pub(crate) fn start(
        config: ThrottleConfig,
        mut sampler: Box<dyn LoadSampler>,
        routes: Vec<&Arc<Route>>,
    ) -> std::io::Result<Throttle> {
        let mut moved: Vec<Moved> = routes
            .into_iter()
            .map(|route| {
                let signals = match route.kind {
                    RouteKind::Io | RouteKind::IoBlocking => Signals::MemoryOnly,
                    _ => Signals::CpuAndMemory,
                };
                Moved {
                    route: Arc::downgrade(route),
                    kind: route.kind.clone(),
                    limit: RouteLimit::new(route.gate.limit(), signals),
                }
            })
            .collect();
        let shared = Arc::new(Mutex::new(view(&config, 0, None, &moved)));
        let thread_view = shared.clone();
        let interval = config.interval;
        let mut samples = 0;
        let ticker = Ticker::start("sluice-throttle", interval, move || {
            sample_once(
                &thread_view,
                &config,
                &mut *sampler,
                &mut moved,
                &mut samples,
            )
        })?;
        Ok(Throttle {
            view: shared,
            ticker,
        })
    }

    /// What the last sample did.
    pub(crate) fn view(&self) -> ThrottleView {
        lock(&self.view).clone()
    }

    /// Stops the thread after its current sample; limits stay where they are.
    pub(crate) fn stop(&self) {
        self.ticker.stop();
    }
}

/// Takes one sample and moves the gates; false once the manager is gone.
fn sample_once(
    shared: &Mutex<ThrottleView>,
    config: &ThrottleConfig,
    sampler: &mut dyn LoadSampler,
    moved: &mut [Moved],
    samples: &mut u64,
) -> bool {
    // A user's sampler may panic: that sample counts as one with no figures, and the
    // throttle carries on.
    let sample = catch_unwind(AssertUnwindSafe(|| sampler.sample())).unwrap_or_else(|_| {
        tracing::error!("sluice: the throttle's load sampler panicked; sample ignored");
        LoadSample::default()
    });
    let pressure = Pressure::of(&sample, config);
    for entry in moved.iter_mut() {
        let Some(route) = entry.route.upgrade() else {
            return false;
        };
        let before = entry.limit.limit;
        if step(&mut entry.limit, pressure, config) {
            route.gate.set_limit(entry.limit.limit);
            tracing::info!(
                route = %entry.kind,
                from = before,
                to = entry.limit.limit,
                factor = entry.limit.factor(),
                reason = %entry.limit.reason,
                foreign_cpu = sample.foreign_cpu(),
                memory = sample.memory_fraction(),
                "sluice: throttle moved a limit"
            );
        }
    }
    *samples += 1;
    *lock(shared) = view(config, *samples, Some(sample), moved);
    true
}

fn view(
    config: &ThrottleConfig,
    samples: u64,
    last: Option<LoadSample>,
    moved: &[Moved],
) -> ThrottleView {
    ThrottleView {
        interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        samples,
        foreign_cpu: last
            .as_ref()
            .and_then(LoadSample::foreign_cpu)
            .map(|share| share * 100.0),
        memory: last
            .as_ref()
            .and_then(LoadSample::memory_fraction)
            .map(|share| share * 100.0),
        last,
        routes: moved
            .iter()
            .map(|entry| RouteThrottle {
                route: entry.kind.clone(),
                configured: entry.limit.configured,
                limit: entry.limit.limit,
                factor: entry.limit.factor(),
                reason: entry.limit.reason,
                changes: entry.limit.changes,
            })
            .collect(),
    }
}
