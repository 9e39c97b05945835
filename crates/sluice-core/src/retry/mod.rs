//! Retry: how long to wait before each retry, and whether to retry at all.
//!
//! - [`Backoff`] gives the delay before retry `n`: `base * 2^n`, capped, then drawn
//!   under that ceiling as its [`Jitter`] says, from a seedable [`Rng`], so a seed
//!   replays a task's delays exactly. It never sleeps; the caller waits.
//! - [`RetryBudget`] is shared by every task of one name: each first attempt deposits a
//!   call, each retry withdraws, and retries are refused once they would exceed
//!   `min_per_window + ratio * calls` over the [`BudgetConfig`]'s window. A failing
//!   dependency then gets at most a bounded share of extra load, never a retry storm.
//!
//! Invariants, each checked by the loom tests in `tests/loom_retry.rs`:
//! - a withdraw checks and takes the allowance in one step: threads racing for the last
//!   allowed retry leave exactly one with it;
//! - deposits and withdraws racing each other lose no count, and the retries granted
//!   never exceed what the window allows;
//! - once the clock has moved a whole window on, old calls and retries no longer count.
//!
//! # Examples
//!
//! ```
//! use sluice_core::{Backoff, BudgetConfig, Jitter, RetryBudget, Rng};
//! use std::time::Duration;
//!
//! let budget = RetryBudget::new(BudgetConfig::new().min_per_window(1).ratio(0.0))?;
//! let backoff = Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::Equal);
//! let mut rng = Rng::seeded(3);
//!
//! budget.deposit(); // the first attempt
//! let mut waited = Vec::new();
//! let mut retry = 0;
//! while budget.withdraw() {
//!     waited.push(backoff.delay(retry, &mut rng)); // a real task sleeps this long
//!     retry += 1;
//! }
//! assert_eq!(waited.len(), 1, "one retry per window, whatever the calls");
//! assert!(waited[0] >= Duration::from_millis(5) && waited[0] <= Duration::from_millis(10));
//! assert_eq!(waited, backoff.delays(3).take(1).collect::<Vec<_>>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backoff;
mod budget;
mod config;
mod rng;

pub use backoff::{Backoff, Jitter};
pub use budget::{BudgetSnapshot, RetryBudget};
pub use config::{BudgetConfig, BudgetConfigError};
pub use rng::Rng;
