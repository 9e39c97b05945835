//! The item books of streamed maps: what their consumers saw, per manager and route,
//! held against each route's `RouteSnapshot::items` (summed over waves, as the task
//! counters are). A map read to its end is exact; one cut short (dropped, aborted, shut
//! down) bounds the count: at least what was seen, at most its planned items.

use crate::fleet::Member;
use sluice::{ConcurrencyManager, ItemCounts, RouteKind};
use std::sync::atomic::Ordering;

/// The routes that stream, in the books' order.
pub const ROUTES: [RouteKind; 3] = [RouteKind::Cpu, RouteKind::Chunk, RouteKind::Io];

/// The names of `ItemCounts`' fields, in its order.
const KINDS: [&str; 6] = ["ok", "failed", "panicked", "timed-out", "rejected", "other"];

/// One route's item books.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemBooks {
    /// Item answers the consumers saw, per kind (`ItemCounts`' order).
    pub seen: [u64; 6],
    /// Items of maps cut short that their consumers did not see: the manager may have
    /// answered (and counted) any of them.
    pub unseen: u64,
}

impl ItemBooks {
    /// Adds one map: `seen` by its consumer, of `planned` items; `complete` if the
    /// consumer saw every item the manager answered.
    pub fn add(&mut self, seen: [u32; 6], complete: bool, planned: u32) {
        for (sum, n) in self.seen.iter_mut().zip(seen) {
            *sum += u64::from(n);
        }
        if !complete {
            let total: u32 = seen.iter().sum();
            self.unseen += u64::from(planned.saturating_sub(total));
        }
    }

    /// The sum of two books.
    pub fn plus(mut self, other: ItemBooks) -> ItemBooks {
        for (sum, n) in self.seen.iter_mut().zip(other.seen) {
            *sum += n;
        }
        self.unseen += other.unseen;
        self
    }

    /// Why the manager's `counted` items cannot be these books'; `None` if they can.
    pub fn disagrees(&self, counted: [u64; 6]) -> Option<String> {
        let short: Vec<String> = KINDS
            .iter()
            .zip(counted.iter().zip(self.seen))
            .filter(|(_, (counted, seen))| *counted < seen)
            .map(|(kind, (counted, seen))| format!("{kind} {counted} < {seen} seen"))
            .collect();
        if !short.is_empty() {
            return Some(format!(
                "counted fewer items than consumers saw: {}",
                short.join(", ")
            ));
        }
        let (total, seen) = (counted.iter().sum::<u64>(), self.seen.iter().sum::<u64>());
        (total > seen + self.unseen).then(|| {
            format!(
                "counted {total} items; consumers saw {seen} and at most {} more were answered",
                self.unseen
            )
        })
    }
}

/// Where a manager's item counts stand: per streaming route, and in its records.
#[derive(Debug, Clone, Copy)]
pub struct ItemBase {
    /// Per route of [`ROUTES`].
    routes: [[u64; 6]; 3],
    /// The records' sum.
    records: [u64; 6],
}

impl ItemBase {
    /// The counts now.
    pub fn of(member: &Member) -> ItemBase {
        ItemBase {
            routes: routes(&member.mgr),
            records: member
                .records
                .items
                .each_ref()
                .map(|n| n.load(Ordering::Relaxed)),
        }
    }

    /// What disagrees in `member`'s item counts since this base with `expected`, and
    /// between its routes' counts and its records'.
    pub fn differences(&self, member: &Member, expected: &[ItemBooks; 3]) -> Vec<String> {
        let now = ItemBase::of(member);
        let mut out = Vec::new();
        let mut routes_sum = [0u64; 6];
        for (r, kind) in ROUTES.iter().enumerate() {
            let counted = since(now.routes[r], self.routes[r]);
            for (sum, n) in routes_sum.iter_mut().zip(counted) {
                *sum += n;
            }
            if let Some(why) = expected[r].disagrees(counted) {
                out.push(format!("{:?} manager, {kind} items: {why}", member.order));
            }
        }
        let recorded = since(now.records, self.records);
        if recorded != routes_sum {
            out.push(format!(
                "{:?} manager's streamed maps' records count items {recorded:?}, its routes {routes_sum:?}",
                member.order
            ));
        }
        out
    }
}

/// A manager's item counts per streaming route.
fn routes(mgr: &ConcurrencyManager) -> [[u64; 6]; 3] {
    let snapshot = mgr.snapshot();
    ROUTES.each_ref().map(|kind| {
        snapshot
            .route(kind)
            .map(|route| array(&route.items))
            .unwrap_or_default()
    })
}

/// `counts` as an array in its fields' order.
pub fn array(counts: &ItemCounts) -> [u64; 6] {
    [
        counts.ok,
        counts.failed,
        counts.panicked,
        counts.timed_out,
        counts.rejected,
        counts.other,
    ]
}

/// `now − base`, kind by kind.
pub fn since(now: [u64; 6], base: [u64; 6]) -> [u64; 6] {
    std::array::from_fn(|i| now[i].wrapping_sub(base[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_books_allow_only_their_counts_and_cut_ones_a_range() {
        let mut books = ItemBooks::default();
        books.add([3, 1, 0, 0, 0, 0], true, 4);
        assert_eq!(books.disagrees([3, 1, 0, 0, 0, 0]), None);
        assert!(books.disagrees([3, 0, 0, 0, 0, 0]).is_some());
        assert!(books.disagrees([3, 1, 1, 0, 0, 0]).is_some());
        books.add([1, 0, 0, 0, 0, 0], false, 5);
        assert_eq!(books.disagrees([4, 1, 0, 0, 0, 0]), None);
        assert_eq!(books.disagrees([6, 1, 1, 0, 0, 0]), None);
        assert!(books.disagrees([6, 1, 1, 1, 1, 0]).is_some());
    }
}
