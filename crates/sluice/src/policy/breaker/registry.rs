//! The manager's circuit breakers by name: one shared by every task of the name, or one
//! per key, made when a key first asks for it (and kept to a bounded number:
//! `per_key.rs`).

use super::per_key::PerKey;
use crate::lock::lock;
use crate::policy::keyed::TaskKey;
use crate::policy::last_look_up::{self, Last};
use crate::snapshot::KeyedBreakersView;
use foldhash::HashMap;
use sluice_core::{BreakerConfig, CircuitBreaker, Clock};
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

std::thread_local! {
    /// This thread's last look-up of a shared breaker (`last_look_up`).
    static LAST: Last<CircuitBreaker> = const { Last::new(None) };
}

/// Every breaker of a manager.
pub(crate) struct Breakers {
    /// By name; looked up for every task that names a breaker, so hashed with a fast
    /// hash (the names are the program's own, registered at build time).
    named: HashMap<String, Named>,
    /// The clock each breaker reads, per-key ones included.
    clock: Arc<dyn Clock>,
    /// This registry's number, for the threads' cached look-ups.
    id: u64,
}

/// One registered name.
enum Named {
    /// One breaker for every task of the name.
    Shared(CircuitBreaker),
    /// One breaker per task key (tasks without a key share one of their own).
    PerKey(Mutex<PerKey>),
}

/// Every breaker as the snapshot lists it: each with the name it shows under, and
/// the counts of each per-key name.
pub(crate) struct Listing {
    /// `name`, or `name[key]` for one of a per-key name (`name[]` for the unkeyed
    /// tasks' one); a per-key name lists a bounded number.
    pub(crate) breakers: Vec<(String, CircuitBreaker)>,
    /// One entry per per-key name.
    pub(crate) per_key: Vec<KeyedBreakersView>,
}

/// How a name was registered twice, for the builder's error.
pub(crate) struct Duplicate(pub(crate) String);

impl Breakers {
    /// Registers `shared` and `per_key` breakers; a name may be used once. A per-key
    /// name keeps at most `tracked` idle breakers (see `per_key.rs`).
    pub(crate) fn new(
        shared: Vec<(String, BreakerConfig)>,
        per_key: Vec<(String, BreakerConfig)>,
        clock: Arc<dyn Clock>,
        tracked: usize,
    ) -> Result<Self, Duplicate> {
        let mut named = HashMap::default();
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
                Named::PerKey(Mutex::new(PerKey::new(config, tracked)))
            } else {
                Named::Shared(CircuitBreaker::new(config, clock.clone()))
            };
            slot.insert(entry);
        }
        let id = last_look_up::registry_id();
        Ok(Breakers { named, clock, id })
    }

    /// As [`get`](Self::get), for a name held as an `Arc`: a shared breaker this
    /// thread looked up last under the same allocation is answered without a look-up.
    pub(crate) fn get_named(
        &self,
        name: &Arc<str>,
        key: Option<&TaskKey>,
    ) -> Option<CircuitBreaker> {
        if let Some(breaker) = last_look_up::cached(&LAST, self.id, name) {
            return Some(breaker);
        }
        match self.named.get(&**name)? {
            Named::Shared(breaker) => {
                last_look_up::remember(&LAST, self.id, name, breaker.clone());
                Some(breaker.clone())
            }
            Named::PerKey(per_key) => Some(lock(per_key).get(key, &self.clock)),
        }
    }

    /// The breaker a task named `name` with `key` uses; `None` if no breaker has the name.
    pub(crate) fn get(&self, name: &str, key: Option<&TaskKey>) -> Option<CircuitBreaker> {
        match self.named.get(name)? {
            Named::Shared(breaker) => Some(breaker.clone()),
            Named::PerKey(per_key) => Some(lock(per_key).get(key, &self.clock)),
        }
    }

    /// Every breaker with the name it shows under, and each per-key name's counts.
    pub(crate) fn all(&self) -> Listing {
        let mut listing = Listing {
            breakers: Vec::new(),
            per_key: Vec::new(),
        };
        for (name, named) in &self.named {
            match named {
                Named::Shared(breaker) => listing.breakers.push((name.clone(), breaker.clone())),
                Named::PerKey(per_key) => {
                    let keys = lock(per_key).listing();
                    listing.per_key.push(KeyedBreakersView {
                        name: name.clone(),
                        tracked: keys.tracked,
                        left_out: keys.tracked - keys.listed.len(),
                        forgotten: keys.forgotten,
                    });
                    for (key, breaker) in keys.listed {
                        let key = key.as_deref().unwrap_or("");
                        listing.breakers.push((format!("{name}[{key}]"), breaker));
                    }
                }
            }
        }
        listing
    }
}
