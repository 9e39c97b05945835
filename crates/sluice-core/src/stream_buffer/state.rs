//! What the buffer's lock guards, and the arithmetic of room, delivery and resumes.

use std::collections::VecDeque;
use std::task::Waker;

/// What the lock guards.
pub(super) struct State<T> {
    /// Places that may be reserved or filled and not yet taken.
    pub(super) capacity: usize,
    /// Deliver in sequence order.
    pub(super) ordered: bool,
    /// Places reserved and not yet filled.
    pub(super) reserved: usize,
    /// Ordered: filled places by `seq - next_out`; unordered: values in push order
    /// (all `Some`).
    pub(super) slots: VecDeque<Option<T>>,
    /// Filled values not yet taken.
    pub(super) filled: usize,
    /// The next sequence number to reserve.
    pub(super) next_seq: u64,
    /// Ordered: the sequence number of `slots[0]`.
    pub(super) next_out: u64,
    /// Producers that found no room and went away.
    pub(super) parked: usize,
    /// No more reservations will come.
    pub(super) closed: bool,
    /// The consumer is gone: refuse and drop everything.
    pub(super) cancelled: bool,
    /// The async consumer's waker.
    pub(super) consumer: Option<Waker>,
    /// An async producer waiting for room.
    pub(super) producer: Option<Waker>,
    /// Consumer threads blocked on the condition variable.
    pub(super) sleepers: usize,
    /// Ordered: what a place never filled answers once the buffer is closed (`None`:
    /// such places are skipped).
    pub(super) fill: Option<fn() -> T>,
}

impl<T> State<T> {
    pub(super) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.reserved + self.filled)
    }

    /// Room at which parked producers are resumed: half the capacity, so that a
    /// resumed producer gets a unit worth its trip rather than one place at a time.
    pub(super) fn resume_at(&self) -> usize {
        self.capacity.div_ceil(2).max(1)
    }

    /// The next deliverable value. A place that a closed buffer will never fill
    /// answers the filler's value, so that an ordered stream cut short keeps every
    /// later value at its own position; without a filler it is skipped.
    pub(super) fn pop(&mut self) -> Option<T> {
        if !self.ordered {
            let value = self.slots.pop_front().flatten()?;
            self.filled -= 1;
            return Some(value);
        }
        loop {
            match self.slots.front_mut() {
                Some(slot) if slot.is_some() => {
                    let value = slot.take();
                    self.slots.pop_front();
                    self.next_out += 1;
                    self.filled -= 1;
                    return value;
                }
                // A hole: still reserved, unless the buffer is closed with nothing
                // reserved, when it will never be filled.
                Some(_) if self.closed && self.reserved == 0 => {
                    self.slots.pop_front();
                    self.next_out += 1;
                    if let Some(fill) = self.fill {
                        // Never counted as filled: nothing to take off `filled`.
                        return Some(fill());
                    }
                }
                _ => return None,
            }
        }
    }

    /// Fills the reserved place `seq` with `value`: whether the consumer can now take
    /// something, or the value back if `seq` is not a reserved place (nothing could
    /// deliver it).
    pub(super) fn place(&mut self, seq: u64, value: T) -> Result<bool, T> {
        self.reserved = self.reserved.saturating_sub(1);
        if !self.ordered {
            self.slots.push_back(Some(value));
            self.filled += 1;
            return Ok(true);
        }
        let at = seq
            .checked_sub(self.next_out)
            .and_then(|at| usize::try_from(at).ok())
            .filter(|&at| at < self.slots.len());
        let Some(at) = at else {
            return Err(value);
        };
        self.slots[at] = Some(value);
        self.filled += 1;
        Ok(at == 0)
    }

    pub(super) fn ended(&self) -> bool {
        self.cancelled
            || (self.closed && self.reserved == 0 && self.filled == 0 && self.slots.is_empty())
    }

    /// After a value left: how many parked producers to resume, and the async
    /// producer's waker if it waits. Parked producers wait for half the capacity (a
    /// resumed puller takes a unit); the async producer — the io stream's driver, which
    /// starts one item per place, and whose consumer takes results in batches — as soon as
    /// there is room, so that the items in flight stay near the io limit rather than
    /// dropping by half the buffer between wake-ups.
    pub(super) fn freed(&mut self) -> (usize, Option<Waker>) {
        if self.room() == 0 {
            return (0, None);
        }
        let producer = self.producer.take();
        if self.room() < self.resume_at() {
            return (0, producer);
        }
        (std::mem::take(&mut self.parked), producer)
    }
}
