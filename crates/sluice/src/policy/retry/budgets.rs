//! The retry budgets of a manager, one per task name, and what they refused.
//!
//! A budget refuses a retry the task's policy asked for when the name's retries would
//! exceed their share of its recent calls. That is the point of it (a failing
//! dependency is not hit by a retry storm), but it must not be silent: each refusal is
//! counted per name (`Snapshot::retry_budgets`), marked on the task's record, and
//! announced by a warning — at most one per name per second, with the refusals since
//! the last one, so that a storm of refusals is not a storm of log lines.

use crate::lock::lock;
use crate::policy::last_look_up::{self, Last};
use crate::snapshot::RetryBudgetView;
use foldhash::HashMap;
use sluice_core::{BudgetConfig, RetryBudget};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

std::thread_local! {
    /// This thread's last look-up of a budget (`last_look_up`).
    static LAST: Last<Arc<NamedBudget>> = const { Last::new(None) };
}

/// At most one warning per name this often.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// The retry budgets of a manager, one per task name, made when a name first retries.
pub(crate) struct Budgets {
    /// By task name; looked up for every retried task this thread did not look up
    /// last, so hashed with a fast hash (task names are the program's own).
    by_name: Mutex<HashMap<Arc<str>, Arc<NamedBudget>>>,
    /// These budgets' number, for the threads' cached look-ups.
    id: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            by_name: Mutex::default(),
            id: last_look_up::registry_id(),
        }
    }
}

/// One name's budget and what it refused.
pub(crate) struct NamedBudget {
    /// The name, for the warning.
    name: Arc<str>,
    /// The budget.
    budget: RetryBudget,
    /// Retries refused so far.
    refused: AtomicU64,
    /// When the last warning went out, and the refusals counted then.
    warned: Mutex<Option<(Instant, u64)>>,
}

impl Budgets {
    /// The budget of `name`, made from `config` if the name has none yet (the first
    /// config given for a name is the one it keeps).
    pub(crate) fn of(&self, name: &Arc<str>, config: BudgetConfig) -> Option<Arc<NamedBudget>> {
        if let Some(budget) = last_look_up::cached(&LAST, self.id, name) {
            return Some(budget);
        }
        let budget = self.look_up(name, config)?;
        last_look_up::remember(&LAST, self.id, name, budget.clone());
        Some(budget)
    }

    /// [`of`](Self::of), in the map.
    fn look_up(&self, name: &Arc<str>, config: BudgetConfig) -> Option<Arc<NamedBudget>> {
        let mut by_name = lock(&self.by_name);
        if let Some(budget) = by_name.get(name) {
            return Some(budget.clone());
        }
        match RetryBudget::new(config) {
            Ok(budget) => {
                let budget = Arc::new(NamedBudget {
                    name: name.clone(),
                    budget,
                    refused: AtomicU64::new(0),
                    warned: Mutex::new(None),
                });
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

    /// Every name's budget as the snapshot shows it, by name.
    pub(crate) fn views(&self) -> Vec<RetryBudgetView> {
        let mut views: Vec<_> = lock(&self.by_name)
            .values()
            .map(|named| {
                let window = named.budget.snapshot();
                RetryBudgetView {
                    name: named.name.to_string(),
                    refused: named.refused.load(Ordering::Relaxed),
                    calls: window.calls,
                    retries: window.retries,
                    allowed: window.allowed,
                }
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }
}

impl NamedBudget {
    /// A task's first attempt was made: adds to the allowance.
    pub(crate) fn deposit(&self) {
        self.budget.deposit();
    }

    /// Asks for one retry: true if the budget allows it.
    pub(crate) fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }

    /// The budget refused a retry of a task after `attempts` attempts: counted, and
    /// announced unless a warning for the name went out less than a second ago.
    pub(crate) fn refused(&self, attempts: u32) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let since = {
            let mut warned = lock(&self.warned);
            match *warned {
                Some((at, _)) if now.duration_since(at) < WARN_EVERY => return,
                last => {
                    *warned = Some((now, refused));
                    refused - last.map_or(0, |(_, counted)| counted)
                }
            }
        };
        let window = self.budget.snapshot();
        tracing::warn!(
            task = &*self.name,
            attempts,
            refused_since_last_warning = since,
            refused_total = refused,
            window_calls = window.calls,
            window_retries = window.retries,
            "retry budget spent: a retry the task's policy asked for was refused"
        );
    }
}
