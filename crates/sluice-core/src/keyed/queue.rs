//! [`KeyedQueue`]: the lock around the bookkeeping in `state.rs`, and the public API.

use super::answers::{CancelledRest, Submitted, Ticket};
use super::order::KeyOrder;
use super::state::State;
use crate::loom::lock;
use crate::loom::sync::Mutex;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// Orders items by key before they run, in one of three [`KeyOrder`] modes.
///
/// The protocol: [`submit`](Self::submit) answers [`Submitted::Run`] (start the item
/// now; it holds its key's turn) or [`Submitted::Queued`] (it waits). When a running
/// item has ended for good, its owner calls [`finish`](Self::finish) with its key and
/// starts whatever item that returns, which now holds the turn. Queued items leave
/// early through [`cancel`](Self::cancel), [`finish_and_cancel_rest`] and
/// [`drain_all`](Self::drain_all). A key with nothing running and nothing queued holds
/// no memory in the queue.
///
/// Every method takes `&self` and one short lock; share the queue by reference (scoped
/// threads) or in an `Arc`. The key's `Hash`, `Eq`, `Clone` and `Drop` run under that
/// lock, so they must be quick and must not panic: a key whose hashing panics leaves the
/// queue's accounting for that key unspecified (never unsafe).
///
/// Keys are hashed by `S`, std's `RandomState` unless the queue is made
/// [`with_hasher`](Self::with_hasher).
///
/// [`finish_and_cancel_rest`]: Self::finish_and_cancel_rest
pub struct KeyedQueue<K, T, S = RandomState> {
    /// The mode chosen at construction, read without the lock.
    ordering: KeyOrder,
    /// All the bookkeeping, under one lock.
    state: Mutex<State<K, T, S>>,
}

impl<K: Hash + Eq + Clone, T> KeyedQueue<K, T> {
    /// An empty queue that keeps `ordering`.
    pub fn new(ordering: KeyOrder) -> Self {
        Self::with_hasher(ordering, RandomState::new())
    }
}

impl<K: Hash + Eq + Clone, T, S: BuildHasher + Clone> KeyedQueue<K, T, S> {
    /// An empty queue that keeps `ordering` and hashes its keys with `hasher`: for keys
    /// that carry a hash computed once (a key looked up at every submit and finish need
    /// not be hashed at each).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{KeyedQueue, KeyOrder, Submitted};
    /// use std::collections::hash_map::RandomState;
    ///
    /// let queue = KeyedQueue::with_hasher(KeyOrder::PerKey, RandomState::new());
    /// assert_eq!(queue.submit("alice", 1), Submitted::Run(1));
    /// assert_eq!(queue.finish(&"alice"), None);
    /// ```
    pub fn with_hasher(ordering: KeyOrder, hasher: S) -> Self {
        KeyedQueue {
            ordering,
            state: Mutex::new(State::new(ordering, hasher)),
        }
    }

    /// The mode chosen at construction.
    pub fn ordering(&self) -> KeyOrder {
        self.ordering
    }

    /// Offers `item` under `key`. [`Submitted::Run`] hands it back to be started now:
    /// it holds its key's turn (in `Strict`, the queue's turn) until [`finish`] is
    /// called for `key`, however long it runs or retries. [`Submitted::Queued`] keeps it
    /// until its turn comes (it is then returned by a `finish`) or it is cancelled.
    ///
    /// [`finish`]: Self::finish
    pub fn submit(&self, key: K, item: T) -> Submitted<T> {
        lock(&self.state).submit(key, item)
    }

    /// The running item of `key` has ended, for good: its turn passes on. Returns the
    /// item that now holds it, for the caller to start:
    /// - `PerKey`: the next queued item of `key`, if any (otherwise `key` goes idle);
    /// - `Strict`: the next queued item in global order, of any key. The caller learns
    ///   its key from the item itself, and calls `finish` with that key when it ends;
    /// - `Relaxed`: always `None`.
    ///
    /// If `key` has no running item, nothing happens and the answer is `None`.
    #[must_use = "a returned item holds the turn and must be run, then finished"]
    pub fn finish(&self, key: &K) -> Option<T> {
        lock(&self.state).finish(key)
    }

    /// The running item of `key` has failed for good and the rest of its key is to be
    /// cancelled: removes every item queued under `key` and returns them in submission
    /// order; `key` goes idle (in `Relaxed`, other running items of `key` keep theirs).
    /// In `Strict` mode the queue's turn passes to the next item in global order, which
    /// is returned as [`CancelledRest::next`].
    ///
    /// If `key` has no running item, nothing happens and both parts are empty.
    pub fn finish_and_cancel_rest(&self, key: &K) -> CancelledRest<T> {
        lock(&self.state).finish_and_cancel_rest(key)
    }

    /// Takes a queued item back out and returns it; the others keep their order. `None`
    /// if the ticket's item is no longer queued: it was handed out to run, cancelled or
    /// drained already. A running item cannot be cancelled here.
    pub fn cancel(&self, ticket: Ticket) -> Option<T> {
        lock(&self.state).cancel(ticket)
    }

    /// Removes every queued item, of every key, and returns them in submission order.
    /// Running items keep their turns: `finish` for their keys then returns `None`.
    pub fn drain_all(&self) -> Vec<T> {
        lock(&self.state).drain_all()
    }

    /// Items running plus items queued.
    pub fn len(&self) -> usize {
        let (running, queued, _) = lock(&self.state).counts();
        running + queued
    }

    /// True if nothing runs and nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items holding a turn now (handed out to run and not yet finished).
    pub fn running(&self) -> usize {
        lock(&self.state).counts().0
    }

    /// Items waiting their turn now.
    pub fn queued(&self) -> usize {
        lock(&self.state).counts().1
    }

    /// Keys with a running or a queued item. Idle keys hold no memory in the queue.
    pub fn active_keys(&self) -> usize {
        lock(&self.state).counts().2
    }
}

impl<K, T, S> fmt::Debug for KeyedQueue<K, T, S>
where
    K: Hash + Eq + Clone,
    S: BuildHasher + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        let (running, queued, active_keys) = state.counts();
        f.debug_struct("KeyedQueue")
            .field("ordering", &self.ordering)
            .field("running", &running)
            .field("queued", &queued)
            .field("active_keys", &active_keys)
            .finish()
    }
}
