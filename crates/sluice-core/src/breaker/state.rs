//! The breaker's state machine, as plain data: no lock, no clock, no threads.
//!
//! [`CircuitBreaker`](super::CircuitBreaker) keeps one [`Machine`] under its mutex and
//! hands it the time it read before locking, so everything here is a pure function of
//! the calls made on it. Each transition is returned as a [`Transition`] exactly once.
//!
//! Generations: the breaker starts in generation 0 and moves to the next one each time
//! it opens or closes. Moving from open to half-open keeps the generation, because no
//! call is admitted while open. Every call carries the generation it was admitted in,
//! and a result whose generation is not the current one is counted but otherwise
//! ignored: it can neither trip, close nor reopen the breaker, nor give back a probe.

use super::call::Rejected;
use super::config::BreakerConfig;
use super::window::Window;
use std::fmt;
use std::time::Duration;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the recovery time has passed.
    Open {
        /// The clock reading at which the breaker lets probes through.
        until: Duration,
    },
    /// A bounded number of probe calls go through to test the service.
    HalfOpen,
}

/// A change of state, returned once by whichever call caused it, for the caller to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// The generation of the state entered.
    pub generation: u64,
}

/// What an admitted call needs to know about its admission.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    /// The generation it was admitted in.
    pub(super) generation: u64,
    /// Whether it holds one of the half-open probe slots.
    pub(super) probe: bool,
    /// The move to half-open this admission made, if it made it.
    pub(super) transition: Option<Transition>,
}

/// Running totals, reported by [`BreakerSnapshot`](super::BreakerSnapshot).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Totals {
    /// Calls admitted.
    pub(super) calls: u64,
    /// Results that counted as successes.
    pub(super) successes: u64,
    /// Results that counted as failures, slow successes included.
    pub(super) failures: u64,
    /// Results slower than the slow-call limit, whatever they returned.
    pub(super) slow_calls: u64,
    /// Calls refused.
    pub(super) rejections: u64,
    /// Transitions made.
    pub(super) transitions: u64,
    /// Results from an earlier generation, ignored by the state machine.
    pub(super) stale_results: u64,
    /// Calls dropped without a result.
    pub(super) abandoned: u64,
}

/// The state machine behind a breaker.
#[derive(Debug)]
pub(super) struct Machine {
    /// The settings, fixed for the breaker's life.
    config: BreakerConfig,
    /// The current state; `Open` past its `until` still reads as half-open to callers.
    state: BreakerState,
    /// Moves on every opening and closing.
    generation: u64,
    /// Failures in a row in the current closed period.
    consecutive: u32,
    /// The latest outcomes of the current closed period.
    window: Window,
    /// Half-open probes admitted and not yet ended.
    probes_in_flight: u32,
    /// Half-open probes that succeeded in the current generation.
    probe_successes: u32,
    /// Running totals.
    totals: Totals,
}

impl Machine {
    pub(super) fn new(config: BreakerConfig) -> Self {
        Machine {
            window: Window::new(config.failure_rate()),
            config,
            state: BreakerState::Closed,
            generation: 0,
            consecutive: 0,
            probes_in_flight: 0,
            probe_successes: 0,
            totals: Totals::default(),
        }
    }

    /// Admits a call if the breaker is closed, which needs no clock; `None` otherwise
    /// (then [`acquire`](Self::acquire) decides, at a time read outside the lock).
    pub(super) fn acquire_closed(&mut self) -> Option<Ticket> {
        if self.state != BreakerState::Closed {
            return None;
        }
        self.totals.calls += 1;
        Some(Ticket {
            generation: self.generation,
            probe: false,
            transition: None,
        })
    }

    /// Admits a call at time `now`, or refuses it. The first admission after the
    /// recovery time moves the breaker to half-open and reports it on the ticket.
    pub(super) fn acquire(&mut self, now: Duration) -> Result<Ticket, Rejected> {
        let mut transition = None;
        if let BreakerState::Open { until } = self.state {
            if now < until {
                self.totals.rejections += 1;
                return Err(Rejected::open(until - now));
            }
            transition = Some(self.enter(BreakerState::HalfOpen, false));
        }
        let probe = self.state == BreakerState::HalfOpen;
        if probe {
            // Never more probes at once than the limit, nor more than the successes
            // still needed to close.
            if self.probes_in_flight + self.probe_successes >= self.config.half_open_probes() {
                self.totals.rejections += 1;
                return Err(Rejected::probing());
            }
            self.probes_in_flight += 1;
        }
        self.totals.calls += 1;
        Ok(Ticket {
            generation: self.generation,
            probe,
            transition,
        })
    }

    /// Records the result of a call admitted with `ticket`: `failed` as the caller
    /// reported it, `elapsed` checked against the slow-call limit, at time `now`.
    pub(super) fn record(
        &mut self,
        ticket: &Ticket,
        failed: bool,
        elapsed: Duration,
        now: Duration,
    ) -> Option<Transition> {
        let slow = self.config.is_slow(elapsed);
        let failed = failed || slow;
        self.totals.slow_calls += u64::from(slow);
        if failed {
            self.totals.failures += 1;
        } else {
            self.totals.successes += 1;
        }
        if ticket.generation != self.generation {
            self.totals.stale_results += 1;
            return None;
        }
        match self.state {
            BreakerState::Closed => {
                self.consecutive = if failed {
                    self.consecutive.saturating_add(1)
                } else {
                    0
                };
                self.window.push(failed);
                // `now` is zero for a success that `BreakerConfig::success_may_open`
                // says cannot open it (`Call::record` skips the clock then).
                debug_assert!(
                    failed || self.config.success_may_open() || !self.should_trip(),
                    "a success opened a breaker whose config says it cannot"
                );
                self.should_trip().then(|| self.open(now))
            }
            BreakerState::HalfOpen if ticket.probe => {
                self.probes_in_flight -= 1;
                if failed {
                    return Some(self.open(now));
                }
                self.probe_successes += 1;
                (self.probe_successes >= self.config.half_open_probes())
                    .then(|| self.enter(BreakerState::Closed, true))
            }
            // Not reachable: no call is admitted while open, and half-open only admits
            // probes. Should it happen, the result is ignored like a stale one.
            BreakerState::HalfOpen | BreakerState::Open { .. } => {
                self.totals.stale_results += 1;
                None
            }
        }
    }

    /// A call admitted with `ticket` ended without a result: a probe of the current
    /// generation gives its slot back; nothing else changes.
    pub(super) fn abandon(&mut self, ticket: &Ticket) {
        self.totals.abandoned += 1;
        let current = ticket.generation == self.generation;
        if ticket.probe && current && self.state == BreakerState::HalfOpen {
            self.probes_in_flight -= 1;
        }
    }

    /// Whether the current closed period has met a trip condition.
    fn should_trip(&self) -> bool {
        let consecutive = self
            .config
            .consecutive_failures()
            .is_some_and(|limit| self.consecutive >= limit);
        let rate = self
            .config
            .failure_rate()
            .is_some_and(|rate| self.window.trips(&rate));
        consecutive || rate
    }

    /// Opens the breaker in a new generation, until the recovery time from `now`.
    fn open(&mut self, now: Duration) -> Transition {
        let until = now.saturating_add(self.config.recovery());
        self.enter(BreakerState::Open { until }, true)
    }

    /// Moves to `to`, in a new generation if `next`, and starts its counts afresh.
    fn enter(&mut self, to: BreakerState, next: bool) -> Transition {
        let from = self.state;
        if next {
            self.generation += 1;
        }
        self.state = to;
        self.consecutive = 0;
        self.window.clear();
        self.probes_in_flight = 0;
        self.probe_successes = 0;
        self.totals.transitions += 1;
        Transition {
            from,
            to,
            generation: self.generation,
        }
    }

    /// The state as callers see it at `now`: open past its recovery time reads as
    /// half-open, although the move is made (and reported) by the next admission.
    pub(super) fn state(&self, now: Duration) -> BreakerState {
        match self.state {
            BreakerState::Open { until } if now >= until => BreakerState::HalfOpen,
            state => state,
        }
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    pub(super) fn totals(&self) -> Totals {
        self.totals
    }

    /// (failures in a row, calls in the window, failures in the window, probes).
    pub(super) fn gauges(&self) -> (u32, usize, usize, u32) {
        let window = &self.window;
        let probes = self.probes_in_flight;
        (self.consecutive, window.calls(), window.failures(), probes)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerState::Closed => f.write_str("closed"),
            BreakerState::Open { until } => write!(f, "open until {until:?}"),
            BreakerState::HalfOpen => f.write_str("half-open"),
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Transition {
            from,
            to,
            generation,
        } = self;
        write!(
            f,
            "circuit breaker {from} -> {to} (generation {generation})"
        )
    }
}
