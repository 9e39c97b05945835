//! One breaker per task key, kept to a bounded number whatever the number of keys.
//!
//! A closed breaker that nobody holds (no call in flight, no task keeping it) and whose
//! counts hold no failure says nothing a fresh breaker would not: forgetting it and
//! making a new one when the key comes back changes no answer. So when a new key finds
//! `tracked` breakers kept, those are forgotten first; if that is not enough, idle
//! closed breakers with failures follow (a few failures short of tripping are lost,
//! the lesser harm than unbounded memory). Open and half-open breakers, and breakers
//! in use, are always kept. A sweep runs when the map reaches `tracked`, or, if more
//! than that had to be kept, when `tracked / 2` keys were added since the last sweep.
//!
//! Memory: at most `tracked` breakers, or, when more are open, half-open or in use,
//! those plus `tracked / 2` — whatever the number of keys seen.

use crate::policy::keyed::TaskKey;
use sluice_core::{BreakerConfig, BreakerState, CircuitBreaker, Clock};
use std::collections::HashMap;
use std::sync::Arc;

/// The breakers of one per-key name.
pub(super) struct PerKey {
    /// What each new key's breaker is made from.
    config: BreakerConfig,
    /// How many idle breakers may be kept; also how many the snapshot lists.
    tracked: usize,
    /// The breakers kept, by key (its hash computed once, its text inline if short:
    /// no allocation to look one up); `None` is the unkeyed tasks' one.
    by_key: HashMap<Option<TaskKey>, CircuitBreaker>,
    /// The size at which the next new key sweeps.
    sweep_at: usize,
    /// Breakers forgotten so far.
    forgotten: u64,
}

/// A per-key name's breakers as the snapshot shows them.
pub(crate) struct PerKeyListing {
    /// The listed breakers, in no order: open and half-open ones chosen first, then
    /// the most called.
    pub(crate) listed: Vec<(Option<Arc<str>>, CircuitBreaker)>,
    /// Breakers kept now.
    pub(crate) tracked: usize,
    /// Breakers forgotten so far.
    pub(crate) forgotten: u64,
}

impl PerKey {
    /// No breaker yet; at most `tracked` idle ones kept.
    pub(super) fn new(config: BreakerConfig, tracked: usize) -> Self {
        PerKey {
            config,
            tracked,
            by_key: HashMap::new(),
            sweep_at: tracked,
            forgotten: 0,
        }
    }

    /// The breaker of `key`, made (reading `clock`) if the key has none kept.
    pub(super) fn get(&mut self, key: Option<&TaskKey>, clock: &Arc<dyn Clock>) -> CircuitBreaker {
        if let Some(breaker) = self.by_key.get(&key.cloned()) {
            return breaker.clone();
        }
        if self.by_key.len() >= self.sweep_at {
            self.sweep();
        }
        let breaker = CircuitBreaker::new(self.config.clone(), clock.clone());
        self.by_key.insert(key.cloned(), breaker.clone());
        breaker
    }

    /// Forgets idle closed breakers: every clean one, then as many with failures as it
    /// takes to come down to half the tracked number.
    fn sweep(&mut self) {
        let before = self.by_key.len();
        self.by_key
            .retain(|_, breaker| !Idle::of(breaker).is_some_and(|idle| idle.clean));
        let mut over = self.by_key.len().saturating_sub(self.tracked / 2);
        if self.by_key.len() >= self.tracked {
            self.by_key.retain(|_, breaker| {
                if over > 0 && Idle::of(breaker).is_some() {
                    over -= 1;
                    return false;
                }
                true
            });
        }
        self.forgotten += (before - self.by_key.len()) as u64;
        // Room for at least half the tracked number of new keys before the next sweep,
        // so that sweeps cost a constant per new key (of the order of the breakers kept
        // over the tracked number).
        let kept = self.by_key.len();
        self.sweep_at = self.tracked.max(kept + (self.tracked / 2).max(1));
    }

    /// What the snapshot shows: at most `tracked` breakers, open and half-open first,
    /// then by calls admitted.
    pub(super) fn listing(&self) -> PerKeyListing {
        let mut all: Vec<_> = self
            .by_key
            .iter()
            .map(|(key, breaker)| {
                let snapshot = breaker.snapshot();
                let closed = snapshot.state == BreakerState::Closed;
                (
                    (closed, u64::MAX - snapshot.calls),
                    key.as_ref().map(TaskKey::shared),
                    breaker.clone(),
                )
            })
            .collect();
        let shown = self.tracked.min(all.len());
        if shown < all.len() {
            all.select_nth_unstable_by_key(shown, |entry| entry.0);
            all.truncate(shown);
        }
        PerKeyListing {
            listed: all.into_iter().map(|(_, key, b)| (key, b)).collect(),
            tracked: self.by_key.len(),
            forgotten: self.forgotten,
        }
    }
}

/// A breaker nobody but the registry holds, closed.
struct Idle {
    /// No failure in its current counts either: it is as good as a fresh one.
    clean: bool,
}

impl Idle {
    fn of(breaker: &CircuitBreaker) -> Option<Idle> {
        if breaker.in_use() {
            return None;
        }
        let snapshot = breaker.snapshot();
        (snapshot.state == BreakerState::Closed).then_some(Idle {
            clean: snapshot.consecutive_failures == 0 && snapshot.window_failures == 0,
        })
    }
}
