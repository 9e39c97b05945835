//! One key's waiting items, in submission order, kept in the lane itself.
//!
//! The items sit in their key's lane beside their ticket numbers, so the next item of a
//! key is the lane's front: no map of queued items to look each one up in (at 100 keys
//! that look-up, a cache miss into a table of every queued item, was the largest single
//! cost of passing a key's turn on). Ticket numbers increase along a lane, so a cancel
//! finds its entry by binary search and leaves an empty entry behind (a tombstone). A
//! lane skips tombstones when it pops, forgets them all at once when its last live
//! entry goes, and compacts itself when tombstones outnumber live entries, so a cancel
//! costs O(log n) amortised and a lane never holds more than about twice its live
//! entries.

use std::collections::VecDeque;

/// Below this many entries a lane is never compacted nor shrunk: not worth the pass.
pub(super) const SMALL: usize = 32;

/// A key's waiting items by ticket number, in submission order, some of them
/// cancelled.
#[derive(Debug)]
pub(super) struct Lane<T> {
    /// Ticket numbers in increasing order, each with its item (`None`: cancelled).
    order: VecDeque<(u64, Option<T>)>,
    /// How many entries of `order` still hold their item.
    live: usize,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Lane {
            order: VecDeque::new(),
            live: 0,
        }
    }
}

impl<T> Lane<T> {
    /// True if no live entry is left.
    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends a newly queued item; `seq` is larger than any number in the lane.
    pub(super) fn push(&mut self, seq: u64, item: T) {
        self.order.push_back((seq, Some(item)));
        self.live += 1;
    }

    /// The ticket number of the first live entry; tombstones before it go.
    pub(super) fn front(&mut self) -> Option<u64> {
        while let Some((seq, item)) = self.order.front() {
            if item.is_some() {
                return Some(*seq);
            }
            self.order.pop_front();
        }
        None
    }

    /// Removes and returns the first live item; tombstones before it go too.
    pub(super) fn pop(&mut self) -> Option<T> {
        while let Some((_, item)) = self.order.pop_front() {
            if let Some(item) = item {
                self.live -= 1;
                if self.live == 0 {
                    self.clear();
                }
                return Some(item);
            }
        }
        // Unreachable while `live` is right; recover an empty lane if it is not.
        self.clear();
        None
    }

    /// Whether the item numbered `seq` waits here still.
    pub(super) fn holds(&self, seq: u64) -> bool {
        self.find(seq)
            .is_some_and(|at| self.order.get(at).is_some_and(|(_, item)| item.is_some()))
    }

    /// Takes the item numbered `seq` out, if it waits here; the others keep their
    /// order. Compacts when tombstones outnumber live entries.
    pub(super) fn cancel(&mut self, seq: u64) -> Option<T> {
        let at = self.find(seq)?;
        let item = self.order.get_mut(at)?.1.take()?;
        self.live -= 1;
        if self.live == 0 {
            self.clear();
        } else if self.order.len() > SMALL && self.order.len() > 2 * self.live {
            self.order.retain(|(_, item)| item.is_some());
            if self.order.capacity() > 4 * self.order.len() {
                self.order.shrink_to_fit();
            }
        }
        Some(item)
    }

    /// Where the entry numbered `seq` is, tombstone or not.
    fn find(&self, seq: u64) -> Option<usize> {
        self.order.binary_search_by_key(&seq, |(n, _)| *n).ok()
    }

    /// Empties the lane, returning its live items with their numbers, in order.
    pub(super) fn take(&mut self) -> impl Iterator<Item = (u64, T)> + use<T> {
        self.live = 0;
        std::mem::take(&mut self.order)
            .into_iter()
            .filter_map(|(seq, item)| Some((seq, item?)))
    }

    /// Empties the lane, giving its memory back if it had grown.
    pub(super) fn clear(&mut self) {
        self.live = 0;
        if self.order.capacity() > SMALL {
            self.order = VecDeque::new();
        } else {
            self.order.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lane;

    #[test]
    fn cancelled_entries_are_skipped_and_compacted() {
        let mut lane = Lane::default();
        for seq in 0..100 {
            lane.push(seq, seq * 10);
        }
        for seq in (0..100).filter(|seq| seq % 3 != 0) {
            assert_eq!(lane.cancel(seq), Some(seq * 10));
        }
        assert_eq!(lane.cancel(1), None, "cancelled already");
        assert!(lane.order.len() <= 2 * 34, "tombstones were not compacted");
        assert!(lane.holds(3) && !lane.holds(4));
        assert_eq!(lane.front(), Some(0));
        assert_eq!(lane.pop(), Some(0));
        assert_eq!(lane.pop(), Some(30));
        let rest: Vec<_> = lane.take().map(|(seq, _)| seq).collect();
        assert_eq!(rest.len(), 32);
        assert_eq!(rest.first(), Some(&6));
        assert!(lane.is_empty());
        assert_eq!(lane.pop(), None);
    }
}
