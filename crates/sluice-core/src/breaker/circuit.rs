//! [`CircuitBreaker`], the shared handle, and [`BreakerSnapshot`], its counts.
//!
//! The whole state machine sits under one mutex. The clock is read before the lock is
//! taken, so no code of the caller's ever runs under it.

use super::call::{Call, Rejected};
use super::clock::Clock;
use super::config::BreakerConfig;
use super::state::{BreakerState, Machine};
use crate::loom::lock;
use crate::loom::sync::atomic::AtomicU64;
use crate::loom::sync::{Arc, Mutex};
use std::fmt;

/// A circuit breaker; cheap to clone (clones share one breaker).
///
/// Closed, it admits every call and counts failures; a trip condition of its
/// [`BreakerConfig`] opens it. Open, it rejects every call until its recovery time has
/// passed; then, half-open, it admits a bounded number of probes. Enough successful
/// probes close it; one failed probe opens it again.
///
/// # Examples
///
/// ```
/// use sluice_core::{BreakerConfig, CircuitBreaker, MonotonicClock};
/// use std::{sync::Arc, time::Instant};
///
/// let config = BreakerConfig::builder().consecutive_failures(3).build()?;
/// let breaker = CircuitBreaker::new(config, Arc::new(MonotonicClock::new()));
/// match breaker.try_acquire() {
///     Ok(call) => {
///         let start = Instant::now();
///         let answer: Result<u32, &str> = Ok(42); // the guarded work
///         let transition = match answer {
///             Ok(_) => call.success(start.elapsed()),
///             Err(_) => call.failure(start.elapsed()),
///         };
///         assert_eq!(transition, None);
///     }
///     Err(rejected) => panic!("{rejected}, retry in {:?}", rejected.retry_after()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    /// The state every clone and every outstanding [`Call`] points at.
    shared: Arc<Shared>,
}

/// What a breaker's clones and calls share.
pub(super) struct Shared {
    /// Where the breaker reads the time.
    pub(super) clock: Arc<dyn Clock>,
    /// A copy of the settings the machine has, readable without the lock.
    pub(super) config: BreakerConfig,
    /// The state machine, under the one lock.
    pub(super) machine: Mutex<Machine>,
    /// The machine's generation, stored under the lock whenever a result moves it on:
    /// a call that waited asks whether it is still current without the clock or the
    /// lock ([`Call::recheck`]), as nearly every call is.
    pub(super) generation: AtomicU64,
}

/// A breaker's state and counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSnapshot {
    /// The state, as [`CircuitBreaker::state`] reports it.
    pub state: BreakerState,
    /// The current generation: how many times the breaker has opened or closed.
    pub generation: u64,
    /// Calls admitted.
    pub calls: u64,
    /// Results that counted as successes.
    pub successes: u64,
    /// Results that counted as failures, slow successes included.
    pub failures: u64,
    /// Results slower than the slow-call limit (successes and failures alike).
    pub slow_calls: u64,
    /// Calls refused while open or while every half-open probe was out.
    pub rejections: u64,
    /// State changes made so far (each reported once as a
    /// [`Transition`](super::Transition)).
    pub transitions: u64,
    /// Results recorded after their generation had ended; counted in `successes` or
    /// `failures` but ignored by the state machine.
    pub stale_results: u64,
    /// Calls dropped without a result.
    pub abandoned: u64,
    /// Failures in a row in the current closed period.
    pub consecutive_failures: u32,
    /// Calls in the failure-rate window (0 without a rate condition).
    pub window_calls: usize,
    /// Failures among them.
    pub window_failures: usize,
    /// Half-open probes admitted and not yet ended.
    pub probes_in_flight: u32,
}

impl BreakerSnapshot {
    /// Calls admitted whose result is not in yet: `calls` less every recorded or
    /// abandoned one. Zero once all calls have ended.
    pub fn outstanding(&self) -> u64 {
        let ended = self.successes + self.failures + self.abandoned;
        self.calls.saturating_sub(ended)
    }
}

impl CircuitBreaker {
    /// A closed breaker with `config`, reading the time from `clock`.
    pub fn new(config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        CircuitBreaker {
            shared: Arc::new(Shared {
                clock,
                machine: Mutex::new(Machine::new(config.clone())),
                generation: AtomicU64::new(0),
                config,
            }),
        }
    }

    /// Leave for one call, or [`Rejected`] while open (with the time left until
    /// half-open) or while half-open with every probe out.
    pub fn try_acquire(&self) -> Result<Call, Rejected> {
        // Closed, as nearly always: admitted without reading the clock.
        let closed = lock(&self.shared.machine).acquire_closed();
        if let Some(ticket) = closed {
            return Ok(Call::new(self.shared.clone(), ticket));
        }
        // Read before locking: the clock is the caller's code.
        let now = self.shared.clock.now();
        let ticket = lock(&self.shared.machine).acquire(now)?;
        Ok(Call::new(self.shared.clone(), ticket))
    }

    /// The state now. Once the recovery time has passed an open breaker reads as
    /// half-open; the next [`try_acquire`](Self::try_acquire) makes that move and
    /// reports it through [`Call::transition`].
    pub fn state(&self) -> BreakerState {
        let now = self.shared.clock.now();
        lock(&self.shared.machine).state(now)
    }

    /// The state and every count, read together.
    pub fn snapshot(&self) -> BreakerSnapshot {
        let now = self.shared.clock.now();
        let machine = lock(&self.shared.machine);
        let totals = machine.totals();
        let (consecutive_failures, window_calls, window_failures, probes_in_flight) =
            machine.gauges();
        BreakerSnapshot {
            state: machine.state(now),
            generation: machine.generation(),
            calls: totals.calls,
            successes: totals.successes,
            failures: totals.failures,
            slow_calls: totals.slow_calls,
            rejections: totals.rejections,
            transitions: totals.transitions,
            stale_results: totals.stale_results,
            abandoned: totals.abandoned,
            consecutive_failures,
            window_calls,
            window_failures,
            probes_in_flight,
        }
    }

    /// Whether anything but this handle holds the breaker: another clone, or a
    /// [`Call`] not yet recorded. A registry that keeps many breakers (one per key)
    /// forgets only breakers nobody else holds, so no result is recorded on a breaker
    /// it no longer lists.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{BreakerConfig, CircuitBreaker, MonotonicClock};
    /// use std::sync::Arc;
    ///
    /// let config = BreakerConfig::builder().consecutive_failures(3).build()?;
    /// let breaker = CircuitBreaker::new(config, Arc::new(MonotonicClock::new()));
    /// assert!(!breaker.in_use());
    /// let call = breaker.try_acquire()?;
    /// assert!(breaker.in_use(), "a call is in flight");
    /// drop(call);
    /// assert!(!breaker.in_use());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.shared) > 1
    }

    /// The settings it was made with.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("CircuitBreaker")
            .field("state", &snapshot.state)
            .field("generation", &snapshot.generation)
            .finish_non_exhaustive()
    }
}
