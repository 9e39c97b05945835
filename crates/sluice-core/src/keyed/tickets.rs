//! The map of queued items by ticket number, with a hash fit for those numbers.
//!
//! Ticket numbers are the queue's own (0, 1, 2, …), never a caller's, so nobody can
//! choose them to collide: a multiplication spreads them over the table as well as
//! SipHash would, for a fraction of its cost on every queued item's insert, lookup and
//! removal.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Queued items by ticket number.
pub(super) type Items<V> = HashMap<u64, V, BuildHasherDefault<TicketHasher>>;

/// Fibonacci hashing of one `u64`: consecutive numbers land far apart, in the low bits
/// (the bucket) and the high bits (the tag a probe compares) alike.
#[derive(Default)]
pub(super) struct TicketHasher(u64);

/// 2^64 divided by the golden ratio, odd: a multiplier whose products of consecutive
/// numbers differ in every bit range.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for TicketHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; any other input is still hashed, byte by byte.
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Items;

    #[test]
    fn tickets_are_found_removed_and_not_confused() {
        let mut items: Items<u64> = Items::default();
        for seq in 0..1_000 {
            items.insert(seq, seq * 2);
        }
        assert_eq!(items.get(&999), Some(&1_998));
        assert_eq!(items.remove(&0), Some(0));
        assert_eq!(items.get(&0), None);
        assert_eq!(items.len(), 999);
    }
}
