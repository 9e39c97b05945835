//! One named dependency: its gate, whose limit the Vegas estimate moves as calls end,
//! and the call a task holds through it.

use super::config::LimitConfig;
use super::vegas::Vegas;
use crate::lock::{lock, take};
use serde::Serialize;
use sluice_core::{Gate, Outcome, Permit};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every dependency of a manager, by name; fixed when the manager is built.
#[derive(Default)]
pub(crate) struct Dependencies {
    /// By name.
    by_name: HashMap<String, Arc<Dependency>>,
}

/// How a name was registered twice, for the builder's error.
pub(crate) struct DuplicateDependency(pub(crate) String);

impl Dependencies {
    /// Registers each `(name, config)`; a name may be used once.
    pub(crate) fn new(
        configs: Vec<(String, LimitConfig)>,
        aging: u64,
    ) -> Result<Self, DuplicateDependency> {
        let mut by_name = HashMap::new();
        for (name, config) in configs {
            if by_name.contains_key(&name) {
                return Err(DuplicateDependency(name));
            }
            let dependency = Dependency::new(Arc::from(name.as_str()), config, aging);
            by_name.insert(name, Arc::new(dependency));
        }
        Ok(Dependencies { by_name })
    }

    /// The dependency registered as `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Dependency>> {
        self.by_name.get(name).cloned()
    }

    /// Every dependency, by name.
    pub(crate) fn all(&self) -> Vec<&Arc<Dependency>> {
        let mut all: Vec<_> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// One dependency: calls to it wait at its gate, and each call that ends moves the
/// gate's limit.
pub(crate) struct Dependency {
    /// Its name, as given to `.limit(..)` or shared with a breaker.
    name: Arc<str>,
    /// Admission: at most the adaptive limit of calls at once.
    pub(crate) gate: Gate,
    /// The estimate; its lock also orders the moves of the gate's limit.
    vegas: Mutex<Vegas>,
    /// The most the limit may reach.
    max: usize,
    /// Calls that ended and were measured.
    samples: AtomicU64,
    /// Of them, failed or timed out.
    drops: AtomicU64,
    /// The last measured latency, microseconds.
    last_rtt_us: AtomicU64,
    /// The estimate's epoch, readable without its lock: a call notes it as it begins.
    epoch: AtomicU64,
}

/// One dependency at one moment, in [`Snapshot::dependencies`](crate::Snapshot).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DependencyView {
    /// Its name.
    pub name: String,
    /// The adaptive limit now.
    pub limit: usize,
    /// The most it may reach.
    pub max: usize,
    /// Calls admitted and not yet ended.
    pub in_flight: usize,
    /// Calls waiting for admission.
    pub waiting: usize,
    /// The lowest latency measured (since the last probe), microseconds.
    pub min_rtt_us: Option<u64>,
    /// The last latency measured, microseconds.
    pub last_rtt_us: u64,
    /// Calls measured.
    pub samples: u64,
    /// Of them, failed or timed out.
    pub drops: u64,
}

impl Dependency {
    fn new(name: Arc<str>, config: LimitConfig, aging: u64) -> Self {
        let max = config.max;
        let vegas = Vegas::new(config);
        Dependency {
            name,
            gate: Gate::with_aging(vegas.limit(), aging),
            vegas: Mutex::new(vegas),
            max,
            samples: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            last_rtt_us: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// The epoch to note as a call begins (see `vegas.rs`: only calls that began
    /// since the limit last moved may move it again).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// One call, begun in epoch `began`, ended after `rtt`; `dropped` if it failed or
    /// timed out. Called while the call still holds its permit, so in-flight counts it.
    pub(crate) fn record(&self, rtt: Duration, dropped: bool, began: u64) {
        self.samples.fetch_add(1, Ordering::Relaxed);
        if dropped {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.last_rtt_us.store(micros, Ordering::Relaxed);
        let in_flight = self.gate.in_flight();
        let (before, mut target) = {
            let mut vegas = lock(&self.vegas);
            let before = vegas.limit();
            let after = vegas.on_sample(rtt, in_flight, dropped, began);
            self.epoch.store(vegas.epoch(), Ordering::Release);
            (before, after)
        };
        if target == before {
            return;
        }
        tracing::debug!(dependency = %self.name, from = before, to = target, "sluice: dependency limit moved");
        // Moved outside the lock: raising a limit admits waiting work on this thread,
        // and a backend that runs work inline would come back here. Two calls may race
        // to set it; each re-reads the estimate until what it set is the latest.
        loop {
            self.gate.set_limit(target);
            let latest = lock(&self.vegas).limit();
            if latest == target {
                return;
            }
            target = latest;
        }
    }

    /// The dependency now.
    pub(crate) fn view(&self) -> DependencyView {
        let vegas = lock(&self.vegas);
        DependencyView {
            name: self.name.to_string(),
            limit: vegas.limit(),
            max: self.max,
            in_flight: self.gate.in_flight(),
            waiting: self.gate.waiting(),
            min_rtt_us: vegas
                .min_rtt()
                .map(|rtt| u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX)),
            last_rtt_us: self.last_rtt_us.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            drops: self.drops.load(Ordering::Relaxed),
        }
    }
}

/// A task's call through a dependency: the permit it holds from admission to the end
/// of its body, and when the body began.
pub(crate) struct DependencyCall {
    /// The dependency.
    pub(crate) dependency: Arc<Dependency>,
    /// Its permit, once admitted.
    permit: Mutex<Option<Permit>>,
    /// When the body began, and the dependency's epoch then, once it has.
    began: Mutex<Option<(Instant, u64)>>,
}

impl DependencyCall {
    pub(crate) fn new(dependency: Arc<Dependency>) -> Self {
        DependencyCall {
            dependency,
            permit: Mutex::new(None),
            began: Mutex::new(None),
        }
    }

    /// Keeps the permit the dependency's gate granted.
    pub(crate) fn hold(&self, permit: Permit) {
        *lock(&self.permit) = Some(permit);
    }

    /// The body begins: its latency counts from now.
    pub(crate) fn begin(&self) {
        *lock(&self.began) = Some((Instant::now(), self.dependency.epoch()));
    }

    /// The body ended with `outcome`: measured (unless it was cancelled) and the
    /// permit given back.
    pub(crate) fn end(&self, outcome: Outcome) {
        if let Some((began, epoch)) = take(&self.began) {
            let dropped = match outcome {
                Outcome::Succeeded => Some(false),
                Outcome::Failed | Outcome::Panicked | Outcome::TimedOut => Some(true),
                Outcome::Cancelled | Outcome::Rejected => None,
            };
            if let Some(dropped) = dropped {
                self.dependency.record(began.elapsed(), dropped, epoch);
            }
        }
        drop(take(&self.permit));
    }
}
