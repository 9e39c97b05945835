//! The primitives under Sluice's policies, model-checked with loom.
//!
//! Everything here that two threads can touch at once is reached through one shim
//! ([`loom`](self) in the source), so `RUSTFLAGS="--cfg sluice_loom"` runs the same code
//! under loom's exhaustive scheduler. This crate knows nothing of pools, runtimes or
//! policies; it has no dependencies at all outside loom tests.
//!
//! - [`Gate`]: admission with a limit that can move while work waits and runs.
//! - [`CircuitBreaker`]: closed, open and half-open, tripped by failures in a row or a
//!   failure rate, with an injected [`Clock`] and transitions returned to the caller.
//! - [`Counters`]: outcome accounting whose sums are exact under any interleaving.
//! - [`CancelScope`] and [`CancelToken`]: cancel one task, every task not yet started,
//!   or everything.
//! - [`SlotVec`]: a vector filled in disjoint claimed ranges by several threads, for
//!   parallel maps that write results in place.
//! - [`completion()`]: a one-shot slot that a task fills and a caller awaits or blocks on.
//! - [`StreamBuffer`]: the bounded buffer between a streamed map's workers and its
//!   consumer: room reserved before work, ordered or unordered delivery, parked
//!   producers resumed as the consumer frees room.
//! - [`KeyedQueue`]: per-key ordering (`Strict`, `PerKey`, `Relaxed`) that holds a key's
//!   turn until its running item finishes, with cancellation by ticket.
//! - [`Backoff`] and [`RetryBudget`]: exponential backoff with seedable jitter, and a
//!   shared cap on retries as a share of recent calls, so failures bring no retry storm.
//!
//! # Examples
//!
//! ```
//! use sluice_core::Gate;
//!
//! let gate = Gate::new(1);
//! let permit = gate.try_acquire().expect("the gate is open");
//! assert!(gate.try_acquire().is_none(), "the limit is one");
//! gate.set_limit(2);
//! let second = gate.try_acquire().expect("raising the limit makes room");
//! drop((permit, second));
//! assert_eq!(gate.in_flight(), 0);
//! ```

#![deny(unsafe_code)]

mod breaker;
mod cancel;
pub mod completion;
mod counters;
mod gate;
mod histogram;
mod keyed;
mod loom;
mod retry;
#[allow(unsafe_code)] // Measured need; each block has a SAFETY comment and loom tests.
mod slots;
mod spin;
mod stream_buffer;

pub use breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerConfigError, BreakerSnapshot, BreakerState, Call,
    CircuitBreaker, Clock, FailureRate, ManualClock, MonotonicClock, Rejected, Transition,
};
pub use cancel::{CancelOutcome, CancelScope, CancelToken, StartError, TokenCell};
pub use completion::{Completer, Completion, OneShot, completion};
pub use counters::{Counters, CountersSnapshot, Outcome};
pub use gate::{Acquire, Deferred, Gate, Lease, Lent, Permit, Priority, SharedDeferred};
pub use histogram::{Histogram, HistogramSnapshot};
pub use keyed::{CancelledRest, KeyOrder, KeyedQueue, Submitted, Ticket};
pub use retry::{
    Backoff, BudgetConfig, BudgetConfigError, BudgetSnapshot, Jitter, RetryBudget, Rng,
};
pub use slots::{Claim, SlotVec};
pub use stream_buffer::{Refill, Reserve, StreamBuffer, Taken};
