//! The manager's circuit breakers by name: one shared by every task of the name, or one
//! per key, made when a key first asks for it.

use crate::lock::lock;
use sluice_core::{BreakerConfig, CircuitBreaker, Clock};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

/// Every breaker of a manager.
pub(crate) struct Breakers {
    /// By name.
    named: HashMap<String, Named>,
    /// The clock each breaker reads, per-key ones included.
    clock: Arc<dyn Clock>,
}

/// One registered name.
enum Named {
    /// One breaker for every task of the name.
    Shared(CircuitBreaker),
    /// One breaker per task key (tasks without a key share one of their own).
    PerKey {
        /// What each new key's breaker is made from.
        config: BreakerConfig,
        /// The breakers made so far, by key; `None` is the unkeyed tasks' one.
        by_key: Mutex<HashMap<Option<Arc<str>>, CircuitBreaker>>,
    },
}

/// How a name was registered twice, for the builder's error.
pub(crate) struct Duplicate(pub(crate) String);

impl Breakers {
    /// Registers `shared` and `per_key` breakers; a name may be used once.
    pub(crate) fn new(
        shared: Vec<(String, BreakerConfig)>,
        per_key: Vec<(String, BreakerConfig)>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Duplicate> {
        let mut named = HashMap::new();
        let entries = shared
            .into_iter()
            .map(|(name, config)| (name, config, false))
            .chain(
                per_key
                    .into_iter()
                    .map(|(name, config)| (name, config, true)),
            );
        for (name, config, keyed) in entries {
            let slot = match named.entry(name) {
                Entry::Vacant(slot) => slot,
                Entry::Occupied(taken) => return Err(Duplicate(taken.key().clone())),
            };
            let entry = if keyed {
                Named::PerKey {
                    config,
                    by_key: Mutex::new(HashMap::new()),
                }
            } else {
                Named::Shared(CircuitBreaker::new(config, clock.clone()))
            };
            slot.insert(entry);
        }
        Ok(Breakers { named, clock })
    }

    /// The breaker a task named `name` with `key` uses; `None` if no breaker has the name.
    pub(crate) fn get(&self, name: &str, key: Option<&Arc<str>>) -> Option<CircuitBreaker> {
        match self.named.get(name)? {
            Named::Shared(breaker) => Some(breaker.clone()),
            Named::PerKey { config, by_key } => Some(
                lock(by_key)
                    .entry(key.cloned())
                    .or_insert_with(|| CircuitBreaker::new(config.clone(), self.clock.clone()))
                    .clone(),
            ),
        }
    }

    /// Every breaker with the name it shows under: `name`, or `name[key]` for one of
    /// a per-key name (`name[]` for the unkeyed tasks' one).
    pub(crate) fn all(&self) -> Vec<(String, CircuitBreaker)> {
        let mut all = Vec::new();
        for (name, named) in &self.named {
            match named {
                Named::Shared(breaker) => all.push((name.clone(), breaker.clone())),
                Named::PerKey { by_key, .. } => {
                    for (key, breaker) in lock(by_key).iter() {
                        let key = key.as_deref().unwrap_or("");
                        all.push((format!("{name}[{key}]"), breaker.clone()));
                    }
                }
            }
        }
        all
    }
}
