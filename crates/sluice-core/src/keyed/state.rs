//! The queue's bookkeeping, without the lock: which keys hold a turn, and who waits.
//!
//! Every queued item lives in its key's [`Lane`](super::lane::Lane), in submission
//! order; its ticket carries the key's hash and the item's number, so a cancel finds
//! the key among those of that hash and the item in its lane by binary search. In
//! `Strict` mode the global order is one more list of (number, key hash), whose entries
//! for cancelled items are skipped when they come up. A key is in the table only while
//! it has a running item or a queued one: the step that makes it idle removes it.
//!
//! Invariants (kept by every method, checked by `tests/keyed.rs` against a model):
//! - `running` is the sum of the keys' `running`; `queued` the sum of their lanes'
//!   live entries;
//! - `PerKey`: a key has at most one running item, and has queued items only while one
//!   runs;
//! - `Strict`: at most one item runs in the whole queue, and items wait only while one
//!   runs; every queued item has an entry in the global order, and the global order
//!   and each key's lane agree on the items' relative order;
//! - `Relaxed`: nothing is ever queued.
//!
//! The key's `Hash`, `Eq`, `Clone` and `Drop` are the only foreign code that runs here;
//! each method calls them before its first write where it can.

use super::answers::{CancelledRest, Submitted, Ticket};
use super::busy::Busy;
use super::lane::SMALL;
use super::order::KeyOrder;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};

/// What the queue's mutex guards; `S` hashes the keys.
pub(super) struct State<K, T, S> {
    /// The mode chosen at construction.
    ordering: KeyOrder,
    /// The number the next queued item's ticket gets.
    next_ticket: u64,
    /// Items holding a turn now, over all keys.
    running: usize,
    /// Items waiting now, over all keys.
    queued: usize,
    /// Every key with a running or a queued item.
    keys: Busy<K, T, S>,
    /// `Strict` only: every queued item's number and key hash, in submission order,
    /// with cancelled ones not yet skipped.
    global: VecDeque<(u64, u64)>,
}

impl<K: Hash + Eq + Clone, T, S: BuildHasher> State<K, T, S> {
    pub(super) fn new(ordering: KeyOrder, hasher: S) -> Self {
        State {
            ordering,
            next_ticket: 0,
            running: 0,
            queued: 0,
            keys: Busy::new(hasher),
            global: VecDeque::new(),
        }
    }

    /// (running, queued, active keys).
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        (self.running, self.queued, self.keys.len())
    }

    pub(super) fn submit(&mut self, key: K, item: T) -> Submitted<T> {
        let global_free = self.running == 0 && self.queued == 0;
        // One look-up of the key: its state decides, and is counted in, at once.
        let state = self.keys.entry(key);
        let may_run = match self.ordering {
            KeyOrder::Relaxed => true,
            KeyOrder::PerKey => state.running == 0 && state.lane.is_empty(),
            KeyOrder::Strict => global_free,
        };
        if may_run {
            state.running += 1;
            self.running += 1;
            return Submitted::Run(item);
        }
        let seq = self.next_ticket;
        let hash = state.hash();
        state.lane.push(seq, item);
        if self.ordering == KeyOrder::Strict {
            self.global.push_back((seq, hash));
        }
        self.queued += 1;
        self.next_ticket += 1;
        Submitted::Queued(Ticket { seq, hash })
    }

    pub(super) fn finish(&mut self, key: &K) -> Option<T> {
        let mut entry = self
            .keys
            .find(key)
            .filter(|entry| entry.get().running > 0)?;
        let state = entry.get_mut();
        state.running -= 1;
        self.running -= 1;
        if self.ordering == KeyOrder::PerKey
            && let Some(item) = state.lane.pop()
        {
            state.running += 1;
            self.running += 1;
            self.queued -= 1;
            return Some(item);
        }
        if state.is_idle() {
            entry.remove();
            self.keys.reclaim();
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
        let Some(mut entry) = self.keys.find(key).filter(|entry| entry.get().running > 0) else {
            return rest;
        };
        let state = entry.get_mut();
        state.running -= 1;
        self.running -= 1;
        rest.cancelled = state.lane.take().map(|(_, item)| item).collect();
        self.queued -= rest.cancelled.len();
        if state.is_idle() {
            entry.remove();
            self.keys.reclaim();
        }
        if self.ordering == KeyOrder::Strict {
            self.compact_global();
            rest.next = self.start_next_global();
        }
        rest
    }

    pub(super) fn cancel(&mut self, ticket: Ticket) -> Option<T> {
        let mut entry = self.keys.holding(ticket.hash, ticket.seq)?;
        let state = entry.get_mut();
        let item = state.lane.cancel(ticket.seq)?;
        self.queued -= 1;
        if state.is_idle() {
            entry.remove();
            self.keys.reclaim();
        }
        if self.ordering == KeyOrder::Strict {
            self.compact_global();
        }
        Some(item)
    }

    pub(super) fn drain_all(&mut self) -> Vec<T> {
        let mut drained: Vec<(u64, T)> = self
            .keys
            .states_mut()
            .flat_map(|state| state.lane.take())
            .collect();
        drained.sort_unstable_by_key(|&(seq, _)| seq);
        self.queued = 0;
        self.global = VecDeque::new();
        self.keys.remove_idle();
        drained.into_iter().map(|(_, item)| item).collect()
    }

    /// `Strict`: hands the free turn to the first item in global order still queued,
    /// if any. A key's items wait in global order, so that item is its key's first.
    fn start_next_global(&mut self) -> Option<T> {
        while let Some((seq, hash)) = self.global.pop_front() {
            // A cancelled item's entry: no lane holds its number any more.
            let Some(mut entry) = self.keys.holding(hash, seq) else {
                continue;
            };
            let state = entry.get_mut();
            debug_assert_eq!(state.lane.front(), Some(seq), "the lanes disagree on order");
            let item = state.lane.pop();
            state.running += 1;
            self.running += 1;
            self.queued -= 1;
            return item;
        }
        None
    }

    /// `Strict`: forgets the global entries of cancelled items once they outnumber the
    /// live ones, so the global order holds at most about twice the queued items.
    fn compact_global(&mut self) {
        if self.queued == 0 {
            self.global = VecDeque::new();
        } else if self.global.len() > SMALL && self.global.len() > 2 * self.queued {
            let keys = &self.keys;
            self.global.retain(|&(seq, hash)| keys.holds(hash, seq));
            self.global.shrink_to_fit();
        }
    }
}
