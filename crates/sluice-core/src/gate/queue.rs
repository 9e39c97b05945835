//! The gate's queue of waiters: one FIFO lane per [`Priority`], and the rank that
//! decides which lane's head goes next.
//!
//! Each waiter takes a sequence number when it joins (one counter per queue), and its
//! rank is that number plus a boost fixed by its priority: nothing for `High`, `aging`
//! for `Normal`, `2 * aging` for `Low`. The smallest rank goes first, the older waiter
//! on a tie. Ranks only grow along a lane, so the three heads are the only candidates:
//! pushing and popping stay O(1), and a waiter's rank never has to be recomputed.

use std::collections::VecDeque;

/// How urgently queued work wants admission through a [`Gate`](super::Gate).
///
/// Priorities order the queue only: a waiter of any priority still keeps a newcomer out,
/// and aging bounds how far a low one can be passed over (the rule is on
/// [`Gate::with_aging`](super::Gate::with_aging)). `High > Normal > Low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Priority {
    /// Overtaken by `High` waiters that arrive fewer than `2 * aging` arrivals
    /// later, and by `Normal` ones that arrive fewer than `aging` later.
    Low,
    /// What threads, futures and [`Gate::enqueue`](super::Gate::enqueue) wait at.
    #[default]
    Normal,
    /// Overtakes `Normal` waiters that arrived fewer than `aging` arrivals before,
    /// and `Low` ones that arrived fewer than `2 * aging` before.
    High,
}

impl Priority {
    /// The lane this priority waits in.
    fn lane(self) -> usize {
        self as usize
    }

    /// How many steps of `aging` a waiter in `lane` is set back by.
    fn steps_back(lane: usize) -> u128 {
        (Priority::High.lane() - lane) as u128
    }
}

/// Waiters in three lanes, popped in order of rank.
pub(super) struct RankedQueue<T> {
    /// One FIFO per priority, indexed by [`Priority::lane`]; each entry carries its
    /// sequence number.
    lanes: [VecDeque<(u64, T)>; 3],
    /// The sequence number the next arrival takes.
    next_seq: u64,
    /// How many arrivals one step of priority is worth.
    aging: u64,
    /// Entries in all lanes, kept so that the gate's fast path reads one field.
    len: usize,
}

impl<T> RankedQueue<T> {
    pub(super) fn new(aging: u64) -> Self {
        RankedQueue {
            lanes: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            next_seq: 0,
            aging,
            len: 0,
        }
    }

    /// Entries in all lanes, including any the caller has marked as given up.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, item: T, priority: Priority) {
        let seq = self.next_seq;
        // A u64 counted up by one per queued waiter does not wrap in practice.
        self.next_seq += 1;
        self.lanes[priority.lane()].push_back((seq, item));
        self.len += 1;
    }

    /// The entry with the smallest rank, the older one on a tie.
    pub(super) fn pop_front(&mut self) -> Option<T> {
        let lane = self.front_lane()?;
        let (_, item) = self.lanes[lane].pop_front()?;
        self.len -= 1;
        Some(item)
    }

    /// The lane whose head has the smallest rank (the older one on a tie).
    fn front_lane(&self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        // Everything queued at one priority (a burst of plain tasks): its lane's head
        // is the front, with no ranks to compare. Once per pop, so worth the check.
        let normal = Priority::Normal.lane();
        if self.lanes[normal].len() == self.len {
            return Some(normal);
        }
        let lane = (0..self.lanes.len())
            .filter_map(|lane| {
                let &(seq, _) = self.lanes[lane].front()?;
                // Wide enough that no aging can overflow the rank and blur the order.
                let rank = u128::from(seq) + u128::from(self.aging) * Priority::steps_back(lane);
                Some(((rank, seq), lane))
            })
            .min()?
            .1;
        Some(lane)
    }

    /// The entry with the smallest rank, if `take` turns it into `Ok`; one it hands
    /// back as `Err` keeps its place and rank at the head.
    pub(super) fn pop_front_map<U>(&mut self, take: impl FnOnce(T) -> Result<U, T>) -> Option<U> {
        let lane = self.front_lane()?;
        let (seq, item) = self.lanes[lane].pop_front()?;
        match take(item) {
            Ok(out) => {
                self.len -= 1;
                Some(out)
            }
            Err(item) => {
                self.lanes[lane].push_front((seq, item));
                None
            }
        }
    }

    /// Keeps the entries `keep` approves, each in its lane with its rank.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for lane in &mut self.lanes {
            lane.retain(|(_, item)| keep(item));
        }
        self.len = self.lanes.iter().map(VecDeque::len).sum();
    }

    /// Removes the entries that `take` turns into `Ok`, lane by lane from `High` to
    /// `Low`, each lane in arrival order; those it hands back as `Err` keep their place
    /// and rank.
    pub(super) fn take_where<U>(&mut self, mut take: impl FnMut(T) -> Result<U, T>) -> Vec<U> {
        let mut taken = Vec::new();
        for lane in self.lanes.iter_mut().rev() {
            let mut kept = VecDeque::with_capacity(lane.len());
            for (seq, item) in lane.drain(..) {
                match take(item) {
                    Ok(out) => taken.push(out),
                    Err(item) => kept.push_back((seq, item)),
                }
            }
            *lane = kept;
        }
        self.len -= taken.len();
        taken
    }
}
