//! Maps and sets keyed by task id, hashed by one multiplication rather than SipHash.
//!
//! A worker looks task ids up several times per task (held on claim, released on
//! settle, split and matched when a batch is written): with SipHash that was about a
//! tenth of the worker's own CPU per task in callgrind. The ids come from the
//! database's sequence, not from a client, so there is no flooding to defend against.

use crate::enqueue::TaskId;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Task ids to `V`.
pub(crate) type IdMap<V> = HashMap<TaskId, V, BuildHasherDefault<IdHasher>>;

/// A set of task ids.
pub(crate) type IdSet = HashSet<TaskId, BuildHasherDefault<IdHasher>>;

/// Hashes an id by multiplying it with an odd constant (Fibonacci hashing): ids that
/// follow each other differ in the low bits the table indexes by, and the high bits
/// that the table's control bytes take are mixed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `i64` keys; any other input still hashes (FNV-1a).
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::{IdMap, IdSet};

    #[test]
    fn ids_in_a_run_are_found_and_removed() {
        let mut map: IdMap<i32> = IdMap::default();
        for id in 1..=1000 {
            map.insert(id, i32::try_from(id).unwrap_or_default());
        }
        assert_eq!(map.get(&500), Some(&500));
        assert_eq!(map.remove(&1), Some(1));
        assert!(!map.contains_key(&1));
        let set: IdSet = (-5..5).collect();
        assert!(set.contains(&-5) && set.contains(&4) && !set.contains(&5));
    }
}
