//! One named dependency: its gate, whose limit the Vegas estimate moves as calls end,
//! and the call a task holds through it.

use super::config::LimitConfig;
use super::vegas::Vegas;
use crate::lock::{lock, take};
use serde::Serialize;
use sluice_core::{Gate, Outcome, Permit};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// Calls whose body is running.
    running: AtomicUsize,
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
    /// Calls admitted and not yet ended (running, or queued at their route).
    pub in_flight: usize,
    /// Calls whose body is running.
    pub running: usize,
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
            running: AtomicUsize::new(0),
        }
    }

    /// A call begins: counted as running, and its start and epoch noted (see
    /// `vegas.rs`: only calls that began since the limit last moved may move it).
    pub(crate) fn begin_call(&self) -> (Instant, u64) {
        self.running.fetch_add(1, Ordering::AcqRel);
        (Instant::now(), self.epoch.load(Ordering::Acquire))
    }

    /// A call that began at `began` ended; `dropped` if it failed or timed out, `None`
    /// if it was cancelled (not measured). Moves the estimate; true if that moved the
    /// limit, which the gate then follows in [`sync_limit`](Self::sync_limit), run by
    /// the caller once it has answered.
    pub(crate) fn end_call(&self, (began, epoch): (Instant, u64), dropped: Option<bool>) -> bool {
        // Calls running, this one included: not the permits held, which also count
        // calls queued behind a throttled route and would read as an idle service.
        let running = self.running.fetch_sub(1, Ordering::AcqRel);
        let Some(dropped) = dropped else {
            return false;
        };
        let rtt = began.elapsed();
        self.samples.fetch_add(1, Ordering::Relaxed);
        if dropped {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.last_rtt_us.store(micros, Ordering::Relaxed);
        let mut vegas = lock(&self.vegas);
        let before = vegas.limit();
        let after = vegas.on_sample(rtt, running, dropped, epoch);
        self.epoch.store(vegas.epoch(), Ordering::Release);
        if after != before {
            tracing::debug!(dependency = %self.name, from = before, to = after, "sluice: dependency limit moved");
        }
        after != before
    }

    /// Gives the gate the estimate's limit. Outside the estimate's lock and after the
    /// call has answered: raising a limit admits waiting work on this thread, and a
    /// backend that runs work inline would come back here. Two calls may race to set
    /// it; each re-reads the estimate until what it set is the latest.
    pub(crate) fn sync_limit(&self) {
        let mut target = lock(&self.vegas).limit();
        loop {
            if self.gate.limit() != target {
                self.gate.set_limit(target);
            }
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
            running: self.running.load(Ordering::Relaxed),
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
    /// Its permit, as far as it got.
    permit: Mutex<Slot>,
    /// When the body began, and the dependency's epoch then, once it has.
    began: Mutex<Option<(Instant, u64)>>,
    /// Set when this call's end moved the limit: its release hands the gate the new
    /// one (a call that moved nothing leaves the gate alone).
    moved: AtomicBool,
}

/// Where a call's permit is.
enum Slot {
    /// Not admitted yet.
    Waiting,
    /// Admitted: held until the call is released.
    Held(Permit),
    /// Released: a permit that arrives now goes straight back.
    Released,
}

impl DependencyCall {
    pub(crate) fn new(dependency: Arc<Dependency>) -> Self {
        DependencyCall {
            dependency,
            permit: Mutex::new(Slot::Waiting),
            began: Mutex::new(None),
            moved: AtomicBool::new(false),
        }
    }

    /// Keeps the permit the dependency's gate granted; gives it back if the call was
    /// released meanwhile (a cancel racing the admission).
    pub(crate) fn hold(&self, permit: Permit) -> Option<Permit> {
        let mut slot = lock(&self.permit);
        match *slot {
            Slot::Waiting => {
                *slot = Slot::Held(permit);
                None
            }
            Slot::Held(_) | Slot::Released => Some(permit),
        }
    }

    /// Whether the call holds its permit: only then may its body run.
    pub(crate) fn is_admitted(&self) -> bool {
        matches!(*lock(&self.permit), Slot::Held(_))
    }

    /// The body begins: its latency counts from now.
    pub(crate) fn begin(&self) {
        *lock(&self.began) = Some(self.dependency.begin_call());
    }

    /// The body ended with `outcome`: measured, unless it was cancelled. Run before
    /// the answer, so that a caller that heard sees the call counted.
    pub(crate) fn measure(&self, outcome: Outcome) {
        if let Some(began) = take(&self.began) {
            let dropped = match outcome {
                Outcome::Succeeded => Some(false),
                Outcome::Failed | Outcome::Panicked | Outcome::TimedOut => Some(true),
                Outcome::Cancelled | Outcome::Rejected => None,
            };
            if self.dependency.end_call(began, dropped) {
                self.moved.store(true, Ordering::Release);
            }
        }
    }

    /// The call is over: the gate takes the new limit and the permit goes back. Run
    /// after the answer (both may admit waiting work on this thread).
    pub(crate) fn release(&self) {
        let slot = std::mem::replace(&mut *lock(&self.permit), Slot::Released);
        if let Slot::Held(permit) = slot {
            if self.moved.load(Ordering::Acquire) {
                self.dependency.sync_limit();
            }
            drop(permit);
        }
    }

    /// [`measure`](Self::measure) then [`release`](Self::release), for a call settled
    /// without an answer of its own to wait for.
    pub(crate) fn end(&self, outcome: Outcome) {
        self.measure(outcome);
        self.release();
    }
}
