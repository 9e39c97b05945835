//! The queue's bookkeeping, without the lock: which keys hold a turn, and who waits.
//!
//! Every queued item lives in one map from its ticket number, so a cancel finds it in
//! O(1); its number also sits in its key's [`Lane`] (and, in `Strict` mode, in the
//! global lane), where it becomes a tombstone when cancelled. A key's entry exists only
//! while it has a running item or a queued one: the step that makes it idle removes it.
//!
//! Invariants (kept by every method, checked by `tests/keyed.rs` against a model):
//! - `running` is the sum of the keys' `running`; `items` holds exactly the live
//!   entries of the lanes;
//! - `PerKey`: a key has at most one running item, and has queued items only while one
//!   runs;
//! - `Strict`: at most one item runs in the whole queue, and items wait only while one
//!   runs; every queued item is in the global lane and in its key's lane, in the same
//!   relative order;
//! - `Relaxed`: nothing is ever queued.
//!
//! The key's `Hash`, `Eq`, `Clone` and `Drop` are the only foreign code that runs here;
//! each method calls them before its first write where it can.

use super::answers::{CancelledRest, Submitted, Ticket};
use super::lane::Lane;
use super::order::KeyOrder;
use super::tickets::Items;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, Hash};

/// Maps that grew past this many entries are given back once they are empty again.
const RECLAIM_ABOVE: usize = 64;

/// A queued item and the key it waits under.
struct Waiting<K, T> {
    /// The key whose turn the item waits for.
    key: K,
    /// The caller's item.
    item: T,
}

/// One busy key.
#[derive(Default)]
struct KeyState {
    /// Items of this key that hold a turn now (at most one unless `Relaxed`).
    running: usize,
    /// Items of this key waiting, in submission order.
    lane: Lane,
}

impl KeyState {
    fn is_idle(&self) -> bool {
        self.running == 0 && self.lane.is_empty()
    }
}

/// What the queue's mutex guards; `S` hashes the keys.
pub(super) struct State<K, T, S> {
    /// The mode chosen at construction.
    ordering: KeyOrder,
    /// The number the next queued item's ticket gets.
    next_ticket: u64,
    /// Items holding a turn now, over all keys.
    running: usize,
    /// Every queued item, by ticket number.
    items: Items<Waiting<K, T>>,
    /// Every key with a running or a queued item; idle keys are removed.
    keys: HashMap<K, KeyState, S>,
    /// `Strict` only: every queued item in global submission order.
    global: Lane,
}

impl<K: Hash + Eq + Clone, T, S: BuildHasher + Clone> State<K, T, S> {
    pub(super) fn new(ordering: KeyOrder, hasher: S) -> Self {
        State {
            ordering,
            next_ticket: 0,
            running: 0,
            items: Items::default(),
            keys: HashMap::with_hasher(hasher),
            global: Lane::default(),
        }
    }

    pub(super) fn ordering(&self) -> KeyOrder {
        self.ordering
    }

    /// (running, queued, active keys).
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        (self.running, self.items.len(), self.keys.len())
    }

    pub(super) fn submit(&mut self, key: K, item: T) -> Submitted<T> {
        let seq = self.next_ticket;
        let strict = self.ordering == KeyOrder::Strict;
        let global_free = self.running == 0 && self.global.is_empty();
        // One look-up of the key: its entry decides, and is counted in, at once.
        let entry = self.keys.entry(key);
        let may_run = match self.ordering {
            KeyOrder::Relaxed => true,
            KeyOrder::PerKey => match &entry {
                Entry::Occupied(state) => state.get().is_idle(),
                Entry::Vacant(_) => true,
            },
            KeyOrder::Strict => global_free,
        };
        if may_run {
            entry.or_default().running += 1;
            self.running += 1;
            return Submitted::Run(item);
        }
        let key = entry.key().clone();
        entry.or_default().lane.push(seq);
        if strict {
            self.global.push(seq);
        }
        self.items.insert(seq, Waiting { key, item });
        self.next_ticket += 1;
        Submitted::Queued(Ticket(seq))
    }

    pub(super) fn finish(&mut self, key: &K) -> Option<T> {
        let state = self.keys.get_mut(key).filter(|state| state.running > 0)?;
        state.running -= 1;
        self.running -= 1;
        if self.ordering == KeyOrder::PerKey
            && let Some(waiting) = state.lane.pop_item(&mut self.items)
        {
            state.running += 1;
            self.running += 1;
            return Some(waiting.item);
        }
        if state.is_idle() {
            self.remove_key(key);
        }
        match self.ordering {
            KeyOrder::Strict => self.start_next_global(),
            KeyOrder::PerKey | KeyOrder::Relaxed => None,
        }
    }

    pub(super) fn finish_and_cancel_rest(&mut self, key: &K) -> CancelledRest<T> {
        let mut rest = CancelledRest {
            cancelled: Vec::new(),
            next: None,
        };
        let Some(state) = self.keys.get_mut(key).filter(|state| state.running > 0) else {
            return rest;
        };
        state.running -= 1;
        self.running -= 1;
        let taken = state.lane.take();
        let idle = state.is_idle();
        rest.cancelled = taken
            .into_iter()
            .filter_map(|seq| self.items.remove(&seq))
            .map(|waiting| waiting.item)
            .collect();
        if idle {
            self.remove_key(key);
        }
        if self.ordering == KeyOrder::Strict {
            self.global.forget(rest.cancelled.len(), &self.items);
            rest.next = self.start_next_global();
        }
        self.reclaim();
        rest
    }

    pub(super) fn cancel(&mut self, ticket: Ticket) -> Option<T> {
        let Waiting { key, item } = self.items.remove(&ticket.0)?;
        if let Some(state) = self.keys.get_mut(&key) {
            state.lane.forget(1, &self.items);
            if state.is_idle() {
                self.remove_key(&key);
            }
        }
        if self.ordering == KeyOrder::Strict {
            self.global.forget(1, &self.items);
        }
        self.reclaim();
        Some(item)
    }

    pub(super) fn drain_all(&mut self) -> Vec<T> {
        let mut drained: Vec<(u64, T)> = self
            .items
            .drain()
            .map(|(seq, waiting)| (seq, waiting.item))
            .collect();
        drained.sort_unstable_by_key(|&(seq, _)| seq);
        self.global.clear();
        self.keys.retain(|_, state| {
            state.lane.clear();
            state.running > 0
        });
        self.reclaim();
        drained.into_iter().map(|(_, item)| item).collect()
    }

    /// `Strict`: hands the free turn to the first item in global order, if any.
    fn start_next_global(&mut self) -> Option<T> {
        let seq = self.global.pop_live(&self.items)?;
        let key = &self.items.get(&seq)?.key;
        let state = self.keys.get_mut(key)?;
        // A key's items wait in global order, so the global head is also its key's head.
        let own = state.lane.pop_live(&self.items);
        debug_assert_eq!(own, Some(seq), "the lanes disagree on order");
        state.running += 1;
        self.running += 1;
        self.items.remove(&seq).map(|waiting| waiting.item)
    }

    /// Removes a key that has become idle.
    fn remove_key(&mut self, key: &K) {
        self.keys.remove(key);
        self.reclaim();
    }

    /// Gives back the memory of maps that grew large and are empty again.
    fn reclaim(&mut self) {
        if self.keys.is_empty() && self.keys.capacity() > RECLAIM_ABOVE {
            self.keys = HashMap::with_hasher(self.keys.hasher().clone());
        }
        if self.items.is_empty() && self.items.capacity() > RECLAIM_ABOVE {
            self.items = Items::default();
        }
    }
}
