//! A task's key with its hash computed once, when the task is given the key.
//!
//! A keyed task is looked up by its key in the key queue (at submission and when it
//! passes its turn on) and in its route's key metrics (at submission, start, end and
//! answer): hashed afresh each time, the key cost about a third of a tiny keyed task.
//! Hashed once here, the maps only pass the stored hash through. The hash is foldhash
//! with a per-process random seed, as hashbrown's default maps use: keys often come
//! from the program's input, so the seed is not fixed, and SipHash alone would still
//! cost more than every other step of admitting a key.
//!
//! Each thread also keeps the keys it gave lately (up to [`KEPT`]), by hash, and hands
//! out a clone when a key comes again: no allocation for it (nor a free on a worker's thread, which
//! contends for the allocator's lock), and the maps that hold the key find it by
//! pointer, without comparing the strings.

use foldhash::fast::RandomState;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// A task key and its hash.
#[derive(Clone)]
pub(crate) struct TaskKey {
    /// The key's hash, by the process's seed.
    hash: u64,
    /// The key.
    name: Arc<str>,
}

/// The seed every key of the process is hashed with.
static SEED: OnceLock<RandomState> = OnceLock::new();

/// How many keys each thread keeps: a thread that gives more, emptied, starts again.
/// Room for the keys of most programs' loops, in about 8 KiB a thread.
const KEPT: usize = 128;

thread_local! {
    /// This thread's keys given lately, by hash.
    static RECENT: RefCell<HashMap<u64, TaskKey, ByKeyHash>> =
        RefCell::new(HashMap::default());
}

impl TaskKey {
    /// `name` as a key, hashed now: a clone of this thread's if it gave the key lately.
    pub(crate) fn new(name: &str) -> Self {
        let hash = SEED.get_or_init(RandomState::default).hash_one(name);
        let made = || TaskKey {
            hash,
            name: Arc::from(name),
        };
        RECENT
            .try_with(|recent| {
                // A key made while the cache is borrowed (never expected) is just made.
                let Ok(mut recent) = recent.try_borrow_mut() else {
                    return made();
                };
                if let Some(kept) = recent.get(&hash)
                    && *kept.name == *name
                {
                    return kept.clone();
                }
                if recent.len() >= KEPT {
                    recent.clear();
                }
                let key = made();
                // Another name of the same hash (never expected) takes its place.
                recent.insert(hash, key.clone());
                key
            })
            // The thread is ending and its cache is gone.
            .unwrap_or_else(|_| made())
    }

    /// The key itself.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }
}

impl Hash for TaskKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for TaskKey {
    fn eq(&self, other: &Self) -> bool {
        // The same task's key (the usual case) is the same allocation.
        self.hash == other.hash && (Arc::ptr_eq(&self.name, &other.name) || self.name == other.name)
    }
}

impl Eq for TaskKey {}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.name, f)
    }
}

/// Hashes maps of [`TaskKey`]s by the hash each key carries.
pub(crate) type ByKeyHash = BuildHasherDefault<PassThrough>;

/// Hands a [`TaskKey`]'s stored hash through unchanged.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

/// FNV-1a's prime, for input other than a key's hash (never expected).
const FNV_PRIME: u64 = 0x100_0000_01b3;

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ByKeyHash, KEPT, TaskKey};
    use std::collections::HashMap;
    use std::sync::Arc;

    #[test]
    fn keys_of_one_name_are_one_entry_and_other_names_are_not() {
        let mut counts: HashMap<TaskKey, u32, ByKeyHash> = HashMap::default();
        for name in ["alice", "bob", "alice", "alice"] {
            *counts.entry(TaskKey::new(name)).or_default() += 1;
        }
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[&TaskKey::new("alice")], 3);
        assert_eq!(counts[&TaskKey::new("bob")], 1);
        assert!(!counts.contains_key(&TaskKey::new("carol")));
    }

    #[test]
    fn a_key_given_again_is_shared_and_another_is_not() {
        let first = TaskKey::new("tenant-7");
        let again = TaskKey::new("tenant-7");
        assert!(Arc::ptr_eq(first.name(), again.name()), "not shared");
        assert_eq!(first, again);
        let other = TaskKey::new("tenant-8");
        assert_ne!(first, other);
        assert_eq!(&**other.name(), "tenant-8");
        // Given on another thread, the key is made there, and still equal.
        let there = std::thread::spawn(|| TaskKey::new("tenant-7"))
            .join()
            .expect("the thread ends");
        assert_eq!(there, first);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_keys() {
        let kept = std::thread::spawn(|| {
            let first = TaskKey::new("key-0");
            for n in 1..=KEPT {
                TaskKey::new(&format!("key-{n}"));
            }
            // The cache was emptied when full: "key-0" is made afresh.
            !Arc::ptr_eq(first.name(), TaskKey::new("key-0").name())
        })
        .join()
        .expect("the thread ends");
        assert!(kept, "the cache grew past its bound");
    }
}
