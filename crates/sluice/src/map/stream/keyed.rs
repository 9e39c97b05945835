//! Per-key order in a streamed map: items of one key run one at a time in input order,
//! other keys in parallel.
//!
//! Every item is registered with its key as it is pulled (by the one puller holding
//! the input, so each key's queue is in input order). An item runs only at the front
//! of its key's queue; one that is not is parked here, holding its reserved place in
//! the buffer, and whoever finishes the item before it runs it next. So nobody ever
//! waits for a key: a puller hands a waiting item on and goes on with its unit, and
//! the items waiting are within the buffer's bound (each has its place), whatever the
//! keys.

use crate::lock::lock;
use crate::task::panic_message;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

/// The key order of one map, its key type hidden: keys taken from items `T`, and
/// parked payloads `P` (the item itself for cpu and chunk maps, its future for io).
pub(crate) trait KeyOrder<T, P = T>: Send + Sync {
    /// Registers the items of a unit, whose places start at `first`, in input order.
    /// Called by the one puller holding the input.
    fn register(&self, first: u64, block: &[T]);
    /// Item `seq` is next in its unit: run it now, or leave it parked here.
    fn claim(&self, seq: u64, item: P) -> Claim<P>;
    /// Item `seq` was answered (or given up): its key's next item, if it was parked
    /// and it is now its turn, to run (or give up) by the caller.
    fn done(&self, seq: u64) -> Option<(u64, P)>;
}

/// A map's key order, if it is keyed.
pub(crate) type KeyOrderOf<T, P = T> = Option<Arc<dyn KeyOrder<T, P>>>;

/// What to do with an item that came up in its unit.
pub(crate) enum Claim<T> {
    /// Its turn: run it.
    Run(T),
    /// An earlier item of its key is not done: parked, run by whoever finishes that.
    Parked,
    /// Its key could not be taken (the key function panicked): answer it so, unrun.
    Broken(T, String),
}

/// The key order of one map, over keys `K` taken from items by `key_of`.
pub(crate) struct KeyTable<K, KF, T, P> {
    /// Takes an item's key.
    key_of: KF,
    /// The queues, under one short lock (never held while an item runs).
    keys: Mutex<Keys<K, P>>,
    /// The items the keys are taken from.
    items: PhantomData<fn(&T)>,
}

/// Each key's items not yet done, and each registered item's key.
struct Keys<K, P> {
    /// Per key, its items in input order: the front one's turn; a parked one holds its
    /// payload.
    queues: HashMap<K, VecDeque<(u64, Option<P>)>>,
    /// The key of each item registered and not done.
    key_of_seq: HashMap<u64, K>,
    /// Items whose key function panicked, with its message.
    broken: HashMap<u64, String>,
}

impl<K, KF, T, P> KeyTable<K, KF, T, P> {
    pub(crate) fn new(key_of: KF) -> Self {
        KeyTable {
            key_of,
            keys: Mutex::new(Keys {
                queues: HashMap::new(),
                key_of_seq: HashMap::new(),
                broken: HashMap::new(),
            }),
            items: PhantomData,
        }
    }
}

impl<K, KF, T, P> KeyOrder<T, P> for KeyTable<K, KF, T, P>
where
    K: Hash + Eq + Clone + Send,
    KF: Fn(&T) -> K + Send + Sync,
    P: Send,
{
    fn register(&self, first: u64, block: &[T]) {
        // The keys are taken outside the lock: the key function is the user's code.
        let keys: Vec<Result<K, String>> = block
            .iter()
            .map(|item| {
                catch_unwind(AssertUnwindSafe(|| (self.key_of)(item)))
                    .map_err(|payload| panic_message(&*payload))
            })
            .collect();
        let mut table = lock(&self.keys);
        for (seq, key) in (first..).zip(keys) {
            match key {
                Ok(key) => {
                    table
                        .queues
                        .entry(key.clone())
                        .or_default()
                        .push_back((seq, None));
                    table.key_of_seq.insert(seq, key);
                }
                Err(message) => {
                    table.broken.insert(seq, message);
                }
            }
        }
    }

    fn claim(&self, seq: u64, item: P) -> Claim<P> {
        let mut table = lock(&self.keys);
        if let Some(message) = table.broken.remove(&seq) {
            return Claim::Broken(item, format!("the key function panicked: {message}"));
        }
        let Keys {
            queues, key_of_seq, ..
        } = &mut *table;
        let queue = key_of_seq.get(&seq).and_then(|key| queues.get_mut(key));
        let Some(queue) = queue else {
            // Not registered: cannot happen for a pulled item; run it rather than lose it.
            return Claim::Run(item);
        };
        if queue.front().is_some_and(|&(front, _)| front == seq) {
            return Claim::Run(item);
        }
        match queue.binary_search_by_key(&seq, |&(queued, _)| queued) {
            Ok(at) => {
                queue[at].1 = Some(item);
                Claim::Parked
            }
            Err(_) => Claim::Run(item),
        }
    }

    fn done(&self, seq: u64) -> Option<(u64, P)> {
        let mut table = lock(&self.keys);
        let key = table.key_of_seq.remove(&seq)?;
        let queue = table.queues.get_mut(&key)?;
        if queue.front().is_some_and(|&(front, _)| front == seq) {
            queue.pop_front();
        } else if let Ok(at) = queue.binary_search_by_key(&seq, |&(queued, _)| queued) {
            // Given up before its turn (the map stopping): out of the line.
            queue.remove(at);
            return None;
        }
        match queue.front_mut() {
            Some((next, parked)) => parked.take().map(|item| (*next, item)),
            None => {
                table.queues.remove(&key);
                None
            }
        }
    }
}

/// How a streamed map's items are ordered by key: [`Unkeyed`] (the default: any item
/// runs as soon as it is pulled) or [`Keyed`] (from
/// [`StreamBuilder::keyed`](crate::StreamBuilder::keyed)). Implemented by those two
/// only.
pub trait KeyOf<T>: Send + 'static {
    /// A `cpu` or `chunks` map's key order, if any: the items wait.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn into_order(self) -> KeyOrderOf<T>;

    /// An `io` map's key order, if any: the items' futures `P` wait.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn into_io_order<P: Send + 'static>(self) -> KeyOrderOf<T, P>;
}

/// A streamed map whose items run in any order (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unkeyed;

impl<T> KeyOf<T> for Unkeyed {
    #[allow(private_interfaces)]
    fn into_order(self) -> KeyOrderOf<T> {
        None
    }

    #[allow(private_interfaces)]
    fn into_io_order<P: Send + 'static>(self) -> KeyOrderOf<T, P> {
        None
    }
}

/// A streamed map whose items of one key run one at a time, in input order: from
/// [`StreamBuilder::keyed`](crate::StreamBuilder::keyed).
pub struct Keyed<KF, T, K> {
    /// Takes an item's key.
    key_of: KF,
    /// The item and key types `key_of` maps between.
    types: PhantomData<fn(&T) -> K>,
}

impl<KF, T, K> Keyed<KF, T, K> {
    pub(crate) fn new(key_of: KF) -> Self {
        Keyed {
            key_of,
            types: PhantomData,
        }
    }
}

impl<KF, T, K> fmt::Debug for Keyed<KF, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyed(..)")
    }
}

impl<KF, T, K> KeyOf<T> for Keyed<KF, T, K>
where
    KF: Fn(&T) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    T: Send + 'static,
{
    #[allow(private_interfaces)]
    fn into_order(self) -> KeyOrderOf<T> {
        Some(Arc::new(KeyTable::<K, KF, T, T>::new(self.key_of)))
    }

    #[allow(private_interfaces)]
    fn into_io_order<P: Send + 'static>(self) -> KeyOrderOf<T, P> {
        Some(Arc::new(KeyTable::<K, KF, T, P>::new(self.key_of)))
    }
}
