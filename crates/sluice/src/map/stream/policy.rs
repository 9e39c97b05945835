//! The policies a streamed map applies per item: its breaker (asked before each item,
//! told how each ended), its dependency limit (`io` items), and the item counts.

use super::ItemResult;
use crate::TaskError;
use crate::items::{ItemCounters, Tally};
use crate::policy::breaker::{Guarded, admit_to};
use crate::policy::limit::Dependency;
use crate::route::Route;
use sluice_core::{CircuitBreaker, Outcome};
use std::sync::Arc;
use std::time::Instant;

/// What every item of one map goes through.
pub(crate) struct ItemPolicy {
    /// The route, whose item counts add up every map's.
    route: Arc<Route>,
    /// This map's item counts, for its record.
    pub(crate) counts: Arc<ItemCounters>,
    /// The breaker asked before each item, with its name.
    breaker: Option<(Arc<str>, CircuitBreaker)>,
    /// The dependency each `io` item calls through.
    pub(crate) dependency: Option<Arc<Dependency>>,
}

/// An item admitted by its breaker: the call to record, and when the item began (the
/// clock is read only for an item with a breaker).
pub(crate) struct Admitted(Option<(Guarded, Instant)>);

impl ItemPolicy {
    pub(crate) fn new(
        route: &Arc<Route>,
        breaker: Option<(Arc<str>, CircuitBreaker)>,
        dependency: Option<Arc<Dependency>>,
    ) -> Self {
        ItemPolicy {
            route: route.clone(),
            counts: Arc::new(ItemCounters::default()),
            breaker,
            dependency,
        }
    }

    /// Asks the breaker for one item: refused while it is open (the item answers
    /// `Rejected` in its place).
    pub(crate) fn admit<E>(&self) -> Result<Admitted, TaskError<E>> {
        match &self.breaker {
            Some((name, breaker)) => Ok(Admitted(Some((
                admit_to(breaker, name, None)?,
                Instant::now(),
            )))),
            None => Ok(Admitted(None)),
        }
    }

    /// Counts an item's answer, and tells its breaker how the item ended.
    pub(crate) fn answered<O, E>(&self, admitted: Option<Admitted>, result: &ItemResult<O, E>) {
        self.route.items.record(result);
        self.counts.record(result);
        if let Some(admitted) = admitted {
            self.tell_breaker(admitted, result);
        }
    }

    /// Counts a unit's answers at once.
    pub(crate) fn answered_unit(&self, tally: &Tally) {
        self.route.items.add(tally);
        self.counts.add(tally);
    }

    /// Tells the item's breaker, if any, how the item ended.
    pub(crate) fn tell_breaker<O, E>(&self, admitted: Admitted, result: &ItemResult<O, E>) {
        if let Admitted(Some((guard, began))) = admitted {
            let outcome = match result {
                Ok(_) => Outcome::Succeeded,
                Err(TaskError::Failed(_)) => Outcome::Failed,
                Err(TaskError::Panicked(_)) => Outcome::Panicked,
                Err(TaskError::TimedOut) => Outcome::TimedOut,
                Err(_) => Outcome::Cancelled,
            };
            guard.record(outcome, began.elapsed());
        }
    }
}
