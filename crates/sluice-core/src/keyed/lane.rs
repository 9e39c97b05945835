//! A FIFO of ticket numbers whose cancelled entries are skipped lazily.
//!
//! Cancelling an item removes it from the queue's item map at once (O(1)) and leaves its
//! ticket number in the lanes it sits in as a tombstone. A lane skips tombstones when it
//! pops, forgets them all at once when its last live entry goes, and compacts itself when
//! tombstones outnumber live entries, so a cancel costs amortised O(1) and a lane never
//! holds more than about twice its live entries.

use super::tickets::Items;
use std::collections::VecDeque;

/// Below this many entries a lane is never compacted nor shrunk: not worth the pass.
const SMALL: usize = 32;

/// Ticket numbers in submission order, some of them cancelled.
#[derive(Debug, Default)]
pub(super) struct Lane {
    /// Ticket numbers in submission order, including cancelled ones not yet skipped.
    order: VecDeque<u64>,
    /// How many entries of `order` are still queued (present in the item map).
    live: usize,
}

impl Lane {
    /// True if no live entry is left.
    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends a newly queued ticket number.
    pub(super) fn push(&mut self, seq: u64) {
        self.order.push_back(seq);
        self.live += 1;
    }

    /// Removes and returns the first live ticket number; tombstones before it go too.
    /// `items` holds every live ticket number.
    pub(super) fn pop_live<V>(&mut self, items: &Items<V>) -> Option<u64> {
        if self.live == 0 {
            self.clear();
            return None;
        }
        while let Some(seq) = self.order.pop_front() {
            if items.contains_key(&seq) {
                self.live -= 1;
                if self.live == 0 {
                    self.clear();
                }
                return Some(seq);
            }
        }
        // Unreachable while `live` is right; recover an empty lane if it is not.
        self.live = 0;
        None
    }

    /// Removes the first live entry from the lane and its item from `items`, in one
    /// look-up of `items` (`pop_live` and a removal would take two); tombstones before
    /// it go too. Only for a lane whose entries are in no other lane (`PerKey`).
    pub(super) fn pop_item<V>(&mut self, items: &mut Items<V>) -> Option<V> {
        if self.live == 0 {
            self.clear();
            return None;
        }
        while let Some(seq) = self.order.pop_front() {
            if let Some(item) = items.remove(&seq) {
                self.live -= 1;
                if self.live == 0 {
                    self.clear();
                }
                return Some(item);
            }
        }
        // Unreachable while `live` is right; recover an empty lane if it is not.
        self.live = 0;
        None
    }

    /// Counts `gone` entries as cancelled: their numbers are already out of `items`.
    /// Compacts when tombstones outnumber live entries.
    pub(super) fn forget<V>(&mut self, gone: usize, items: &Items<V>) {
        self.live = self.live.saturating_sub(gone);
        if self.live == 0 {
            self.clear();
        } else if self.order.len() > SMALL && self.order.len() > 2 * self.live {
            self.order.retain(|seq| items.contains_key(seq));
            self.live = self.order.len();
            if self.order.capacity() > 4 * self.order.len() {
                self.order.shrink_to_fit();
            }
        }
    }

    /// Empties the lane, returning every ticket number it held (tombstones included) in
    /// order; the caller removes the live ones from the item map.
    pub(super) fn take(&mut self) -> VecDeque<u64> {
        self.live = 0;
        std::mem::take(&mut self.order)
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
