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
//! A short key (up to [`INLINE`] bytes: ids, tenants, file names' stems) is kept in the
//! key itself, so copying it touches nothing shared. A task's key is copied half a
//! dozen times between the caller's thread and the workers' (its state, its identity,
//! its turn, the queue's entry), and as one shared `Arc` every copy and drop was an
//! atomic operation on the one cache line all the key's tasks share: measured, the
//! largest single cost of a keyed task's admission after the queue's own lock.
//!
//! A longer key is shared: each thread keeps the long keys it gave lately (up to
//! [`KEPT`]), by hash, and hands out a clone when a key comes again: no allocation for
//! it (nor a free on a worker's thread, which contends for the allocator's lock), and
//! the maps that hold the key find it by pointer, without comparing the strings.

use foldhash::fast::RandomState;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// The longest key kept inline, in bytes: the key then fits in 32 bytes with its hash.
pub(crate) const INLINE: usize = 22;

/// A task key and its hash.
#[derive(Clone)]
pub(crate) struct TaskKey {
    /// The key's hash, by the process's seed.
    hash: u64,
    /// The key.
    name: Name,
}

/// A key's text: inline if short, else shared.
#[derive(Clone)]
enum Name {
    /// The first `len` bytes of `bytes`, copied from a `&str` (so valid UTF-8); the
    /// rest are zero, so two inline names are equal exactly when their arrays are.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A long key, shared by the tasks given it lately on one thread.
    Shared(Arc<str>),
}

/// The seed every key of the process is hashed with.
static SEED: OnceLock<RandomState> = OnceLock::new();

/// How many long keys each thread keeps: a thread that gives more, emptied, starts
/// again. Room for the keys of most programs' loops, in about 8 KiB a thread.
const KEPT: usize = 128;

thread_local! {
    /// This thread's long keys given lately, by hash.
    static RECENT: RefCell<HashMap<u64, TaskKey, ByKeyHash>> =
        RefCell::new(HashMap::default());
}

impl TaskKey {
    /// `name` as a key, hashed now: kept inline if short, else a clone of this
    /// thread's if it gave the key lately.
    pub(crate) fn new(name: &str) -> Self {
        let hash = SEED.get_or_init(RandomState::default).hash_one(name);
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            return TaskKey {
                hash,
                name: Name::Inline {
                    len: name.len() as u8,
                    bytes,
                },
            };
        }
        let made = || TaskKey {
            hash,
            name: Name::Shared(Arc::from(name)),
        };
        RECENT
            .try_with(|recent| {
                // A key made while the cache is borrowed (never expected) is just made.
                let Ok(mut recent) = recent.try_borrow_mut() else {
                    return made();
                };
                if let Some(kept) = recent.get(&hash)
                    && kept.name() == name
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
    pub(crate) fn name(&self) -> &str {
        match &self.name {
            // Always valid: copied from a `&str`, and cut where that ended.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Name::Shared(name) => name,
        }
    }

    /// The key as a shared string, for what keeps it beyond the task (a record, a
    /// per-key breaker): a new one for an inline key.
    pub(crate) fn shared(&self) -> Arc<str> {
        match &self.name {
            Name::Inline { .. } => Arc::from(self.name()),
            Name::Shared(name) => name.clone(),
        }
    }
}

impl Hash for TaskKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for TaskKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && match (&self.name, &other.name) {
                (Name::Inline { len, bytes }, Name::Inline { len: l, bytes: b }) => {
                    len == l && bytes == b
                }
                // The same task's key (the usual case) is the same allocation.
                (Name::Shared(a), Name::Shared(b)) => Arc::ptr_eq(a, b) || a == b,
                // A name is inline exactly when it is short: never equal.
                _ => false,
            }
    }
}

impl Eq for TaskKey {}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
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
    use super::{ByKeyHash, INLINE, KEPT, Name, TaskKey};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A key longer than [`INLINE`], so shared.
    fn long(name: &str) -> String {
        format!("{name}-{}", "x".repeat(INLINE))
    }

    /// The shared text of a long key.
    fn shared(key: &TaskKey) -> &Arc<str> {
        match &key.name {
            Name::Shared(name) => name,
            Name::Inline { .. } => panic!("{key:?} is inline"),
        }
    }

    #[test]
    fn keys_of_one_name_are_one_entry_and_other_names_are_not() {
        let mut counts: HashMap<TaskKey, u32, ByKeyHash> = HashMap::default();
        let (alice, bob) = (long("alice"), long("bob"));
        for name in ["alice", "bob", "alice", "alice", &alice, &bob, &alice] {
            *counts.entry(TaskKey::new(name)).or_default() += 1;
        }
        assert_eq!(counts.len(), 4);
        assert_eq!(counts[&TaskKey::new("alice")], 3);
        assert_eq!(counts[&TaskKey::new("bob")], 1);
        assert_eq!(counts[&TaskKey::new(&alice)], 2);
        assert_eq!(counts[&TaskKey::new(&bob)], 1);
        assert!(!counts.contains_key(&TaskKey::new("carol")));
        assert!(!counts.contains_key(&TaskKey::new("")));
        assert!(!counts.contains_key(&TaskKey::new(&long("carol"))));
    }

    #[test]
    fn short_keys_are_inline_and_keep_their_text() {
        for name in ["", "a", "tenant-7", "\u{e9}t\u{e9}", &"y".repeat(INLINE)] {
            let key = TaskKey::new(name);
            assert!(matches!(key.name, Name::Inline { .. }), "{name:?}");
            assert_eq!(key.name(), name);
            assert_eq!(&*key.shared(), name);
            assert_eq!(key, TaskKey::new(name));
        }
        let just_over = "y".repeat(INLINE + 1);
        let key = TaskKey::new(&just_over);
        assert_eq!(shared(&key).len(), INLINE + 1);
        assert_eq!(key.name(), just_over);
        assert_ne!(key, TaskKey::new(&just_over[..INLINE]));
    }

    #[test]
    fn a_long_key_given_again_is_shared_and_another_is_not() {
        let name = long("tenant-7");
        let first = TaskKey::new(&name);
        let again = TaskKey::new(&name);
        assert!(Arc::ptr_eq(shared(&first), shared(&again)), "not shared");
        assert_eq!(first, again);
        let other = TaskKey::new(&long("tenant-8"));
        assert_ne!(first, other);
        assert_eq!(other.name(), long("tenant-8"));
        // Given on another thread, the key is made there, and still equal.
        let there = std::thread::spawn(move || TaskKey::new(&name))
            .join()
            .expect("the thread ends");
        assert_eq!(there, first);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_keys() {
        let kept = std::thread::spawn(|| {
            let first = TaskKey::new(&long("key-0"));
            for n in 1..=KEPT {
                TaskKey::new(&long(&format!("key-{n}")));
            }
            // The cache was emptied when full: "key-0" is made afresh.
            !Arc::ptr_eq(shared(&first), shared(&TaskKey::new(&long("key-0"))))
        })
        .join()
        .expect("the thread ends");
        assert!(kept, "the cache grew past its bound");
    }
}
