//! Retry: a task whose work can be called again (`Fn`, not `FnOnce`) is run as a
//! series of attempts by a driver (`driver.rs`), paused by an exponential backoff with
//! jitter, limited by attempts, total time, the task's deadline and the retry budget of
//! its name, and judged by a [`RetryIf`] (`classify.rs`). The policy itself is
//! [`Retry`] (`config.rs`).

mod classify;
mod config;
mod driver;

pub use classify::{RetryIf, Transient, When};
pub use config::{Retry, RetryBuilder, RetryConfigError};
pub(crate) use driver::{Driver, Launch, Plan};

use crate::lock::lock;
use sluice_core::{BudgetConfig, RetryBudget};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The retry state of a [`TaskBuilder`](crate::TaskBuilder) with no retry policy: its
/// work runs once, so it may be an `FnOnce`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetry;

/// The retry state of a [`TaskBuilder`](crate::TaskBuilder) given a retry policy: its
/// work may be called once per attempt, so it must be an `Fn`; `C` decides which
/// failures are retried.
#[derive(Debug, Clone)]
pub struct Retrying<C> {
    /// The policy.
    pub(crate) retry: Retry,
    /// Which failures are worth another attempt.
    pub(crate) classify: C,
}

/// The retry budgets of a manager, one per task name, made when a name first retries.
#[derive(Default)]
pub(crate) struct Budgets {
    /// By task name.
    by_name: Mutex<HashMap<Arc<str>, Arc<RetryBudget>>>,
}

impl Budgets {
    /// The budget of `name`, made from `config` if the name has none yet (the first
    /// config given for a name is the one it keeps).
    pub(crate) fn of(&self, name: &Arc<str>, config: BudgetConfig) -> Option<Arc<RetryBudget>> {
        let mut by_name = lock(&self.by_name);
        if let Some(budget) = by_name.get(name) {
            return Some(budget.clone());
        }
        match RetryBudget::new(config) {
            Ok(budget) => {
                let budget = Arc::new(budget);
                by_name.insert(name.clone(), budget.clone());
                Some(budget)
            }
            Err(error) => {
                // `Retry::build` validated it; this is only reachable by a bug.
                tracing::error!(task = &**name, %error, "invalid retry budget; retrying without one");
                None
            }
        }
    }
}
