//! A circuit breaker: closed, open, half-open, with an injected clock.
//!
//! A [`CircuitBreaker`] starts closed and admits every call. It opens when a trip
//! condition of its [`BreakerConfig`] is met: a number of failures in a row, or a
//! failure rate over a sliding window of the latest calls once the window holds
//! enough of them (either or both; a call slower than the slow-call limit counts as a
//! failure). Open, it rejects every call with the time left until its recovery time
//! has passed. Then it is half-open: it admits at most `half_open_probes` probes at
//! once (and never more than the successes it still needs); that many successes close
//! it, and one failure opens it again in a new generation, for a new recovery time.
//! The move to half-open is made by the first [`try_acquire`](CircuitBreaker::try_acquire)
//! after the recovery time, and reported on the [`Call`] it returns.
//!
//! [`CircuitBreaker::try_acquire`] answers a [`Call`], which records its result once
//! and returns the [`Transition`] it caused, if any, for the caller to log (this crate
//! logs nothing). Each transition is returned exactly once. A call dropped without a
//! result records nothing but gives its probe slot back. A result that arrives after
//! the breaker has opened or closed since the call was admitted belongs to an ended
//! generation and changes nothing.
//!
//! Invariants, each checked by the loom tests in `tests/loom_breaker.rs`:
//! - the probes in flight of one half-open period never exceed the limit, however
//!   acquires, results and drops interleave (a probe of an ended period holds no slot
//!   of the next one);
//! - the final state is the target of the last transition reported, and every
//!   transition is reported once;
//! - a result from an ended generation never trips, closes or reopens the breaker, and
//!   never resets or adds to the current failure streak.
//!
//! # Examples
//!
//! ```
//! use sluice_core::{BreakerConfig, BreakerState, CircuitBreaker, ManualClock};
//! use std::{sync::Arc, time::Duration};
//!
//! let config = BreakerConfig::builder()
//!     .consecutive_failures(2)
//!     .failure_rate(0.5, 20, 10)
//!     .slow_call(Duration::from_secs(2))
//!     .recovery(Duration::from_secs(30))
//!     .half_open_probes(1)
//!     .build()?;
//! let clock = Arc::new(ManualClock::new());
//! let breaker = CircuitBreaker::new(config, clock.clone());
//!
//! let ms = Duration::from_millis;
//! assert_eq!(breaker.try_acquire()?.failure(ms(5)), None);
//! // A success slower than two seconds counts as the second failure in a row.
//! let tripped = breaker.try_acquire()?.success(ms(2500)).expect("it trips");
//! assert_eq!(tripped.to, BreakerState::Open { until: Duration::from_secs(30) });
//!
//! clock.advance(Duration::from_secs(10));
//! let rejected = breaker.try_acquire().expect_err("open");
//! assert_eq!(rejected.retry_after(), Duration::from_secs(20));
//! assert_eq!(rejected.to_string(), "circuit breaker is open");
//!
//! clock.advance(Duration::from_secs(20));
//! let probe = breaker.try_acquire()?;
//! assert_eq!(probe.transition().map(|t| t.to), Some(BreakerState::HalfOpen));
//! assert!(breaker.try_acquire().is_err(), "one probe at a time");
//! let closed = probe.success(ms(5)).expect("the probe closes it");
//! assert_eq!(closed.to, BreakerState::Closed);
//! assert_eq!(breaker.snapshot().generation, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod call;
mod circuit;
mod clock;
mod config;
mod state;
mod window;

pub use call::{Call, Rejected};
pub use circuit::{BreakerSnapshot, CircuitBreaker};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{BreakerConfig, BreakerConfigBuilder, BreakerConfigError, FailureRate};
pub use state::{BreakerState, Transition};
