//! The busy keys: each key's state in one table, found by the key, or by the key's hash
//! and a queued item's ticket number when that item is cancelled.
//!
//! A ticket carries its key's hash, so a cancel goes straight to the key's lane (among
//! the keys of that hash, the one whose lane holds the ticket's number) with no map of
//! every queued item beside the keys: that map's insert, look-up and removal, each a
//! cache miss into a table of every queued item, were the largest single cost of
//! passing a key's turn on.

use super::lane::Lane;
use hashbrown::HashTable;
use hashbrown::hash_table::{Entry, OccupiedEntry};
use std::hash::{BuildHasher, Hash};

/// Tables that grew past this many entries are given back once they are empty again.
const RECLAIM_ABOVE: usize = 64;

/// One busy key.
pub(super) struct KeyState<K, T> {
    /// The key.
    pub(super) key: K,
    /// Its hash, by the queue's hasher: the table's, and its tickets'.
    hash: u64,
    /// Items of this key that hold a turn now (at most one unless `Relaxed`).
    pub(super) running: usize,
    /// Items of this key waiting, in submission order.
    pub(super) lane: Lane<T>,
}

impl<K, T> KeyState<K, T> {
    pub(super) fn is_idle(&self) -> bool {
        self.running == 0 && self.lane.is_empty()
    }

    /// Its hash, for a ticket.
    pub(super) fn hash(&self) -> u64 {
        self.hash
    }
}

/// Every key with a running or a queued item; idle keys are removed.
pub(super) struct Busy<K, T, S> {
    /// The keys' states, by hash.
    table: HashTable<KeyState<K, T>>,
    /// Hashes the keys.
    hasher: S,
}

impl<K: Hash + Eq + Clone, T, S: BuildHasher> Busy<K, T, S> {
    pub(super) fn new(hasher: S) -> Self {
        Busy {
            table: HashTable::new(),
            hasher,
        }
    }

    /// Busy keys.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// `key`'s state, made (idle) if it had none: one look-up of the key.
    pub(super) fn entry(&mut self, key: K) -> &mut KeyState<K, T> {
        let hash = self.hasher.hash_one(&key);
        match self
            .table
            .entry(hash, |state| state.key == key, |state| state.hash)
        {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry
                .insert(KeyState {
                    key,
                    hash,
                    running: 0,
                    lane: Lane::default(),
                })
                .into_mut(),
        }
    }

    /// `key`'s entry, if it is busy.
    pub(super) fn find(&mut self, key: &K) -> Option<OccupiedEntry<'_, KeyState<K, T>>> {
        let hash = self.hasher.hash_one(key);
        self.table.find_entry(hash, |state| state.key == *key).ok()
    }

    /// The entry of the key of hash `hash` whose lane holds item `seq`, if any.
    pub(super) fn holding(
        &mut self,
        hash: u64,
        seq: u64,
    ) -> Option<OccupiedEntry<'_, KeyState<K, T>>> {
        self.table
            .find_entry(hash, |state| state.lane.holds(seq))
            .ok()
    }

    /// Whether item `seq` of a key of hash `hash` still waits.
    pub(super) fn holds(&self, hash: u64, seq: u64) -> bool {
        self.table
            .find(hash, |state| state.lane.holds(seq))
            .is_some()
    }

    /// Every busy key's state.
    pub(super) fn states_mut(&mut self) -> impl Iterator<Item = &mut KeyState<K, T>> {
        self.table.iter_mut()
    }

    /// Removes every idle key.
    pub(super) fn remove_idle(&mut self) {
        self.table.retain(|state| !state.is_idle());
        self.reclaim();
    }

    /// Gives back the memory of a table that grew large, once no key is busy.
    pub(super) fn reclaim(&mut self) {
        if self.table.is_empty() && self.table.capacity() > RECLAIM_ABOVE {
            self.table = HashTable::new();
        }
    }
}
