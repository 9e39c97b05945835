//! One admitted call ([`Call`]) and the answer to a refused one ([`Rejected`]).

use super::circuit::Shared;
use super::state::{Ticket, Transition};
use crate::loom::lock;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::Ordering;
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Leave to make one call through a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Record its result once, with [`success`](Call::success) or
/// [`failure`](Call::failure). Dropping it unrecorded (the call was cancelled or timed
/// out) records nothing, and a half-open probe gives its slot back so that another
/// probe can go. A result recorded after the breaker has moved to a new generation
/// (it opened or closed meanwhile) is counted but changes nothing.
#[must_use = "record the result with `success` or `failure`; dropping the call records nothing"]
pub struct Call {
    /// The breaker that admitted it.
    breaker: Arc<Shared>,
    /// Its generation and probe slot.
    ticket: Ticket,
    /// False once a result was recorded, so that the drop does nothing.
    armed: bool,
}

impl Call {
    pub(super) fn new(breaker: Arc<Shared>, ticket: Ticket) -> Self {
        Call {
            breaker,
            ticket,
            armed: true,
        }
    }

    /// Records a success that took `elapsed`. A success slower than the configured
    /// slow-call limit counts as a failure. Returns the transition it caused, if any.
    pub fn success(self, elapsed: Duration) -> Option<Transition> {
        self.record(false, elapsed)
    }

    /// Records a failure that took `elapsed`. Returns the transition it caused, if any.
    pub fn failure(self, elapsed: Duration) -> Option<Transition> {
        self.record(true, elapsed)
    }

    /// The move from open to half-open that admitting this call made, if it made it:
    /// the first call admitted after the recovery time reports it here, once.
    pub fn transition(&self) -> Option<Transition> {
        self.ticket.transition
    }

    /// The generation this call was admitted in.
    pub fn generation(&self) -> u64 {
        self.ticket.generation
    }

    /// Whether the breaker has neither opened nor closed since this call was admitted:
    /// then [`recheck`](Self::recheck) would hand it back as it is. Reads one atomic,
    /// so a caller that keeps the call in place can skip the recheck's move.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{BreakerConfig, CircuitBreaker, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let config = BreakerConfig::builder().consecutive_failures(1).build()?;
    /// let breaker = CircuitBreaker::new(config, Arc::new(ManualClock::new()));
    /// let queued = breaker.try_acquire()?;
    /// assert!(queued.is_current());
    /// breaker.try_acquire()?.failure(Duration::from_millis(3)); // opens it
    /// assert!(!queued.is_current(), "it must be rechecked before it runs");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_current(&self) -> bool {
        self.ticket.generation == self.breaker.generation.load(Ordering::Acquire)
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket.probe
    }

    /// Asks the breaker again whether this call may still go, as a call that waited
    /// (in a queue, for a key's turn) must before it starts: the breaker may have
    /// opened since it was admitted.
    ///
    /// A call of the current generation keeps its admission — the breaker has neither
    /// opened nor closed since, so a call taken while closed is still a closed call and
    /// a probe still holds its probe slot — and comes back as it is. A call whose
    /// generation has ended is given up (counted as abandoned; it held no slot of the
    /// new period) and the breaker is asked afresh: open, the answer is [`Rejected`];
    /// half-open, the call becomes a probe if a slot is free; closed again, a call of
    /// the new generation, whose result counts. The call returned reports through
    /// [`transition`](Call::transition) only a move to half-open that this recheck made.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{BreakerConfig, CircuitBreaker, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let config = BreakerConfig::builder().consecutive_failures(1).build()?;
    /// let breaker = CircuitBreaker::new(config, Arc::new(ManualClock::new()));
    /// let queued = breaker.try_acquire()?;
    /// // Another call fails and opens the breaker while `queued` waits for a worker.
    /// breaker.try_acquire()?.failure(Duration::from_millis(3));
    /// assert!(queued.recheck().is_err(), "it must not run now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recheck(mut self) -> Result<Call, Rejected> {
        // Still current (the usual case): known from the published generation, which
        // a result that opens or closes the breaker stores before it lets the lock go.
        if self.is_current() {
            self.ticket.transition = None;
            return Ok(self);
        }
        // Read before locking: the clock is the caller's code.
        let now = self.breaker.clock.now();
        let mut machine = lock(&self.breaker.machine);
        if self.ticket.generation == machine.generation() {
            drop(machine);
            // Its admission's transition was reported when it was admitted.
            self.ticket.transition = None;
            return Ok(self);
        }
        self.armed = false;
        machine.abandon(&self.ticket);
        let ticket = machine.acquire(now)?;
        drop(machine);
        Ok(Call::new(self.breaker.clone(), ticket))
    }

    /// Whether this call's elapsed time is looked at: its breaker has a slow-call
    /// limit. Without one, [`success`](Self::success) and [`failure`](Self::failure)
    /// ignore the time they are given, so a caller that would read a clock only to
    /// time the call may pass [`Duration::ZERO`] instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{BreakerConfig, CircuitBreaker, ManualClock};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let untimed = BreakerConfig::builder().consecutive_failures(5).build()?;
    /// let breaker = CircuitBreaker::new(untimed, Arc::new(ManualClock::new()));
    /// let call = breaker.try_acquire()?;
    /// assert!(!call.is_timed());
    /// call.success(Duration::ZERO);
    ///
    /// let timed = BreakerConfig::builder()
    ///     .consecutive_failures(5)
    ///     .slow_call(Duration::from_secs(1))
    ///     .build()?;
    /// let breaker = CircuitBreaker::new(timed, Arc::new(ManualClock::new()));
    /// let call = breaker.try_acquire()?;
    /// assert!(call.is_timed(), "a slow success counts as a failure");
    /// call.success(Duration::from_millis(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_timed(&self) -> bool {
        self.breaker.config.slow_call().is_some()
    }

    fn record(mut self, failed: bool, elapsed: Duration) -> Option<Transition> {
        // The time is needed only to open the breaker (when its open period ends),
        // which a success can do only through a failure rate: a success that cannot
        // open it does not read the clock, one call per task through a breaker.
        let config = &self.breaker.config;
        let may_open = failed || config.is_slow(elapsed) || config.success_may_open();
        // Read before locking: the clock is the caller's code. Should it panic, the
        // call is still armed and its drop gives a probe slot back.
        let now = if may_open {
            self.breaker.clock.now()
        } else {
            Duration::ZERO
        };
        self.armed = false;
        let mut machine = lock(&self.breaker.machine);
        let transition = machine.record(&self.ticket, failed, elapsed, now);
        if transition.is_some() {
            // Published before the lock goes: whoever sees the move under the lock,
            // or a recheck sees the new generation, sees it after this store.
            self.breaker
                .generation
                .store(machine.generation(), Ordering::Release);
        }
        transition
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.breaker.machine).abandon(&self.ticket);
        }
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("generation", &self.ticket.generation)
            .field("probe", &self.ticket.probe)
            .finish_non_exhaustive()
    }
}

/// A call refused by an open breaker, or by a half-open one whose probes are all out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Time left until the breaker lets probes through; zero when half-open.
    retry_after: Duration,
    /// True when refused because every half-open probe slot is taken.
    probing: bool,
}

impl Rejected {
    /// Refused while open, `retry_after` before the recovery time ends.
    pub(super) fn open(retry_after: Duration) -> Self {
        Rejected {
            retry_after,
            probing: false,
        }
    }

    /// Refused while half-open with every probe slot taken.
    pub(super) fn probing() -> Self {
        Rejected {
            retry_after: Duration::ZERO,
            probing: true,
        }
    }

    /// Time left until the breaker lets probes through. Zero when it is half-open
    /// already and every probe is out: a slot frees up when a probe ends.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Whether the breaker was half-open (its probes all out) rather than open.
    pub fn is_half_open(&self) -> bool {
        self.probing
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.probing {
            f.write_str("circuit breaker is half-open and its probes are all out")
        } else {
            f.write_str("circuit breaker is open")
        }
    }
}

impl Error for Rejected {}
